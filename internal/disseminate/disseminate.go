// Package disseminate writes the hub's cyber activity reports: for each
// member country, a STIX 2.1 report (section 4.14, report_types
// ["threat-report"]) naming the indicators, infrastructure and
// cyber-observables that concern that country — IP addresses the hub's
// geolocation database places there, domains under its ccTLD — into a
// collection of the member's own, with copies of the objects it names.
//
// Every object goes through the sharing policy for the member it would
// go to (policy.Filter, as on every read path): a member never receives
// an object, or an id in a report's object_refs, that it may not see,
// and what it receives is the copy the policy makes for it (granular
// markings above its level removed). docs/dissemination.md explains the
// choices to hub analysts.
package disseminate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// Store is what a run needs of the store (store.Store has it all).
type Store interface {
	policy.Lister
	Put(ctx context.Context, collection, source string, objs []*stix.Object) ([]store.PutOutcome, error)
	ListCollections(ctx context.Context, apiRoot string) ([]store.Collection, error)
	GetCollection(ctx context.Context, id string) (store.Collection, error)
	CreateCollection(ctx context.Context, c store.Collection) error
	ListOrgs(ctx context.Context) ([]store.Org, error)
	GetGrant(ctx context.Context, collection, orgID string) (store.Grant, error)
	SetGrant(ctx context.Context, g store.Grant) error
	ListGrants(ctx context.Context, collection string) ([]store.Grant, error)
	GetRecord(ctx context.Context, key string) ([]byte, error)
	SetRecord(ctx context.Context, key string, value []byte) error
	AppendLog(ctx context.Context, entries [][]byte) (int64, error)
}

// Locator places IP addresses in countries (*geoip.DB is one).
type Locator interface {
	// Country is the ISO 3166-1 alpha-2 code of a's country; "" unknown.
	Country(a netip.Addr) string
	// Countries are the countries of the networks overlapping p.
	Countries(p netip.Prefix) []string
}

// Config says what one run does.
type Config struct {
	Geo Locator
	// Since, when not zero, limits the run to object versions added to
	// their collection after it. Zero: after what the last run read from
	// each collection (everything on the first run).
	Since time.Time
	// Exclude are collections never read: the hub's own publications
	// (the sharing collection). Report collections are always excluded.
	Exclude []string
	// Actor is the organisation recorded as acting in the audit log's
	// served entries (the hub admin who asked); "" the operator.
	Actor string
	// Progress, when set, is called after each page read.
	Progress func(Progress)
	Now      func() time.Time
}

// Progress is how far a run is.
type Progress struct {
	Collection string // being read
	Examined   int64  // candidate versions read so far, all collections
	Delivered  int64  // object versions given to members so far
}

// Result says what a run did.
type Result struct {
	Started   time.Time      `json:"started"`
	Finished  time.Time      `json:"finished"`
	Since     time.Time      `json:"since,omitzero"` // as given; zero: since the last run
	Examined  int64          `json:"examined"`       // candidate versions read
	Members   []MemberResult `json:"members"`        // members that had something, by country
	Warnings  []string       `json:"warnings,omitempty"`
	Added     int            `json:"added"`   // object versions newly stored in report collections (reports included)
	Reports   int            `json:"reports"` // new reports
	Withheld  int            `json:"withheld"`
	NoMembers bool           `json:"no_members,omitempty"` // there is no member country
}

// MemberResult is one member's share of a run.
type MemberResult struct {
	Org        string   `json:"org"` // id
	Name       string   `json:"name"`
	Country    string   `json:"country"`
	Collection string   `json:"collection"`
	Reports    []string `json:"reports,omitempty"` // report ids written (new ones)
	Objects    int      `json:"objects"`           // objects named by the run's reports
	Added      int      `json:"added"`             // copies newly stored
	Withheld   int      `json:"withheld"`          // concerning objects the policy does not let it see
	Revoked    int      `json:"revoked,omitempty"` // revocations of objects it holds passed on to it
}

// Record keys.
const (
	positionsKey = "disseminate/positions" // per-collection date_added read up to
	runPrefix    = "disseminate/run/"      // one record per run that delivered something
)

