package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

func init() {
	register(&command{
		name:    "ingest",
		summary: "load STIX 2.1 bundles, JSON arrays or JSON lines into a collection",
		usage:   "[--collection C] [--db URL | --data DIR] [--strict] [--batch N] [--source ORG] [--org PARTNER] [--assets FILE] FILE... (FILE - is standard input)",
		run:     runIngest,
	})
}

// stdin is what the FILE "-" reads; tests replace it.
var stdin io.Reader = os.Stdin

const (
	// maxShown is how many rejection reasons are printed; the rest are
	// counted.
	maxShown = 20
	// batchBytes caps a batch's size in bytes whatever --batch says, so
	// that a file of large objects cannot make one transaction huge.
	batchBytes = 16 << 20
	// chunkItems and chunkBytes size the units of work handed to the
	// validating goroutines.
	chunkItems = 128
	chunkBytes = 512 << 10
	// keepBehind is how much recent input is kept to turn a byte offset
	// into a line and column: the reader reports faults at most one
	// object (plus its read-ahead) behind what it has consumed.
	keepBehind = stix.MaxObjectSize + 4<<20
)

// validate applies the spec's per-type rules and the policy facts check
// after Parse.
var validate = policy.ValidateObject

func runIngest(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	sf.register(fs)
	var (
		collection = fs.String("collection", "", "collection `id or alias` (default: the default collection)")
		strict     = fs.Bool("strict", false, "reject a whole file, writing none of it, when any object in it is invalid")
		batch      = fs.Int("batch", 5000, "objects per batch handed to the store, one transaction each (capped at 16 MB of JSON); SQLite commits consecutive batches in groups of up to about 50,000 objects or 3 s")
		source     = fs.String("source", "", "submitting organisation `id or name`, recorded with every version (default: none, an operator load)")
		org        = fs.String("org", "", "load on behalf of `PARTNER` (name or id): its protected-asset list kept on the hub screens every object before it is stored, blocked objects go to its quarantine; also the --source")
		assets     = fs.String("assets", "", "screen every object with the protected-asset list in `FILE` (instead of the one kept for --org)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	usageErr := func(msg string) error {
		fmt.Fprintf(stderr, "fusion ingest: %s\n", msg)
		fs.Usage()
		return exitError{2}
	}
	switch {
	case len(files) == 0:
		return usageErr("no FILE given (use - for standard input)")
	case *batch < 1:
		return usageErr("--batch must be at least 1")
	}
	stdins := 0
	for _, f := range files {
		if f == "-" {
			stdins++
		}
	}
	if stdins > 1 {
		return usageErr("standard input (-) can be read only once")
	}
	if *strict && (*org != "" || *assets != "") {
		return usageErr("--strict cannot be combined with --org or --assets yet")
	}
	if *org != "" && *source != "" && *source != *org {
		return usageErr("--org is the source: give --source only without --org")
	}
	if *org != "" {
		*source = *org
	}

	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	coll, err := resolveCollection(ctx, st, *collection)
	if err != nil {
		return err
	}
	src, err := resolveSource(ctx, st, *source)
	if err != nil {
		return err
	}

	in := &ingester{st: st, coll: coll, source: src, strict: *strict, batch: *batch, workers: runtime.GOMAXPROCS(0)}
	if in.wc, err = newWriteCheck(ctx, st, coll, src); err != nil {
		return err
	}
	if in.guard, err = newIngestGuard(ctx, st, src, coll, *org != "", *assets, stderr); err != nil {
		return err
	}
	in.con = newConsole(stderr, &in.objects)
	// FUSION_INGEST_CPUPROFILE=FILE writes a CPU profile of the load (a
	// development aid for docs/benchmarks.md, not a documented flag).
	if p := os.Getenv("FUSION_INGEST_CPUPROFILE"); p != "" {
		stop, err := startCPUProfile(p)
		if err != nil {
			return err
		}
		defer stop()
	}
	start := time.Now()
	for _, name := range files {
		if err = in.file(ctx, name); err != nil {
			break
		}
	}
	in.con.close()
	if in.hidden > 0 {
		fmt.Fprintf(stderr, "... and %d more rejected objects not shown\n", in.hidden)
	}
	if in.guard != nil {
		in.guard.summary(stderr)
	}
	elapsed := time.Since(start)
	total := in.stored + in.unchanged + in.rejected
	fmt.Fprintf(stdout, "ingest: %d objects in %.2fs (%.0f objects/s): %d stored, %d unchanged, %d rejected",
		total, elapsed.Seconds(), rate(int64(total), elapsed), in.stored, in.unchanged, in.rejected)
	switch {
	case in.faults == 1:
		fmt.Fprint(stdout, "; 1 file error")
	case in.faults > 1:
		fmt.Fprintf(stdout, "; %d file errors", in.faults)
	}
	fmt.Fprintln(stdout)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		return err
	}
	if in.rejected > 0 || in.faults > 0 {
		return exitError{1}
	}
	return nil
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// resolveSource turns --source (an organisation id or name) into an id.
func resolveSource(ctx context.Context, st store.Store, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if stix.IsUUID(s) {
		o, err := st.GetOrg(ctx, strings.ToLower(s))
		if err == nil {
			return o.ID, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("--source: %w", err)
		}
	}
	o, err := st.GetOrgByName(ctx, s)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("--source: no organisation with id or name %q", s)
		}
		return "", fmt.Errorf("--source: %w", err)
	}
	return o.ID, nil
}

