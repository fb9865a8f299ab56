package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/taxii"
)

func init() {
	register(&command{
		name:    "export",
		summary: "write a collection's objects to standard output as one STIX 2.1 bundle",
		usage: "[--collection C] [--db URL | --data DIR] [--type T,...] [--added-after TS] [--all-versions] [--as ORG]\n\n" +
			"Export reads through the sharing policy like every read path. By default it acts as an admin of the\n" +
			"hub, who sees everything as stored; --as ORG shows exactly what organisation ORG (name or id) would\n" +
			"receive over TAXII with a read token: only what the policy lets it see, redacted for it.",
		run: runExport,
	})
}

// exportPage is how many versions each store.List call fetches.
const exportPage = 1000

func runExport(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	var (
		collection = fs.String("collection", "", "collection `id or alias` (default: the default collection)")
		types      = fs.String("type", "", "only objects of these `types`, comma-separated (e.g. indicator,malware)")
		addedAfter = fs.String("added-after", "", "only versions added to the collection after this STIX `timestamp` (e.g. 2024-05-01T00:00:00.000Z)")
		all        = fs.Bool("all-versions", false, "every stored version of each object, not only the latest")
		as         = fs.String("as", "", "export what `organisation` (name or id) would receive with a read token, instead of everything (hub admin)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fusion export: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitError{2}
	}
	q := store.Query{Limit: exportPage}
	if *types != "" {
		for _, t := range strings.Split(*types, ",") {
			if t = strings.TrimSpace(t); t != "" {
				q.Types = append(q.Types, t)
			}
		}
	}
	if *addedAfter != "" {
		t, err := stix.ParseTimestamp(*addedAfter)
		if err != nil {
			return fmt.Errorf("--added-after: %w", err)
		}
		q.AddedAfter = t
	}
	if *all {
		q.Versions.All = true
	}

	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	collID, err := resolveCollection(ctx, st, *collection)
	if err != nil {
		return err
	}
	coll, err := st.GetCollection(ctx, collID)
	if err != nil {
		return fmt.Errorf("collection %s: %w", collID, err)
	}
	var caller policy.Caller
	if *as != "" {
		caller, err = orgCaller(ctx, st, *as, coll)
	} else {
		caller, err = operatorCaller(ctx, st)
	}
	if err != nil {
		return err
	}
	op, err := operatorCaller(ctx, st)
	if err != nil {
		return err
	}
	n, err := exportBundle(ctx, st, coll, caller, op.Org.ID, q, stdout)
	if err != nil {
		return err
	}
	if isTerminal(stderr) {
		fmt.Fprintf(stderr, "exported %d objects\n", n)
	}
	return nil
}

// operatorCaller is who the local operator acts as: an admin of the hub
// organisation (the first one, when the store has one). Export still
// passes every version through the policy filter, so that narrowing the
// policy narrows export too.
func operatorCaller(ctx context.Context, st store.Store) (policy.Caller, error) {
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return policy.Caller{}, fmt.Errorf("list organisations: %w", err)
	}
	for _, o := range orgs {
		if o.Kind == store.KindHub {
			return policy.Caller{Org: o, Role: store.RoleAdmin}, nil
		}
	}
	return policy.Caller{Org: store.Org{Name: "local operator", Kind: store.KindHub}, Role: store.RoleAdmin}, nil
}

// orgCaller is organisation name (or id) reading with a read token, as
// TAXII would see it; an error when that organisation has no read grant
// on coll, since it would receive nothing from it.
func orgCaller(ctx context.Context, st store.Store, name string, coll store.Collection) (policy.Caller, error) {
	org, err := st.GetOrgByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) && stix.IsUUID(name) {
		org, err = st.GetOrg(ctx, strings.ToLower(name))
	}
	if errors.Is(err, store.ErrNotFound) {
		return policy.Caller{}, fmt.Errorf("--as %s: no organisation has this name or id", name)
	}
	if err != nil {
		return policy.Caller{}, fmt.Errorf("--as %s: %w", name, err)
	}
	c := policy.Caller{Org: org, Role: store.RoleRead}
	acc, err := taxii.CollectionAccess(ctx, st, c, coll.ID)
	if err != nil {
		return c, fmt.Errorf("--as %s: %w", name, err)
	}
	if !acc.Read {
		return c, fmt.Errorf("--as %s: organisation %s may not read collection %s (no read grant), so it would receive nothing", name, org.Name, coll.ID)
	}
	return c, nil
}

// exportBundle streams the versions matching q that caller may read as
// one bundle with a fresh id, page by page in date_added order; each
// object is written as the caller would receive it (policy.Filter: the
// stored JSON for the source and hub admins, otherwise the copy
// policy.Redact makes). A bundle with no objects has no objects member
// (it is optional, and lists must not be empty). It returns the number of
// objects written. Before a page is written, the audit log records what
// of it goes to the operator (operator: the hub organisation's id, or ""
// on a store without one) — the operator receives the file, also with
// --as, which only previews what another organisation would get — so
// nothing leaves the store unlogged. What the policy withholds from the
// --as organisation is recorded with it, as denied entries (reason
// "policy (export --as ORG-ID)"), one per source and page.
func exportBundle(ctx context.Context, st store.Store, coll store.Collection, caller policy.Caller, operator string, q store.Query, out io.Writer) (int, error) {
	w := bufio.NewWriterSize(out, 256<<10)
	id, err := newBundleID()
	if err != nil {
		return 0, err
	}
	head := `{"type":"bundle","id":"` + id + `"`
	flt := policy.NewFilter(st, caller, coll)
	q.MetaOnly = false
	n := 0
	for {
		page, err := st.List(ctx, coll.ID, q)
		if err != nil {
			return n, fmt.Errorf("list collection %s: %w", coll.ID, err)
		}
		if len(page.Versions) == 0 {
			break
		}
		q.AddedAfter = page.Versions[len(page.Versions)-1].DateAdded
		var keys []store.Version // what the page held, when the policy may hide some
		if flt.NeedsRaw() {
			keys = audit.VersionKeys(page.Versions)
		}
		vis, err := flt.Visible(ctx, page.Versions)
		if err != nil {
			return n, fmt.Errorf("list collection %s: %w", coll.ID, err)
		}
		if withheld := audit.Withheld(keys, vis); len(vis)+len(withheld) > 0 {
			acc := audit.Access{Time: time.Now(), Actor: operator, To: operator, Path: audit.PathExport, Collection: coll.ID}
			if len(withheld) > 0 {
				acc.Reason = audit.ReasonPolicy + " (export --as " + caller.Org.ID + ")"
			}
			if _, err := st.AppendLog(ctx, audit.Response(acc, vis, withheld)); err != nil {
				return n, fmt.Errorf("audit log: %w", err)
			}
		}
		for i := range vis {
			v := &vis[i]
			if n == 0 {
				w.WriteString(head)
				w.WriteString(`,"objects":[` + "\n")
			} else {
				w.WriteString(",\n")
			}
			if _, err := w.Write(v.Raw); err != nil {
				return n, err
			}
			n++
		}
		if !page.More {
			break
		}
	}
	if n == 0 {
		w.WriteString(head + "}\n")
	} else {
		w.WriteString("\n]}\n")
	}
	return n, w.Flush()
}

// newBundleID returns bundle--UUIDv4 (STIX 2.1 section 8).
func newBundleID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("bundle--%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:]), nil
}
