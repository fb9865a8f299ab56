package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"fusion/internal/guard"
	"fusion/internal/stix"
)

// The guard command holds the tools of the customer-data guard
// (internal/guard). Subcommands register in guardSubs, each from its own
// file's init; check, which runs on the partner's machine, is here.

func init() {
	register(&command{
		name:    "guard",
		summary: "customer-data guard: check STIX files against a protected-asset list before sharing them, and more",
		usage:   "SUBCOMMAND [flags] [args]",
		run:     runGuard,
	})
}

// guardSub is one subcommand of fusion guard.
type guardSub struct {
	summary string
	run     func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
}

var guardSubs = map[string]guardSub{
	"check": {"run the guard offline over STIX files and show what it would block or redact, and why", runGuardCheck},
}

func guardSubList() string {
	names := make([]string, 0, len(guardSubs))
	for n := range guardSubs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, guardSubs[n].summary)
	}
	b.WriteString("\nRun 'fusion guard SUBCOMMAND --help' for its flags.")
	return b.String()
}

func runGuard(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: fusion guard SUBCOMMAND [flags] [args]\n\nsubcommands:\n%s\n", guardSubList())
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fs.Usage()
		if len(args) == 0 {
			return exitError{2}
		}
		return nil
	}
	sub, ok := guardSubs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "fusion guard: unknown subcommand %q\n", args[0])
		fs.SetOutput(stderr)
		fs.Usage()
		return exitError{2}
	}
	sfs := flag.NewFlagSet("fusion guard "+args[0], flag.ContinueOnError)
	sfs.SetOutput(fs.Output())
	return sub.run(ctx, sfs, args[1:], stdout, stderr)
}

// loadAssets reads a protected-asset list. Errors name the file and the
// bad lines by number, never a line's content.
func loadAssets(name string) (*guard.List, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--assets: %w", err)
	}
	defer f.Close()
	l, err := guard.ParseList(f)
	if err != nil {
		return nil, fmt.Errorf("--assets %s: %w", name, err)
	}
	return l, nil
}

const guardCheckHelp = `usage: fusion guard check --assets FILE [--redact] [--json] [--batch N] BUNDLE...

Runs the customer-data guard over STIX 2.1 files on this machine (no server,
no store) and prints every object it would block or redact: the file, the
object's position (objects[N], counted from 0 in the file) and id, the
action, the rule kind, the property path and which of your assets matched
(line number and value in FILE). The output names your assets: it is meant
for you, not for sharing.

BUNDLE is a STIX bundle, a JSON array of objects or JSON lines, of any size;
- reads standard input. References are followed across all the files given:
a relationship or sighting that refers to a blocked object is blocked too,
wherever in the input either one is.

FILE holds one protected asset per line, '#' starts a comment:

  cidr    203.0.113.0/24         # IPv4 or IPv6 range or single address
  domain  acme-corp.example      # the domain and every subdomain
  email   @acme-mail.example     # one address, or a whole mail domain
  name    Acme Corporation       # any case and spacing, whole words
  asn     AS64500
  regex   CUST-[0-9]{6}          # RE2 syntax

example:

  fusion guard check --assets customers.txt export/*.json
  fusion guard check --assets customers.txt --json - < feed.jsonl > findings.jsonl

exit status: 0 nothing would be blocked (redactions allowed); 1 at least one
object would be blocked; 2 bad usage, a bad asset list, or input that could
not be read to the end (the check is then incomplete).

flags:
`

func runGuardCheck(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.Usage = func() {
		io.WriteString(fs.Output(), guardCheckHelp)
		fs.PrintDefaults()
	}
	var (
		assets  = fs.String("assets", "", "protected-asset list `FILE` (required)")
		redact  = fs.Bool("redact", false, "redact matches in free text (the name and description of reports, the abstract and content of notes) instead of blocking, as push --redact does")
		asJSON  = fs.Bool("json", false, "print one JSON object per line: each finding, then {\"summary\":…}")
		batch   = fs.Int("batch", guardCheckBatch, "objects scanned together in one batch (memory bound; more batches mean more passes over the input)")
		started = time.Now()
	)
	if err := parseRemoteArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{2}
	}
	if *assets == "" || fs.NArg() == 0 || *batch < 1 {
		fs.SetOutput(stderr)
		fs.Usage()
		return exitError{2}
	}
	files := fs.Args()
	if err := checkInputs(files); err != nil {
		fmt.Fprintf(stderr, "fusion guard check: %v\n", err)
		return exitError{2}
	}
	list, err := loadAssets(*assets)
	if err != nil {
		fmt.Fprintf(stderr, "fusion guard check: %v\n", err)
		return exitError{2}
	}
	var objects atomic.Int64
	con := newConsole(stderr, &objects)
	g := newGuardEngine(guard.NewScanner(list, guard.Options{Redact: *redact}), *batch, guardCheckBytes)
	g.con, g.objects = con, &objects

	out := &checkOutput{w: stdout, con: con, list: list, json: *asJSON}
	passes, err := g.run(ctx, files, out.batch, out.fault)
	con.close()
	if err != nil {
		fmt.Fprintf(stderr, "fusion guard check: %v\n", err)
		return exitError{2}
	}
	out.summary(len(files), passes, time.Since(started))
	switch {
	case out.faults > 0:
		return exitError{2}
	case out.blocked > 0:
		return exitError{1}
	}
	return nil
}