// ingester loads files into one collection and keeps the counts.
type ingester struct {
	st      store.Store
	coll    string
	source  string
	guard   *ingestGuard // nil: no customer-data guard
	wc      *writeCheck
	strict  bool
	batch   int
	workers int
	con     *console

	objects atomic.Int64 // objects read, for the progress bar

	stored, unchanged, rejected int
	faults                      int // files that could not be read to the end
	shown, hidden               int // rejection messages printed and not
}

// reject reports an invalid object, or only counts it once maxShown
// reasons have been printed.
func (in *ingester) reject(msg string) {
	if in.shown < maxShown {
		in.con.printf("%s", msg)
		in.shown++
		return
	}
	in.hidden++
}

// fault reports a file that could not be read (to the end).
func (in *ingester) fault(msg string) {
	in.faults++
	in.con.printf("%s", msg)
}

// file ingests one file. Problems with the input are reported and
// counted; the error is for what must stop the whole run (the store
// failing, cancellation).
func (in *ingester) file(ctx context.Context, name string) error {
	var (
		r    io.Reader
		f    *os.File // set when the input can be read again from the start
		size int64    = -1
	)
	if name == "-" {
		r = stdin
		if sf, ok := stdin.(*os.File); ok {
			if fi, err := sf.Stat(); err == nil && fi.Mode().IsRegular() {
				f, size = sf, fi.Size()
			}
		}
	} else {
		of, err := os.Open(name)
		if err != nil {
			in.fault(err.Error())
			return nil
		}
		defer of.Close()
		fi, err := of.Stat()
		if err != nil {
			in.fault(err.Error())
			return nil
		}
		if fi.IsDir() {
			in.fault(name + ": is a directory")
			return nil
		}
		r = of
		if fi.Mode().IsRegular() {
			f, size = of, fi.Size()
		}
	}
	if err := in.ensureWriteCheck(ctx); err != nil {
		return err
	}
	if in.strict {
		return in.strictFile(ctx, name, r, f, size)
	}
	var read atomic.Int64
	in.con.setFile(name, size, &read)
	w := in.newWriter(ctx)
	refused := 0
	sink := func(b []*stix.Object) error {
		n, err := in.wc.route(ctx, name, b, w, in.reject)
		refused += n
		return err
	}
	emit, blocked := sink, 0
	if in.guard != nil {
		emit = func(b []*stix.Object) error {
			b, n, err := in.guard.screen(ctx, name, b, in.reject)
			blocked += n
			if err != nil || len(b) == 0 {
				return err
			}
			return sink(b)
		}
	}
	sc, err := in.scan(ctx, name, r, &read, emit, in.reject)
	stored, unchanged, werr := w.wait()
	in.stored += stored
	in.unchanged += unchanged
	in.rejected += sc.invalid + blocked + refused
	if sc.fault != "" {
		in.fault(sc.fault)
	}
	if werr != nil {
		return werr
	}
	return err
}

