package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"golang.org/x/mod/sumdb/note"

	"fusion/internal/audit"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// Exit status of audit verify, watch and check-receipt when they find
// evidence of tampering (1 is any other failure).
const exitTampered = 3

func init() {
	register(&command{
		name:    "audit",
		summary: "the tamper-evident audit log: signing key, verification, witness, receipts",
		usage: "key [--data DIR] [--audit-key FILE] [--hub-name NAME]\n" +
			"       fusion audit verify [--db URL | --data DIR] [--key VERIFIER] [--checkpoint FILE]... [--witness-state FILE]\n" +
			"       fusion audit watch URL --key VERIFIER [--token T] [--state FILE] [--interval 30s] [--once] [--entries=false] [--full]\n" +
			"       fusion audit receipts --org NAME [--since TIMESTAMP] [--db URL | --data DIR] [--key VERIFIER]\n" +
			"       fusion audit check-receipt --key VERIFIER [FILE]\n\n" +
			"key prints the hub's verifier key (creating the signing key DATA/audit.key if there is none).\n" +
			"verify recomputes the log's Merkle tree from the stored entries and checks every stored hash and\n" +
			"checkpoint. watch is a witness: it checks that the hub's signed history only ever grows.\n" +
			"receipts lists what of an organisation's data was served to whom, with inclusion proofs;\n" +
			"check-receipt checks them. VERIFIER is a verifier key (fusion.hub/NAME+hash+key) or a file holding one.\n" +
			"Exit status 3 means evidence of tampering; docs/audit.md explains.",
		run: runAudit,
	})
}

func runAudit(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fs.Usage()
		return exitError{2}
	}
	sub, rest := args[0], args[1:]
	fs.Init("fusion audit "+sub, flag.ContinueOnError)
	switch sub {
	case "key":
		return auditKeyCmd(fs, rest, stdout, stderr)
	case "verify":
		return auditVerify(ctx, fs, rest, stdout, stderr)
	case "watch":
		return auditWatch(ctx, fs, rest, stdout, stderr)
	case "receipts":
		return auditReceipts(ctx, fs, rest, stdout)
	case "check-receipt":
		return auditCheckReceipt(fs, rest, stdout, stderr)
	case "-h", "--help", "help":
		fs.Usage()
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown subcommand %q: want key, verify, watch, receipts or check-receipt", sub)
}

// auditKeyFlags name the hub's checkpoint signing key: --audit-key
// (default DATA/audit.key, env FUSION_AUDIT_KEY) and --hub-name, the name
// a new key gets (env FUSION_HUB_NAME, default the host name). serve uses
// them too.
type auditKeyFlags struct {
	file string
	name string
}

func (f *auditKeyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "audit-key", os.Getenv("FUSION_AUDIT_KEY"),
		"audit log signing key `file` (default DATA/audit.key; created, mode 0600, when missing) (env FUSION_AUDIT_KEY)")
	fs.StringVar(&f.name, "hub-name", os.Getenv("FUSION_HUB_NAME"),
		"`name` of this hub in its audit log checkpoints (fusion.hub/NAME) when a new key is made; default the host name (env FUSION_HUB_NAME)")
}

func (f *auditKeyFlags) path(dataDir string) string {
	if f.file != "" {
		return f.file
	}
	if dataDir == "" {
		dataDir = defaultDataDir
	}
	return filepath.Join(dataDir, "audit.key")
}

// load reads the signing key, creating it when missing.
func (f *auditKeyFlags) load(dataDir string) (k *audit.Key, created bool, err error) {
	name := f.name
	if name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "hub"
		}
		name = strings.Map(func(r rune) rune {
			if r <= ' ' || r >= 0x7f || r == '+' {
				return '-'
			}
			return r
		}, h)
	}
	origin := audit.OriginPrefix + strings.TrimPrefix(name, audit.OriginPrefix)
	path := f.path(dataDir)
	if f.file == "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("data directory: %w", err)
		}
	}
	return audit.LoadOrCreateKey(path, origin)
}

