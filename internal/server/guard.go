package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/audit"
	"fusion/internal/guard"
	"fusion/internal/store"
	"fusion/internal/taxii"
)

// Guard is the hub side of the customer-data guard (package guard): it
// keeps each partner's protected-asset list in the store, screens what
// the partner submits (TAXII POST, fusion ingest --org) before anything
// is stored, and keeps what it blocks in the partner's quarantine.
//
// A partner's list is a secret. It lives only in records under
// "guard:list:<orgID>" (the records table has no listing and no read
// path but this one); it is never logged or put into an error, a status
// resource or a response to anyone but the partner and hub admins. Logs
// carry List.Digest only.
//
// Scanners are cached per partner in this node's memory and checked
// against a small record, "guard:meta:<orgID>", on every use, so a list
// replaced through another node sharing the store is picked up on the
// next request.
type Guard struct {
	st  store.Store
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	cache map[string]*guardEntry // by organisation id

	qmu sync.Mutex // serialises this node's quarantine index updates
}

type guardEntry struct {
	meta []byte // the meta record the scanner was built for
	sc   *guard.Scanner
}

// GuardMeta describes a partner's list without naming any asset.
type GuardMeta struct {
	Digest  string         `json:"digest"`
	Action  string         `json:"action"` // "block" or "redact"
	Assets  int            `json:"assets"`
	Counts  map[string]int `json:"counts,omitempty"` // assets per kind
	Updated time.Time      `json:"updated"`
}

// guardListRecord is what "guard:list:<orgID>" holds: the list's text as
// the partner sent it, and its meta data.
type guardListRecord struct {
	GuardMeta
	Text string `json:"text"`
}

// Guard actions a partner may choose.
const (
	GuardBlock  = "block"
	GuardRedact = "redact"
)

// MaxQuarantine bounds a partner's quarantine: beyond it, the oldest
// entries are dropped.
const MaxQuarantine = 10000

func guardListKey(orgID string) string     { return "guard:list:" + orgID }
func guardMetaKey(orgID string) string     { return "guard:meta:" + orgID }
func quarantineIndexKey(org string) string { return "guard:qindex:" + org }
func quarantineKey(orgID, id, version string) string {
	if version == "" {
		version = "-"
	}
	return "guard:q:" + orgID + ":" + id + ":" + version
}

// NewGuard returns the guard service over st (now nil: time.Now).
func NewGuard(st store.Store, log *slog.Logger, now func() time.Time) *Guard {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Guard{st: st, log: log, now: now, cache: map[string]*guardEntry{}}
}

// ErrNoGuardList: the organisation has no protected-asset list.
var ErrNoGuardList = errors.New("no protected-asset list")

// SetList parses text and, if it is a valid list, makes it the
// organisation's list with the given action ("" keeps the current action,
// or block for a new list). A *guard.ListError names bad lines by number
// only. The list record is written before the meta record that readers
// check, so a reader never builds a scanner for a half-written change.
func (g *Guard) SetList(ctx context.Context, orgID string, text []byte, action string) (GuardMeta, error) {
	if action != "" && action != GuardBlock && action != GuardRedact {
		return GuardMeta{}, fmt.Errorf("guard action must be %s or %s", GuardBlock, GuardRedact)
	}
	l, err := guard.ParseList(bytes.NewReader(text))
	if err != nil {
		return GuardMeta{}, err
	}
	if action == "" {
		action = GuardBlock
		if old, err := g.Meta(ctx, orgID); err == nil {
			action = old.Action
		} else if !errors.Is(err, ErrNoGuardList) {
			return GuardMeta{}, err
		}
	}
	m := GuardMeta{Digest: l.Digest(), Action: action, Assets: l.Len(), Counts: map[string]int{}, Updated: g.now().UTC()}
	for k, n := range l.Counts() {
		m.Counts[k.String()] = n
	}
	rec, err := json.Marshal(guardListRecord{GuardMeta: m, Text: string(text)})
	if err != nil {
		return GuardMeta{}, err
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return GuardMeta{}, err
	}
	if err := g.st.SetRecord(ctx, guardListKey(orgID), rec); err != nil {
		return GuardMeta{}, fmt.Errorf("storing the protected-asset list: %w", err)
	}
	if err := g.st.SetRecord(ctx, guardMetaKey(orgID), mb); err != nil {
		return GuardMeta{}, fmt.Errorf("storing the protected-asset list: %w", err)
	}
	g.mu.Lock()
	g.cache[orgID] = &guardEntry{meta: mb, sc: guard.NewScanner(l, guard.Options{Redact: action == GuardRedact})}
	g.mu.Unlock()
	g.log.Info("guard list set", "org_id", orgID, "assets", m.Assets, "digest", m.Digest, "action", m.Action)
	var d [32]byte
	if b, err := hex.DecodeString(strings.TrimPrefix(m.Digest, "sha256:")); err == nil && len(b) == len(d) {
		copy(d[:], b)
	}
	if _, err := g.st.AppendLog(ctx, [][]byte{audit.AssetsSet(m.Updated, audit.ActorFrom(ctx), orgID, d, m.Assets)}); err != nil {
		return m, fmt.Errorf("the protected-asset list was set but the audit log refused its entry: %w", err)
	}
	return m, nil
}