const (
	// guardCheckBatch and guardCheckBytes bound a check's batch: an input
	// that fits in one is read once; a larger one is read two or more
	// times so that references across batches are resolved.
	guardCheckBatch = 50_000
	guardCheckBytes = 64 << 20
)

// checkInputs refuses standard input given twice (it can be read once).
func checkInputs(files []string) error {
	n := 0
	for _, f := range files {
		if f == "-" {
			n++
		}
	}
	if n > 1 {
		return errors.New("standard input (-) given more than once")
	}
	return nil
}

// checkOutput prints the findings of fusion guard check.
type checkOutput struct {
	w    io.Writer
	con  *console
	list *guard.List
	json bool

	scanned, blocked, redacted, clean, faults int
}

type checkAssetJSON struct {
	Line  int    `json:"line"`
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

type checkFindingJSON struct {
	Rule   string          `json:"rule"`
	Path   string          `json:"path,omitempty"`
	Action string          `json:"action"`
	Asset  *checkAssetJSON `json:"asset,omitempty"`
	Ref    string          `json:"ref,omitempty"`
}

type checkObjectJSON struct {
	File     string             `json:"file"`
	Index    int                `json:"index"`
	ID       string             `json:"id,omitempty"`
	Type     string             `json:"type,omitempty"`
	Action   string             `json:"action"`
	Reason   string             `json:"reason"`
	Error    string             `json:"error,omitempty"`
	Findings []checkFindingJSON `json:"findings"`
	Redacted json.RawMessage    `json:"redacted,omitempty"`
}

type checkSummaryJSON struct {
	Files            int     `json:"files"`
	Objects          int     `json:"objects"`
	Blocked          int     `json:"blocked"`
	Redacted         int     `json:"redacted"`
	Clean            int     `json:"clean"`
	Faults           int     `json:"faults"`
	Passes           int     `json:"passes"`
	Seconds          float64 `json:"seconds"`
	ObjectsPerSecond float64 `json:"objects_per_second"`
	Assets           int     `json:"assets"`
	Digest           string  `json:"digest"`
}

// line writes one line to stdout, above the progress bar.
func (c *checkOutput) line(s string) {
	c.con.above(c.w, []byte(s+"\n"))
}

func (c *checkOutput) jsonLine(v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	c.line(string(b))
}

func (c *checkOutput) batch(items []guardItem, res []guard.Result) error {
	for i := range items {
		c.object(&items[i], &res[i])
	}
	return nil
}

func (c *checkOutput) object(it *guardItem, r *guard.Result) {
	c.scanned++
	switch r.Action {
	case guard.Allow:
		c.clean++
		return
	case guard.Redact:
		c.redacted++
	default:
		c.blocked++
	}
	if c.json {
		o := checkObjectJSON{File: it.file, Index: it.index, ID: r.ID, Type: r.Type, Action: r.Action.String(),
			Reason: r.Reason(), Findings: make([]checkFindingJSON, 0, len(r.Findings))}
		if r.Err != nil {
			o.Error = r.Err.Error()
		}
		for _, f := range r.Findings {
			fj := checkFindingJSON{Rule: f.Rule.String(), Path: f.Path, Action: f.Action.String(), Ref: f.Ref}
			if kind, value, line, ok := c.list.Asset(f.Asset); ok {
				fj.Asset = &checkAssetJSON{Line: line, Kind: kind.String(), Value: value}
			}
			o.Findings = append(o.Findings, fj)
		}
		if r.Action == guard.Redact {
			o.Redacted = r.Redacted
		}
		c.jsonLine(o)
		return
	}
	id := r.ID
	if id == "" {
		id = "no id"
	}
	head := fmt.Sprintf("%s objects[%d] (%s): %s", it.file, it.index, id, r.Action)
	if len(r.Findings) == 0 { // malformed: the reason is the error
		msg := "malformed object"
		if r.Err != nil {
			msg += ": " + r.Err.Error()
		}
		c.line(head + ": " + msg)
		return
	}
	for _, f := range r.Findings {
		s := head + ": " + f.String()
		if kind, value, line, ok := c.list.Asset(f.Asset); ok {
			s += fmt.Sprintf(": asset line %d (%s %s)", line, kind, value)
		} else if f.Rule == guard.KindMalformed && r.Err != nil {
			s += ": " + r.Err.Error()
		}
		c.line(s)
	}
}

func (c *checkOutput) fault(name string, err error) {
	c.faults++
	if c.json {
		c.jsonLine(map[string]string{"file": name, "fault": err.Error()})
		return
	}
	c.line(fmt.Sprintf("%s: not read to the end: %v (objects after this point were not checked)", name, err))
}

func (c *checkOutput) summary(files, passes int, d time.Duration) {
	rate := rate(int64(c.scanned), d)
	if c.json {
		c.jsonLine(map[string]checkSummaryJSON{"summary": {
			Files: files, Objects: c.scanned, Blocked: c.blocked, Redacted: c.redacted, Clean: c.clean,
			Faults: c.faults, Passes: passes, Seconds: d.Seconds(), ObjectsPerSecond: rate,
			Assets: c.list.Len(), Digest: c.list.Digest(),
		}})
		return
	}
	s := fmt.Sprintf("checked %d objects in %d %s in %s (%.0f objects/s): %d would be blocked, %d redacted, %d clean",
		c.scanned, files, plural(files, "file", "files"), d.Round(time.Millisecond), rate, c.blocked, c.redacted, c.clean)
	if c.faults > 0 {
		s += fmt.Sprintf("; %d %s not read to the end", c.faults, plural(c.faults, "file", "files"))
	}
	if passes > 1 {
		s += fmt.Sprintf("; %d passes over the input to follow references across batches", passes)
	}
	s += fmt.Sprintf("; asset list: %d assets, %s", c.list.Len(), c.list.Digest())
	c.line(s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// above writes b to w, another stream that may share the terminal, after
// erasing the progress bar (which is redrawn on the next tick).
func (c *console) above(w io.Writer, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drawn {
		io.WriteString(c.w, "\r\x1b[K")
		c.drawn = false
	}
	w.Write(b)
}

// guardClean reports whether text names none of the scanner's assets in
// any form the guard recognises. Push runs every message it prints
// through it: file names, server messages and parse errors can quote
// what they are about.
func guardClean(sc *guard.Scanner, text string) bool {
	b, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return false
	}
	r := sc.Scan(b)
	return r.Action == guard.Allow
}

// ---- the batch engine shared by check and push ----

// guardItem is one object read from the input, with where it came from.
type guardItem struct {
	file  string // as named on the command line
	index int    // 0-based position among the file's objects
	raw   []byte
}

// guardEngine runs a scanner over files of any size in batches and
// follows references across batches.
//
// guard.Scanner.ScanBatch resolves references within a batch and, through
// a guard.BlockedSet, to objects blocked in earlier batches. Two things it
// cannot see from one batch: a reference to an object that is blocked in
// a later batch, and the vulnerability or observed-data at the far end of
// a relationship blocked in another batch. So an input larger than one
// batch is read more than once: each pass starts from every id blocked
// in the previous one (and from the ids tied to blocked relationships),
// until a pass blocks nothing new; then a last pass hands its results on.
// That last pass's decisions are those one batch holding the whole input
// would make. An input that fits in one batch is read once.
//
// Standard input and other inputs that cannot be reopened (pipes) are
// copied to a temporary file during the first pass so that later passes
// read the same bytes; the copy is removed at the end. A regular file
// that changes between passes is still scanned object by object in the
// last pass, but references may then be resolved against the old
// content.
type guardEngine struct {
	sc       *guard.Scanner
	maxObjs  int
	maxBytes int
	con      *console      // progress; nil for none
	objects  *atomic.Int64 // objects read, all passes (the bar's counter); may be nil
	stdin    io.Reader
	notify   func(pass int) // called before each pass after the first; may be nil

	blocked guard.BlockedSet  // every id blocked so far, in any pass
	tied    map[string]string // vulnerability or observed-data id → the blocked relationship tying it
	spools  map[string]string // inputs copied during the first pass → temporary file
}

// guardMaxPasses bounds the passes: each pass beyond the second follows a
// chain of references one batch further back (a sighting of a
// relationship to a relationship …), which real data does not nest deep.
const guardMaxPasses = 12

func newGuardEngine(sc *guard.Scanner, maxObjs, maxBytes int) *guardEngine {
	return &guardEngine{sc: sc, maxObjs: maxObjs, maxBytes: maxBytes, stdin: stdin,
		blocked: guard.BlockedSet{}, tied: map[string]string{}, spools: map[string]string{}}
}

// guardFault is an input that could not be read to the end.
type guardFault struct {
	name string
	err  error
}

// run scans files and calls emit for each batch of the final pass, in
// input order, with the objects and their decisions; an error from emit
// stops the run and is returned. fault is called for each input that
// could not be opened or read to the end, once, after the last emit,
// with the error of the first pass. It returns how many passes were made. An error of the
// engine itself (a temporary file, a context cancelled, references
// nested deeper than guardMaxPasses) is returned before any emit call
// unless the input fits one batch.
func (g *guardEngine) run(ctx context.Context, files []string, emit func([]guardItem, []guard.Result) error, fault func(string, error)) (int, error) {
	defer g.cleanup()
	multi, faults, err := g.pass(ctx, files, 1, emit)
	// Faults are reported after the objects that were read, however
	// many passes it takes, with the error the first pass met.
	defer func() {
		for _, f := range faults {
			fault(f.name, f.err)
		}
	}()
	if err != nil || !multi {
		return 1, err
	}
	pass := 1
	if len(g.blocked)+len(g.tied) > 0 {
		// Repeat until a pass blocks nothing new: its decisions are final.
		for size := len(g.blocked) + len(g.tied); ; {
			pass++
			if pass > guardMaxPasses {
				return pass - 1, fmt.Errorf("guard: references still lead to newly blocked objects after %d passes over the input; use a larger batch", guardMaxPasses)
			}
			if g.notify != nil {
				g.notify(pass)
			}
			if _, _, err := g.pass(ctx, files, pass, nil); err != nil {
				return pass, err
			}
			n := len(g.blocked) + len(g.tied)
			if n == size {
				break
			}
			size = n
		}
	}
	// Nothing blocked at all, or the previous pass found nothing new:
	// this pass decides as that one did, and hands the results on.
	pass++
	if g.notify != nil {
		g.notify(pass)
	}
	_, _, err = g.pass(ctx, files, pass, emit)
	return pass, err
}

// pass reads every input once. The first pass (n == 1) emits only if the
// whole input fits one batch (multi is false then); later passes emit
// every batch when emit is not nil.
func (g *guardEngine) pass(ctx context.Context, files []string, n int, emit func([]guardItem, []guard.Result) error) (multi bool, faults []guardFault, err error) {
	var (
		items []guardItem
		size  int
	)
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := g.scanBatch(ctx, items)
		if err != nil {
			return err
		}
		if emit != nil && (n > 1 || !multi) {
			if err := emit(items, res); err != nil {
				return err
			}
		}
		items, size = nil, 0
		return nil
	}
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return multi, faults, err
		}
		err := g.readFile(name, n, func(it guardItem) error {
			if len(items) > 0 && (len(items) >= g.maxObjs || size+len(it.raw) > g.maxBytes) {
				multi = true // in pass 1: not the only batch, so nothing is final yet
				if err := flush(); err != nil {
					return err
				}
			}
			items = append(items, it)
			size += len(it.raw)
			return nil
		})
		var rf readFault
		switch {
		case errors.As(err, &rf):
			faults = append(faults, guardFault{name, rf.err})
		case err != nil:
			return multi, faults, err
		}
	}
	return multi, faults, flush()
}