// MaxRefs is the most object_refs one report carries; a run that finds
// more for one member writes several reports ("part 2 of 3").
const MaxRefs = 10000

// batchSize is how many copies are written per Put, pageSize how many
// versions each List reads.
const (
	batchSize = 2000
	pageSize  = 5000
)

// candidateTypes are the types a run reads.
var candidateTypes = []string{"indicator", "infrastructure", "ipv4-addr", "ipv6-addr", "domain-name", "url", "network-traffic", "relationship"}

// reportNS is the UUIDv5 namespace of report and report-collection ids.
var reportNS = uuid.MustParse("7f4a3c1e-0b6d-4e8a-9c2f-5d1e6b7a8c90")

// ReportCollectionID is the id of the collection member organisation
// orgID receives its reports in (the same on every node and every run).
func ReportCollectionID(orgID string) string {
	return uuid.NewSHA1(reportNS, []byte("report-collection:"+orgID)).String()
}

type ref struct {
	id       string
	modified time.Time // version key
	added    time.Time // date_added in the source collection
	red      bool      // TLP:RED for this member
}

type member struct {
	org    store.Org
	cc     string
	caller policy.Caller
	coll   string
	ready  bool // collection and grant ensured in this run

	filters  map[string]*policy.Filter
	pending  map[string][]*stix.Object // by source
	npending int
	refs     []ref
	res      MemberResult
}

type runner struct {
	st   Store
	cfg  Config
	now  time.Time
	hub  store.Org
	mem  []*member
	byCC map[string][]*member
	tlds map[string]string // ccTLD → country, members' only

	res       Result
	delivered int64
	jobs      chan job
	werr      error // the writer's first error (read after it stopped)
	obs       observables
	f         fields
}

// ErrBusy: another run is in progress in this process.
var ErrBusy = errors.New("a dissemination run is already in progress")

// running serialises the runs of one process (the API and the schedule).
var running sync.Mutex

