package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// HubOrgName is the name of the hub organisation Bootstrap creates.
const HubOrgName = "hub"

// MinAdminTokenLen is the shortest FUSION_ADMIN_TOKEN accepted.
const MinAdminTokenLen = 20

// Bootstrapped says what Bootstrap did.
type Bootstrapped struct {
	Done      bool   // false: the store already had organisations
	FromEnv   bool   // the admin token came from FUSION_ADMIN_TOKEN
	Token     string // the generated admin token (empty when FromEnv)
	TokenFile string // where the generated token was written
}

// Bootstrap prepares an empty store: it creates the hub organisation and
// an admin token for it. The token is envToken when that is not empty
// (e.g. from FUSION_ADMIN_TOKEN); otherwise a new one is generated and
// written to dataDir/admin.token with mode 0600 (the caller prints it
// once). A store that already has organisations is left alone, and so
// is one that another node bootstraps at the same moment. Either way the
// sharing collection is then published (PublishSharing) and the sightings
// collection made sure of (EnsureSightings).
func Bootstrap(ctx context.Context, st store.Store, dataDir, envToken string, now time.Time) (Bootstrapped, error) {
	res, err := bootstrap(ctx, st, dataDir, envToken, now)
	if err != nil {
		return res, err
	}
	if err := PublishSharing(ctx, st, now); err != nil {
		return res, err
	}
	if err := EnsureSightings(ctx, st, now); err != nil {
		return res, err
	}
	return res, nil
}

func bootstrap(ctx context.Context, st store.Store, dataDir, envToken string, now time.Time) (Bootstrapped, error) {
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return Bootstrapped{}, err
	}
	if len(orgs) > 0 {
		return Bootstrapped{}, nil
	}
	if envToken != "" && len(envToken) < MinAdminTokenLen {
		return Bootstrapped{}, fmt.Errorf("FUSION_ADMIN_TOKEN is %d characters; use at least %d random characters", len(envToken), MinAdminTokenLen)
	}
	hub := store.Org{ID: newID(), Name: HubOrgName, Kind: store.KindHub, Created: now.UTC()}
	res := Bootstrapped{Done: true}
	var hash []byte
	if envToken != "" {
		hash, res.FromEnv = HashToken(envToken), true
	} else {
		var secret string
		secret, hash = NewToken()
		res.Token = secret
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return Bootstrapped{}, err
		}
		res.TokenFile = filepath.Join(dataDir, "admin.token")
		if err := writeSecretFile(res.TokenFile, secret+"\n"); err != nil {
			return Bootstrapped{}, err
		}
	}
	if err := st.CreateOrg(ctx, hub); err != nil {
		if res.TokenFile != "" {
			os.Remove(res.TokenFile)
		}
		if errors.Is(err, store.ErrExists) {
			// Another node sharing the store bootstrapped first.
			return Bootstrapped{}, nil
		}
		return Bootstrapped{}, fmt.Errorf("creating the hub organisation: %w", err)
	}
	tok := store.Token{ID: newID(), OrgID: hub.ID, Role: store.RoleAdmin, Hash: hash, Label: "bootstrap admin", Created: now.UTC()}
	if err := st.CreateToken(ctx, tok); err != nil {
		return Bootstrapped{}, fmt.Errorf("creating the admin token: %w", err)
	}
	return res, nil
}

// SharingCollectionID is the collection in which the hub publishes the
// Fusion sharing extension's definition (policy.ExtensionDefinition) and
// the hub identity that created it (policy.HubIdentity), both TLP:CLEAR,
// for every organisation to read.
const SharingCollectionID = "5f0e3b1c-2a4d-4e6f-8a9b-0c1d2e3f4a5b"

// SharingAlias is the sharing collection's alias.
const SharingAlias = "fusion-sharing"

// PublishSharing makes sure the sharing collection exists in the default
// API root, holds the current extension definition and hub identity
// (stored as submitted by the hub organisation; an unchanged version is
// left alone), and that every organisation may read it (GrantSharing for
// each). It is idempotent and safe to run on several nodes at once;
// Bootstrap runs it at every start.
func PublishSharing(ctx context.Context, st store.Store, now time.Time) error {
	c := store.Collection{ID: SharingCollectionID, APIRoot: store.DefaultAPIRoot, Alias: SharingAlias,
		Title: "Fusion sharing definitions", DefaultTLP: "clear", Created: now.UTC(),
		Description: "The Fusion sharing extension's definition and the hub identity, for everyone who shares (docs/sharing.md)"}
	if err := st.CreateCollection(ctx, c); err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("creating the sharing collection: %w", err)
	}
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return err
	}
	source := ""
	for _, o := range orgs {
		if o.Kind == store.KindHub {
			source = o.ID
			break
		}
	}
	var objs []*stix.Object
	for _, raw := range [][]byte{policy.HubIdentity(), policy.ExtensionDefinition()} {
		o, err := stix.Parse(raw)
		if err == nil {
			err = policy.ValidateObject(o)
		}
		if err != nil {
			return fmt.Errorf("the sharing definitions are invalid (a bug): %w", err)
		}
		objs = append(objs, o)
	}
	if _, err := st.Put(ctx, SharingCollectionID, source, objs); err != nil {
		return fmt.Errorf("publishing the sharing definitions: %w", err)
	}
	for _, o := range orgs {
		if err := GrantSharing(ctx, st, o.ID); err != nil {
			return err
		}
	}
	return nil
}

