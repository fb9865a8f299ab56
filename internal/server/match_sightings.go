package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/uuid"

	"fusion/internal/match"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/stix/pattern"
	"fusion/internal/store"
)

// Sightings reported by screening (POST /api/v1/match?report_sightings=true,
// fusion match --report-sightings; docs/screening.md).
//
// Each indicator version a response shows with a match of kind exact,
// cidr or pattern gets one STIX 2.1 sighting per reporting organisation
// (subdomain and partial matches are weaker than the indicator and are not
// reported). The sighting's id is derived from the organisation and the
// indicator (a name-based UUID), so repeated reports aggregate: each report
// stores a new version of the same sighting with count summed, first_seen
// the earliest and last_seen the latest seen, and modified moved forward.
//
// Sightings are stored in the sightings collection (SightingsCollectionID)
// with the reporting organisation as their source, marked TLP:AMBER, and
// created_by_ref and where_sighted_refs naming the organisation's identity
// (OrgIdentityID), stored in the same collection (TLP:RED for the
// organisation alone). The policy decides who
// reads them: the reporting organisation (its own objects) and hub admins;
// the policy resolves a sighting's sighting_of_ref within the sighting's
// collection, and the indicator is not there, so nobody else does.
//
// Aggregation is a read-modify-write of the sighting's latest version. On
// one node, reports that touch the same sighting are serialised (a lock
// per sighting id, taken in a fixed order), so concurrent requests never
// lose counts. Two nodes sharing one PostgreSQL do not share these locks:
// two reports of the same sighting at the same instant on two nodes can
// both read version N; both versions are stored (or, with equal modified,
// only one), and the later one's count misses the other report. The store
// has no conditional Put that would close this.

// SightingsCollectionID is the collection screening stores sightings in.
const SightingsCollectionID = "7c2d4e6f-8a9b-4c1d-9e2f-3a4b5c6d7e8f"

// SightingsAlias is the sightings collection's alias.
const SightingsAlias = "fusion-sightings"

// maxSightingCount is the largest count STIX 2.1 allows (section 5.7).
const maxSightingCount = 999_999_999

// sightingNS is the namespace of the name-based UUIDs of sightings and
// organisation identities.
var sightingNS = uuid.MustParse("0e1f2a3b-4c5d-4e6f-8a9b-5d6e7f809a1b")

// OrgIdentityID is the id of the STIX identity the hub uses for an
// organisation in the sightings it reports for it.
func OrgIdentityID(orgID string) string {
	return "identity--" + uuid.NewSHA1(sightingNS, []byte("org\x00"+orgID)).String()
}

// SightingID is the id of organisation orgID's sighting of an indicator.
func SightingID(orgID, indicator string) string {
	return "sighting--" + uuid.NewSHA1(sightingNS, []byte("sighting\x00"+orgID+"\x00"+indicator)).String()
}

// EnsureSightings creates the sightings collection when it does not
// exist (default TLP:AMBER). Bootstrap runs it at every start; it is
// idempotent and safe on several nodes at once.
func EnsureSightings(ctx context.Context, st store.Store, now time.Time) error {
	c := store.Collection{ID: SightingsCollectionID, APIRoot: store.DefaultAPIRoot, Alias: SightingsAlias,
		Title: "Fusion sightings", DefaultTLP: "amber", Created: now.UTC(),
		Description: "Sightings reported by screening (docs/screening.md): one per organisation and indicator, aggregated"}
	if err := st.CreateCollection(ctx, c); err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("creating the sightings collection: %w", err)
	}
	return nil
}

// sightingTally is what one request saw of one indicator.
type sightingTally struct {
	indicator   string
	count       int64
	first, last time.Time
}

