package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
// "guard:lc:<orgID>:" (the list's text in pieces of at most listChunk
// bytes, 16 KiB, keyed by a hash of the text and their number) named by the
// partner's meta record "guard:meta:<orgID>" (no listing or read path
// reaches them but this one); it is never logged or put into an error, a
// status resource or a response to anyone but the partner and hub
// admins. Logs carry List.Digest only. The pieces are small because a
// store record larger than a B-tree cell slows every record lookup that
// passes it (SQLite reads such a record whole to compare keys with it: a
// 3 MB list made each status or meta lookup take about 3 ms). Lists
// stored whole in "guard:list:<orgID>" by earlier versions are still
// read, and are replaced by pieces at the next change.
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

	maxQ     int // MaxQuarantine unless a test says otherwise
	qmu      sync.Mutex
	qcache   map[string]*qState // by organisation id: this node's copy of the quarantine's meta records
	migrated map[string]bool    // organisations whose legacy quarantine index this node moved (or found none)
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

// guardListRecord is what the legacy "guard:list:<orgID>" holds: the list's text as
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

func guardListKey(orgID string) string { return "guard:list:" + orgID }
func guardMetaKey(orgID string) string { return "guard:meta:" + orgID }
func guardChunkPrefix(orgID string) string {
	return "guard:lc:" + orgID + ":"
}

// listChunk is the most list text one record holds: small enough that a
// lookup comparing its key with it reads little (SQLite reads a record
// that overflows its B-tree cell whole), large enough that a list of
// 100,000 assets takes about 200 records.
const listChunk = 16 << 10

// guardMetaRecord is what "guard:meta:<orgID>" holds: the meta data and
// where the text is (Chunks pieces under guard:lc:<orgID>:<TextHash>:;
// none: the legacy list record).
type guardMetaRecord struct {
	GuardMeta `json:",inline"`
	Chunks    int    `json:"chunks,omitempty"`
	TextHash  string `json:"text_hash,omitempty"`
}

// NewGuard returns the guard service over st (now nil: time.Now).
func NewGuard(st store.Store, log *slog.Logger, now func() time.Time) *Guard {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Guard{st: st, log: log, now: now, cache: map[string]*guardEntry{},
		qcache: map[string]*qState{}, migrated: map[string]bool{}, maxQ: MaxQuarantine}
}

// SetMaxQuarantine changes the bound of every partner's quarantine on
// this node (MaxQuarantine by default; for tests).
func (g *Guard) SetMaxQuarantine(n int) { g.maxQ = max(1, n) }

// ErrNoGuardList: the organisation has no protected-asset list.
var ErrNoGuardList = errors.New("no protected-asset list")

// SetList parses text and, if it is a valid list, makes it the
// organisation's list with the given action ("" keeps the current action,
// or block for a new list). A *guard.ListError names bad lines by number
// only. The text's pieces are written before the meta record that names
// them, so a reader never builds a scanner from a half-written change.
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
	th := sha256.Sum256(text)
	mr := guardMetaRecord{GuardMeta: m, TextHash: hex.EncodeToString(th[:12])}
	prefix := guardChunkPrefix(orgID) + mr.TextHash + ":"
	for off := 0; off < len(text) || off == 0; off += listChunk {
		piece := text[off:min(off+listChunk, len(text))]
		if err := g.st.SetRecord(ctx, fmt.Sprintf("%s%06d", prefix, mr.Chunks), piece); err != nil {
			return GuardMeta{}, fmt.Errorf("storing the protected-asset list: %w", err)
		}
		mr.Chunks++
		if len(text) == 0 {
			break
		}
	}
	mb, err := json.Marshal(mr)
	if err != nil {
		return GuardMeta{}, err
	}
	if err := g.st.SetRecord(ctx, guardMetaKey(orgID), mb); err != nil {
		return GuardMeta{}, fmt.Errorf("storing the protected-asset list: %w", err)
	}
	// The pieces of earlier lists, and a legacy whole-list record, go.
	if err := g.deleteStaleChunks(ctx, orgID, mr.TextHash); err != nil {
		return GuardMeta{}, err
	}
	if err := g.st.DeleteRecord(ctx, guardListKey(orgID)); err != nil {
		return GuardMeta{}, fmt.Errorf("removing the earlier protected-asset list: %w", err)
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
	m, _, err := g.metaRecord(ctx, orgID)
	return m.GuardMeta, err
}