// Record appends one audit entry per decision in res that is not Allow
// (object id, action, rule kinds; never a matched value or an asset):
// source is the partner whose list decided, the actor the one ctx
// carries (audit.WithActor; none for an operator's command).
func (g *Guard) Record(ctx context.Context, source, collection string, res []*guard.Result) error {
	var es [][]byte
	for _, r := range res {
		if r == nil || r.Action == guard.Allow {
			continue
		}
		action := GuardBlock
		if r.Action == guard.Redact {
			action = GuardRedact
		}
		var rules []string
		for _, f := range r.Findings {
			rules = append(rules, f.Rule.String())
		}
		es = append(es, audit.Guard(audit.GuardDecision{Time: g.now(), Actor: audit.ActorFrom(ctx), Source: source,
			Collection: collection, ObjectID: r.ID, Action: action, Rules: rules}))
	}
	if len(es) == 0 {
		return nil
	}
	if _, err := g.st.AppendLog(ctx, es); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Meta returns the organisation's list meta data; ErrNoGuardList if it
// has none.
func (g *Guard) Meta(ctx context.Context, orgID string) (GuardMeta, error) {
	b, err := g.st.GetRecord(ctx, guardMetaKey(orgID))
	if errors.Is(err, store.ErrNotFound) {
		return GuardMeta{}, ErrNoGuardList
	}
	if err != nil {
		return GuardMeta{}, err
	}
	var m GuardMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return GuardMeta{}, fmt.Errorf("guard meta record of organisation %s is unreadable", orgID)
	}
	return m, nil
}

// ListText returns the list as the partner sent it and its meta data.
// Owner and hub admins only: the caller checks. ErrNoGuardList if none.
func (g *Guard) ListText(ctx context.Context, orgID string) (GuardMeta, string, error) {
	b, err := g.st.GetRecord(ctx, guardListKey(orgID))
	if errors.Is(err, store.ErrNotFound) {
		return GuardMeta{}, "", ErrNoGuardList
	}
	if err != nil {
		return GuardMeta{}, "", err
	}
	var rec guardListRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return GuardMeta{}, "", fmt.Errorf("guard list record of organisation %s is unreadable", orgID)
	}
	return rec.GuardMeta, rec.Text, nil
}

// SetAction changes the organisation's action; ErrNoGuardList if it has
// no list.
func (g *Guard) SetAction(ctx context.Context, orgID, action string) (GuardMeta, error) {
	_, text, err := g.ListText(ctx, orgID)
	if err != nil {
		return GuardMeta{}, err
	}
	if action == "" {
		return GuardMeta{}, fmt.Errorf("guard action must be %s or %s", GuardBlock, GuardRedact)
	}
	return g.SetList(ctx, orgID, []byte(text), action)
}

