package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/audit"
	"fusion/internal/match"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/stix/pattern"
	"fusion/internal/store"
	"fusion/internal/taxii"
)

// The screening API: POST /api/v1/match screens a member's observables
// against every indicator the caller may see (docs/screening.md).
//
// Every hit goes through the policy before anything is written: the
// handler reads the latest stored version of the hit's indicator, drops
// the hit unless that version is the one the index matched and is not
// revoked, unless the caller may read its collection (grant and read
// role), and unless policy.Filter shows the version to the caller. A hit
// the caller may not see leaves no trace: no line, no count, no header;
// the response is the same as for no match.
//
// With an audit log (Config.Audit), a response that reports hits is
// recorded before its body is written: one audit.Served call per
// collection of the versions reported (Path audit.PathMatch), all appended
// together, naming exactly the indicator versions the caller is shown. A
// response without visible hits records nothing, so a hidden hit leaves
// no trace in the log either.

// Limits of one match request.
const (
	MaxMatchBody  = 64 << 20  // bytes (the server's MaxContentLength applies too)
	MaxMatchLines = 1_000_000 // values, JSON lines or observed-data objects
)

// MatchJSON is one line of a match response: one observable (or observed
// data) matching one indicator version.
type MatchJSON struct {
	// Input is the 0-based position of what matched in the request: the
	// line for values and JSON lines, the observed-data object (in bundle
	// order) for a bundle; -1 when a pattern matched several observed-data
	// objects together.
	Input        int    `json:"input"`
	ObservedData string `json:"observed_data,omitempty"` // bundle requests: the observed-data id
	// The observable, normalised (empty for a pattern evaluated over
	// observed data).
	Type  string `json:"type,omitempty"`
	Path  string `json:"path,omitempty"`
	Value string `json:"value,omitempty"`
	// Kind: exact, cidr, pattern, subdomain (weaker: a name below the
	// indicator's domain) or partial (a value the pattern needs was seen,
	// the pattern as a whole did not match).
	Kind    string `json:"kind"`
	Matched string `json:"matched,omitempty"` // the indicator's value when it differs: parent domain, CIDR block

	Indicator  string        `json:"indicator"`
	Version    string        `json:"version"` // the indicator's modified
	Collection string        `json:"collection"`
	Name       string        `json:"name,omitempty"`
	ValidFrom  string        `json:"valid_from,omitempty"`
	ValidUntil string        `json:"valid_until,omitempty"`
	Source     string        `json:"source,omitempty"` // the organisation that shared the indicator
	Confidence *int          `json:"confidence,omitempty"`
	Related    []RelatedJSON `json:"related,omitempty"`
	// Sighting is the id of the caller's sighting of the indicator, when
	// the request asked to report sightings (report_sightings=true) and
	// the match kind is exact, cidr or pattern.
	Sighting string `json:"sighting,omitempty"`
}

// RelatedJSON is an object related to a matched indicator by a
// relationship the caller may see.
type RelatedJSON struct {
	ID           string `json:"id"` // malware, intrusion-set, threat-actor or campaign
	Relationship string `json:"relationship"`
	Type         string `json:"relationship_type,omitempty"`
}

func (s *Server) matchRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/match", s.wrap(s.matchHandler))
}

// StartMatching builds the match index from the store and keeps it
// current until ctx is done (Run calls it; a server used through Handler
// alone starts it at its first match request, with no end). Only the
// first call has an effect.
func (s *Server) StartMatching(ctx context.Context) { s.feed.start(ctx) }

// request body kinds
const (
	bodyValues = iota
	bodyJSONLines
	bodyBundle
)

