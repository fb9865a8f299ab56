package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/guard"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// The hub-side guard subcommands: a partner's protected-asset list and
// its quarantine, over the admin API (/api/v1/orgs/NAME/guard). They
// register in guardSubs (guard.go) from this file.

func init() {
	guardSubs["set"] = guardSub{"replace a partner's protected-asset list on the hub (its admin or a hub admin)", runGuardSet}
	guardSubs["show"] = guardSub{"print a partner's protected-asset list kept on the hub (its admin or a hub admin)", runGuardShow}
	guardSubs["quarantine"] = guardSub{"list, show, drop or release the objects the hub's guard blocked for a partner", runGuardQuarantine}
}

// guardPath is the admin API path of an organisation's guard.
func guardPath(org string, rest ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org) + "/guard"
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func guardUsageErr(fs *flag.FlagSet, stderr io.Writer, msg string) error {
	fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), msg)
	fs.SetOutput(stderr)
	fs.Usage()
	return exitError{2}
}

const guardSetHelp = `usage: fusion guard set --org NAME [--action block|redact] FILE

Replaces partner NAME's protected-asset list on the hub with FILE (- reads
standard input). From then on the hub blocks every object NAME submits
(TAXII POST, fusion ingest --org) that names one of the assets, before it
is stored; with --action redact, matches in free text (report name and
description, note abstract and content) are replaced by [REDACTED]
instead. Without --action the action stays as it was (block for a first
list). The hub keeps the list for NAME and hub admins only and logs only
its digest. Needs NAME's admin token or a hub admin token.

A bad FILE is refused as a whole; the answer names the bad lines by
number. The format is the one of fusion guard check (see its --help).

flags:
`

