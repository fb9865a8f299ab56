package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"fusion/internal/store"

	"pgregory.net/rapid"
)

// Property tests: random objects and readers, decisions checked against a
// separately written oracle of the rules, redactions checked against the
// content the rules forbid.

// oracle ranks: 0 none, 1 clear, 2 green, 3 amber, 4 amber+strict, 5 red.
var oracleRank = map[string]int{
	TLP2ClearID: 1, TLP1WhiteID: 1,
	TLP2GreenID: 2, TLP1GreenID: 2,
	TLP2AmberID: 3, TLP1AmberID: 3,
	TLP2AmberStrictID: 4,
	TLP2RedID:         5, TLP1RedID: 5,
}

var oracleDefault = map[string]int{"": 3, "clear": 1, "green": 2, "amber": 3, "amber+strict": 4, "red": 5, "bogus": 5}

type oReader struct {
	id, kind, role, country string
}

func (r oReader) caller() Caller {
	return Caller{Org: store.Org{ID: r.id, Kind: r.kind, Country: r.country}, Role: r.role}
}

// oObj describes a generated object in the oracle's terms.
type oObj struct {
	id, typ    string
	source     string
	markings   []string
	idGranular string // a marking id on the "id" selector, or ""
	allow      []string
	deny       []string
	recipients []string
	broken     bool
	def        string
	endpoints  []string // relationship source and target
	objectRefs []string // report object_refs
	createdBy  string
}