// tallySightings adds up, per indicator shown, the inputs that matched it
// (exact, cidr and pattern kinds). obs are the request's observations
// (bundles) or nil; their times and number_observed count when set,
// otherwise now does and each input counts once.
func tallySightings(hits []match.Hit, shown map[match.Ref]*hitDetails, obs []pattern.Observation, now time.Time) []*sightingTally {
	type inputKey struct {
		id    string
		input int
	}
	seen := map[inputKey]bool{}
	byID := map[string]*sightingTally{}
	var out []*sightingTally
	for i := range hits {
		h := &hits[i]
		if _, ok := shown[h.Ref]; !ok {
			continue
		}
		switch h.Kind {
		case match.KindExact, match.KindCIDR, match.KindPattern:
		default:
			continue
		}
		k := inputKey{h.Ref.ID, h.Input}
		if h.Input >= 0 && seen[k] {
			continue // one input matching one indicator in two ways
		}
		seen[k] = true
		n, first, last := int64(1), now, now
		if obs != nil && h.Input >= 0 && h.Input < len(obs) {
			o := &obs[h.Input]
			n = int64(max(o.NumberObserved, 1))
			if !o.FirstObserved.IsZero() {
				first = o.FirstObserved
			}
			if !o.LastObserved.IsZero() {
				last = o.LastObserved
			}
			if last.Before(first) {
				last = first
			}
		}
		t := byID[h.Ref.ID]
		if t == nil {
			t = &sightingTally{indicator: h.Ref.ID, first: first, last: last}
			byID[h.Ref.ID] = t
			out = append(out, t)
		}
		t.count = min(t.count+n, maxSightingCount)
		if first.Before(t.first) {
			t.first = first
		}
		if last.After(t.last) {
			t.last = last
		}
	}
	return out
}

// sightingLocks serialise the read-modify-write of one sighting on this
// node: a report locks the stripes of all its sightings in ascending
// order.
type sightingLocks struct {
	seed    maphash.Seed
	stripes [256]sync.Mutex
}

func newSightingLocks() *sightingLocks { return &sightingLocks{seed: maphash.MakeSeed()} }

