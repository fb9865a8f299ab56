package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
)

// TestSharingCollection: every organisation, whatever its kind, reads the
// extension definition and the hub identity from the sharing collection,
// unredacted (the definition's created_by_ref is visible), and may not
// write there.
func TestSharingCollection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, server.Config{})
		ctx := context.Background()
		orgs := []store.Org{
			{ID: "0a1b2c3d-0000-4000-8000-000000000001", Name: "acme", Kind: store.KindPartner},
			{ID: "0a1b2c3d-0000-4000-8000-000000000002", Name: "de-police", Kind: store.KindMember, Country: "DE"},
		}
		tokens := map[string]string{}
		for i, o := range orgs {
			o.Created = e.now
			if err := e.st.CreateOrg(ctx, o); err != nil {
				t.Fatal(err)
			}
			secret, hash := server.NewToken()
			if err := e.st.CreateToken(ctx, store.Token{ID: "0f0f0f0f-0000-4000-8000-00000000000" + string(rune('1'+i)), OrgID: o.ID,
				Role: store.RoleWrite, Hash: hash, Created: e.now}); err != nil {
				t.Fatal(err)
			}
			tokens[o.Name] = secret
		}
		// Organisations created after the first start get the grant when
		// the sharing collection is published again (every start) or
		// through GrantSharing.
		if r := e.call("GET", "/api1/collections/"+server.SharingAlias+"/objects/", "Bearer "+tokens["acme"], ""); r.code != 404 {
			t.Fatalf("before the grant: %d %s", r.code, r.body)
		}
		if err := server.PublishSharing(ctx, e.st, e.now); err != nil {
			t.Fatal(err)
		}
		if err := server.PublishSharing(ctx, e.st, e.now); err != nil {
			t.Fatalf("PublishSharing is not idempotent: %v", err)
		}
		for name, tok := range tokens {
			r := e.call("GET", "/api1/collections/"+server.SharingAlias+"/objects/", "Bearer "+tok, "")
			if r.code != 200 {
				t.Fatalf("%s: %d %s", name, r.code, r.body)
			}
			var env struct {
				Objects []jsontext.Value `json:"objects"`
			}
			if err := json.Unmarshal([]byte(r.body), &env); err != nil {
				t.Fatal(err)
			}
			if len(env.Objects) != 2 || string(env.Objects[0]) != string(policy.HubIdentity()) || string(env.Objects[1]) != string(policy.ExtensionDefinition()) {
				t.Errorf("%s: objects %s, want the hub identity and the extension definition as published", name, r.body)
			}
			post := `{"objects":[` + string(policy.HubIdentity()) + `]}`
			req, _ := http.NewRequest("POST", e.srv.URL+"/api1/collections/"+server.SharingCollectionID+"/objects/", strings.NewReader(post))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 403 || !strings.Contains(string(b), "may not write") {
				t.Errorf("%s: POST to the sharing collection: %d %s", name, res.StatusCode, b)
			}
		}
	})
}