func runGuardSet(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.Usage = func() { io.WriteString(fs.Output(), guardSetHelp); fs.PrintDefaults() }
	c := clientFlags(fs)
	org := fs.String("org", "", "partner organisation `NAME` (required)")
	action := fs.String("action", "", "block or redact (default: unchanged)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *org == "":
		return guardUsageErr(fs, stderr, "--org is required")
	case len(pos) != 1:
		return guardUsageErr(fs, stderr, "give exactly one FILE")
	case *action != "" && *action != "block" && *action != "redact":
		return guardUsageErr(fs, stderr, "--action must be block or redact")
	}
	var text []byte
	if pos[0] == "-" {
		text, err = io.ReadAll(stdin)
	} else {
		text, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	path := guardPath(*org)
	if *action != "" {
		path += "?action=" + *action
	}
	var out server.GuardJSON
	if err := c.doRaw(ctx, "PUT", path, "text/plain; charset=utf-8", text, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "guard list of %s: %d assets (%s), action %s, %s\n", out.Org, out.Assets, countsText(out.Counts), out.Action, out.Digest)
	return nil
}

func countsText(m map[string]int) string {
	var parts []string
	for _, k := range []string{"cidr", "domain", "email", "name", "asn", "regex"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ", ")
}

const guardShowHelp = `usage: fusion guard show --org NAME

Prints partner NAME's protected-asset list as the hub keeps it, after a
header of '#' comment lines (assets, action, digest, when it was set), so
the output can be edited and given back to fusion guard set. The list
names NAME's customers: keep the output to yourself. Needs NAME's admin
token or a hub admin token; for anyone else the list does not exist.

flags:
`

func runGuardShow(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.Usage = func() { io.WriteString(fs.Output(), guardShowHelp); fs.PrintDefaults() }
	c := clientFlags(fs)
	org := fs.String("org", "", "partner organisation `NAME` (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *org == "" || len(pos) != 0 {
		return guardUsageErr(fs, stderr, "usage: --org NAME, no arguments")
	}
	var out server.GuardJSON
	if err := c.doRaw(ctx, "GET", guardPath(*org), "", nil, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# protected-asset list of %s: %d assets (%s)\n# action %s, %s, set %s\n",
		out.Org, out.Assets, countsText(out.Counts), out.Action, out.Digest, out.Updated.Format("2006-01-02 15:04:05Z07:00"))
	io.WriteString(stdout, out.List)
	if out.List != "" && !strings.HasSuffix(out.List, "\n") {
		io.WriteString(stdout, "\n")
	}
	return nil
}

const guardQuarantineHelp = `usage: fusion guard quarantine --org NAME list
       fusion guard quarantine --org NAME show ID
       fusion guard quarantine --org NAME drop ID
       fusion guard quarantine --org NAME release ID FILE

The objects the hub's guard blocked for partner NAME, kept for NAME (any
of its write or admin tokens) and hub admins only.
  list      one line per blocked object version: when, id, version, why
  show      the blocked versions of object ID as JSON: the object as
            submitted and the findings (rule, property path, line of
            your list that matched)
  drop      forget every blocked version of object ID
  release   submit FILE (one STIX object with id ID, the edited version;
            - reads standard input) in place of the blocked one: it is
            scanned again with the current list and, if it passes,
            stored in the collection the object was posted to; the
            object's blocked versions are then dropped

flags:
`

func runGuardQuarantine(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.Usage = func() { io.WriteString(fs.Output(), guardQuarantineHelp); fs.PrintDefaults() }
	c := clientFlags(fs)
	org := fs.String("org", "", "partner organisation `NAME` (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *org == "" {
		return guardUsageErr(fs, stderr, "--org is required")
	}
	want := map[string]int{"list": 1, "show": 2, "drop": 2, "release": 3}
	if len(pos) == 0 || want[pos[0]] != len(pos) {
		return guardUsageErr(fs, stderr, "give list, show ID, drop ID or release ID FILE")
	}
	switch pos[0] {
	case "list":
		var out []server.QuarantineEntry
		if err := c.doRaw(ctx, "GET", guardPath(*org, "quarantine"), "", nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUARANTINED\tID\tVERSION\tVIA\tREASON")
		for _, e := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Quarantined.Format("2006-01-02 15:04:05"), e.ID, e.Version, e.Via, e.Reason)
		}
		tw.Flush()
		fmt.Fprintf(stderr, "%d blocked object versions\n", len(out))
	case "show":
		var out jsontext.Value
		if err := c.doRaw(ctx, "GET", guardPath(*org, "quarantine", pos[1]), "", nil, &out); err != nil {
			return err
		}
		if err := out.Indent(jsontext.WithIndent("  ")); err != nil {
			return err
		}
		stdout.Write(append(out, '\n'))
	case "drop":
		if err := c.doRaw(ctx, "DELETE", guardPath(*org, "quarantine", pos[1]), "", nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dropped %s\n", pos[1])
	case "release":
		var body []byte
		if pos[2] == "-" {
			body, err = io.ReadAll(stdin)
		} else {
			body, err = os.ReadFile(pos[2])
		}
		if err != nil {
			return err
		}
		var out server.ReleaseJSON
		if err := c.doRaw(ctx, "POST", guardPath(*org, "quarantine", pos[1], "release"), "application/json", body, &out); err != nil {
			return err
		}
		how := "stored"
		if !out.Added {
			how = "already stored"
		}
		if out.Redacted {
			how += " (free text redacted)"
		}
		fmt.Fprintf(stdout, "released %s %s into collection %s: %s; %d blocked versions dropped\n", out.ID, out.Version, out.Collection, how, out.Dropped)
	}
	return nil
}

// ingestGuard is the customer-data guard of fusion ingest --org/--assets:
// every object is screened before it is stored, blocked ones are
// reported like rejections (rule kind and property path, never the
// matched value) and, with --org, kept in the partner's quarantine.
type ingestGuard struct {
	sc    *guard.Scanner
	hub   *server.Guard // nil: no quarantine (--assets without --org)
	orgID string
	coll  string
	via   string     // how the objects came, for the quarantine: "ingest" or "pull"
	run   *guard.Run // what this run blocked, over the partner's quarantine
	n     int
	desc  string
}

// newIngestGuard returns nil when there is nothing to screen with: no
// --org and no --assets, or a partner without a list (said on stderr).
func newIngestGuard(ctx context.Context, st store.Store, orgID, coll string, fromStore bool, assets string, stderr io.Writer) (*ingestGuard, error) {
	if !fromStore && assets == "" {
		return nil, nil
	}
	g := &ingestGuard{orgID: orgID, coll: coll, via: "ingest"}
	if fromStore {
		g.hub = server.NewGuard(st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	}
	switch {
	case assets != "":
		f, err := os.Open(assets)
		if err != nil {
			return nil, fmt.Errorf("--assets: %w", err)
		}
		l, err := guard.ParseList(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--assets %s: %w", assets, err)
		}
		g.sc = guard.NewScanner(l, guard.Options{})
		g.desc = "list " + assets
	default:
		sc, err := g.hub.Scanner(ctx, orgID)
		if errors.Is(err, server.ErrNoGuardList) {
			fmt.Fprintln(stderr, "customer-data guard: the partner has no protected-asset list here (fusion guard set); nothing is screened")
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("--org: %w", err)
		}
		g.sc = sc
		g.desc = "the partner's list"
	}
	var prior guard.BlockedIDs
	if g.hub != nil {
		prior = g.hub.Blocked(orgID)
	}
	g.run = g.sc.NewRun(prior)
	return g, nil
}

// invalid is the rejection of an object that failed parsing or
// validation: the guard's reason when it names a protected value (a
// validation message could quote it), else "".
func (g *ingestGuard) invalid(file string, line int64, index int, raw []byte) string {
	r := g.sc.Scan(raw)
	if r.Action == guard.Allow {
		return ""
	}
	return fmt.Sprintf("%s:%d: objects[%d]: %s", file, line, index, r.Reason())
}

// screen scans a batch of valid objects and returns those that may be
// stored (redacted ones re-parsed), reporting each blocked one.
func (g *ingestGuard) screen(ctx context.Context, file string, b []*stix.Object, reject func(string)) ([]*stix.Object, int, error) {
	raws := make([][]byte, len(b))
	for i, o := range b {
		raws[i] = o.Raw
	}
	res, err := g.run.ScanBatch(ctx, raws) // on every CPU; references to what this run or the quarantine blocked block too
	if err != nil {
		return nil, 0, fmt.Errorf("customer-data guard: %w", err)
	}
	keep := b[:0:0]
	var q []server.Blocked
	var redacted []*guard.Result
	blocked := 0
	for i, o := range b {
		switch res[i].Action {
		case guard.Allow:
			keep = append(keep, o)
			continue
		case guard.Redact:
			if ro, err := parseValid(res[i].Redacted); err == nil {
				keep = append(keep, ro)
				redacted = append(redacted, &res[i])
				continue
			}
			res[i].Action = guard.Block
			g.run.Note(res[i])
		}
		blocked++
		reject(fmt.Sprintf("%s: (%s): %s", file, o.ID, res[i].Reason()))
		q = append(q, server.Blocked{Raw: o.Raw, Result: &res[i]})
	}
	g.n += blocked
	if g.hub != nil {
		// Blocked objects are recorded by Quarantine.
		if err := g.hub.Record(ctx, g.orgID, g.coll, redacted); err != nil {
			return nil, blocked, fmt.Errorf("customer-data guard: %w", err)
		}
	}
	if g.hub != nil && len(q) > 0 {
		if err := g.hub.Quarantine(ctx, g.orgID, g.coll, g.via, "", g.sc.List(), q); err != nil {
			return nil, blocked, fmt.Errorf("customer-data guard: %w", err)
		}
	}
	return keep, blocked, nil
}

func (g *ingestGuard) summary(w io.Writer) {
	l := g.sc.List()
	fmt.Fprintf(w, "customer-data guard: %d objects blocked (%s: %d assets, %s)", g.n, g.desc, l.Len(), l.Digest())
	if g.hub != nil && g.n > 0 {
		fmt.Fprint(w, "; see fusion guard quarantine list")
	}
	fmt.Fprintln(w)
}