// Scanner returns the scanner for the organisation's current list;
// ErrNoGuardList if it has none. Every call reads the small meta record,
// so a change made on another node is seen; the list itself is read and
// compiled only when it changed.
func (g *Guard) Scanner(ctx context.Context, orgID string) (*guard.Scanner, error) {
	mb, err := g.st.GetRecord(ctx, guardMetaKey(orgID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoGuardList
	}
	if err != nil {
		return nil, fmt.Errorf("reading the guard list: %w", err)
	}
	g.mu.Lock()
	e := g.cache[orgID]
	g.mu.Unlock()
	if e != nil && bytes.Equal(e.meta, mb) {
		return e.sc, nil
	}
	m, text, err := g.ListText(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("reading the guard list: %w", err)
	}
	l, err := guard.ParseList(strings.NewReader(text))
	if err != nil {
		// Only valid lists are stored; this is corruption. The error
		// names line numbers only.
		return nil, fmt.Errorf("the stored guard list of organisation %s: %w", orgID, err)
	}
	sc := guard.NewScanner(l, guard.Options{Redact: m.Action == GuardRedact})
	g.mu.Lock()
	g.cache[orgID] = &guardEntry{meta: mb, sc: sc}
	g.mu.Unlock()
	g.log.Info("guard list loaded", "org_id", orgID, "assets", l.Len(), "digest", l.Digest(), "action", m.Action)
	return sc, nil
}

// Screen scans one batch a partner submits: the results are aligned with
// raws, references to objects blocked earlier are looked up in the
// partner's quarantine. ok is false (and nothing was scanned) when the
// organisation has no list. An error means nothing of the batch may be
// stored.
func (g *Guard) Screen(ctx context.Context, org store.Org, raws [][]byte) ([]guard.Result, bool, error) {
	sc, err := g.Scanner(ctx, org.ID)
	if errors.Is(err, ErrNoGuardList) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	res, err := sc.ScanBatch(ctx, raws, g.Blocked(org.ID)) // scans on every CPU
	if err != nil {
		return nil, false, err
	}
	return res, true, nil
}

// QuarantineEntry is one blocked object version as the partner sees it in
// a listing. Reason and Findings name rule kinds and property paths; Raw
// (only in Show) is the object as submitted.
type QuarantineEntry struct {
	ID          string         `json:"id"`
	Version     string         `json:"version,omitempty"`
	Type        string         `json:"type,omitempty"`
	Collection  string         `json:"collection"`
	Quarantined time.Time      `json:"quarantined"`
	Via         string         `json:"via"` // "taxii" (with the status id), "ingest" or "pull"
	Status      string         `json:"status,omitempty"`
	Reason      string         `json:"reason"`
	Findings    []QFinding     `json:"findings,omitempty"`
	Raw         jsontext.Value `json:"object,omitempty"`
}

// QFinding is one finding of a quarantined object. AssetLine is the line
// of the partner's list that matched, when the list was the one in force
// then (0 for references and malformed objects).
type QFinding struct {
	Rule      string `json:"rule"`
	Path      string `json:"path,omitempty"`
	Ref       string `json:"ref,omitempty"`
	AssetLine int    `json:"asset_line,omitempty"`
}

// Blocked is one object to quarantine.
type Blocked struct {
	Raw    []byte
	Result *guard.Result
}

// Quarantine keeps blocked objects for the partner: each under
// "guard:q:<orgID>:<id>:<version>", listed in the partner's index record
// (the newest MaxQuarantine entries; older ones are dropped and their
// records emptied). list is the list the objects were scanned with (for
// asset line numbers; may be nil).
//
// The index is read, changed and written back under a lock of this node;
// two nodes quarantining for the same partner at the same moment can
// lose an index entry (the store has no conditional write or record
// listing yet).
func (g *Guard) Quarantine(ctx context.Context, orgID, collection, via, status string, list *guard.List, objs []Blocked) error {
	if len(objs) == 0 {
		return nil
	}
	res := make([]*guard.Result, len(objs))
	for i := range objs {
		res[i] = objs[i].Result
	}
	if err := g.Record(ctx, orgID, collection, res); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	now := g.now().UTC()
	g.qmu.Lock()
	defer g.qmu.Unlock()
	idx, err := g.readIndex(ctx, orgID)
	if err != nil {
		return err
	}
	for _, b := range objs {
		e := QuarantineEntry{ID: b.Result.ID, Type: b.Result.Type, Version: versionOfRaw(b.Raw),
			Collection: collection, Quarantined: now, Via: via, Status: status, Reason: b.Result.Reason()}
		if e.ID == "" {
			continue // unreadable: nothing to key it by; it was refused
		}
		for _, f := range b.Result.Findings {
			qf := QFinding{Rule: f.Rule.String(), Path: f.Path, Ref: f.Ref}
			if list != nil {
				if _, _, line, ok := list.Asset(f.Asset); ok {
					qf.AssetLine = line
				}
			}
			e.Findings = append(e.Findings, qf)
		}
		e.Raw = jsontext.Value(b.Raw)
		rec, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		if err := g.st.SetRecord(ctx, quarantineKey(orgID, e.ID, e.Version), rec); err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		e.Raw, e.Findings = nil, nil
		idx = slices.DeleteFunc(idx, func(x QuarantineEntry) bool { return x.ID == e.ID && x.Version == e.Version })
		idx = append(idx, e)
	}
	if over := len(idx) - MaxQuarantine; over > 0 {
		for _, x := range idx[:over] {
			if err := g.st.SetRecord(ctx, quarantineKey(orgID, x.ID, x.Version), nil); err != nil {
				return fmt.Errorf("quarantine: %w", err)
			}
		}
		idx = slices.Delete(idx, 0, over)
	}
	return g.writeIndex(ctx, orgID, idx)
}

func (g *Guard) readIndex(ctx context.Context, orgID string) ([]QuarantineEntry, error) {
	b, err := g.st.GetRecord(ctx, quarantineIndexKey(orgID))
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine index: %w", err)
	}
	var idx []QuarantineEntry
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("quarantine index of organisation %s is unreadable", orgID)
	}
	return idx, nil
}

