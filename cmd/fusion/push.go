package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"fusion/internal/guard"
	"fusion/internal/stix"
	"fusion/internal/taxii/client"
)

func init() {
	register(&command{
		name:    "push",
		summary: "send STIX 2.1 files to a remote TAXII 2.1 collection and report what the server accepted",
		usage: "URL --collection ID [--token T | --user U --password P] [--assets LIST [--redact]] FILE... (FILE - is standard input)\n\n" +
			"With --assets, the customer-data guard runs on this machine before anything is sent: objects that\n" +
			"name an asset in LIST are not sent (with --redact, matches in the free text of reports and notes are\n" +
			"replaced by [REDACTED] and the object is sent). LIST stays here: it is never sent, logged or printed,\n" +
			"and blocked objects are reported without the matched value; run 'fusion guard check' to see which\n" +
			"asset matched. Exit status 1 when any object was blocked or failed.",
		run: runPush,
	})
}

const (
	// pushDefaultEnvelope is used when the API root advertises no
	// max_content_length (the field is required, but not every server
	// sends it).
	pushDefaultEnvelope = 1 << 20
	// pushMaxEnvelope caps envelopes whatever the server allows, bounding
	// the memory push holds (about twice this).
	pushMaxEnvelope = 32 << 20
	// pushMaxPending is how many envelopes may await a complete status
	// before push waits for the oldest.
	pushMaxPending = 4
	// pushGuardBatch and pushGuardBytes bound what the guard scans
	// together (and holds in memory) when --assets is given.
	pushGuardBatch = 10_000
	pushGuardBytes = 32 << 20
)

func runPush(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var (
		auth        remoteAuth
		coll        = fs.String("collection", "", "remote collection `ID` (required)")
		maxEnvelope = fs.Int("max-envelope", 0, "largest envelope to send, in `bytes`; 0: the server's max_content_length (at most 32 MiB)")
		wait        = fs.Duration("wait", 10*time.Minute, "how long to wait for the server to finish processing each envelope")
		assets      = fs.String("assets", "", "protected-asset list `FILE`: run the customer-data guard on every object before sending (see fusion guard check --help for the format)")
		redact      = fs.Bool("redact", false, "with --assets: redact matches in the free text of reports and notes instead of blocking the object")
		guardBatch  = fs.Int("guard-batch", pushGuardBatch, "with --assets: objects the guard scans together; an input larger than one batch is read again to follow references across batches")
	)
	auth.register(fs)
	if err := parseRemoteArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 2 || *coll == "" {
		fs.Usage()
		return exitError{2}
	}
	if *redact && *assets == "" || *guardBatch < 1 {
		fmt.Fprintln(stderr, "fusion push: --redact needs --assets; --guard-batch must be at least 1")
		return exitError{2}
	}
	var eng *guardEngine
	if *assets != "" {
		if err := checkInputs(fs.Args()[1:]); err != nil {
			return err
		}
		list, err := loadAssets(*assets)
		if err != nil {
			return err
		}
		eng = newGuardEngine(guard.NewScanner(list, guard.Options{Redact: *redact}), *guardBatch, pushGuardBytes)
	}
	opts, err := auth.options()
	if err != nil {
		return err
	}
	rootURL := fs.Arg(0)
	if err := checkRemoteURL(rootURL, opts, stderr); err != nil {
		return err
	}
	p := &pusher{
		c: client.New(opts), rootURL: rootURL, collection: *coll,
		maxEnvelope: *maxEnvelope, wait: *wait, warn: stderr, guard: eng,
	}
	start := time.Now()
	res, err := p.run(ctx, fs.Args()[1:])
	faults := ""
	if res.Faults > 0 {
		faults = fmt.Sprintf("; %d files not read to the end", res.Faults)
	}
	if eng != nil {
		faults += fmt.Sprintf("; guard: %d blocked, %d redacted", res.Blocked, res.Redacted)
	}
	fmt.Fprintf(stdout, "pushed %d objects in %d envelopes (up to %d bytes each) to %s collection %s in %s: %d accepted, %d failed (%d of them before sending)%s\n",
		res.Sent, res.Envelopes, res.Limit, rootURL, *coll, time.Since(start).Round(time.Millisecond),
		res.Succeeded, res.Failed, res.Rejected, faults)
	if err != nil {
		if eng != nil && !guardClean(eng.sc, err.Error()) {
			return errors.New("stopped by an error whose text would show a protected asset; run fusion guard check on the input")
		}
		return err
	}
	if res.Failed > 0 || res.Faults > 0 {
		return exitError{1}
	}
	return nil
}