func (l *sightingLocks) lock(ids []string) (unlock func()) {
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		idx = append(idx, int(maphash.String(l.seed, id)%uint64(len(l.stripes))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		l.stripes[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(idx) {
			l.stripes[i].Unlock()
		}
	}
}

// sightingJSON is the part of a stored sighting aggregation reads.
type sightingJSON struct {
	Created   string `json:"created"`
	Count     int64  `json:"count"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
}

// reportSightings stores (or updates) org's sighting of each tallied
// indicator and returns the sighting id per indicator. It returns once the
// versions are stored; an error means nothing was reported in this call.
func (s *Server) reportSightings(ctx context.Context, org store.Org, tallies []*sightingTally) (map[string]string, error) {
	if len(tallies) == 0 {
		return nil, nil
	}
	if _, err := s.st.GetCollection(ctx, SightingsCollectionID); errors.Is(err, store.ErrNotFound) {
		// A store bootstrapped before sightings existed.
		if err := EnsureSightings(ctx, s.st, s.cfg.Now()); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	ids := make([]string, len(tallies))
	byID := make(map[string]*sightingTally, len(tallies))
	for i, t := range tallies {
		ids[i] = SightingID(org.ID, t.indicator)
		byID[ids[i]] = t
	}
	unlock := s.feed.sightLocks.lock(ids)
	defer unlock()

	old, err := s.latest(ctx, SightingsCollectionID, ids)
	if err != nil {
		return nil, fmt.Errorf("reading earlier sightings: %w", err)
	}
	prev := make(map[string]store.Version, len(old))
	for _, v := range old {
		if p, ok := prev[v.ID]; !ok || v.Modified.After(p.Modified) {
			prev[v.ID] = v
		}
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	ident := OrgIdentityID(org.ID)
	objs := make([]*stix.Object, 0, len(ids)+1)
	identity, err := orgIdentity(org, ident)
	if err != nil {
		return nil, err
	}
	objs = append(objs, identity)
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		t := byID[id]
		created, modified := now, now
		count, first, last := t.count, t.first, t.last
		if p, ok := prev[id]; ok {
			var sj sightingJSON
			if err := json.Unmarshal(p.Raw, &sj, json.RejectUnknownMembers(false)); err != nil {
				return nil, fmt.Errorf("stored sighting %s: %w", id, err)
			}
			if c, err := stix.ParseTimestamp(sj.Created); err == nil {
				created = c
			}
			if f, err := stix.ParseTimestamp(sj.FirstSeen); err == nil && f.Before(first) {
				first = f
			}
			if l, err := stix.ParseTimestamp(sj.LastSeen); err == nil && l.After(last) {
				last = l
			}
			count = min(count+sj.Count, maxSightingCount)
			if floor := p.Modified.Truncate(time.Millisecond).Add(time.Millisecond); modified.Before(floor) {
				modified = floor
			}
		}
		o, err := sightingObject(id, ident, t.indicator, created, modified, count, first, last)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
		out[t.indicator] = id
	}
	if _, err := s.st.Put(ctx, SightingsCollectionID, org.ID, objs); err != nil {
		return nil, fmt.Errorf("storing %d sightings: %w", len(ids), err)
	}
	// The reporter may read its sightings over TAXII.
	g, err := s.st.GetGrant(ctx, SightingsCollectionID, org.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if !g.Read {
		g = store.Grant{Collection: SightingsCollectionID, OrgID: org.ID, Read: true, Write: g.Write}
		if err := s.st.SetGrant(ctx, g); err != nil {
			return nil, fmt.Errorf("letting %s read its sightings: %w", org.Name, err)
		}
	}
	return out, nil
}

// orgIdentity is the STIX identity of an organisation, as its sightings
// name it: TLP:RED with the organisation as the only recipient, so that
// nobody but the organisation and hub admins learns who reports
// sightings; versioned by the organisation's creation time, so that it is
// stored once.
func orgIdentity(org store.Org, id string) (*stix.Object, error) {
	created := org.Created.UTC().Truncate(time.Millisecond)
	if created.IsZero() || created.Year() < 1970 {
		created = time.Unix(0, 0).UTC()
	}
	ts := stix.FormatTimestamp(created)
	b := []byte(`{"type":"identity","spec_version":"2.1","id":"` + id + `","created":"` + ts + `","modified":"` + ts + `","name":`)
	name, err := json.Marshal(org.Name)
	if err != nil {
		return nil, fmt.Errorf("organisation name %q: %w", org.Name, err)
	}
	b = append(b, name...)
	b = append(b, `,"identity_class":"organization","object_marking_refs":["`+policy.TLP2RedID+`"],`+
		`"extensions":{"`+policy.ExtensionID+`":{"extension_type":"property-extension","recipients":["`+org.ID+`"]}}}`...)
	return checked(b)
}

func sightingObject(id, identity, indicator string, created, modified time.Time, count int64, first, last time.Time) (*stix.Object, error) {
	b := []byte(`{"type":"sighting","spec_version":"2.1","id":"` + id + `","created":"` + stix.FormatTimestamp(created) +
		`","modified":"` + stix.FormatTimestamp(modified) + `","created_by_ref":"` + identity +
		`","sighting_of_ref":"` + indicator + `","where_sighted_refs":["` + identity + `"],"count":`)
	b = strconv.AppendInt(b, count, 10)
	b = append(b, `,"first_seen":"`+stix.FormatTimestamp(first.UTC())+`","last_seen":"`+stix.FormatTimestamp(last.UTC())+
		`","object_marking_refs":["`+policy.TLP2AmberID+`"]}`...)
	return checked(b)
}

// checked parses and validates an object the hub makes.
func checked(raw []byte) (*stix.Object, error) {
	o, err := stix.Parse(raw)
	if err == nil {
		err = policy.ValidateObject(o)
	}
	if err != nil {
		return nil, fmt.Errorf("making a sighting: %w", err)
	}
	return o, nil
}