// Run disseminates once. It is idempotent: objects already in a member's
// collection are left alone and a report's id depends only on the member
// and the objects it names, so a second run over the same objects stores
// nothing new. Runs must not overlap (run it from one place: one
// scheduler or one operator).
func Run(ctx context.Context, st Store, cfg Config) (Result, error) {
	if cfg.Geo == nil {
		return Result{}, errors.New("disseminate: no geolocation database")
	}
	if !running.TryLock() {
		return Result{}, ErrBusy
	}
	defer running.Unlock()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &runner{st: st, cfg: cfg, now: cfg.Now().UTC(), byCC: map[string][]*member{}, tlds: map[string]string{}}
	r.res.Started, r.res.Since = r.now, cfg.Since.UTC()
	if cfg.Since.IsZero() {
		r.res.Since = time.Time{}
	}
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return r.res, fmt.Errorf("disseminate: list organisations: %w", err)
	}
	exclude := map[string]bool{}
	for _, id := range cfg.Exclude {
		exclude[id] = true
	}
	for _, o := range orgs {
		exclude[ReportCollectionID(o.ID)] = true
		switch {
		case o.Kind == store.KindHub && r.hub.ID == "":
			r.hub = o
		case o.Kind == store.KindMember:
			cc := strings.ToUpper(o.Country)
			if !policy.ValidCountry(cc) {
				r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("member %s has no valid country code (%q): it receives no reports", o.Name, o.Country))
				continue
			}
			m := &member{org: o, cc: cc, caller: policy.Caller{Org: o, Role: store.RoleRead},
				coll: ReportCollectionID(o.ID), filters: map[string]*policy.Filter{}, pending: map[string][]*stix.Object{}}
			m.res = MemberResult{Org: o.ID, Name: o.Name, Country: cc, Collection: m.coll}
			r.mem = append(r.mem, m)
			r.byCC[cc] = append(r.byCC[cc], m)
			for _, t := range ccTLDs(cc) {
				r.tlds[t] = cc
			}
		}
	}
	if len(r.mem) == 0 {
		r.res.NoMembers = true
		r.res.Finished = cfg.Now().UTC()
		return r.res, nil
	}
	positions, err := r.positions(ctx)
	if err != nil {
		return r.res, err
	}
	colls, err := st.ListCollections(ctx, "")
	if err != nil {
		return r.res, fmt.Errorf("disseminate: list collections: %w", err)
	}
	newPos := make(map[string]time.Time, len(positions))
	for k, v := range positions {
		newPos[k] = v
	}
	// The scan (this goroutine) and the writes into the members'
	// collections (the writer) overlap: on two cores a run takes about
	// the longer of the two instead of their sum.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.jobs = make(chan job, 4)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		for j := range r.jobs {
			if r.werr != nil {
				continue
			}
			if err := r.write(sctx, j); err != nil {
				r.werr = err
				cancel()
			}
		}
	}()
	scanErr := func() error {
		defer func() {
			close(r.jobs)
			<-wdone
		}()
		for _, c := range colls {
			if exclude[c.ID] {
				continue
			}
			since := cfg.Since
			if since.IsZero() {
				since = positions[c.ID]
			}
			hw, err := r.collection(sctx, c, since)
			if err != nil {
				return err
			}
			if hw.After(newPos[c.ID]) {
				newPos[c.ID] = hw
			}
		}
		for _, m := range r.mem {
			r.flush(m)
		}
		return nil
	}()
	if r.werr != nil {
		return r.res, r.werr
	}
	if scanErr != nil {
		return r.res, scanErr
	}
	for _, m := range r.mem {
		if err := r.reports(ctx, m); err != nil {
			return r.res, err
		}
		if m.res.Objects > 0 || m.res.Withheld > 0 || m.res.Added > 0 {
			r.res.Members = append(r.res.Members, m.res)
		}
		r.res.Added += m.res.Added
		r.res.Reports += len(m.res.Reports)
		r.res.Withheld += m.res.Withheld
	}
	r.res.Finished = cfg.Now().UTC()
	if r.res.Added > 0 {
		b, _ := json.Marshal(r.res)
		if err := st.SetRecord(ctx, runPrefix+r.res.Started.Format(time.RFC3339Nano), b); err != nil {
			return r.res, fmt.Errorf("disseminate: recording the run: %w", err)
		}
	}
	if !mapsEqual(positions, newPos) {
		if err := r.savePositions(ctx, newPos); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

func mapsEqual(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

type positionsRecord struct {
	Collections map[string]time.Time `json:"collections"`
}

func (r *runner) positions(ctx context.Context) (map[string]time.Time, error) {
	b, err := r.st.GetRecord(ctx, positionsKey)
	if errors.Is(err, store.ErrNotFound) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disseminate: reading %s: %w", positionsKey, err)
	}
	var p positionsRecord
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("disseminate: the record %s is corrupt: %v", positionsKey, err)
	}
	if p.Collections == nil {
		p.Collections = map[string]time.Time{}
	}
	return p.Collections, nil
}

func (r *runner) savePositions(ctx context.Context, pos map[string]time.Time) error {
	b, _ := json.Marshal(positionsRecord{Collections: pos})
	if err := r.st.SetRecord(ctx, positionsKey, b); err != nil {
		return fmt.Errorf("disseminate: recording positions: %w", err)
	}
	return nil
}

// link ties an object that names no address itself (infrastructure,
// network-traffic) to one that may (an SCO), through a relationship
// (nil for network-traffic's own src_ref and dst_ref).
type link struct {
	from   string // infrastructure or network-traffic id
	to     string // the SCO
	via    *store.Version
	nt     *store.Version // network-traffic version (from == its id)
	result []string
}