// pushItem is one object in the envelope being filled.
type pushItem struct {
	id, version string
	raw         []byte
}

// pushPending is a posted envelope whose status was not yet complete.
type pushPending struct {
	status *client.Status
	items  []pushItem
}

type pushResult struct {
	Read      int // objects read from the files
	Sent      int // objects posted
	Envelopes int // envelopes posted and accepted (202)
	Succeeded int // objects the server reported stored
	Failed    int // objects that failed, here or on the server
	Rejected  int // of Failed: refused before sending
	Faults    int // files that could not be read to the end
	Limit     int // envelope size limit used, bytes
	Blocked   int // of Rejected: blocked by the customer-data guard
	Redacted  int // of Sent: sent in the guard's redacted form
}

// pusher streams files into envelopes and posts them.
type pusher struct {
	c           *client.Client
	rootURL     string
	collection  string
	maxEnvelope int           // 0: from the API root
	wait        time.Duration // per status
	warn        io.Writer     // failures are described here
	open        func(name string) (io.ReadCloser, error)
	guard       *guardEngine // nil: no --assets

	b       *client.EnvelopeBuilder
	batch   []pushItem
	pending []pushPending
	res     pushResult
	shown   int
}

func (p *pusher) run(ctx context.Context, files []string) (pushResult, error) {
	root, err := p.c.APIRoot(ctx, p.rootURL)
	if err != nil {
		return p.res, err
	}
	limit := int(min(root.MaxContentLength, pushMaxEnvelope))
	if root.MaxContentLength == 0 {
		fmt.Fprintf(p.warn, "warning: the API root advertises no max_content_length; sending envelopes of at most %d bytes\n", pushDefaultEnvelope)
		limit = pushDefaultEnvelope
	}
	if p.maxEnvelope > 0 && p.maxEnvelope < limit {
		limit = p.maxEnvelope
	}
	if limit <= client.EnvelopeOverhead {
		return p.res, fmt.Errorf("envelope limit of %d bytes leaves no room for objects", limit)
	}
	p.res.Limit = limit
	col, err := p.c.Collection(ctx, p.rootURL, p.collection)
	if err != nil {
		return p.res, err
	}
	if !col.CanWrite {
		return p.res, fmt.Errorf("collection %s (%s): the server says these credentials may not write to it", p.collection, col.Title)
	}
	p.b = client.NewEnvelopeBuilder(limit)
	if p.guard != nil {
		if err := p.guarded(ctx, files); err != nil {
			return p.res, err
		}
	} else {
		for _, name := range files {
			if err := p.file(ctx, name); err != nil {
				return p.res, err
			}
		}
	}
	if err := p.flush(ctx); err != nil {
		return p.res, err
	}
	for len(p.pending) > 0 {
		if err := p.waitOldest(ctx); err != nil {
			return p.res, err
		}
	}
	return p.res, nil
}

func (p *pusher) openFile(name string) (io.ReadCloser, error) {
	if p.open != nil {
		return p.open(name)
	}
	if name == "-" {
		return io.NopCloser(stdin), nil
	}
	return os.Open(name)
}