// readVerifier reads --key: a verifier key, or a file holding one.
func readVerifier(s string) (note.Verifier, error) {
	if s == "" {
		return nil, errors.New("no verifier key")
	}
	if v, err := audit.NewVerifier(s); err == nil {
		return v, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("--key %q is neither a verifier key (fusion.hub/NAME+hash+key) nor a readable file", s)
	}
	v, err := audit.NewVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("--key file %s: %w", s, err)
	}
	return v, nil
}

// verifierFor is --key, or the verifier of the local signing key.
func verifierFor(keyFlag string, kf *auditKeyFlags, dataDir string) (note.Verifier, error) {
	if keyFlag != "" {
		return readVerifier(keyFlag)
	}
	k, err := audit.ReadKeyFile(kf.path(dataDir))
	if err != nil {
		return nil, fmt.Errorf("no --key given and no signing key to take it from: %w", err)
	}
	return k.Verifier, nil
}

func auditKeyCmd(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	var kf auditKeyFlags
	kf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	k, created, err := kf.load(sf.data)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stderr, "Created the audit log signing key %s for %s. Keep it secret and back it up;\n"+
			"give every node of this hub the same key.\n", kf.path(sf.data), k.Name)
	}
	fmt.Fprintln(stdout, k.VerifierKey)
	return nil
}