// json renders the object.
func (o *oObj) json() string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"type":%q,"spec_version":"2.1","id":%q`, o.typ, o.id)
	if len(o.markings) > 0 {
		b.WriteString(`,"object_marking_refs":` + quoteList(o.markings...))
	}
	if o.idGranular != "" {
		b.WriteString(`,"granular_markings":[` + gm(o.idGranular, "id") + `]`)
	}
	var e []string
	if len(o.allow) > 0 {
		e = append(e, `"allow_countries":`+quoteList(o.allow...))
	}
	if len(o.deny) > 0 {
		e = append(e, `"deny_countries":`+quoteList(o.deny...))
	}
	if len(o.recipients) > 0 {
		e = append(e, `"recipients":`+quoteList(o.recipients...))
	}
	if o.broken {
		e = append(e, `"x_typo":true`)
	}
	if len(e) > 0 {
		b.WriteString("," + ext(","+strings.Join(e, ",")))
	}
	if len(o.endpoints) == 2 {
		fmt.Fprintf(&b, `,"relationship_type":"related-to","source_ref":%q,"target_ref":%q`, o.endpoints[0], o.endpoints[1])
	}
	if len(o.objectRefs) > 0 {
		b.WriteString(`,"object_refs":` + quoteList(o.objectRefs...))
	}
	if o.createdBy != "" {
		fmt.Fprintf(&b, `,"created_by_ref":%q`, o.createdBy)
	}
	b.WriteString("}")
	return b.String()
}

// oracleSees is the rule book, object level, references aside.
func oracleSees(r oReader, o *oObj) bool {
	if r.id != "" && r.id == o.source {
		return true
	}
	if r.kind == "hub" && r.role == "admin" {
		return true
	}
	if o.broken || r.id == "" {
		return false
	}
	// Every TLP marking must admit the reader; none means the default.
	var ranks []int
	for _, m := range o.markings {
		if oracleRank[m] > 0 {
			ranks = append(ranks, oracleRank[m])
		}
	}
	if len(ranks) == 0 {
		ranks = append(ranks, oracleDefault[o.def])
	}
	if oracleRank[o.idGranular] > 0 {
		ranks = append(ranks, oracleRank[o.idGranular])
	}
	for _, rank := range ranks {
		if !oracleLevelAllows(r, rank, o.recipients) {
			return false
		}
	}
	if len(o.recipients) > 0 && !slices.Contains(o.recipients, r.id) {
		return false
	}
	if r.kind == "member" && len(o.allow)+len(o.deny) > 0 {
		cc := strings.ToUpper(r.country)
		if len(cc) != 2 {
			return false
		}
		if len(o.allow) > 0 && !slices.Contains(o.allow, cc) {
			return false
		}
		if slices.Contains(o.deny, cc) {
			return false
		}
	}
	return true
}

// oracleLevelAllows: who each TLP rank admits (the source and hub admins
// aside).
func oracleLevelAllows(r oReader, rank int, recipients []string) bool {
	audience := map[int][]string{
		1: {"partner", "hub", "member", "observer", ""},
		2: {"partner", "hub", "member"},
		3: {"hub", "member"},
		4: {"hub"},
	}
	if rank == 5 {
		return slices.Contains(recipients, r.id)
	}
	return slices.Contains(audience[rank], r.kind)
}

var (
	genIDs       = []string{orgS, orgP, orgQ, orgH, orgM, orgN}
	genKinds     = []string{"partner", "hub", "member", "", "observer"}
	genRoles     = []string{"read", "write", "admin", ""}
	genCountries = []string{"DE", "FR", "IT", "", "de"}
	genMarkings  = []string{TLP2ClearID, TLP2GreenID, TLP2AmberID, TLP2AmberStrictID, TLP2RedID,
		TLP1WhiteID, TLP1GreenID, TLP1AmberID, TLP1RedID,
		"marking-definition--d771aceb-3148-4315-b4b4-130b888533d0"}
	genDefaults = []string{"", "clear", "green", "amber", "amber+strict", "red", "bogus"}
)

func drawReader(t *rapid.T) oReader {
	return oReader{
		id:      rapid.SampledFrom(append([]string{""}, genIDs...)).Draw(t, "reader"),
		kind:    rapid.SampledFrom(genKinds).Draw(t, "kind"),
		role:    rapid.SampledFrom(genRoles).Draw(t, "role"),
		country: rapid.SampledFrom(genCountries).Draw(t, "country"),
	}
}

func subset(t *rapid.T, from []string, label string) []string {
	var out []string
	for _, x := range from {
		if rapid.IntRange(0, 3).Draw(t, label) == 0 {
			out = append(out, x)
		}
	}
	return out
}

func drawObj(t *rapid.T, id, typ string) *oObj {
	o := &oObj{id: id, typ: typ,
		source:   rapid.SampledFrom([]string{orgS, orgP, orgM, orgH, ""}).Draw(t, "source"),
		markings: subset(t, genMarkings, "marking"),
		def:      rapid.SampledFrom(genDefaults).Draw(t, "default"),
		broken:   rapid.IntRange(0, 15).Draw(t, "broken") == 0,
	}
	if rapid.IntRange(0, 5).Draw(t, "idGranular") == 0 {
		o.idGranular = rapid.SampledFrom(genMarkings).Draw(t, "idMarking")
	}
	o.allow = subset(t, []string{"DE", "FR", "IT"}, "allow")
	for _, c := range subset(t, []string{"DE", "FR", "IT"}, "deny") {
		if !slices.Contains(o.allow, c) {
			o.deny = append(o.deny, c)
		}
	}
	o.recipients = subset(t, genIDs, "recipient")
	return o
}

func (o *oObj) facts(t *rapid.T) *Facts {
	f, err := FactsOf([]byte(o.json()))
	if (err != nil) != o.broken {
		t.Fatalf("FactsOf(%s): %v", o.json(), err)
	}
	return &f
}

func TestPropertyDecisionOracle(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawReader(t)
		o := drawObj(t, "indicator--00000000-0000-4000-8000-000000000001", "indicator")
		f := o.facts(t)
		v := &store.Version{ID: o.id, Source: o.source}
		got := CanRead(r.caller(), v, f, CollectionDefault(o.def), nil)
		if want := oracleSees(r, o); got != want {
			t.Fatalf("CanRead = %v, oracle %v\nreader %+v\nobject %s (source %q, default %q)", got, want, r, o.json(), o.source, o.def)
		}
	})
}

// TestPropertyReferences: random graphs of objects, relationships and
// reports. CanRead must match the oracle (relationships need both
// endpoints), and a visible object's copy names no id the reader may not
// see, while keeping every reference it may.
func TestPropertyReferences(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawReader(t)
		objs := map[string]*oObj{}
		var order []string
		add := func(o *oObj) { objs[o.id] = o; order = append(order, o.id) }
		nBase := rapid.IntRange(1, 6).Draw(t, "objects")
		var base []string
		for i := 0; i < nBase; i++ {
			o := drawObj(t, fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i), "indicator")
			add(o)
			base = append(base, o.id)
		}
		ghost := "malware--00000000-0000-4000-8000-00000000dead"
		targets := append(slices.Clone(base), ghost)
		nRel := rapid.IntRange(0, 4).Draw(t, "relationships")
		var rels []string
		for i := 0; i < nRel; i++ {
			o := drawObj(t, fmt.Sprintf("relationship--00000000-0000-4000-8000-%012d", i), "relationship")
			from := targets
			if i > 0 && rapid.Bool().Draw(t, "chain") {
				from = append(slices.Clone(targets), rels...) // a relationship to a relationship
			}
			if rapid.Bool().Draw(t, "chain") {
				from = append(slices.Clone(from), rels...)
			}
			o.endpoints = []string{rapid.SampledFrom(from).Draw(t, "src"), rapid.SampledFrom(targets).Draw(t, "dst")}
			add(o)
			if !slices.ContainsFunc(o.endpoints, func(id string) bool { return strings.HasPrefix(id, "relationship") }) {
				rels = append(rels, o.id) // only first-level ones become endpoints: chains stay short
			}
		}
		all := append(slices.Clone(targets), rels...)
		nRep := rapid.IntRange(0, 2).Draw(t, "reports")
		for i := 0; i < nRep; i++ {
			o := drawObj(t, fmt.Sprintf("report--00000000-0000-4000-8000-%012d", i), "report")
			o.objectRefs = rapid.SliceOfNDistinct(rapid.SampledFrom(all), 1, len(all), rapid.ID[string]).Draw(t, "object_refs")
			if rapid.Bool().Draw(t, "creator") {
				o.createdBy = rapid.SampledFrom(all).Draw(t, "created_by")
			}
			add(o)
		}
		facts := map[string]*Facts{}
		for _, id := range order {
			facts[id] = objs[id].facts(t)
		}
		look := func(id string) (Target, bool) {
			o, ok := objs[id]
			if !ok {
				return Target{}, false
			}
			return Target{Source: o.source, DefaultTLP: CollectionDefault(o.def), Facts: facts[id]}, true
		}
		var sees func(id string) bool
		sees = func(id string) bool {
			o, ok := objs[id]
			if !ok || !oracleSees(r, o) {
				return false
			}
			if (r.id != "" && r.id == o.source) || (r.kind == "hub" && r.role == "admin") {
				return true
			}
			for _, e := range o.endpoints {
				if !sees(e) {
					return false
				}
			}
			return true
		}
		c := r.caller()
		for _, id := range order {
			o := objs[id]
			v := &store.Version{ID: id, Source: o.source, Raw: []byte(o.json())}
			got := CanRead(c, v, facts[id], CollectionDefault(o.def), look)
			if want := sees(id); got != want {
				t.Fatalf("%s: CanRead = %v, oracle %v (reader %+v)\n%s", id, got, want, r, o.json())
			}
			if !got {
				continue
			}
			out, ok := Redact(c, v, facts[id], look)
			if !ok {
				t.Fatalf("%s: Redact refused (reader %+v)\n%s", id, r, o.json())
			}
			if (r.id != "" && r.id == o.source) || (r.kind == "hub" && r.role == "admin") {
				if string(out) != o.json() {
					t.Fatalf("%s: the source or a hub admin got a changed copy", id)
				}
				continue
			}
			for _, other := range append(slices.Clone(all), order...) {
				if other != id && !sees(other) && strings.Contains(string(out), other) {
					t.Fatalf("%s: copy names %s, which the reader may not see\n%s", id, other, out)
				}
			}
			var got2 struct {
				ObjectRefs []string `json:"object_refs"`
				CreatedBy  string   `json:"created_by_ref"`
			}
			if err := json.Unmarshal(out, &got2); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, ref := range o.objectRefs {
				if sees(ref) {
					want = append(want, ref)
				}
			}
			if !slices.Equal(got2.ObjectRefs, want) {
				t.Fatalf("%s: object_refs %v, want %v", id, got2.ObjectRefs, want)
			}
			if wantCreator := o.createdBy != "" && sees(o.createdBy); (got2.CreatedBy != "") != wantCreator {
				t.Fatalf("%s: created_by_ref %q shown = %v, want %v", id, o.createdBy, got2.CreatedBy != "", wantCreator)
			}
		}
	})
}

// gNode is a generated JSON value whose every leaf string and member name
// is unique, so that content can be traced through redaction.
type gNode struct {
	obj  []gMember
	arr  []*gNode
	leaf string
}

type gMember struct {
	key string
	val *gNode
}

type gen struct {
	t     *rapid.T
	n     int
	paths []string // every selectable path
}

func (g *gen) value(path string, depth int) *gNode {
	if path != "" {
		g.paths = append(g.paths, path)
	}
	kind := 2
	if depth < 3 {
		kind = rapid.IntRange(0, 2).Draw(g.t, "kind")
	}
	g.n++
	switch kind {
	case 0:
		n := &gNode{}
		for i, k := 0, rapid.IntRange(1, 3).Draw(g.t, "members"); i < k; i++ {
			g.n++
			key := "k" + strconv.Itoa(g.n)
			n.obj = append(n.obj, gMember{key, g.value(join(path, key), depth+1)})
		}
		return n
	case 1:
		n := &gNode{}
		for i, k := 0, rapid.IntRange(1, 3).Draw(g.t, "items"); i < k; i++ {
			n.arr = append(n.arr, g.value(join(path, "["+strconv.Itoa(i)+"]"), depth+1))
		}
		return n
	}
	return &gNode{leaf: "v" + strconv.Itoa(g.n)}
}

func join(path, part string) string {
	if path == "" {
		return part
	}
	return path + "." + part
}

func (n *gNode) write(b *strings.Builder) {
	switch {
	case n.obj != nil:
		b.WriteByte('{')
		for i, m := range n.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, "%q:", m.key)
			m.val.write(b)
		}
		b.WriteByte('}')
	case n.arr != nil:
		b.WriteByte('[')
		for i, e := range n.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			e.write(b)
		}
		b.WriteByte(']')
	default:
		fmt.Fprintf(b, "%q", n.leaf)
	}
}

// traced collects the leaf values and member names found in a decoded
// JSON value.
func traced(v any, leaves, keys map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			keys[k] = true
			traced(e, leaves, keys)
		}
	case []any:
		for _, e := range x {
			traced(e, leaves, keys)
		}
	case string:
		leaves[x] = true
	}
}

// selectIn resolves a selector in a decoded JSON value.
func selectIn(v any, sel string) (any, bool) {
	for _, part := range strings.Split(sel, ".") {
		if strings.HasPrefix(part, "[") {
			i, err := strconv.Atoi(strings.Trim(part, "[]"))
			arr, ok := v.([]any)
			if err != nil || !ok || i >= len(arr) {
				return nil, false
			}
			v = arr[i]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

func leavesOf(v any) map[string]bool {
	l, k := map[string]bool{}, map[string]bool{}
	traced(v, l, k)
	return l
}

// TestPropertyRedaction: random objects with random granular markings
// (TLP 1.0 and 2.0, statement, lang) and random readers. The copy holds no
// leaf or member name under content marked above what the reader may see,
// keeps every other leaf, and its granular markings still mark the same
// surviving content with the same marking.
func TestPropertyRedaction(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := &gen{t: t}
		root := &gNode{}
		for i, k := 0, rapid.IntRange(1, 4).Draw(t, "props"); i < k; i++ {
			g.n++
			key := "k" + strconv.Itoa(g.n)
			root.obj = append(root.obj, gMember{key, g.value(key, 1)})
		}
		recipients := subset(t, genIDs, "recipient")
		type marking struct {
			ref, lang string
			sels      []string
		}
		var marks []marking
		for i, k := 0, rapid.IntRange(0, 4).Draw(t, "markings"); i < k; i++ {
			m := marking{sels: rapid.SliceOfNDistinct(rapid.SampledFrom(g.paths), 1, 3, rapid.ID[string]).Draw(t, "selectors")}
			if rapid.IntRange(0, 5).Draw(t, "lang") == 0 {
				m.lang = "en"
			} else {
				m.ref = rapid.SampledFrom(genMarkings).Draw(t, "marking_ref")
			}
			marks = append(marks, m)
		}
		var b strings.Builder
		b.WriteString(`{"type":"x-test","id":"x-test--00000000-0000-4000-8000-000000000001","object_marking_refs":["` + TLP2ClearID + `"]`)
		if len(recipients) > 0 {
			b.WriteString("," + ext(`,"recipients":`+quoteList(recipients...)))
		}
		for _, m := range root.obj {
			fmt.Fprintf(&b, ",%q:", m.key)
			m.val.write(&b)
		}
		if len(marks) > 0 {
			b.WriteString(`,"granular_markings":[`)
			for i, m := range marks {
				if i > 0 {
					b.WriteByte(',')
				}
				if m.lang != "" {
					b.WriteString(`{"lang":"en","selectors":` + quoteList(m.sels...) + `}`)
				} else {
					b.WriteString(gm(m.ref, m.sels...))
				}
			}
			b.WriteString("]")
		}
		b.WriteString("}")
		raw := b.String()

		r := drawReader(t)
		if r.id == "" || r.id == orgS || r.kind == "hub" && r.role == "admin" {
			r.id, r.role = orgP, "read" // the interesting readers
		}
		f, err := FactsOf([]byte(raw))
		if err != nil {
			t.Fatalf("FactsOf: %v\n%s", err, raw)
		}
		v := &store.Version{Source: orgS, Raw: []byte(raw)}
		c := r.caller()
		if len(recipients) > 0 && !slices.Contains(recipients, r.id) {
			if CanRead(c, v, &f, LevelNone, nil) {
				t.Fatal("reader not among the recipients sees the object")
			}
			return
		}
		if !CanRead(c, v, &f, LevelNone, nil) {
			t.Fatalf("reader %+v cannot see a CLEAR object", r)
		}
		out, ok := Redact(c, v, &f, nil)
		if !ok {
			t.Fatalf("Redact refused\n%s", raw)
		}
		var orig, got any
		if err := json.Unmarshal([]byte(raw), &orig); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("redacted copy is not JSON: %v\n%s", err, out)
		}
		// STIX lists and dictionaries are never empty: the generator makes
		// none, so any in the copy was emptied by redaction and left behind.
		if e := emptyContainer(got); e != "" {
			t.Fatalf("empty %s left in the copy\n in %s\nout %s", e, raw, out)
		}
		// What the rules forbid.
		forbiddenLeaves, forbiddenKeys := map[string]bool{}, map[string]bool{}
		for _, m := range marks {
			if m.ref == "" || oracleRank[m.ref] == 0 || oracleLevelAllows(r, oracleRank[m.ref], recipients) {
				continue
			}
			for _, s := range m.sels {
				sub, _ := selectIn(orig, s)
				traced(sub, forbiddenLeaves, forbiddenKeys)
				if parts := strings.Split(s, "."); !strings.HasPrefix(parts[len(parts)-1], "[") {
					forbiddenKeys[parts[len(parts)-1]] = true
				}
			}
		}
		body := got.(map[string]any)
		gms := body["granular_markings"]
		delete(body, "granular_markings")
		gotLeaves, gotKeys := map[string]bool{}, map[string]bool{}
		traced(body, gotLeaves, gotKeys)
		for l := range forbiddenLeaves {
			if gotLeaves[l] {
				t.Fatalf("forbidden %q survived\n in %s\nout %s", l, raw, out)
			}
		}
		for k := range forbiddenKeys {
			if gotKeys[k] {
				t.Fatalf("forbidden member %q survived\n in %s\nout %s", k, raw, out)
			}
		}
		origBody := orig.(map[string]any)
		delete(origBody, "granular_markings")
		for l := range leavesOf(origBody) {
			if !forbiddenLeaves[l] && !gotLeaves[l] {
				t.Fatalf("allowed %q was removed\n in %s\nout %s", l, raw, out)
			}
		}
		// Markings travel with what survives, and mark nothing else.
		type outMark struct {
			Ref  string   `json:"marking_ref"`
			Lang string   `json:"lang"`
			Sels []string `json:"selectors"`
		}
		var outMarks []outMark
		if gms != nil {
			bs, _ := json.Marshal(gms)
			if err := json.Unmarshal(bs, &outMarks); err != nil {
				t.Fatal(err)
			}
		}
		markedBy := func(ref, lang string, sels []string, in any) map[string]bool {
			acc := map[string]bool{}
			for _, s := range sels {
				sub, ok := selectIn(in, s)
				if !ok && in == got {
					t.Fatalf("selector %q of the copy selects nothing\n%s", s, out)
				}
				for l := range leavesOf(sub) {
					acc[l] = true
				}
			}
			return acc
		}
		for _, om := range outMarks {
			if len(om.Sels) == 0 {
				t.Fatalf("a marking without selectors survived\n%s", out)
			}
			now := markedBy(om.Ref, om.Lang, om.Sels, got)
			before := map[string]bool{}
			for _, m := range marks {
				if m.ref == om.Ref && m.lang == om.Lang {
					for l := range markedBy(m.ref, m.lang, m.sels, orig) {
						before[l] = true
					}
				}
			}
			for l := range now {
				if !before[l] {
					t.Fatalf("marking %s%s now covers %q it did not\n in %s\nout %s", om.Ref, om.Lang, l, raw, out)
				}
			}
		}
		for _, m := range marks {
			surviving := map[string]bool{}
			for l := range markedBy(m.ref, m.lang, m.sels, orig) {
				if gotLeaves[l] {
					surviving[l] = true
				}
			}
			covered := map[string]bool{}
			for _, om := range outMarks {
				if om.Ref == m.ref && om.Lang == m.lang {
					for l := range markedBy(om.Ref, om.Lang, om.Sels, got) {
						covered[l] = true
					}
				}
			}
			for l := range surviving {
				if !covered[l] {
					t.Fatalf("marking %s%s lost %q\n in %s\nout %s", m.ref, m.lang, l, raw, out)
				}
			}
		}
		// The copy's facts read back cleanly.
		if _, err := FactsOf(out); err != nil {
			t.Fatalf("FactsOf(copy): %v\n%s", err, out)
		}
	})
}

// emptyContainer names an empty object or list inside v, or "".
func emptyContainer(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return "object"
		}
		for _, e := range x {
			if s := emptyContainer(e); s != "" {
				return s
			}
		}
	case []any:
		if len(x) == 0 {
			return "list"
		}
		for _, e := range x {
			if s := emptyContainer(e); s != "" {
				return s
			}
		}
	}
	return ""
}