// strictFile ingests a file only if every object in it is valid. A first
// pass validates everything; a file that fits in one batch is then
// written from memory in one transaction. A larger file is read a second
// time (regular files are re-read from the start, other input is spooled
// to a temporary file during the first pass), so memory stays bounded.
// If the second pass finds an invalid object (the file changed between
// the passes) the run stops with an error; batches written before that
// stay written.
func (in *ingester) strictFile(ctx context.Context, name string, r io.Reader, f *os.File, size int64) error {
	if err := in.ensureWriteCheck(ctx); err != nil {
		return err
	}
	var spool *os.File
	if f == nil {
		var err error
		spool, err = os.CreateTemp("", "fusion-ingest-*.json")
		if err != nil {
			return fmt.Errorf("--strict needs a temporary file for %s: %w", name, err)
		}
		defer func() {
			spool.Close()
			os.Remove(spool.Name())
		}()
		r = io.TeeReader(r, spool)
	}
	var read atomic.Int64
	in.con.setFile(name+" (validating)", size, &read)
	var first []*stix.Object
	batches := 0
	var invalid []string // the first maxShown messages
	refused := 0
	sc, err := in.scan(ctx, name, r, &read, func(b []*stix.Object) error {
		// Versions the writer may not store make the file invalid too.
		decs, err := in.wc.check(ctx, b)
		if err != nil {
			return err
		}
		for i, d := range decs {
			if d.Err != nil {
				refused++
				if len(invalid) < maxShown {
					invalid = append(invalid, refusal(name, b[i], d.Err))
				}
			}
		}
		batches++
		if batches == 1 {
			first = b
		} else {
			first = nil
		}
		return nil
	}, func(msg string) {
		if len(invalid) < maxShown {
			invalid = append(invalid, msg)
		}
	})
	if err != nil {
		return err
	}
	sc.invalid += refused
	if sc.invalid > 0 || sc.fault != "" {
		for _, m := range invalid {
			in.reject(m)
		}
		in.hidden += sc.invalid - len(invalid)
		if sc.fault != "" {
			in.fault(sc.fault)
		}
		in.rejected += sc.read
		how := fmt.Sprintf("%d of %d objects invalid", sc.invalid, sc.read)
		if sc.fault != "" {
			how += ", unreadable past a fault"
		}
		in.con.printf("%s: rejected as a whole (--strict): %s; nothing of it written", name, how)
		return nil
	}
	w := in.newWriter(ctx)
	// The write pass routes each batch again (hub narrowings keep their
	// objects' sources); a refusal now means the store changed since the
	// first pass, and is counted as a rejection.
	refused = 0
	sink := func(b []*stix.Object) error {
		n, err := in.wc.route(ctx, name, b, w, in.reject)
		refused += n
		return err
	}
	if batches <= 1 {
		var err error
		if len(first) > 0 {
			err = sink(first)
		}
		stored, unchanged, werr := w.wait()
		in.stored += stored
		in.unchanged += unchanged
		in.rejected += refused
		if werr != nil {
			return werr
		}
		return err
	}
	// Second pass.
	first = nil
	src := f
	if src == nil {
		src = spool
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		w.wait()
		return fmt.Errorf("%s: rewind for the second pass: %w", name, err)
	}
	read.Store(0)
	in.con.setFile(name+" (writing)", size, &read)
	var changed string
	errChanged := errors.New("changed between passes")
	sc2, err := in.scan(ctx, name, src, &read, func(b []*stix.Object) error {
		if changed != "" {
			return errChanged // write nothing after the first difference
		}
		return sink(b)
	}, func(msg string) {
		if changed == "" {
			changed = msg
		}
	})
	if errors.Is(err, errChanged) {
		err = nil
	}
	stored, unchanged, werr := w.wait()
	in.stored += stored
	in.unchanged += unchanged
	in.rejected += refused
	switch {
	case werr != nil:
		return werr
	case err != nil:
		return err
	case changed != "" || sc2.fault != "" || sc2.read != sc.read:
		in.rejected += sc.read - stored - unchanged - refused
		return fmt.Errorf("%s changed while it was being ingested (%s); %d objects were written before this was noticed", name, changed+sc2.fault, stored+unchanged)
	}
	return nil
}

// scanStats says what a scan saw in one input.
type scanStats struct {
	read    int    // objects read
	invalid int    // of which invalid
	fault   string // the stream fault that ended the input early, if any
}