func (g *Guard) metaRecord(ctx context.Context, orgID string) (guardMetaRecord, []byte, error) {
	b, err := g.st.GetRecord(ctx, guardMetaKey(orgID))
	if errors.Is(err, store.ErrNotFound) {
		return guardMetaRecord{}, nil, ErrNoGuardList
	}
	if err != nil {
		return guardMetaRecord{}, nil, err
	}
	var m guardMetaRecord
	if err := json.Unmarshal(b, &m, json.RejectUnknownMembers(false)); err != nil {
		return guardMetaRecord{}, nil, fmt.Errorf("guard meta record of organisation %s is unreadable", orgID)
	}
	return m, b, nil
}

// ListText returns the list as the partner sent it and its meta data.
// Owner and hub admins only: the caller checks. ErrNoGuardList if none.
func (g *Guard) ListText(ctx context.Context, orgID string) (GuardMeta, string, error) {
	m, _, err := g.metaRecord(ctx, orgID)
	if err != nil {
		return GuardMeta{}, "", err
	}
	text, err := g.readText(ctx, orgID, m)
	return m.GuardMeta, text, err
}

// readText reads the list text the meta record names.
func (g *Guard) readText(ctx context.Context, orgID string, m guardMetaRecord) (string, error) {
	if m.Chunks == 0 { // legacy: the whole list in one record
		b, err := g.st.GetRecord(ctx, guardListKey(orgID))
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrNoGuardList
		}
		if err != nil {
			return "", err
		}
		var rec guardListRecord
		if err := json.Unmarshal(b, &rec, json.RejectUnknownMembers(false)); err != nil {
			return "", fmt.Errorf("guard list record of organisation %s is unreadable", orgID)
		}
		return rec.Text, nil
	}
	prefix := guardChunkPrefix(orgID) + m.TextHash + ":"
	var text []byte
	n := 0
	for after := ""; ; {
		recs, err := g.st.ListRecords(ctx, prefix, after, qListPage)
		if err != nil {
			return "", err
		}
		for _, r := range recs {
			text = append(text, r.Value...)
			n++
		}
		if len(recs) < qListPage {
			break
		}
		after = recs[len(recs)-1].Key
	}
	th := sha256.Sum256(text)
	if n != m.Chunks || hex.EncodeToString(th[:12]) != m.TextHash {
		return "", fmt.Errorf("the stored protected-asset list of organisation %s is incomplete (%d of %d pieces; replaced at the same moment by another request?): set it again", orgID, n, m.Chunks)
	}
	return string(text), nil
}

