package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// Organisations of the tests.
const (
	orgS = "aaaaaaaa-0000-4000-8000-000000000001" // the source partner
	orgP = "aaaaaaaa-0000-4000-8000-000000000002" // another partner
	orgQ = "aaaaaaaa-0000-4000-8000-000000000003" // a third partner
	orgH = "aaaaaaaa-0000-4000-8000-000000000004" // the hub
	orgM = "aaaaaaaa-0000-4000-8000-000000000005" // member, DE
	orgN = "aaaaaaaa-0000-4000-8000-000000000006" // member, FR
)

func caller(id, kind, country, role string) Caller {
	return Caller{Org: store.Org{ID: id, Name: "org-" + id[len(id)-1:], Kind: kind, Country: country}, Role: role}
}

var (
	partnerP = caller(orgP, store.KindPartner, "", store.RoleRead)
	partnerQ = caller(orgQ, store.KindPartner, "", store.RoleRead)
	sourceS  = caller(orgS, store.KindPartner, "", store.RoleRead)
	hubRead  = caller(orgH, store.KindHub, "", store.RoleRead)
	hubAdmin = caller(orgH, store.KindHub, "", store.RoleAdmin)
	memberM  = caller(orgM, store.KindMember, "DE", store.RoleRead)
	memberN  = caller(orgN, store.KindMember, "FR", store.RoleRead)
)

// version is a stored version of raw submitted by orgS.
func version(raw string) *store.Version {
	return &store.Version{ID: idOf(raw), Source: orgS, Raw: []byte(raw)}
}

func idOf(raw string) string {
	var o struct{ ID string }
	json.Unmarshal([]byte(raw), &o)
	return o.ID
}

func mustFacts(t testing.TB, raw string) Facts {
	t.Helper()
	f, err := FactsOf([]byte(raw))
	if err != nil {
		t.Fatalf("FactsOf(%s): %v", raw, err)
	}
	return f
}

// ext is the Fusion extension member for an object.
func ext(body string) string {
	return `"extensions":{"` + ExtensionID + `":{"extension_type":"property-extension"` + body + `}}`
}

func quoteList(items ...string) string {
	b, _ := json.Marshal(items)
	return string(b)
}

// indicator builds an indicator with the given markings and extra members.
func indicator(id string, markings []string, extra ...string) string {
	var b strings.Builder
	b.WriteString(`{"type":"indicator","spec_version":"2.1","id":"` + id + `",` +
		`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",` +
		`"pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"`)
	if len(markings) > 0 {
		b.WriteString(`,"object_marking_refs":` + quoteList(markings...))
	}
	for _, e := range extra {
		b.WriteString("," + e)
	}
	b.WriteString("}")
	return b.String()
}

// bundleObjects reads the objects of an OASIS bundle in testdata.
func bundleObjects(t testing.TB, name string) []json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "oasis", name))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Objects) == 0 { // a bare object
		return []json.RawMessage{data}
	}
	return b.Objects
}

// compactJSON re-encodes raw without insignificant space, keeping member
// order.
func compactJSON(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mapLookup serves targets from a map.
func mapLookup(m map[string]Target) Lookup { return Targets(m).Lookup }

var stixTLPLevel = stix.TLPLevel

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var unquoteGo = strconv.Unquote