func (g *Guard) writeIndex(ctx context.Context, orgID string, idx []QuarantineEntry) error {
	if idx == nil {
		idx = []QuarantineEntry{}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := g.st.SetRecord(ctx, quarantineIndexKey(orgID), b); err != nil {
		return fmt.Errorf("quarantine index: %w", err)
	}
	return nil
}

// QuarantineList returns the partner's quarantined object versions,
// oldest first, without their content.
func (g *Guard) QuarantineList(ctx context.Context, orgID string) ([]QuarantineEntry, error) {
	idx, err := g.readIndex(ctx, orgID)
	if idx == nil && err == nil {
		idx = []QuarantineEntry{}
	}
	return idx, err
}

// QuarantineShow returns every quarantined version of object id with its
// content, oldest first; store.ErrNotFound if there is none.
func (g *Guard) QuarantineShow(ctx context.Context, orgID, id string) ([]QuarantineEntry, error) {
	idx, err := g.readIndex(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []QuarantineEntry
	for _, x := range idx {
		if x.ID != id {
			continue
		}
		b, err := g.st.GetRecord(ctx, quarantineKey(orgID, x.ID, x.Version))
		if errors.Is(err, store.ErrNotFound) || (err == nil && len(b) == 0) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
		var e QuarantineEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("quarantine record of %s is unreadable", id)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// QuarantineDrop removes every quarantined version of object id (their
// records are emptied: the store cannot delete records) and returns how
// many went; store.ErrNotFound if there was none.
func (g *Guard) QuarantineDrop(ctx context.Context, orgID, id string) (int, error) {
	g.qmu.Lock()
	defer g.qmu.Unlock()
	idx, err := g.readIndex(ctx, orgID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, x := range idx {
		if x.ID == id {
			if err := g.st.SetRecord(ctx, quarantineKey(orgID, x.ID, x.Version), nil); err != nil {
				return n, fmt.Errorf("quarantine: %w", err)
			}
			n++
		}
	}
	if n == 0 {
		return 0, store.ErrNotFound
	}
	idx = slices.DeleteFunc(idx, func(x QuarantineEntry) bool { return x.ID == id })
	return n, g.writeIndex(ctx, orgID, idx)
}

// Blocked returns the partner's quarantine as a guard.BlockedIDs: an
// object is blocked if any version of it is quarantined.
func (g *Guard) Blocked(orgID string) guard.BlockedIDs { return quarantineIDs{g, orgID} }

type quarantineIDs struct {
	g     *Guard
	orgID string
}

func (q quarantineIDs) Blocked(ctx context.Context, ids []string) ([]string, error) {
	idx, err := q.g.readIndex(ctx, q.orgID)
	if err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(idx))
	for _, x := range idx {
		in[x.ID] = true
	}
	var out []string
	for _, id := range ids {
		if in[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// versionOfRaw is the object's modified (or created) timestamp, read
// without failing.
func versionOfRaw(raw []byte) string {
	var v struct {
		Modified string `json:"modified"`
		Created  string `json:"created"`
	}
	if json.Unmarshal(raw, &v, json.RejectUnknownMembers(false)) != nil {
		return ""
	}
	if v.Modified != "" {
		return v.Modified
	}
	return v.Created
}

// TAXII returns the guard as TAXII POST uses it.
func (g *Guard) TAXII() taxii.Guard { return taxiiGuard{g} }

type taxiiGuard struct{ g *Guard }

func (t taxiiGuard) Screen(ctx context.Context, org store.Org, raws [][]byte) ([]guard.Result, bool, error) {
	return t.g.Screen(ctx, org, raws)
}

func (t taxiiGuard) Quarantine(ctx context.Context, org store.Org, collection, status string, raws [][]byte, res []*guard.Result) error {
	var list *guard.List
	if sc, err := t.g.Scanner(ctx, org.ID); err == nil {
		list = sc.List()
	}
	objs := make([]Blocked, len(raws))
	for i := range raws {
		objs[i] = Blocked{Raw: raws[i], Result: res[i]}
	}
	return t.g.Quarantine(ctx, org.ID, collection, "taxii", status, list, objs)
}