// chunk is a unit of work: consecutive items and, once done is closed,
// their parsed objects or rejection messages.
type chunk struct {
	items []stix.Item
	lines []int64
	objs  []*stix.Object
	errs  []string
	done  chan struct{}
}

// scan reads src as a stream of STIX objects, parses and validates them
// on in.workers goroutines, and hands the valid ones to emit in input
// order in batches of at most in.batch objects (and about batchBytes).
// Each invalid object's message goes to onInvalid, also in input order.
// emit owns each batch it is given. read counts the bytes consumed.
// The error is emit's or ctx's; faults of the input are in the stats.
func (in *ingester) scan(ctx context.Context, name string, src io.Reader, read *atomic.Int64, emit func([]*stix.Object) error, onInvalid func(string)) (scanStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *chunk, in.workers)
	order := make(chan *chunk, 2*in.workers+2)
	var fault string

	go func() { // reader: one stream, in order
		defer close(work)
		defer close(order)
		defer func() {
			// A bug in the stream reader must not take the process down;
			// it ends this input with a fault (set before order closes).
			if p := recover(); p != nil {
				fault = fmt.Sprintf("%s: internal error reading the input (please report): %v", name, p)
			}
		}()
		pr := newPosReader(src, keepBehind, read)
		rd := stix.NewReader(pr)
		c := &chunk{done: make(chan struct{})}
		size := 0
		send := func() bool {
			select {
			case order <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- c:
			case <-ctx.Done():
				return false
			}
			c, size = &chunk{done: make(chan struct{})}, 0
			return true
		}
		for ctx.Err() == nil {
			it, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				fault = streamFault(name, pr, err)
				break
			}
			line, _ := pr.position(it.Offset)
			c.items = append(c.items, it)
			c.lines = append(c.lines, line)
			in.objects.Add(1)
			size += len(it.Raw)
			if len(c.items) >= chunkItems || size >= chunkBytes {
				if !send() {
					return
				}
			}
		}
		if len(c.items) > 0 {
			send()
		}
	}()

	for i := 0; i < in.workers; i++ {
		go func() {
			for c := range work {
				check(name, c, in.guard)
				close(c.done)
			}
		}()
	}

	var sc scanStats
	batch := make([]*stix.Object, 0, min(in.batch, 4096))
	bsize := 0
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			return sc, ctx.Err()
		}
		for i, o := range c.objs {
			sc.read++
			if o == nil {
				sc.invalid++
				onInvalid(c.errs[i])
				continue
			}
			batch = append(batch, o)
			bsize += len(o.Raw)
			if len(batch) >= in.batch || bsize >= batchBytes {
				if err := emit(batch); err != nil {
					return sc, err
				}
				batch, bsize = make([]*stix.Object, 0, cap(batch)), 0
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return sc, err
	}
	sc.fault = fault // written before order was closed
	if len(batch) > 0 {
		if err := emit(batch); err != nil {
			return sc, err
		}
	}
	return sc, nil
}

// check parses and validates a chunk's items, dropping their raw bytes
// (Parse keeps its own compacted copy).
func check(name string, c *chunk, g *ingestGuard) {
	c.objs = make([]*stix.Object, len(c.items))
	c.errs = make([]string, len(c.items))
	for i := range c.items {
		it := &c.items[i]
		o, err := parseValid(it.Raw)
		if err != nil && g != nil {
			// The rejection must not echo a protected value.
			c.errs[i] = g.invalid(name, c.lines[i], it.Index, it.Raw)
		}
		if err != nil && c.errs[i] == "" {
			c.errs[i] = objectError(name, c.lines[i], it.Index, o, err)
		} else {
			c.objs[i] = o
		}
		it.Raw = nil
	}
}

// parseValid is stix.Parse then validate, with a panic in either turned
// into a rejection of the one object.
func parseValid(raw []byte) (o *stix.Object, err error) {
	defer func() {
		if p := recover(); p != nil {
			o, err = nil, fmt.Errorf("internal error checking the object (please report): %v", p)
		}
	}()
	if o, err = stix.Parse(raw); err != nil {
		return o, err
	}
	return o, validate(o)
}