// readFault is an input that could not be read to the end; the objects
// before the fault were handed on.
type readFault struct{ err error }

func (e readFault) Error() string { return e.err.Error() }

// readFile streams one input's objects to add. Pass 1 copies inputs that
// cannot be reopened to a temporary file; later passes read the copy.
func (g *guardEngine) readFile(name string, pass int, add func(guardItem) error) error {
	var (
		src   io.Reader
		total int64 = -1
	)
	if sp, ok := g.spools[name]; ok && pass > 1 {
		f, err := os.Open(sp)
		if err != nil {
			return fmt.Errorf("reopening the copy of %s: %w", name, err)
		}
		defer f.Close()
		src = f
		if fi, err := f.Stat(); err == nil {
			total = fi.Size()
		}
	} else {
		var spool bool
		if name == "-" {
			src, spool = g.stdin, true
		} else {
			f, err := os.Open(name)
			if err != nil {
				return readFault{err}
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return readFault{err}
			}
			if fi.IsDir() {
				return readFault{fmt.Errorf("%s: is a directory", name)}
			}
			src = f
			if fi.Mode().IsRegular() {
				total = fi.Size()
			} else {
				spool = true
			}
		}
		if spool && pass == 1 {
			tmp, err := os.CreateTemp("", "fusion-guard-*.json")
			if err != nil {
				return fmt.Errorf("a temporary copy of %s for a second pass: %w", name, err)
			}
			g.spools[name] = tmp.Name()
			defer tmp.Close()
			src = io.TeeReader(src, tmp)
		}
	}
	var read atomic.Int64
	if g.con != nil {
		label := name
		if pass > 1 {
			label = fmt.Sprintf("%s (pass %d)", name, pass)
		}
		g.con.setFile(label, total, &read)
	}
	r := stix.NewReader(&countReader{r: src, n: &read})
	for {
		it, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readFault{err}
		}
		if g.objects != nil {
			g.objects.Add(1)
		}
		if err := add(guardItem{file: name, index: it.Index, raw: it.Raw}); err != nil {
			return err
		}
	}
}