// file streams one file's objects into envelopes. Only an error that
// must stop the whole push (the server refusing the credentials, the
// network gone after every retry) is returned; bad objects and
// unreadable files are reported and counted.
func (p *pusher) file(ctx context.Context, name string) error {
	f, err := p.openFile(name)
	if err != nil {
		p.res.Faults++
		fmt.Fprintf(p.warn, "failed: %v\n", err)
		return nil
	}
	defer f.Close()
	r := stix.NewReader(f)
	for {
		it, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			p.res.Faults++
			fmt.Fprintf(p.warn, "failed: %s: %v (objects after this point were not read)\n", name, err)
			return nil
		}
		p.res.Read++
		o, err := checkObject(it.Raw)
		if err != nil {
			var ve *stix.ValidationError
			if errors.As(err, &ve) {
				ve.Index = it.Index
			}
			p.reject(fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if err := p.add(ctx, o); err != nil {
			return err
		}
	}
}

// guarded sends files through the customer-data guard (see guardEngine
// for how references across batches are followed). Objects reach the
// envelopes in input order, each after its batch was decided.
func (p *pusher) guarded(ctx context.Context, files []string) error {
	p.guard.notify = func(pass int) {
		if pass == 2 {
			fmt.Fprintf(p.warn, "guard: the input is larger than one guard batch (%d objects); reading it again to follow references across batches\n", p.guard.maxObjs)
		}
	}
	_, err := p.guard.run(ctx, files, func(items []guardItem, res []guard.Result) error {
		for i := range items {
			p.res.Read++
			o, ok := p.beforeSend(&items[i], &res[i])
			if !ok {
				continue
			}
			if err := p.add(ctx, o); err != nil {
				return err
			}
		}
		return nil
	}, func(name string, err error) {
		p.res.Faults++
		p.say("failed: %s", p.safe(fmt.Sprintf("%s: %v (objects after this point were not read)", name, err)))
	})
	return err
}

// beforeSend decides what of one object is sent, given the guard's
// decision r on it: nothing when it is blocked (reported by position, id,
// rule kind and property path, never by the matched value), its redacted
// form when the guard redacted it, otherwise the object as read. What is
// sent must also be valid STIX. The object is validated only after the
// guard: a validation error may quote the object.
func (p *pusher) beforeSend(it *guardItem, r *guard.Result) (*stix.Object, bool) {
	raw := it.raw
	switch r.Action {
	case guard.Block:
		p.res.Blocked++
		p.res.Failed++
		p.res.Rejected++
		id := r.ID
		if id == "" {
			id = "no id"
		}
		p.reportAs("blocked", fmt.Sprintf("%s: objects[%d] (%s): %s; not sent (use fusion guard check to see which asset)", it.file, it.index, id, r.Reason()))
		return nil, false
	case guard.Redact:
		raw = r.Redacted
	}
	o, err := checkObject(raw)
	if err != nil {
		var ve *stix.ValidationError
		if errors.As(err, &ve) {
			ve.Index = it.index
		}
		p.reject(fmt.Sprintf("%s: %v", it.file, err))
		return nil, false
	}
	if r.Action == guard.Redact {
		p.res.Redacted++
		p.reportAs("redacted", fmt.Sprintf("%s: objects[%d] (%s): %s; sent with [REDACTED] in its place", it.file, it.index, r.ID, r.Reason()))
	}
	return o, true
}

// reject reports one object refused before sending.
func (p *pusher) reject(msg string) {
	p.res.Failed++
	p.res.Rejected++
	p.report(msg)
}

func (p *pusher) report(msg string) { p.reportAs("failed", msg) }

// reportAs describes one object (failed, blocked or redacted); after
// remoteMaxShown descriptions the rest are only counted.
func (p *pusher) reportAs(what, msg string) {
	p.shown++
	switch {
	case p.shown <= remoteMaxShown:
		p.say("%s: %s", what, p.safe(msg))
	case p.shown == remoteMaxShown+1:
		p.say("more objects failed, were blocked or redacted; only the first %d are described", remoteMaxShown)
	}
}

func (p *pusher) say(format string, args ...any) {
	fmt.Fprintf(p.warn, format+"\n", args...)
}

// safe returns msg, or with the guard on and msg naming a protected asset
// (a file name, a quote in a parse error or a server message can), a
// note that it was withheld: push output may end up in shared logs.
func (p *pusher) safe(msg string) string {
	if p.guard == nil || guardClean(p.guard.sc, msg) {
		return msg
	}
	return "(description withheld: it would show a protected asset; use fusion guard check to see which asset)"
}

// add puts one valid object into the current envelope, sending the
// envelope first when the object would take it over the limit.
func (p *pusher) add(ctx context.Context, o *stix.Object) error {
	it := pushItem{id: o.ID, raw: o.Raw}
	if v := o.Version(); !v.IsZero() {
		it.version = stix.FormatTimestamp(v)
	}
	ok, err := p.b.Add(o.Raw)
	if err != nil {
		p.reject(fmt.Sprintf("%s: %v", o.ID, err))
		return nil
	}
	if !ok {
		if err := p.flush(ctx); err != nil {
			return err
		}
		if ok, err = p.b.Add(o.Raw); !ok || err != nil {
			return fmt.Errorf("internal error: object %s does not fit an empty envelope", o.ID)
		}
	}
	p.batch = append(p.batch, it)
	return nil
}

// flush posts the current envelope, if it holds anything.
func (p *pusher) flush(ctx context.Context) error {
	if p.b.Len() == 0 {
		return nil
	}
	body, items := p.b.Bytes(), p.batch
	err := p.post(ctx, body, items)
	p.b.Reset()
	p.batch = nil
	return err
}

// post sends one envelope. A 413 (the server's limit is lower than it
// advertised) splits the envelope in two and sends each half; other
// refusals of the envelope as a whole fail its objects; errors that will
// fail every envelope (credentials, the network) stop the push.
func (p *pusher) post(ctx context.Context, body []byte, items []pushItem) error {
	st, err := p.c.AddObjects(ctx, p.rootURL, p.collection, body)
	if err != nil {
		switch code := client.StatusOf(err); {
		case code == http.StatusRequestEntityTooLarge && len(items) > 1:
			half := len(items) / 2
			for _, part := range [][]pushItem{items[:half], items[half:]} {
				b := client.NewEnvelopeBuilder(len(body))
				for _, it := range part {
					b.Add(it.raw)
				}
				if err := p.post(ctx, b.Bytes(), part); err != nil {
					return err
				}
			}
			return nil
		case code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge ||
			code == http.StatusUnsupportedMediaType || code == http.StatusUnprocessableEntity:
			p.res.Sent += len(items)
			for _, it := range items {
				p.res.Failed++
				p.report(fmt.Sprintf("%s%s: envelope refused: %v", it.id, versionText(it.version), err))
			}
			return nil
		default:
			return err
		}
	}
	p.res.Envelopes++
	p.res.Sent += len(items)
	if st.Complete() {
		p.account(st, items)
		return nil
	}
	p.pending = append(p.pending, pushPending{status: st, items: items})
	if len(p.pending) > pushMaxPending {
		return p.waitOldest(ctx)
	}
	return nil
}

// waitOldest polls the oldest pending status until it is complete (or
// the --wait time is over, which fails its objects as unknown).
func (p *pusher) waitOldest(ctx context.Context) error {
	pp := p.pending[0]
	p.pending = p.pending[1:]
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	st, err := p.c.WaitStatus(wctx, p.rootURL, pp.status, pp.status.ID, client.PollPolicy{})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if wctx.Err() == nil && client.StatusOf(err) == 0 {
			return err // the network, after every retry
		}
		n := len(pp.items)
		if st != nil {
			p.account(st, nil)
			n = st.PendingCount
		}
		p.res.Failed += n
		p.report(fmt.Sprintf("status %s: %d objects still pending: %v", pp.status.ID, n, err))
		return nil
	}
	p.account(st, pp.items)
	return nil
}

// account adds a complete status to the totals and reports its
// failures. items, when given, are the objects the envelope held: any
// the server's counts leave out are failed as unreported.
func (p *pusher) account(st *client.Status, items []pushItem) {
	p.res.Succeeded += st.SuccessCount
	p.res.Failed += st.FailureCount
	for _, f := range st.Failures {
		msg := f.Message
		if msg == "" {
			msg = "failed (no reason given)"
		}
		p.report(fmt.Sprintf("%s%s: %s", f.ID, versionText(f.Version), msg))
	}
	if missing := st.FailureCount - len(st.Failures); missing > 0 {
		p.report(fmt.Sprintf("status %s: %d more failures without details", st.ID, missing))
	}
	if items == nil {
		return
	}
	if gap := len(items) - st.SuccessCount - st.FailureCount; gap > 0 {
		p.res.Failed += gap
		p.report(fmt.Sprintf("status %s: the server reported on %d of %d objects", st.ID, st.SuccessCount+st.FailureCount, len(items)))
	}
}

func versionText(v string) string {
	if v == "" {
		return ""
	}
	return " (" + v + ")"
}