// openLog opens the store and its log.
func openLog(ctx context.Context, sf *storeFlags) (store.Store, store.Log, error) {
	st, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	lg, ok := st.(store.Log)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("the %T store has no audit log", st)
	}
	return st, lg, nil
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func auditVerify(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	var kf auditKeyFlags
	kf.register(fs)
	keyFlag := fs.String("key", "", "hub verifier `key` or file (default: from the signing key, see --audit-key)")
	var cpFiles multiFlag
	fs.Var(&cpFiles, "checkpoint", "a checkpoint `file` obtained from the hub earlier (repeatable): the log must still contain it")
	witnessState := fs.String("witness-state", "", "a witness's state `file` (fusion audit watch --state): the log must contain every checkpoint in it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	v, err := verifierFor(*keyFlag, &kf, sf.data)
	if err != nil {
		return err
	}
	var extra []audit.Checkpoint
	for _, f := range cpFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		cp, err := audit.OpenCheckpoint(b, v)
		if err != nil {
			return fmt.Errorf("--checkpoint %s: %w", f, err)
		}
		extra = append(extra, cp)
	}
	if *witnessState != "" {
		ws, err := audit.LoadWitnessState(*witnessState, v)
		if err != nil {
			return err
		}
		for _, sc := range ws.Checkpoints {
			cp, err := audit.OpenCheckpoint([]byte(sc.Note), v)
			if err != nil {
				return err
			}
			extra = append(extra, cp)
		}
	}
	st, lg, err := openLog(ctx, &sf)
	if err != nil {
		return err
	}
	defer st.Close()

	start := time.Now()
	var done, total atomic.Int64
	stopBar := progressLine(stderr, func() string {
		d, t := done.Load(), total.Load()
		pct := 0.0
		if t > 0 {
			pct = 100 * float64(d) / float64(t)
		}
		return fmt.Sprintf("verify: %d/%d entries (%.0f%%)  %.0f entries/s", d, t, pct, rate(d, time.Since(start)))
	})
	res, err := audit.Verify(ctx, lg, v, audit.VerifyOptions{Extra: extra,
		Progress: func(d, t int64) { done.Store(d); total.Store(t) }})
	stopBar()
	elapsed := time.Since(start)
	var m *audit.Mismatch
	if errors.As(err, &m) {
		fmt.Fprintf(stderr, "FAIL: the audit log does not match what was signed.\n  first bad index: %d\n  %v\n", m.Index, m)
		return exitError{exitTampered}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d entries verified against %d stored checkpoints", res.Tree, res.Checkpoints)
	if res.Extra > 0 {
		fmt.Fprintf(stdout, " and %d from outside", res.Extra)
	}
	fmt.Fprintf(stdout, " in %.1fs (%.0f entries/s); signed by %s\n", elapsed.Seconds(), rate(res.Tree, elapsed), v.Name())
	if pending := res.Entries - res.Tree; pending > 0 {
		fmt.Fprintf(stdout, "%d newer entries are not in a checkpoint yet\n", pending)
	}
	// Served and denied entries a killed fusion serve left in its spool
	// reach the log when it starts again.
	spool := filepath.Join(sf.data, "audit.spool")
	if n, err := audit.SpoolBacklog(ctx, lg, spool); err != nil {
		fmt.Fprintf(stderr, "note: could not read the audit spool: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(stdout, "%d served or denied entries wait in %s (not yet in the log): fusion serve stores them when it starts\n", n, spool)
	}
	return nil
}

func auditWatch(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	keyFlag := fs.String("key", "", "the hub's verifier `key` (fusion.hub/NAME+hash+key) or a file holding it; required")
	token := fs.String("token", "", "API `token` of your organisation (default: env FUSION_TOKEN)")
	state := fs.String("state", "fusion-witness.json", "state `file`: the checkpoints seen so far")
	interval := fs.Duration("interval", 30*time.Second, "time between checks")
	once := fs.Bool("once", false, "check once and exit")
	entries := fs.Bool("entries", true, "also check the inclusion proof of every new entry your token may see")
	full := fs.Bool("full", false, "check the entries from the start of the log, not from the last check")
	// Flags may come before or after URL.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return errors.New("want exactly one hub URL")
	}
	if *keyFlag == "" {
		return errors.New("--key is required: the hub's verifier key, from the hub's operators (fusion audit key)")
	}
	v, err := readVerifier(*keyFlag)
	if err != nil {
		return err
	}
	if *interval < time.Second {
		return errors.New("--interval must be at least 1s")
	}
	tok := *token
	if tok == "" {
		tok = os.Getenv("FUSION_TOKEN")
	}
	w := &audit.Witness{BaseURL: pos[0], Token: tok, Verifier: v, Entries: *entries, Full: *full}
	for {
		st, err := audit.LoadWitnessState(*state, v)
		if err != nil {
			return err
		}
		rep, err := w.Check(ctx, st, time.Now())
		var alarm *audit.Alarm
		switch {
		case errors.As(err, &alarm):
			fmt.Fprintf(stderr, "%s ALARM: %s\n", time.Now().UTC().Format(time.RFC3339), alarm.What)
			if alarm.End > alarm.Index {
				fmt.Fprintf(stderr, "  entries concerned: [%d, %d)\n", alarm.Index, alarm.End)
			}
			fmt.Fprintf(stderr, "  keep %s: it holds the checkpoints the hub signed before. See docs/audit.md.\n", *state)
			return exitError{exitTampered}
		case err != nil:
			fmt.Fprintf(stderr, "%s error: %v\n", time.Now().UTC().Format(time.RFC3339), err)
			if *once {
				return exitError{1}
			}
		default:
			if err := st.Save(*state); err != nil {
				return err
			}
			switch {
			case rep.FirstCheck:
				fmt.Fprintf(stdout, "%s first check: tree of %d entries, root %x; trusting it from now on\n",
					time.Now().UTC().Format(time.RFC3339), rep.Size, rep.Root[:8])
			case rep.Size == rep.Previous:
				fmt.Fprintf(stdout, "%s ok: tree of %d entries unchanged\n", time.Now().UTC().Format(time.RFC3339), rep.Size)
			default:
				fmt.Fprintf(stdout, "%s ok: tree grew from %d to %d entries consistently\n", time.Now().UTC().Format(time.RFC3339), rep.Previous, rep.Size)
			}
			if *entries {
				fmt.Fprintf(stdout, "  %d entries visible to this token checked against the tree\n", rep.EntriesOK)
			}
		}
		if *once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
}

// receiptLine is one line of `fusion audit receipts`: a summary for
// people and the receipt that proves it.
type receiptLine struct {
	Time       string        `json:"t"`
	To         string        `json:"to"`    // the organisation's name
	ToID       string        `json:"to_id"` // its id
	Path       string        `json:"path"`
	Collection string        `json:"collection,omitzero"`
	Objects    []audit.Item  `json:"objects"`
	Receipt    audit.Receipt `json:"receipt"`
}

func auditReceipts(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	var kf auditKeyFlags
	kf.register(fs)
	orgName := fs.String("org", "", "the organisation whose data was served (name); required")
	sinceFlag := fs.String("since", "", "only what was served at or after this `timestamp` (RFC 3339, e.g. 2026-01-01T00:00:00Z)")
	keyFlag := fs.String("key", "", "hub verifier `key` or file (default: from the signing key, see --audit-key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *orgName == "" {
		return errors.New("--org is required")
	}
	var since time.Time
	if *sinceFlag != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, *sinceFlag); err != nil {
			return fmt.Errorf("--since: %q is not an RFC 3339 timestamp", *sinceFlag)
		}
	}
	v, err := verifierFor(*keyFlag, &kf, sf.data)
	if err != nil {
		return err
	}
	st, lg, err := openLog(ctx, &sf)
	if err != nil {
		return err
	}
	defer st.Close()
	org, err := st.GetOrgByName(ctx, *orgName)
	if err != nil {
		return fmt.Errorf("organisation %q: %w", *orgName, err)
	}
	orgs, err := st.ListOrgs(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	l := audit.NewReader(lg, v)
	cp, err := l.Latest(ctx)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	const step = 256 // entries of up to about 150 KB each
	for pos := int64(0); pos < cp.Size; pos += step {
		es, err := lg.ReadLog(ctx, pos, min(cp.Size, pos+step))
		if err != nil {
			return err
		}
		for i, data := range es {
			e, err := audit.ParseEntry(data)
			if err != nil || e.Kind != audit.KindServed || e.Source != org.ID || e.Org == org.ID {
				continue
			}
			if !since.IsZero() {
				t, err := stix.ParseTimestamp(e.Time)
				if err != nil || t.Before(since) {
					continue
				}
			}
			r, err := l.Receipt(ctx, pos+int64(i), cp)
			if err != nil {
				return err
			}
			line := receiptLine{Time: e.Time, To: names[e.Org], ToID: e.Org, Path: e.Path, Collection: e.Collection,
				Objects: e.Objects, Receipt: r}
			b, err := json.Marshal(line)
			if err != nil {
				return err
			}
			out.Write(b)
			out.WriteByte('\n')
		}
	}
	return nil
}

func auditCheckReceipt(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	keyFlag := fs.String("key", "", "the hub's verifier `key` or a file holding it; required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return errors.New("at most one receipts file (default: standard input)")
	}
	v, err := readVerifier(*keyFlag)
	if err != nil {
		return err
	}
	in := stdin
	name := "standard input"
	if fs.NArg() == 1 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, fs.Arg(0)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	bad, n := 0, 0
	for ln := 1; sc.Scan(); ln++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		n++
		var line receiptLine
		err := json.Unmarshal([]byte(text), &line)
		var e audit.Entry
		if err == nil {
			e, err = audit.CheckReceipt(line.Receipt, v)
		}
		if err != nil {
			bad++
			fmt.Fprintf(stderr, "%s:%d: FAIL: %v\n", name, ln, err)
			continue
		}
		// The summary must say what the proved entry says.
		if e.Org != line.ToID || e.Path != line.Path || e.Time != line.Time || !slices.Equal([]audit.Item(e.Objects), line.Objects) {
			bad++
			fmt.Fprintf(stderr, "%s:%d: FAIL: the summary does not match the proved entry %d\n", name, ln, line.Receipt.Index)
			continue
		}
		fmt.Fprintf(stdout, "ok: entry %d (tree of %d): at %s, %d object(s) of organisation %s served to %s (%s) via %s\n",
			line.Receipt.Index, line.Receipt.TreeSize, e.Time, len(e.Objects), e.Source, line.To, e.Org, e.Path)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "%d of %d receipts failed\n", bad, n)
		return exitError{exitTampered}
	}
	if n == 0 {
		return fmt.Errorf("%s: no receipts", name)
	}
	return nil
}