// collection reads the candidates of one collection added after since,
// and returns the date_added it read up to.
func (r *runner) collection(ctx context.Context, c store.Collection, since time.Time) (time.Time, error) {
	q := store.Query{Types: candidateTypes, AddedAfter: since, Limit: pageSize}
	hw := since
	scoCountries := map[string][]string{} // SCOs of this scan that concern a member
	var links []*link
	var cands, revoked []store.Version
	var ccs [][]string
	for {
		page, err := r.st.List(ctx, c.ID, q)
		if err != nil {
			return hw, fmt.Errorf("disseminate: list collection %s: %w", c.ID, err)
		}
		if len(page.Versions) == 0 {
			break
		}
		last := page.Versions[len(page.Versions)-1].DateAdded
		q.AddedAfter, hw = last, last
		cands, ccs, revoked = cands[:0], ccs[:0], revoked[:0]
		for i := range page.Versions {
			v := &page.Versions[i]
			r.res.Examined++
			if v.Revoked {
				revoked = append(revoked, *v)
				continue
			}
			if !decode(v.Raw, &r.f) {
				continue
			}
			switch r.f.Type {
			case "network-traffic":
				vc := *v
				for _, id := range []string{r.f.SrcRef, r.f.DstRef} {
					if id != "" {
						links = append(links, &link{from: v.ID, to: id, nt: &vc})
					}
				}
				continue
			case "relationship":
				if l := infraLink(&r.f); l != nil {
					vc := *v
					l.via = &vc
					links = append(links, l)
				}
				continue
			case "infrastructure":
				continue // through its relationships
			}
			cc := r.locate(&r.f)
			if len(cc) == 0 {
				continue
			}
			if r.f.Type != "indicator" {
				scoCountries[v.ID] = cc
			}
			cands = append(cands, *v)
			ccs = append(ccs, cc)
		}
		if err := r.deliver(ctx, c, cands, ccs); err != nil {
			return hw, err
		}
		if err := r.revoke(ctx, c, revoked); err != nil {
			return hw, err
		}
		if r.cfg.Progress != nil {
			r.cfg.Progress(Progress{Collection: c.ID, Examined: r.res.Examined, Delivered: r.delivered})
		}
		if !page.More {
			break
		}
	}
	if len(links) > 0 {
		if err := r.linked(ctx, c, links, scoCountries); err != nil {
			return hw, err
		}
	}
	return hw, nil
}

// infraLink is the link a relationship makes between an infrastructure
// and an address, domain, URL or network-traffic object, or nil.
func infraLink(f *fields) *link {
	a, b := f.SourceRef, f.TargetRef
	if strings.HasPrefix(b, "infrastructure--") {
		a, b = b, a
	}
	if !strings.HasPrefix(a, "infrastructure--") {
		return nil
	}
	switch stix.IDType(b) {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "network-traffic":
		return &link{from: a, to: b}
	}
	return nil
}

// locate returns the member countries an object concerns.
func (r *runner) locate(f *fields) []string {
	r.obs.reset()
	switch f.Type {
	case "indicator":
		if f.PatternType != "stix" || !r.obs.fromPattern(f.Pattern) {
			return nil
		}
	default:
		r.obs.fromSCO(f)
	}
	var out []string
	add := func(cc string) {
		if cc != "" && r.byCC[cc] != nil && !slices.Contains(out, cc) {
			out = append(out, cc)
		}
	}
	for _, p := range r.obs.prefixes {
		if p.IsSingleIP() {
			add(r.cfg.Geo.Country(p.Addr()))
			continue
		}
		for _, cc := range r.cfg.Geo.Countries(p) {
			add(cc)
		}
	}
	for _, d := range r.obs.domains {
		add(r.tlds[asciiTLD(tldOf(d))])
	}
	for _, t := range r.obs.tlds {
		add(r.tlds[asciiTLD(t)])
	}
	return out
}