// GrantSharing lets organisation orgID read the sharing collection,
// keeping any write grant it has. Creating an organisation should call it.
func GrantSharing(ctx context.Context, st store.Store, orgID string) error {
	g, err := st.GetGrant(ctx, SharingCollectionID, orgID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err == nil && g.Read {
		return nil
	}
	g = store.Grant{Collection: SharingCollectionID, OrgID: orgID, Read: true, Write: g.Write}
	if err := st.SetGrant(ctx, g); err != nil {
		return fmt.Errorf("granting organisation %s read access to the sharing collection: %w", orgID, err)
	}
	return nil
}

// writeSecretFile writes a file only its owner can read.
func writeSecretFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := io.WriteString(f, content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

//go:embed demo/*.json demo/LICENSE
var demoFS embed.FS

// Demo is what SeedDemo created.
type Demo struct {
	Collection    store.Collection
	Partner       store.Org
	PartnerToken  string // write token
	Member        store.Org
	MemberToken   string // read token
	Objects       int    // objects stored from the OASIS examples
	Rejected      int
	RejectReasons []string
}

// Names of the demo organisations and collection.
const (
	DemoPartner = "acme-security"
	DemoMember  = "fr-police"
	DemoAlias   = "demo"
)

// SeedDemo fills a store that Bootstrap just prepared with a partner
// (acme-security, may write and read), a member country (fr-police, FR,
// may read), a collection "demo" holding the OASIS STIX 2.1 example
// bundles, grants, and a token for each organisation. validate, if not
// nil, is applied to each example object.
func SeedDemo(ctx context.Context, st store.Store, validate func(*stix.Object) error, now time.Time) (Demo, error) {
	now = now.UTC()
	d := Demo{
		Collection: store.Collection{ID: newID(), APIRoot: store.DefaultAPIRoot, Title: "Demo intelligence",
			Description: "OASIS STIX 2.1 examples, seeded by fusion serve --demo", Alias: DemoAlias, Created: now},
		Partner: store.Org{ID: newID(), Name: DemoPartner, Kind: store.KindPartner, Created: now},
		Member:  store.Org{ID: newID(), Name: DemoMember, Kind: store.KindMember, Country: "FR", Created: now},
	}
	if err := st.CreateCollection(ctx, d.Collection); err != nil {
		return d, fmt.Errorf("demo collection: %w", err)
	}
	for _, o := range []store.Org{d.Partner, d.Member} {
		if err := st.CreateOrg(ctx, o); err != nil {
			return d, fmt.Errorf("demo organisation %s: %w", o.Name, err)
		}
	}
	grants := []store.Grant{
		{Collection: d.Collection.ID, OrgID: d.Partner.ID, Read: true, Write: true},
		{Collection: d.Collection.ID, OrgID: d.Member.ID, Read: true},
	}
	for _, g := range grants {
		if err := st.SetGrant(ctx, g); err != nil {
			return d, fmt.Errorf("demo grant: %w", err)
		}
	}
	var err error
	if d.PartnerToken, err = createToken(ctx, st, d.Partner.ID, store.RoleWrite, "demo partner", now); err != nil {
		return d, err
	}
	if d.MemberToken, err = createToken(ctx, st, d.Member.ID, store.RoleRead, "demo member", now); err != nil {
		return d, err
	}
	objs, reasons, err := DemoObjects(validate)
	if err != nil {
		return d, err
	}
	d.Rejected, d.RejectReasons = len(reasons), reasons
	outs, err := st.Put(ctx, d.Collection.ID, d.Partner.ID, objs)
	if err != nil {
		return d, fmt.Errorf("storing the demo objects: %w", err)
	}
	for _, o := range outs {
		if o.Added {
			d.Objects++
		}
	}
	return d, nil
}

func createToken(ctx context.Context, st store.Store, orgID, role, label string, now time.Time) (string, error) {
	secret, hash := NewToken()
	t := store.Token{ID: newID(), OrgID: orgID, Role: role, Hash: hash, Label: label, Created: now}
	if err := st.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("creating a %s token: %w", role, err)
	}
	return secret, nil
}

// DemoObjects reads the embedded OASIS examples, in file name order;
// objects that fail parsing or validate are left out and described in
// reasons.
func DemoObjects(validate func(*stix.Object) error) (objs []*stix.Object, reasons []string, err error) {
	names, err := fs.Glob(demoFS, "demo/*.json")
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := demoFS.ReadFile(name)
		if err != nil {
			return nil, nil, err
		}
		rd := stix.NewReader(bytes.NewReader(b))
		for {
			it, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			o, err := stix.Parse(it.Raw)
			if err == nil && validate != nil {
				err = validate(o)
			}
			if err != nil {
				reasons = append(reasons, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			objs = append(objs, o)
		}
	}
	return objs, reasons, nil
}