// scanBatch decides one batch and records what it blocked.
func (g *guardEngine) scanBatch(ctx context.Context, items []guardItem) ([]guard.Result, error) {
	raws := make([][]byte, len(items))
	for i := range items {
		raws[i] = items[i].raw
	}
	res, err := g.sc.ScanBatch(ctx, raws, g.blocked)
	if err != nil {
		return nil, err
	}
	// An object allowed here whose id is blocked elsewhere (another
	// version of it, or tied to a relationship blocked in another batch):
	// ScanBatch already blocks references to it (it asks g.blocked about
	// every referenced id), but not the object itself when it is tied.
	// Take such objects out and scan each alone, blocking the tied ones.
	var apart []int
	for i := range res {
		if res[i].ID != "" && res[i].Action != guard.Block && g.blocked[res[i].ID] {
			apart = append(apart, i)
		}
	}
	if len(apart) > 0 {
		keep := make([][]byte, 0, len(raws)-len(apart))
		var at []int
		for i := range raws {
			if !contains(apart, i) {
				keep = append(keep, raws[i])
				at = append(at, i)
			}
		}
		rest, err := g.sc.ScanBatch(ctx, keep, g.blocked)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			res[i] = rest[j]
		}
		for _, i := range apart {
			one, err := g.sc.ScanBatch(ctx, raws[i:i+1], g.blocked)
			if err != nil {
				return nil, err
			}
			res[i] = one[0]
			if rel, ok := g.tied[res[i].ID]; ok && res[i].Action != guard.Block {
				blockTied(&res[i], rel)
			}
		}
	}
	for i := range res {
		r := &res[i]
		if r.Action != guard.Block {
			continue
		}
		if r.ID != "" {
			g.blocked[r.ID] = true
		}
		if r.Type == "relationship" { // with or without an id of its own
			g.tie(r.ID, raws[i])
		}
	}
	return res, nil
}

