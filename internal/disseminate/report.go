package disseminate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"fusion/internal/policy"
	"fusion/internal/stix"
)

// reports writes the member's reports for the objects this run found for
// it (m.refs), MaxRefs per report. from is where the period started (zero:
// the beginning).
func (r *runner) reports(ctx context.Context, m *member) error {
	if len(m.refs) == 0 {
		return nil
	}
	// One entry per id: its latest version (an object found in two
	// collections, or twice, is named once).
	slices.SortFunc(m.refs, func(a, b ref) int {
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return b.modified.Compare(a.modified)
	})
	refs := slices.CompactFunc(m.refs, func(a, b ref) bool { return a.id == b.id })
	m.res.Objects = len(refs)
	parts := (len(refs) + MaxRefs - 1) / MaxRefs
	var objs []*stix.Object
	for p := 0; p < parts; p++ {
		part := refs[p*MaxRefs : min(len(refs), (p+1)*MaxRefs)]
		o, err := r.report(m, part, p, parts)
		if err != nil {
			return err
		}
		objs = append(objs, o)
	}
	if err := r.ensure(ctx, m); err != nil {
		return err
	}
	outs, err := r.st.Put(ctx, m.coll, r.hub.ID, objs)
	if err != nil {
		return fmt.Errorf("disseminate: storing the reports of %s: %w", m.org.Name, err)
	}
	var added []*stix.Object
	for i, o := range outs {
		if o.Added {
			added = append(added, objs[i])
			m.res.Reports = append(m.res.Reports, objs[i].ID)
		}
	}
	return r.served(ctx, m, r.hub.ID, added)
}

// report builds one report naming part (sorted by id).
func (r *runner) report(m *member, part []ref, p, parts int) (*stix.Object, error) {
	var h bytes.Buffer
	h.WriteString(m.org.ID)
	from, to := part[0].added, part[0].added
	red := false
	latest := time.Time{}
	for _, x := range part {
		h.WriteByte('\n')
		h.WriteString(x.id)
		if !x.modified.IsZero() {
			h.WriteByte('@')
			h.WriteString(stix.FormatTimestamp(x.modified))
		}
		if x.added.Before(from) {
			from = x.added
		}
		if x.added.After(to) {
			to = x.added
		}
		red = red || x.red
		if x.added.After(latest) {
			latest = x.added
		}
	}
	id := "report--" + uuid.NewSHA1(reportNS, h.Bytes()).String()
	// created, modified and published come from the content (the newest
	// date_added it names), so that the same report is the same version.
	ts := stix.FormatTimestamp(latest.UTC().Truncate(time.Millisecond))
	name := CountryName(m.cc)
	title := fmt.Sprintf("Cyber activity report: %s (%s to %s)", name, day(from), day(to))
	if parts > 1 {
		title += fmt.Sprintf(", part %d of %d", p+1, parts)
	}
	level := policy.LevelAmber
	if red {
		level = policy.LevelRed
	}
	ids := make([]string, len(part))
	for i, x := range part {
		ids[i] = x.id
	}
	rep := map[string]any{
		"type": "report", "spec_version": "2.1", "id": id,
		"created_by_ref": policy.HubIdentityID,
		"created":        ts, "modified": ts, "published": ts,
		"name": title,
		"description": fmt.Sprintf("Indicators, infrastructure and observables shared with the hub that concern %s (%s): "+
			"IP addresses the hub's geolocation database places in %s, and domains under its country-code top-level domain (%s). "+
			"Objects added to the hub between %s and %s. Only what %s may receive under the sources' restrictions is named and included.",
			name, m.cc, name, "."+strings.Join(ccTLDs(m.cc), ", ."), stamp(from), stamp(to), m.org.Name),
		"report_types":        []string{"threat-report"},
		"object_refs":         ids,
		"object_marking_refs": []string{level.MarkingID()},
		"extensions": map[string]any{policy.ExtensionID: map[string]any{
			"extension_type":  "property-extension",
			"allow_countries": []string{m.cc},
			"recipients":      []string{strings.ToLower(m.org.ID)},
		}},
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	o, err := stix.Parse(b)
	if err == nil {
		err = stix.Validate(o)
	}
	if err == nil {
		err = policy.ValidateObject(o)
	}
	if err != nil {
		return nil, fmt.Errorf("disseminate: the report for %s is invalid (a bug): %w", m.org.Name, err)
	}
	return o, nil
}

func day(t time.Time) string   { return t.UTC().Format("2006-01-02") }
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