// linked delivers the network-traffic objects, infrastructure and
// relationships found in a collection that concern members through the
// SCOs they connect to.
func (r *runner) linked(ctx context.Context, c store.Collection, links []*link, known map[string][]string) error {
	// Countries of SCOs not read in this scan (older ones).
	var missing []string
	asked := map[string]bool{}
	for _, l := range links {
		if _, ok := known[l.to]; !ok && !asked[l.to] && stix.IDType(l.to) != "network-traffic" {
			asked[l.to] = true
			missing = append(missing, l.to)
		}
	}
	if err := r.load(ctx, c.ID, missing, func(v *store.Version) {
		if decode(v.Raw, &r.f) && !v.Revoked {
			known[v.ID] = r.locate(&r.f)
		}
	}); err != nil {
		return err
	}
	// network-traffic first: infrastructure may be linked to one.
	ntCountries := map[string][]string{}
	var ntVersions []store.Version
	for _, l := range links {
		if l.nt == nil {
			continue
		}
		for _, cc := range known[l.to] {
			if !slices.Contains(ntCountries[l.from], cc) {
				if ntCountries[l.from] == nil {
					ntVersions = append(ntVersions, *l.nt)
				}
				ntCountries[l.from] = append(ntCountries[l.from], cc)
			}
		}
	}
	var ccs [][]string
	for i := range ntVersions {
		ccs = append(ccs, ntCountries[ntVersions[i].ID])
	}
	if err := r.deliver(ctx, c, ntVersions, ccs); err != nil {
		return err
	}
	// Infrastructure, then the relationships that tie it to its SCOs.
	infra := map[string][]string{}
	var infraIDs []string
	var rels []store.Version
	var relCC [][]string
	for _, l := range links {
		if l.via == nil {
			continue
		}
		cc := known[l.to]
		if stix.IDType(l.to) == "network-traffic" {
			cc = ntCountries[l.to]
		}
		if len(cc) == 0 {
			continue
		}
		if _, ok := infra[l.from]; !ok {
			infraIDs = append(infraIDs, l.from)
		}
		for _, x := range cc {
			if !slices.Contains(infra[l.from], x) {
				infra[l.from] = append(infra[l.from], x)
			}
		}
		rels = append(rels, *l.via)
		relCC = append(relCC, cc)
	}
	var infraVs []store.Version
	ccs = ccs[:0]
	if err := r.load(ctx, c.ID, infraIDs, func(v *store.Version) {
		if !v.Revoked {
			infraVs = append(infraVs, *v)
			ccs = append(ccs, infra[v.ID])
		}
	}); err != nil {
		return err
	}
	if err := r.deliver(ctx, c, infraVs, ccs); err != nil {
		return err
	}
	return r.deliver(ctx, c, rels, relCC)
}

// load calls fn with the latest version of each id found in collection.
func (r *runner) load(ctx context.Context, coll string, ids []string, fn func(*store.Version)) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		q := store.Query{IDs: ids[:n], Limit: n}
		ids = ids[n:]
		for {
			page, err := r.st.List(ctx, coll, q)
			if err != nil {
				return fmt.Errorf("disseminate: list collection %s: %w", coll, err)
			}
			for i := range page.Versions {
				fn(&page.Versions[i])
			}
			if !page.More || len(page.Versions) == 0 {
				break
			}
			q.AddedAfter = page.Versions[len(page.Versions)-1].DateAdded
		}
	}
	return nil
}

// deliver passes vs (ccs[i] the member countries vs[i] concerns) through
// the policy for each member concerned and queues what it may see.
func (r *runner) deliver(ctx context.Context, c store.Collection, vs []store.Version, ccs [][]string) error {
	if len(vs) == 0 {
		return nil
	}
	sel := map[*member][]int{}
	var order []*member
	for i, list := range ccs {
		for _, cc := range list {
			for _, m := range r.byCC[cc] {
				if sel[m] == nil {
					order = append(order, m)
				}
				sel[m] = append(sel[m], i)
			}
		}
	}
	def := policy.CollectionDefault(c.DefaultTLP)
	for _, m := range order {
		idx := sel[m]
		copies := make([]store.Version, len(idx))
		for j, i := range idx {
			copies[j] = vs[i]
		}
		vis, err := r.visible(ctx, m, c, copies)
		if err != nil {
			return err
		}
		m.res.Withheld += len(idx) - len(vis)
		for k := range vis {
			v := &vis[k]
			// Clone: v.ID may share the store page's memory, which the
			// refs would otherwise keep alive for the whole run.
			m.refs = append(m.refs, ref{id: strings.Clone(v.ID), modified: v.Modified, added: v.DateAdded, red: isRed(v.Raw, def)})
			m.pending[v.Source] = append(m.pending[v.Source], &stix.Object{Type: v.Type, ID: v.ID,
				SpecVersion: v.SpecVersion, Modified: v.Modified, Revoked: v.Revoked, Raw: v.Raw})
			m.npending++
			r.delivered++
		}
		if m.npending >= batchSize {
			r.flush(m)
		}
	}
	return nil
}