// deleteStaleChunks removes the pieces of every list text but keep's.
func (g *Guard) deleteStaleChunks(ctx context.Context, orgID, keep string) error {
	prefix := guardChunkPrefix(orgID)
	var stale []string
	for after := ""; ; {
		recs, err := g.st.ListRecords(ctx, prefix, after, qListPage)
		if err != nil {
			return fmt.Errorf("removing the earlier protected-asset list: %w", err)
		}
		for _, r := range recs {
			if !strings.HasPrefix(r.Key, prefix+keep+":") {
				stale = append(stale, r.Key)
			}
		}
		if len(recs) < qListPage {
			break
		}
		after = recs[len(recs)-1].Key
	}
	for _, k := range stale {
		if err := g.st.DeleteRecord(ctx, k); err != nil {
			return fmt.Errorf("removing the earlier protected-asset list: %w", err)
		}
	}
	return nil
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
	m, mb, err := g.metaRecord(ctx, orgID)
	if errors.Is(err, ErrNoGuardList) {
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
	text, err := g.readText(ctx, orgID, m)
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
	res, err := sc.ScanBatch(ctx, raws, &batchQuarantine{g: g, orgID: org.ID}) // scans on every CPU
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

// The quarantine keeps one pair of records per blocked object version,
// written and deleted whole, never read, changed and written back, so
// that any number of nodes sharing the store can quarantine for the same
// partner at once without losing an entry:
//
//	guard:qe:<orgID>:<id>:<version>  the entry with the object as submitted (show, release)
//	guard:qm:<orgID>:<id>:<version>  the same entry without the object, and the ids a
//	                                 blocked relationship ties (list, lookups, eviction)
//	guard:qgen:<orgID>               a random value rewritten after every change
//
// Each node keeps the partner's meta records in memory with the qgen value
// it read before listing them; a lookup reads qgen (one small record) and
// lists the meta records again only when it changed. A writer writes its
// records before qgen, so a reader that sees the new qgen lists them.
//
// The quarantine is bounded: when a node adding entries finds more than
// MaxQuarantine, it deletes the oldest (by quarantine time). Nodes adding
// at the same moment may each see fewer and leave up to their own batches
// over the bound until the next addition.
//
// Before this layout, a single index record "guard:qindex:<orgID>" listed
// the entries of "guard:q:<orgID>:<id>:<version>"; they are moved to the
// new records the first time a node touches the partner's quarantine.

func qEntryPrefix(orgID string) string { return "guard:qe:" + orgID + ":" }
func qMetaPrefix(orgID string) string  { return "guard:qm:" + orgID + ":" }
func qGenKey(orgID string) string      { return "guard:qgen:" + orgID }
func qSuffix(id, version string) string {
	if version == "" {
		version = "-"
	}
	return id + ":" + version
}

// legacy layout
func quarantineIndexKey(orgID string) string { return "guard:qindex:" + orgID }
func legacyQuarantineKey(orgID, id, version string) string {
	return "guard:q:" + orgID + ":" + qSuffix(id, version)
}

// qMeta is what a guard:qm record holds.
type qMeta struct {
	Entry QuarantineEntry `json:"entry"`
	Tied  []string        `json:"tied,omitempty"` // a blocked relationship: the vulnerability and observed-data it ties
}

// qState is one node's copy of a partner's meta records.
type qState struct {
	gen   []byte
	metas []qMeta // oldest first
	ids   map[string]bool
	tied  map[string]string
}

// qListPage is how many records one ListRecords call returns.
const qListPage = 1000

// Quarantine keeps blocked objects for the partner (see the layout above)
// and appends one audit entry per object (Record). list is the list the
// objects were scanned with (for asset line numbers; may be nil).
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
	if err := g.migrate(ctx, orgID); err != nil {
		return err
	}
	now := g.now().UTC()
	added := 0
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
		if err := g.putEntry(ctx, orgID, e, b.Raw, b.Result.Tied()); err != nil {
			return err
		}
		added++
	}
	if added == 0 {
		return nil
	}
	q, err := g.qload(ctx, orgID)
	if err != nil {
		return err
	}
	if len(q.metas)+added > g.maxQ {
		if err := g.evict(ctx, orgID); err != nil {
			return err
		}
	}
	return g.bump(ctx, orgID)
}

