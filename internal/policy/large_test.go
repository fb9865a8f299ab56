package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"fusion/internal/store"
)

// Large objects are handled in time linear in their size: these would
// take minutes with a quadratic step (lookups by position or name, index
// renumbering, selector rewriting) instead of milliseconds.
func TestLargeObjects(t *testing.T) {
	t.Run("report with 100000 refs", func(t *testing.T) {
		raw := benchReport(100000)
		f := mustFacts(t, raw)
		half := func(id string) (Target, bool) {
			if (id[len(id)-1]-'0')%2 == 0 {
				return Target{Facts: &Facts{TLP: LevelsOf(LevelClear)}}, true
			}
			return Target{}, false
		}
		out, ok := Redact(partnerP, &store.Version{Source: orgS, Raw: []byte(raw)}, &f, half)
		if !ok {
			t.Fatal("Redact refused")
		}
		var r struct {
			ObjectRefs []string `json:"object_refs"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.ObjectRefs) != 50000 || r.ObjectRefs[1] != fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", 2) {
			t.Fatalf("%d refs left, second %q", len(r.ObjectRefs), r.ObjectRefs[1])
		}
	})
	t.Run("20000 list items, one selector each", func(t *testing.T) {
		const n = 20000
		var items, red, green []string
		for i := 0; i < n; i++ {
			items = append(items, fmt.Sprintf("s%d", i))
			sel := fmt.Sprintf("x_list.[%d]", i)
			if i%2 == 0 {
				red = append(red, sel)
			} else {
				green = append(green, sel)
			}
		}
		raw := `{"type":"x-big","id":"x-big--00000000-0000-4000-8000-000000000001","x_list":` + quoteList(items...) +
			`,"granular_markings":[` + gm(TLP2RedID, red...) + `,` + gm(TLP2GreenID, green...) + `]}`
		f := mustFacts(t, raw)
		out, ok := Redact(memberM, &store.Version{Source: orgS, Raw: []byte(raw)}, &f, nil)
		if !ok {
			t.Fatal("Redact refused")
		}
		var o struct {
			List []string `json:"x_list"`
			GM   []struct {
				Ref  string   `json:"marking_ref"`
				Sels []string `json:"selectors"`
			} `json:"granular_markings"`
		}
		if err := json.Unmarshal(out, &o); err != nil {
			t.Fatal(err)
		}
		if len(o.List) != n/2 || o.List[0] != "s1" || len(o.GM) != 1 || len(o.GM[0].Sels) != n/2 ||
			o.GM[0].Sels[n/2-1] != fmt.Sprintf("x_list.[%d]", n/2-1) {
			t.Fatalf("list %d, markings %d", len(o.List), len(o.GM))
		}
	})
	t.Run("20000 members, 10000 selected", func(t *testing.T) {
		const n = 20000
		var b strings.Builder
		var sels []string
		b.WriteString(`{"type":"x-big","id":"x-big--00000000-0000-4000-8000-000000000001","x_map":{`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d":"v%d"`, i, i)
			if i%2 == 1 {
				sels = append(sels, fmt.Sprintf("x_map.k%d", i))
			}
		}
		b.WriteString(`},"granular_markings":[` + gm(TLP2AmberStrictID, sels...) + `]}`)
		raw := b.String()
		f := mustFacts(t, raw)
		out, ok := Redact(memberM, &store.Version{Source: orgS, Raw: []byte(raw)}, &f, nil)
		if !ok {
			t.Fatal("Redact refused")
		}
		var o struct {
			Map map[string]string `json:"x_map"`
			GM  []any             `json:"granular_markings"`
		}
		if err := json.Unmarshal(out, &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Map) != n/2 || o.Map["k0"] != "v0" || o.Map["k1"] != "" || len(o.GM) != 0 {
			t.Fatalf("map %d, markings %d", len(o.Map), len(o.GM))
		}
	})
}