// objectError formats an invalid object's rejection:
// "apt1.json:57: objects[3] (indicator--…): valid_from: required".
func objectError(file string, line int64, index int, o *stix.Object, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: objects[%d]", file, line, index)
	id := ""
	if o != nil {
		id = o.ID
	}
	var errs []error
	collectErrors(err, &errs)
	var ve *stix.ValidationError
	if id == "" && errors.As(err, &ve) {
		switch {
		case ve.ID != "":
			id = ve.ID
		case ve.Type != "":
			id = ve.Type
		}
	}
	if id != "" {
		fmt.Fprintf(&b, " (%s)", id)
	}
	b.WriteString(": ")
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		if errors.As(e, &ve) {
			if ve.Path != "" {
				b.WriteString(ve.Path)
				b.WriteString(": ")
			}
			b.WriteString(ve.Msg)
			continue
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// collectErrors flattens errors.Join trees into their leaves.
func collectErrors(err error, out *[]error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collectErrors(e, out)
		}
		return
	}
	*out = append(*out, err)
}

// streamFault formats a fault that ends an input:
// "apt1.json:120:7: unexpected end of input (truncated file?)".
func streamFault(name string, pr *posReader, err error) string {
	var se *stix.StreamError
	if errors.As(err, &se) {
		if line, col := pr.position(se.Offset); line > 0 {
			return fmt.Sprintf("%s:%d:%d: %s", name, line, col, se.Msg)
		}
		return fmt.Sprintf("%s: byte %d: %s", name, se.Offset, se.Msg)
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// writer puts batches into the store on its own goroutine, so that the
// next batch is validated while the previous one is written.
type writer struct {
	in     *ingester
	ctx    context.Context
	ch     chan srcBatch
	failed chan struct{} // closed when err is set
	done   chan struct{}
	err    error

	stored, unchanged int
}

func (in *ingester) newWriter(ctx context.Context) *writer {
	w := &writer{in: in, ctx: ctx, ch: make(chan srcBatch, 1), failed: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// groupPutter is a store that can share one write transaction among
// several Puts (sqlite.DB.PutGrouped): a bulk load then writes the pages
// it changes once per group instead of once per batch.
type groupPutter interface {
	PutGrouped(ctx context.Context, collection, source string,
		fn func(put func([]*stix.Object) ([]store.PutOutcome, bool, error)) error) error
}

// groupIdle is how long the writer waits for the next batch before it
// commits what it has (the input stalled: let other writers in).
const groupIdle = 250 * time.Millisecond

func (w *writer) loop() {
	defer close(w.done)
	// With the guard on, the scan side writes quarantine records to the
	// store while batches are queued, so the writer must not hold the
	// write transaction between batches.
	if gp, ok := w.in.st.(groupPutter); ok && w.in.guard == nil {
		w.loopGrouped(gp)
		return
	}
	for b := range w.ch {
		if w.err != nil {
			continue
		}
		out, err := w.in.st.Put(w.ctx, w.in.coll, b.source, b.objs)
		if err != nil {
			w.err = fmt.Errorf("store: %w", err)
			close(w.failed)
			continue
		}
		for _, o := range out {
			if o.Added {
				w.stored++
			} else {
				w.unchanged++
			}
		}
	}
}

// loopGrouped is loop for a groupPutter: the counts move from pending to
// stored/unchanged only when their batches are committed, so that a
// failure reports what is really in the store.
func (w *writer) loopGrouped(gp groupPutter) {
	var stored, unchanged int
	err := gp.PutGrouped(w.ctx, w.in.coll, w.in.source, func(put func([]*stix.Object) ([]store.PutOutcome, bool, error)) error {
		commit := func() {
			w.stored += stored
			w.unchanged += unchanged
			stored, unchanged = 0, 0
		}
		for {
			var (
				b  srcBatch
				ok bool
			)
			select {
			case b, ok = <-w.ch:
			default:
				select {
				case b, ok = <-w.ch:
				case <-time.After(groupIdle):
					if _, _, err := put(nil); err != nil {
						return err
					}
					commit()
					b, ok = <-w.ch
				}
			}
			if !ok {
				return nil
			}
			if b.source != w.in.source {
				// A hub narrowing keeps its object's source: commit the
				// group, then store it on its own.
				if _, _, err := put(nil); err != nil {
					return err
				}
				commit()
				out, err := w.in.st.Put(w.ctx, w.in.coll, b.source, b.objs)
				if err != nil {
					return err
				}
				for _, o := range out {
					if o.Added {
						w.stored++
					} else {
						w.unchanged++
					}
				}
				continue
			}
			out, committed, err := put(b.objs)
			if err != nil {
				return err
			}
			for _, o := range out {
				if o.Added {
					stored++
				} else {
					unchanged++
				}
			}
			if committed {
				commit()
			}
		}
	})
	if err != nil {
		w.err = fmt.Errorf("store: %w", err)
		close(w.failed)
		for range w.ch {
		}
		return
	}
	w.stored += stored
	w.unchanged += unchanged
}

// put queues a batch stored with the run's source; it returns the
// store's error once a Put has failed.
func (w *writer) put(b []*stix.Object) error { return w.putAs(w.in.source, b) }

// putAs queues a batch stored with source.
func (w *writer) putAs(source string, b []*stix.Object) error {
	select {
	case w.ch <- srcBatch{source, b}:
		return nil
	case <-w.failed:
		return w.err
	}
}

// wait lets the queued batches finish and returns the counts.
func (w *writer) wait() (stored, unchanged int, err error) {
	close(w.ch)
	<-w.done
	return w.stored, w.unchanged, w.err
}

// posReader passes reads through from src in blocks and keeps the most
// recent input, at least keep bytes behind the read position, so that a
// byte offset the stream reader reports can be turned into a line and
// column without reading the input twice.
type posReader struct {
	src    io.Reader
	keep   int64
	count  *atomic.Int64 // bytes handed out, for progress
	blocks []*block      // retained, oldest first; the last one is being read
	free   []*block
	// totals over all blocks filled so far
	filled, lines, lastNL int64
	err                   error
	// cursor of the last position lookup, to make increasing lookups cheap
	cur curPos
}

type block struct {
	start  int64 // offset of data[0]
	lines  int64 // newlines before start
	lastNL int64 // offset of the last newline before start, -1 if none
	data   []byte
	pos    int // bytes of data handed out
}

type curPos struct {
	b             *block
	start, off    int64
	lines, lastNL int64
}

const blockSize = 64 << 10

func newPosReader(src io.Reader, keep int64, count *atomic.Int64) *posReader {
	return &posReader{src: src, keep: keep, count: count, lastNL: -1}
}

func (p *posReader) Read(buf []byte) (int, error) {
	var b *block
	if len(p.blocks) > 0 {
		b = p.blocks[len(p.blocks)-1]
	}
	if b == nil || b.pos == len(b.data) {
		if p.err != nil {
			return 0, p.err
		}
		if b = p.fill(); b == nil {
			return 0, p.err
		}
	}
	n := copy(buf, b.data[b.pos:])
	b.pos += n
	if p.count != nil {
		p.count.Add(int64(n))
	}
	return n, nil
}

// fill reads the next block; nil at the end of input or on an error.
func (p *posReader) fill() *block {
	var b *block
	if n := len(p.free); n > 0 {
		b, p.free = p.free[n-1], p.free[:n-1]
	} else {
		b = &block{data: make([]byte, blockSize)}
	}
	b.data = b.data[:cap(b.data)]
	n, err := io.ReadAtLeast(p.src, b.data, 1)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		p.err = err
		p.free = append(p.free, b)
		return nil
	}
	b.data, b.pos = b.data[:n], 0
	b.start, b.lines, b.lastNL = p.filled, p.lines, p.lastNL
	if k := bytes.Count(b.data, []byte{'\n'}); k > 0 {
		p.lines += int64(k)
		p.lastNL = p.filled + int64(bytes.LastIndexByte(b.data, '\n'))
	}
	p.filled += int64(n)
	p.blocks = append(p.blocks, b)
	// Drop old blocks that are more than keep behind this one.
	for len(p.blocks) > 1 && b.start-(p.blocks[0].start+int64(len(p.blocks[0].data))) >= p.keep {
		p.free = append(p.free, p.blocks[0])
		p.blocks[0] = nil
		p.blocks = p.blocks[1:]
	}
	return b
}

// position returns the 1-based line and byte column of offset off, or
// (0, 0) when that part of the input is no longer kept.
func (p *posReader) position(off int64) (line, col int64) {
	var b *block
	for i := len(p.blocks) - 1; i >= 0; i-- {
		if c := p.blocks[i]; off >= c.start {
			b = c
			break
		}
	}
	if b == nil {
		return 0, 0
	}
	if end := b.start + int64(len(b.data)); off > end {
		off = end // past the input read so far: clamp (end of input)
	}
	from, lines, lastNL := int64(0), b.lines, b.lastNL
	if c := p.cur; c.b == b && c.start == b.start && c.off <= off {
		from, lines, lastNL = c.off-b.start, c.lines, c.lastNL
	}
	seg := b.data[from : off-b.start]
	if k := bytes.Count(seg, []byte{'\n'}); k > 0 {
		lines += int64(k)
		lastNL = b.start + from + int64(bytes.LastIndexByte(seg, '\n'))
	}
	p.cur = curPos{b: b, start: b.start, off: off, lines: lines, lastNL: lastNL}
	return lines + 1, off - lastNL
}

// ensureWriteCheck sets in.wc for an ingester made without runIngest.
func (in *ingester) ensureWriteCheck(ctx context.Context) error {
	if in.wc != nil {
		return nil
	}
	wc, err := newWriteCheck(ctx, in.st, in.coll, in.source)
	if err != nil {
		return err
	}
	in.wc = wc
	return nil
}

// srcBatch is a batch for the writer and the source to record with it.
type srcBatch struct {
	source string
	objs   []*stix.Object
}

// writeCheck applies the write-side decision (policy.CheckWrites) to what
// a load stores on behalf of one writer: the --source/--org organisation,
// or the hub for an operator load (no source).
type writeCheck struct {
	st     store.Store
	coll   string
	caller policy.Caller
	def    policy.Level
	kindOf func(string) string
}

func newWriteCheck(ctx context.Context, st store.Store, coll, source string) (*writeCheck, error) {
	wc := &writeCheck{st: st, coll: coll, kindOf: policy.OrgKinds(ctx, st)}
	if source != "" {
		o, err := st.GetOrg(ctx, source)
		if err != nil {
			return nil, fmt.Errorf("source organisation %s: %w", source, err)
		}
		wc.caller = policy.Caller{Org: o, Role: store.RoleWrite}
	}
	c, err := st.GetCollection(ctx, coll)
	if err != nil {
		return nil, fmt.Errorf("collection %s: %w", coll, err)
	}
	wc.def = policy.CollectionDefault(c.DefaultTLP)
	return wc, nil
}

// check decides for a batch (one store query).
func (wc *writeCheck) check(ctx context.Context, b []*stix.Object) ([]policy.WriteDecision, error) {
	decs, err := policy.CheckWrites(ctx, wc.st, wc.coll, wc.def, wc.caller, b, wc.kindOf)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return decs, nil
}

// route checks a batch and queues what may be stored on w, hub
// narrowings with their objects' sources; each refused object is passed
// to reject and counted.
func (wc *writeCheck) route(ctx context.Context, name string, b []*stix.Object, w *writer, reject func(string)) (refused int, err error) {
	decs, err := wc.check(ctx, b)
	if err != nil {
		return 0, err
	}
	own := b[:0:0]
	var others map[string][]*stix.Object
	var order []string
	for i, d := range decs {
		switch {
		case d.Err != nil:
			refused++
			reject(refusal(name, b[i], d.Err))
		case d.Source == wc.caller.Org.ID:
			own = append(own, b[i])
		default:
			if others == nil {
				others = map[string][]*stix.Object{}
			}
			if _, ok := others[d.Source]; !ok {
				order = append(order, d.Source)
			}
			others[d.Source] = append(others[d.Source], b[i])
		}
	}
	if refused == 0 && len(others) == 0 {
		return 0, w.put(b)
	}
	if len(own) > 0 {
		if err := w.put(own); err != nil {
			return refused, err
		}
	}
	for _, src := range order {
		if err := w.putAs(src, others[src]); err != nil {
			return refused, err
		}
	}
	return refused, nil
}

// refusal formats a refused object's rejection: "apt1.json: indicator--…: reason".
func refusal(name string, o *stix.Object, err error) string {
	return fmt.Sprintf("%s: %s: %v", name, o.ID, err)
}