func contains(s []int, v int) bool {
	i := sort.SearchInts(s, v)
	return i < len(s) && s[i] == v
}

// blockTied blocks r as the vulnerability or observed-data at one end of
// the blocked relationship rel, the way ScanBatch does within a batch.
func blockTied(r *guard.Result, rel string) {
	r.Action, r.Redacted = guard.Block, nil
	for k := range r.Findings {
		r.Findings[k].Action = guard.Block
	}
	r.Findings = append(r.Findings, guard.Finding{Rule: guard.KindReference, Asset: -1, Action: guard.Block, Ref: rel})
}

// tie records the vulnerability or observed-data ends of a blocked
// relationship: ScanBatch blocks them within the batch; they are blocked
// in every other batch too.
func (g *guardEngine) tie(rel string, raw []byte) {
	var ends struct {
		Source string `json:"source_ref"`
		Target string `json:"target_ref"`
	}
	if json.Unmarshal(raw, &ends) != nil {
		return // the guard read it; a form encoding/json refuses has no ends to follow
	}
	for _, id := range []string{ends.Source, ends.Target} {
		if !strings.HasPrefix(id, "vulnerability--") && !strings.HasPrefix(id, "observed-data--") {
			continue
		}
		if _, ok := g.tied[id]; !ok {
			g.tied[id] = rel
		}
		g.blocked[id] = true
	}
}

func (g *guardEngine) cleanup() {
	for _, p := range g.spools {
		os.Remove(p)
	}
	g.spools = map[string]string{}
}

// countReader counts the bytes read through it, for the progress bar.
type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