// revoke passes revocations on: a member whose collection holds a copy of
// a revoked object receives the revoking version too, through the policy
// like any copy, so that it stops acting on the object. A revoked object
// is never delivered to a member that had no copy of it, nor named in a
// report. (A run reads the latest versions only, so an object revoked
// before a run is not delivered by it in any version.)
func (r *runner) revoke(ctx context.Context, c store.Collection, vs []store.Version) error {
	if len(vs) == 0 {
		return nil
	}
	ids := make([]string, len(vs))
	for i := range vs {
		ids[i] = vs[i].ID
	}
	for _, m := range r.mem {
		held := map[string]bool{}
		err := r.load(ctx, m.coll, ids, func(v *store.Version) { held[v.ID] = true })
		if err != nil && !errors.Is(err, store.ErrNotFound) { // no collection yet: no copies
			return err
		}
		var copies []store.Version
		for i := range vs {
			if held[vs[i].ID] {
				copies = append(copies, vs[i])
			}
		}
		if len(copies) == 0 {
			continue
		}
		vis, err := r.visible(ctx, m, c, copies)
		if err != nil {
			return err
		}
		for k := range vis {
			v := &vis[k]
			m.pending[v.Source] = append(m.pending[v.Source], &stix.Object{Type: v.Type, ID: strings.Clone(v.ID),
				SpecVersion: v.SpecVersion, Modified: v.Modified, Revoked: true, Raw: v.Raw})
			m.npending++
			m.res.Revoked++
		}
		if m.npending >= batchSize {
			r.flush(m)
		}
	}
	return nil
}

// visible keeps the versions of vs (read from collection c) that member m
// may see, as the policy's copies for m (one policy.Filter per member and
// collection).
func (r *runner) visible(ctx context.Context, m *member, c store.Collection, vs []store.Version) ([]store.Version, error) {
	flt := m.filters[c.ID]
	if flt == nil {
		flt = policy.NewFilter(r.st, m.caller, c)
		m.filters[c.ID] = flt
	}
	vis, err := flt.Visible(ctx, vs)
	if err != nil {
		return nil, fmt.Errorf("disseminate: policy for %s: %w", m.org.Name, err)
	}
	return vis, nil
}

// isRed reports whether the copy a member gets is TLP:RED: it carries a
// RED marking, or carries no TLP marking in a collection whose default is
// RED.
func isRed(raw []byte, def policy.Level) bool {
	s := string(raw) // no copy: the compiler keeps it a view for Contains
	if strings.Contains(s, policy.TLP2RedID) || strings.Contains(s, policy.TLP1RedID) {
		return true
	}
	if def != policy.LevelRed {
		return false
	}
	for _, id := range []string{policy.TLP2ClearID, policy.TLP2GreenID, policy.TLP2AmberID, policy.TLP2AmberStrictID,
		policy.TLP1WhiteID, policy.TLP1GreenID, policy.TLP1AmberID} {
		if strings.Contains(s, id) {
			return false
		}
	}
	return true
}