func (s *Server) matchHandler(w http.ResponseWriter, r *http.Request) error {
	c, ok := taxii.CallerFrom(r.Context())
	if !ok {
		return taxii.Unauthorized("authentication required")
	}
	if !taxii.RoleAtLeast(c.Role, store.RoleRead) {
		return taxii.Errorf(http.StatusForbidden, "screening needs a token with the read role")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxMatchBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return taxii.Errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes", mbe.Limit)
		}
		return taxii.Errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if len(body) > MaxMatchBody {
		return taxii.Errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes; send it in parts", MaxMatchBody)
	}
	report, err := reportSightingsParam(r)
	if err != nil {
		return err
	}
	kind, err := bodyKind(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	if n := bytes.Count(body, []byte{'\n'}); n > MaxMatchLines {
		return taxii.Errorf(http.StatusRequestEntityTooLarge, "%d lines; at most %d per request", n, MaxMatchLines)
	}

	s.feed.start(context.Background())
	if err := s.feed.wait(r.Context()); err != nil {
		return taxii.Errorf(http.StatusServiceUnavailable, "the match index is being built")
	}

	var hits []match.Hit
	var odIDs []string
	var observations []pattern.Observation
	switch kind {
	case bodyValues:
		hits, _ = s.feed.idx.LookupLines(body)
	case bodyJSONLines:
		obs, lineOf, err := jsonLineObservables(body)
		if err != nil {
			return err
		}
		hits, _ = s.feed.idx.LookupObservables(obs)
		for i := range hits {
			hits[i].Input = lineOf[hits[i].Input]
		}
	case bodyBundle:
		obs, ids, err := match.ObservationsFromBundle(body)
		if err != nil {
			return taxii.Errorf(http.StatusBadRequest, "%v", err)
		}
		if len(obs) > MaxMatchLines {
			return taxii.Errorf(http.StatusRequestEntityTooLarge, "%d observed-data objects; at most %d per request", len(obs), MaxMatchLines)
		}
		hits, odIDs, observations = s.feed.idx.MatchObservations(obs), ids, obs
	}

	shown, err := s.visibleHits(r.Context(), c, hits)
	if err != nil {
		return err
	}
	if err := s.auditMatch(r.Context(), c, hits, shown); err != nil {
		return err
	}
	var sightings map[string]string // indicator id → sighting id
	if report {
		sightings, err = s.reportSightings(r.Context(), c.Org, tallySightings(hits, shown, observations, s.cfg.Now()))
		if err != nil {
			return fmt.Errorf("reporting sightings for %s: %w", c.Org.Name, err)
		}
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := jsontext.NewEncoder(bw, jsontext.EscapeForHTML(false))
	for i := range hits {
		h := &hits[i]
		d, ok := shown[h.Ref]
		if !ok {
			continue
		}
		m := MatchJSON{
			Input: h.Input, Type: h.Observable.Type, Path: h.Observable.Path, Value: h.Observable.Value,
			Kind: h.Kind.String(), Matched: h.Matched,
			Indicator: h.Ref.ID, Version: stix.FormatTimestamp(h.Ref.Modified), Collection: h.Ref.Collection,
			Name: d.name, Source: d.source, Confidence: d.confidence, Related: d.related,
		}
		switch h.Kind {
		case match.KindExact, match.KindCIDR, match.KindPattern:
			m.Sighting = sightings[h.Ref.ID]
		}
		if !h.ValidFrom.IsZero() {
			m.ValidFrom = stix.FormatTimestamp(h.ValidFrom)
		}
		if !h.ValidUntil.IsZero() {
			m.ValidUntil = stix.FormatTimestamp(h.ValidUntil)
		}
		if odIDs != nil && h.Input >= 0 && h.Input < len(odIDs) {
			m.ObservedData = odIDs[h.Input]
		}
		if err := json.MarshalEncode(enc, &m); err != nil {
			return nil // the client went away; the status is sent
		}
	}
	bw.Flush()
	return nil
}

// reportSightingsParam reads the report_sightings query parameter
// (true/false, 1/0; absent: false). It is a query parameter because none
// of the three body formats has room for options.
func reportSightingsParam(r *http.Request) (bool, error) {
	q := r.URL.Query()
	vs, ok := q["report_sightings"]
	if !ok {
		return false, nil
	}
	if len(vs) != 1 {
		return false, taxii.Errorf(http.StatusBadRequest, "report_sightings is given %d times; give it once", len(vs))
	}
	switch vs[0] {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, taxii.Errorf(http.StatusBadRequest, "report_sightings must be true or false, not %q", vs[0])
}

// bodyKind tells values, JSON lines and bundles apart, by Content-Type
// first and by the body's first value otherwise.
func bodyKind(ctype string, body []byte) (int, error) {
	if mt, _, err := mime.ParseMediaType(ctype); err == nil {
		switch mt {
		case "application/stix+json", "application/taxii+json":
			return bodyBundle, nil
		case "application/x-ndjson", "application/jsonl", "application/json-lines", "application/jsonlines":
			return bodyJSONLines, nil
		}
	}
	t := bytes.TrimLeft(body, " \t\r\n\ufeff")
	if len(t) == 0 || t[0] != '{' {
		return bodyValues, nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(t))
	v, err := dec.ReadValue()
	if err != nil {
		return 0, taxii.Errorf(http.StatusBadRequest, "the body starts with '{' but is not JSON: %v", err)
	}
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(v, &head, json.RejectUnknownMembers(false)) == nil && head.Type == "bundle" {
		return bodyBundle, nil
	}
	return bodyJSONLines, nil
}

// jsonLineObservables reads JSON lines of typed observables (STIX
// Cyber-observable objects such as {"type":"domain-name","value":"…"}),
// returning the observables and the line each came from. Empty lines are
// skipped; a line that is not such an object is an error naming it.
func jsonLineObservables(body []byte) ([]match.Observable, []int, error) {
	var obs []match.Observable
	var lineOf []int
	for line := 0; len(body) > 0; line++ {
		l := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		got, err := match.ObservablesFromSCO(l)
		if err != nil {
			return nil, nil, taxii.Errorf(http.StatusBadRequest, "line %d: %v", line+1, err)
		}
		for _, o := range got {
			obs = append(obs, o)
			lineOf = append(lineOf, line)
		}
	}
	return obs, lineOf, nil
}

// auditMatch records in the audit log (when there is one) the indicator
// versions a match response reports to the caller: the versions of shown
// that some hit names, grouped by collection in order of first hit, one
// audit.Served call per collection, appended together. It returns once
// the entries are stored; an error means the response must not be sent.
// Nothing is recorded when no hit is shown.
func (s *Server) auditMatch(ctx context.Context, c policy.Caller, hits []match.Hit, shown map[match.Ref]*hitDetails) error {
	if s.cfg.Audit == nil || len(shown) == 0 {
		return nil
	}
	var colls []string
	byColl := map[string][]store.Version{}
	seen := make(map[match.Ref]bool, len(shown))
	for i := range hits {
		ref := hits[i].Ref
		d, ok := shown[ref]
		if !ok || seen[ref] {
			continue
		}
		seen[ref] = true
		if _, ok := byColl[ref.Collection]; !ok {
			colls = append(colls, ref.Collection)
		}
		byColl[ref.Collection] = append(byColl[ref.Collection], d.version)
	}
	now := s.cfg.Now()
	var es [][]byte
	n := 0
	for _, coll := range colls {
		es = append(es, audit.Served(audit.Access{Time: now, Actor: c.Org.ID, Path: audit.PathMatch, Collection: coll}, byColl[coll])...)
		n += len(byColl[coll])
	}
	if err := s.cfg.Audit.Append(ctx, es); err != nil {
		return fmt.Errorf("audit log: record %d indicator versions matched for %s: %w", n, c.Org.Name, err)
	}
	return nil
}

// hitDetails is what a response line shows of an indicator version the
// caller may see, taken from the caller's (redacted) copy.
type hitDetails struct {
	version    store.Version // what the audit log names (ID, Modified, Source; no Raw)
	name       string
	source     string
	confidence *int
	related    []RelatedJSON
}

// indicatorJSON is the part of an indicator a match line shows.
type indicatorJSON struct {
	Name       string `json:"name"`
	Confidence *int   `json:"confidence"`
}

type relationshipJSON struct {
	RelationshipType string `json:"relationship_type"`
	SourceRef        string `json:"source_ref"`
	TargetRef        string `json:"target_ref"`
}

// visibleHits decides, for each indicator version among hits, whether
// the caller may be told of it, and returns the details of those it may.
// A version is shown only when it is still the latest stored version of
// its indicator, is not revoked, the caller may read its collection, and
// the policy shows it to the caller.
func (s *Server) visibleHits(ctx context.Context, c policy.Caller, hits []match.Hit) (map[match.Ref]*hitDetails, error) {
	byColl := map[string]map[string]match.Ref{} // collection → id → the version hit
	for i := range hits {
		ref := hits[i].Ref
		m := byColl[ref.Collection]
		if m == nil {
			m = map[string]match.Ref{}
			byColl[ref.Collection] = m
		}
		if old, ok := m[ref.ID]; ok && !old.Modified.Equal(ref.Modified) {
			// Two versions of one object in one answer (an update
			// between chunks): keep the newer; the older is not latest.
			if old.Modified.After(ref.Modified) {
				continue
			}
		}
		m[ref.ID] = ref
	}
	shown := map[match.Ref]*hitDetails{}
	for coll, refs := range byColl {
		acc, err := taxii.CollectionAccess(ctx, s.st, c, coll)
		if err != nil {
			return nil, err
		}
		if !acc.Read {
			continue
		}
		col, err := s.st.GetCollection(ctx, coll)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(refs))
		for id := range refs {
			ids = append(ids, id)
		}
		vs, err := s.latest(ctx, coll, ids)
		if err != nil {
			return nil, err
		}
		kept := vs[:0]
		for _, v := range vs {
			ref, ok := refs[v.ID]
			if ok && v.Type == "indicator" && !v.Revoked && v.Modified.Equal(ref.Modified) {
				kept = append(kept, v)
			}
		}
		filter := policy.NewFilter(s.st, c, col)
		vis, err := filter.Visible(ctx, kept)
		if err != nil {
			return nil, err
		}
		for _, v := range vis {
			var ind indicatorJSON
			_ = json.Unmarshal(v.Raw, &ind, json.RejectUnknownMembers(false))
			d := &hitDetails{version: store.Version{ID: v.ID, Modified: v.Modified, Source: v.Source}, name: ind.Name, confidence: ind.Confidence, source: s.feed.orgName(ctx, v.Source)}
			if d.related, err = s.related(ctx, filter, coll, v.ID); err != nil {
				return nil, err
			}
			shown[refs[v.ID]] = d
		}
	}
	return shown, nil
}

// related returns the malware, intrusion sets, threat actors and
// campaigns the caller may see related to an indicator by relationships
// (latest versions, not revoked) the caller may see. A relationship is
// visible only when both its ends are (policy), so the related object is
// visible too.
func (s *Server) related(ctx context.Context, filter *policy.Filter, coll, indicator string) ([]RelatedJSON, error) {
	ids := s.feed.relationsOf(coll, indicator)
	if len(ids) == 0 {
		return nil, nil
	}
	vs, err := s.latest(ctx, coll, ids)
	if err != nil {
		return nil, err
	}
	kept := vs[:0]
	for _, v := range vs {
		if !v.Revoked && v.Type == "relationship" {
			kept = append(kept, v)
		}
	}
	vis, err := filter.Visible(ctx, kept)
	if err != nil {
		return nil, err
	}
	var out []RelatedJSON
	for _, v := range vis {
		var rel relationshipJSON
		if json.Unmarshal(v.Raw, &rel, json.RejectUnknownMembers(false)) != nil {
			continue
		}
		other := ""
		switch indicator {
		case rel.SourceRef:
			other = rel.TargetRef
		case rel.TargetRef:
			other = rel.SourceRef
		}
		if relatedTypes[idType(other)] {
			out = append(out, RelatedJSON{ID: other, Relationship: v.ID, Type: rel.RelationshipType})
		}
	}
	return out, nil
}

// latest reads the latest version of each of ids in a collection.
func (s *Server) latest(ctx context.Context, coll string, ids []string) ([]store.Version, error) {
	var out []store.Version
	for len(ids) > 0 {
		n := min(len(ids), 500)
		q := store.Query{IDs: ids[:n], Limit: n}
		ids = ids[n:]
		for {
			page, err := s.st.List(ctx, coll, q)
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, page.Versions...)
			if !page.More || len(page.Versions) == 0 {
				break
			}
			q.AddedAfter = page.Versions[len(page.Versions)-1].DateAdded
		}
	}
	return out, nil
}