// putEntry writes the two records of one entry: the full one first, so
// that whatever a listing shows can be shown.
func (g *Guard) putEntry(ctx context.Context, orgID string, e QuarantineEntry, raw []byte, tied []string) error {
	k := qSuffix(e.ID, e.Version)
	e.Raw = jsontext.Value(raw)
	full, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	e.Raw, e.Findings = nil, nil
	meta, err := json.Marshal(qMeta{Entry: e, Tied: tied})
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := g.st.SetRecord(ctx, qEntryPrefix(orgID)+k, full); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := g.st.SetRecord(ctx, qMetaPrefix(orgID)+k, meta); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// deleteEntry removes one entry: the meta record first, so that nothing
// lists an entry that cannot be shown.
func (g *Guard) deleteEntry(ctx context.Context, orgID, id, version string) error {
	k := qSuffix(id, version)
	if err := g.st.DeleteRecord(ctx, qMetaPrefix(orgID)+k); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if err := g.st.DeleteRecord(ctx, qEntryPrefix(orgID)+k); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// bump tells every node that the partner's quarantine changed.
func (g *Guard) bump(ctx context.Context, orgID string) error {
	var b [16]byte
	rand.Read(b[:])
	if err := g.st.SetRecord(ctx, qGenKey(orgID), []byte(hex.EncodeToString(b[:]))); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// evict deletes the oldest entries beyond MaxQuarantine, from a fresh
// listing.
func (g *Guard) evict(ctx context.Context, orgID string) error {
	metas, err := g.listMetas(ctx, orgID)
	if err != nil {
		return err
	}
	for _, m := range metas[:max(0, len(metas)-g.maxQ)] {
		if err := g.deleteEntry(ctx, orgID, m.Entry.ID, m.Entry.Version); err != nil {
			return err
		}
	}
	return nil
}

// listMetas reads every meta record of the partner, oldest first.
func (g *Guard) listMetas(ctx context.Context, orgID string) ([]qMeta, error) {
	var out []qMeta
	prefix := qMetaPrefix(orgID)
	for after := ""; ; {
		recs, err := g.st.ListRecords(ctx, prefix, after, qListPage)
		if err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
		for _, r := range recs {
			var m qMeta
			if err := json.Unmarshal(r.Value, &m); err != nil {
				return nil, fmt.Errorf("quarantine record %s of organisation %s is unreadable", strings.TrimPrefix(r.Key, prefix), orgID)
			}
			out = append(out, m)
		}
		if len(recs) < qListPage {
			break
		}
		after = recs[len(recs)-1].Key
	}
	slices.SortStableFunc(out, func(a, b qMeta) int {
		if c := a.Entry.Quarantined.Compare(b.Entry.Quarantined); c != 0 {
			return c
		}
		return strings.Compare(qSuffix(a.Entry.ID, a.Entry.Version), qSuffix(b.Entry.ID, b.Entry.Version))
	})
	return out, nil
}

// qload returns the partner's meta records as this node knows them,
// listed again when another node (or this one) changed them.
func (g *Guard) qload(ctx context.Context, orgID string) (*qState, error) {
	if err := g.migrate(ctx, orgID); err != nil {
		return nil, err
	}
	gen, err := g.st.GetRecord(ctx, qGenKey(orgID))
	if errors.Is(err, store.ErrNotFound) {
		gen, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	g.qmu.Lock()
	q := g.qcache[orgID]
	g.qmu.Unlock()
	if q != nil && bytes.Equal(q.gen, gen) {
		return q, nil
	}
	metas, err := g.listMetas(ctx, orgID)
	if err != nil {
		return nil, err
	}
	q = &qState{gen: gen, metas: metas, ids: make(map[string]bool, len(metas)), tied: map[string]string{}}
	for _, m := range metas {
		q.ids[m.Entry.ID] = true
		for _, id := range m.Tied {
			if _, ok := q.tied[id]; !ok {
				q.tied[id] = m.Entry.ID
			}
		}
	}
	g.qmu.Lock()
	g.qcache[orgID] = q
	g.qmu.Unlock()
	return q, nil
}

// migrate moves a partner's quarantine from the legacy index record to
// the per-entry records, once per node and partner. Two nodes migrating
// at once write the same records.
func (g *Guard) migrate(ctx context.Context, orgID string) error {
	g.qmu.Lock()
	done := g.migrated[orgID]
	g.qmu.Unlock()
	if done {
		return nil
	}
	b, err := g.st.GetRecord(ctx, quarantineIndexKey(orgID))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("quarantine index: %w", err)
	default:
		var idx []QuarantineEntry
		if len(b) > 0 {
			if err := json.Unmarshal(b, &idx); err != nil {
				return fmt.Errorf("quarantine index of organisation %s is unreadable", orgID)
			}
		}
		for _, x := range idx {
			old := legacyQuarantineKey(orgID, x.ID, x.Version)
			rec, err := g.st.GetRecord(ctx, old)
			if errors.Is(err, store.ErrNotFound) || err == nil && len(rec) == 0 {
				continue // dropped, its record emptied
			}
			if err != nil {
				return fmt.Errorf("quarantine: %w", err)
			}
			var e QuarantineEntry
			if err := json.Unmarshal(rec, &e); err != nil {
				return fmt.Errorf("quarantine record of %s is unreadable", x.ID)
			}
			raw := []byte(e.Raw)
			var tied []string
			if e.Type == "relationship" && len(raw) > 0 {
				tied = tiedEnds(raw)
			}
			if err := g.putEntry(ctx, orgID, e, raw, tied); err != nil {
				return err
			}
		}
		for _, x := range idx {
			if err := g.st.DeleteRecord(ctx, legacyQuarantineKey(orgID, x.ID, x.Version)); err != nil {
				return fmt.Errorf("quarantine: %w", err)
			}
		}
		if err := g.st.DeleteRecord(ctx, quarantineIndexKey(orgID)); err != nil {
			return fmt.Errorf("quarantine index: %w", err)
		}
		if err := g.bump(ctx, orgID); err != nil {
			return err
		}
		g.log.Info("quarantine moved to per-entry records", "org_id", orgID, "entries", len(idx))
	}
	g.qmu.Lock()
	g.migrated[orgID] = true
	g.qmu.Unlock()
	return nil
}

// tiedEnds reads the vulnerability and observed-data ends of a
// relationship.
func tiedEnds(raw []byte) []string {
	var ends struct {
		Source string `json:"source_ref"`
		Target string `json:"target_ref"`
	}
	if json.Unmarshal(raw, &ends, json.RejectUnknownMembers(false)) != nil {
		return nil
	}
	var out []string
	for _, id := range []string{ends.Source, ends.Target} {
		if strings.HasPrefix(id, "vulnerability--") || strings.HasPrefix(id, "observed-data--") {
			out = append(out, id)
		}
	}
	return out
}

// QuarantineList returns the partner's quarantined object versions,
// oldest first, without their content.
func (g *Guard) QuarantineList(ctx context.Context, orgID string) ([]QuarantineEntry, error) {
	q, err := g.qload(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]QuarantineEntry, len(q.metas))
	for i, m := range q.metas {
		out[i] = m.Entry
	}
	return out, nil
}

// QuarantineShow returns every quarantined version of object id with its
// content, oldest first; store.ErrNotFound if there is none.
func (g *Guard) QuarantineShow(ctx context.Context, orgID, id string) ([]QuarantineEntry, error) {
	if err := g.migrate(ctx, orgID); err != nil {
		return nil, err
	}
	prefix := qEntryPrefix(orgID) + id + ":"
	var out []QuarantineEntry
	for after := ""; ; {
		recs, err := g.st.ListRecords(ctx, prefix, after, qListPage)
		if err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
		for _, r := range recs {
			var e QuarantineEntry
			if err := json.Unmarshal(r.Value, &e); err != nil {
				return nil, fmt.Errorf("quarantine record of %s is unreadable", id)
			}
			if e.ID == id { // an id with ':' in it could share the prefix
				out = append(out, e)
			}
		}
		if len(recs) < qListPage {
			break
		}
		after = recs[len(recs)-1].Key
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	slices.SortStableFunc(out, func(a, b QuarantineEntry) int { return a.Quarantined.Compare(b.Quarantined) })
	return out, nil
}

// QuarantineDrop removes every quarantined version of object id, records
// the drop in the audit log (action "drop": the object id only) and
// returns how many versions went; store.ErrNotFound if there was none.
func (g *Guard) QuarantineDrop(ctx context.Context, orgID, id string) (int, error) {
	n, err := g.drop(ctx, orgID, id)
	if err != nil {
		return n, err
	}
	return n, g.appendGuardEntry(ctx, orgID, "", id, "drop", nil)
}

func (g *Guard) drop(ctx context.Context, orgID, id string) (int, error) {
	q, err := g.QuarantineShow(ctx, orgID, id)
	if err != nil {
		return 0, err
	}
	for _, e := range q {
		if err := g.deleteEntry(ctx, orgID, e.ID, e.Version); err != nil {
			return 0, err
		}
	}
	return len(q), g.bump(ctx, orgID)
}

// QuarantineRelease records that object id, released by the partner after
// editing, was stored in collection (action "release"; with the rule kinds
// of res when its free text was redacted on the way), and removes its
// quarantined versions; it returns how many went (0 if another request
// removed them first).
func (g *Guard) QuarantineRelease(ctx context.Context, orgID, collection, id string, res *guard.Result) (int, error) {
	var rules []string
	if res != nil && res.Action == guard.Redact {
		for _, f := range res.Findings {
			rules = append(rules, f.Rule.String())
		}
	}
	if err := g.appendGuardEntry(ctx, orgID, collection, id, "release", rules); err != nil {
		return 0, err
	}
	n, err := g.drop(ctx, orgID, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return n, err
}

func (g *Guard) appendGuardEntry(ctx context.Context, orgID, collection, id, action string, rules []string) error {
	e := audit.Guard(audit.GuardDecision{Time: g.now(), Actor: audit.ActorFrom(ctx), Source: orgID,
		Collection: collection, ObjectID: id, Action: action, Rules: rules})
	if _, err := g.st.AppendLog(ctx, [][]byte{e}); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Blocked returns the partner's quarantine as a guard.BlockedIDs and
// guard.TiedIDs: an object is blocked if any version of it is
// quarantined; a vulnerability or observed-data is tied when a
// quarantined relationship ties it.
func (g *Guard) Blocked(orgID string) guard.BlockedIDs { return quarantineIDs{g, orgID} }

type quarantineIDs struct {
	g     *Guard
	orgID string
}

// batchQuarantine is quarantineIDs for one batch: the quarantine is read
// (its change marker checked) once, for Blocked and Tied both.
type batchQuarantine struct {
	g     *Guard
	orgID string
	st    *qState
}

func (q *batchQuarantine) load(ctx context.Context) (*qState, error) {
	if q.st == nil {
		st, err := q.g.qload(ctx, q.orgID)
		if err != nil {
			return nil, err
		}
		q.st = st
	}
	return q.st, nil
}

func (q *batchQuarantine) Blocked(ctx context.Context, ids []string) ([]string, error) {
	st, err := q.load(ctx)
	if err != nil {
		return nil, err
	}
	return st.blocked(ids), nil
}

func (q *batchQuarantine) Tied(ctx context.Context, ids []string) (map[string]string, error) {
	st, err := q.load(ctx)
	if err != nil {
		return nil, err
	}
	return st.tiedBy(ids), nil
}

func (st *qState) blocked(ids []string) []string {
	var out []string
	for _, id := range ids {
		if st.ids[id] {
			out = append(out, id)
		}
	}
	return out
}

func (st *qState) tiedBy(ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		if rel, ok := st.tied[id]; ok {
			out[id] = rel
		}
	}
	return out
}

func (q quarantineIDs) Blocked(ctx context.Context, ids []string) ([]string, error) {
	st, err := q.g.qload(ctx, q.orgID)
	if err != nil {
		return nil, err
	}
	return st.blocked(ids), nil
}

func (q quarantineIDs) Tied(ctx context.Context, ids []string) (map[string]string, error) {
	st, err := q.g.qload(ctx, q.orgID)
	if err != nil {
		return nil, err
	}
	return st.tiedBy(ids), nil
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

// Screen screens a posted batch with org's list.
func (t taxiiGuard) Screen(ctx context.Context, org store.Org, raws [][]byte) ([]guard.Result, bool, error) {
	return t.g.Screen(ctx, org, raws)
}

// Redacted records in the audit log the redactions of posted objects that
// passed validation, with the collection they go to (blocks are recorded
// by Quarantine).
func (t taxiiGuard) Redacted(ctx context.Context, org store.Org, collection string, res []*guard.Result) error {
	return t.g.Record(ctx, org.ID, collection, res)
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