// ensure creates the member's report collection when it does not exist
// and makes sure the member may read it and not write to it.
func (r *runner) ensure(ctx context.Context, m *member) error {
	if m.ready {
		return nil
	}
	name := CountryName(m.cc)
	c := store.Collection{ID: m.coll, APIRoot: store.DefaultAPIRoot, Alias: "reports-" + m.org.Name,
		Title:       "Cyber activity reports: " + name,
		Description: fmt.Sprintf("Reports the hub writes for %s (%s): intelligence that concerns %s. Read only.", m.org.Name, m.cc, name),
		DefaultTLP:  "amber", Created: r.now}
	if _, err := r.st.GetCollection(ctx, c.ID); errors.Is(err, store.ErrNotFound) {
		err := r.st.CreateCollection(ctx, c)
		if errors.Is(err, store.ErrExists) {
			if _, gerr := r.st.GetCollection(ctx, c.ID); gerr != nil {
				// The alias is taken by another collection.
				c.Alias = ""
				err = r.st.CreateCollection(ctx, c)
			} else {
				err = nil // another node created it
			}
		}
		if err != nil {
			return fmt.Errorf("disseminate: creating the report collection of %s: %w", m.org.Name, err)
		}
	} else if err != nil {
		return fmt.Errorf("disseminate: report collection of %s: %w", m.org.Name, err)
	}
	g, err := r.st.GetGrant(ctx, m.coll, m.org.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || !g.Read || g.Write {
		if err := r.st.SetGrant(ctx, store.Grant{Collection: m.coll, OrgID: m.org.ID, Read: true}); err != nil {
			return fmt.Errorf("disseminate: granting %s its report collection: %w", m.org.Name, err)
		}
	}
	grants, err := r.st.ListGrants(ctx, m.coll)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.OrgID != m.org.ID && (g.Read || g.Write) {
			r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("the report collection of %s (%s) is also granted to organisation %s; remove that grant unless it is meant", m.org.Name, m.coll, g.OrgID))
		}
	}
	// The hub identity the reports' created_by_ref names, so that the
	// reference resolves for the member (TLP:CLEAR).
	hubID, err := stix.Parse(policy.HubIdentity())
	if err != nil {
		return fmt.Errorf("disseminate: the hub identity is invalid (a bug): %w", err)
	}
	if _, err := r.put(ctx, m, r.hub.ID, []*stix.Object{hubID}); err != nil {
		return err
	}
	m.ready = true
	return nil
}

// put stores objs in the member's collection and records the new ones in
// the audit log as served to the member (the store's recorder records
// them as accepted).
func (r *runner) put(ctx context.Context, m *member, source string, objs []*stix.Object) (int, error) {
	outs, err := r.st.Put(ctx, m.coll, source, objs)
	if err != nil {
		return 0, fmt.Errorf("disseminate: storing into the report collection of %s: %w", m.org.Name, err)
	}
	var added []*stix.Object
	for i, o := range outs {
		if o.Added {
			added = append(added, objs[i])
		}
	}
	return len(added), r.served(ctx, m, source, added)
}

// served records in the audit log that objs (of source) were given to the
// member, and counts them.
func (r *runner) served(ctx context.Context, m *member, source string, objs []*stix.Object) error {
	if len(objs) == 0 {
		return nil
	}
	vs := make([]store.Version, len(objs))
	for i, o := range objs {
		vs[i] = store.Version{ID: o.ID, Modified: o.Version(), Source: source}
	}
	m.res.Added += len(objs)
	acc := audit.Access{Time: r.cfg.Now(), Actor: r.cfg.Actor, To: m.org.ID, Path: audit.PathReport, Collection: m.coll}
	if _, err := r.st.AppendLog(ctx, audit.Served(acc, vs)); err != nil {
		return fmt.Errorf("disseminate: audit log: %w", err)
	}
	return nil
}

// job is one batch of copies for the writer.
type job struct {
	m      *member
	source string
	objs   []*stix.Object
}

// flush hands the member's queued copies to the writer.
func (r *runner) flush(m *member) {
	if m.npending == 0 {
		return
	}
	sources := make([]string, 0, len(m.pending))
	for s := range m.pending {
		sources = append(sources, s)
	}
	slices.Sort(sources)
	for _, s := range sources {
		r.jobs <- job{m: m, source: s, objs: m.pending[s]}
		delete(m.pending, s)
	}
	m.npending = 0
}

// write stores one batch (the writer goroutine).
func (r *runner) write(ctx context.Context, j job) error {
	if err := r.ensure(ctx, j.m); err != nil {
		return err
	}
	_, err := r.put(ctx, j.m, j.source, j.objs)
	return err
}
