package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/guard"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/taxii/client"
)

func init() {
	register(&command{
		name:    "pull",
		summary: "fetch new objects of a remote TAXII 2.1 collection into the local store, resuming where the last pull stopped",
		usage:   "URL --collection ID [--user U --password P | --token T] [--into COLLECTION] [--source ORG] [--db URL | --data DIR] [--page-size N] [--reset]",
		run:     runPull,
	})
}

// remoteAuth are the credential flags shared by pull and push. Secrets
// may come from the environment so that they stay out of the process
// list and shell history.
type remoteAuth struct {
	user, password, token string
}

// The environment is read after parsing, not used as the flags'
// defaults, so that --help never prints a secret.
func (a *remoteAuth) register(fs *flag.FlagSet) {
	fs.StringVar(&a.token, "token", "", "bearer `TOKEN` for the remote server (env FUSION_REMOTE_TOKEN)")
	fs.StringVar(&a.user, "user", "", "HTTP Basic user `NAME` (on a Fusion server: the organisation name)")
	fs.StringVar(&a.password, "password", "", "HTTP Basic `PASSWORD` (on a Fusion server: a token) (env FUSION_REMOTE_PASSWORD)")
}

func (a *remoteAuth) options() (client.Options, error) {
	if a.token == "" && a.user == "" {
		a.token = os.Getenv("FUSION_REMOTE_TOKEN")
	}
	if a.password == "" && a.user != "" && a.token == "" {
		a.password = os.Getenv("FUSION_REMOTE_PASSWORD")
	}
	switch {
	case a.user != "" && a.token != "" && a.password == "":
		// --user with a token in --token: Basic with the token as password,
		// which is what a Fusion server expects from Basic clients.
		return client.Options{Username: a.user, Password: a.token}, nil
	case a.user != "":
		if strings.Contains(a.user, ":") {
			return client.Options{}, errors.New("--user: a Basic user name cannot contain ':'")
		}
		if a.password == "" {
			return client.Options{}, errors.New("--user needs --password (or FUSION_REMOTE_PASSWORD)")
		}
		return client.Options{Username: a.user, Password: a.password}, nil
	case a.token != "":
		return client.Options{Token: a.token}, nil
	}
	return client.Options{}, nil
}

// checkRemoteURL warns when credentials would cross the network in the
// clear: TAXII 2.1 section 1.6.1 requires HTTPS; plain HTTP is only for
// the loopback interface.
func checkRemoteURL(raw string, opts client.Options, stderr io.Writer) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want the remote API root, e.g. https://taxii.example.org/api1/", raw)
	}
	if u.Scheme == "http" && (opts.Token != "" || opts.Username != "") {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			fmt.Fprintf(stderr, "warning: sending credentials over plain HTTP to %s; use https\n", u.Host)
		}
	}
	return nil
}

func runPull(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var (
		auth     remoteAuth
		sf       storeFlags
		coll     = fs.String("collection", "", "remote collection `ID` (required)")
		into     = fs.String("into", "", "local collection `id or alias` to store into (default: the default collection)")
		source   = fs.String("source", "", "local organisation `name or id` recorded as the objects' source (default: none)")
		pageSize = fs.Int("page-size", 1000, "objects per request (the server may send fewer)")
		reset    = fs.Bool("reset", false, "forget the saved position and fetch the whole collection again (versions already stored stay unchanged)")
	)
	auth.register(fs)
	sf.register(fs)
	if err := parseRemoteArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *coll == "" {
		fs.Usage()
		return exitError{2}
	}
	if *pageSize < 1 || *pageSize > 100000 {
		return fmt.Errorf("--page-size %d: want 1 to 100000", *pageSize)
	}
	opts, err := auth.options()
	if err != nil {
		return err
	}
	rootURL := fs.Arg(0)
	if err := checkRemoteURL(rootURL, opts, stderr); err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	intoID, err := resolveCollection(ctx, st, *into)
	if err != nil {
		return fmt.Errorf("--into: %w", err)
	}
	sourceID, err := resolveSource(ctx, st, *source)
	if err != nil {
		return err
	}
	p := &puller{
		st: st, c: client.New(opts),
		rootURL: rootURL, collection: *coll, into: intoID, source: sourceID,
		pageSize: *pageSize, warn: stderr, reset: *reset,
	}
	if p.wc, err = newWriteCheck(ctx, st, intoID, sourceID); err != nil {
		return err
	}
	if sourceID != "" {
		// The source partner's protected-asset list screens what is
		// pulled on its behalf, as for fusion ingest --org.
		if p.guard, err = newIngestGuard(ctx, st, sourceID, intoID, true, "", stderr); err != nil {
			return err
		}
		if p.guard != nil {
			p.guard.via = "pull"
		}
	}
	if isTerminal(stderr) {
		p.warn = clearLine{stderr}
		p.progress = func(s pullStats) {
			fmt.Fprintf(stderr, "\r\x1b[Kpulling: %d pages, %d objects (%d new, %d unchanged, %d rejected)",
				s.Pages, s.Received, s.Added, s.Unchanged, s.Rejected)
		}
	}
	start := time.Now()
	stats, err := p.run(ctx)
	if p.progress != nil {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if p.guard != nil {
		p.guard.summary(stderr)
	}
	fmt.Fprintf(stdout, "pulled %d objects in %d pages from %s collection %s in %s: %d new, %d unchanged, %d rejected; next pull starts after %s\n",
		stats.Received, stats.Pages, rootURL, *coll, time.Since(start).Round(time.Millisecond),
		stats.Added, stats.Unchanged, stats.Rejected, cursorText(stats.Cursor))
	if err != nil {
		return err
	}
	if stats.Rejected > 0 {
		return exitError{1}
	}
	return nil
}

// clearLine erases the progress line before each message written.
type clearLine struct{ w io.Writer }

func (c clearLine) Write(b []byte) (int, error) {
	if _, err := io.WriteString(c.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

// parseRemoteArgs parses flags that may come before or after the
// positional arguments (fusion pull URL --collection C), as the usage
// lines show them.
func parseRemoteArgs(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if stopped := len(args) - len(rest); stopped > 0 && args[stopped-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func cursorText(t time.Time) string {
	if t.IsZero() {
		return "the beginning"
	}
	return stix.FormatTimestamp(t)
}

// puller copies a remote collection into a local one, page by page.
type puller struct {
	st         store.Store
	c          *client.Client
	rootURL    string
	collection string // remote collection id
	into       string // local collection id
	source     string // local organisation id, or ""
	pageSize   int
	reset      bool            // ignore the saved position
	guard      *ingestGuard    // the source partner's list; nil: nothing screened
	wc         *writeCheck     // the write-side decision
	warn       io.Writer       // rejected objects are described here
	progress   func(pullStats) // called after each page; may be nil
}

type pullStats struct {
	Pages, Received, Added, Unchanged, Rejected int
	Blocked                                     int       // of Rejected: blocked by the customer-data guard
	Cursor                                      time.Time // date_added of the last object stored
}

// pullCursor is the record kept per source: how far a pull has durably
// got. Only AddedAfter is read back; the rest says what it belongs to.
type pullCursor struct {
	URL        string `json:"url"`
	Collection string `json:"collection"`
	Into       string `json:"into"`
	AddedAfter string `json:"added_after"`
	Updated    string `json:"updated"`
}

// cursorKey names the record of one (remote API root, remote collection,
// local collection) triple. The URL is normalised to end in a slash.
func cursorKey(rootURL, collection, into string) string {
	h := sha256.Sum256([]byte(normRoot(rootURL) + "|" + collection + "|" + into))
	return "pull:" + hex.EncodeToString(h[:])
}

func normRoot(u string) string {
	if !strings.HasSuffix(u, "/") {
		return u + "/"
	}
	return u
}

func (p *puller) loadCursor(ctx context.Context) (time.Time, error) {
	if p.reset {
		return time.Time{}, nil
	}
	raw, err := p.st.GetRecord(ctx, cursorKey(p.rootURL, p.collection, p.into))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the pull position: %w", err)
	}
	var c pullCursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return time.Time{}, fmt.Errorf("pull position record is corrupt (%v); delete record %s to start over", err, cursorKey(p.rootURL, p.collection, p.into))
	}
	t, err := stix.ParseTimestamp(c.AddedAfter)
	if err != nil {
		return time.Time{}, fmt.Errorf("pull position record: added_after %q: %v", c.AddedAfter, err)
	}
	return t, nil
}

func (p *puller) saveCursor(ctx context.Context, t time.Time) error {
	raw, err := json.Marshal(pullCursor{
		URL: normRoot(p.rootURL), Collection: p.collection, Into: p.into,
		AddedAfter: stix.FormatTimestamp(t), Updated: stix.FormatTimestamp(time.Now()),
	})
	if err != nil {
		return err
	}
	if err := p.st.SetRecord(ctx, cursorKey(p.rootURL, p.collection, p.into), raw); err != nil {
		return fmt.Errorf("saving the pull position: %w", err)
	}
	return nil
}

// remoteMaxShown is how many rejected objects pull and push describe;
// the rest are counted.
const remoteMaxShown = 50

// maxEmptyPages bounds a server that keeps saying "more" without sending
// anything.
const maxEmptyPages = 3

// run pulls every object version added to the remote collection after
// the saved position. After each page is stored (store.Put is atomic)
// the position moves to the page's X-TAXII-Date-Added-Last, so an
// interrupted pull — killed, cancelled, or out of retries — resumes at
// the first page not yet stored: nothing is lost, and the page that was
// in flight is fetched again and found unchanged by Put, so nothing is
// stored twice. Within one run pages are followed with next; across runs
// the position is an added_after filter.
func (p *puller) run(ctx context.Context) (pullStats, error) {
	var s pullStats
	if p.wc == nil {
		wc, err := newWriteCheck(ctx, p.st, p.into, p.source)
		if err != nil {
			return s, err
		}
		p.wc = wc
	}
	cur, err := p.loadCursor(ctx)
	if err != nil {
		return s, err
	}
	s.Cursor = cur
	f := client.Filter{AddedAfter: cur, Limit: p.pageSize, Versions: []string{"all"}}
	empty := 0
	prevLast := cur
	for {
		env, err := p.c.GetObjects(ctx, p.rootURL, p.collection, f)
		if err != nil {
			return s, err
		}
		s.Pages++
		s.Received += len(env.Objects)
		reject := func(msg string) {
			s.Rejected++
			if s.Rejected <= remoteMaxShown {
				fmt.Fprintf(p.warn, "rejected: %s\n", msg)
			} else if s.Rejected == remoteMaxShown+1 {
				fmt.Fprintf(p.warn, "more objects rejected; only the first %d are described\n", remoteMaxShown)
			}
		}
		objs := make([]*stix.Object, 0, len(env.Objects))
		for i, raw := range env.Objects {
			o, err := checkObject(raw)
			if err != nil {
				msg := ""
				if p.guard != nil {
					// The rejection must not echo a protected value.
					if r := p.guard.sc.Scan(raw); r.Action != guard.Allow {
						msg = fmt.Sprintf("page %d object %d: %s", s.Pages, i, r.Reason())
					}
				}
				if msg == "" {
					msg = fmt.Sprintf("page %d object %d: %v", s.Pages, i, err)
				}
				reject(msg)
				continue
			}
			objs = append(objs, o)
		}
		if p.guard != nil && len(objs) > 0 {
			// Screened before anything of the page is stored; blocked
			// objects go to the source partner's quarantine.
			kept, n, err := p.guard.screen(ctx, fmt.Sprintf("page %d", s.Pages), objs, reject)
			s.Blocked += n
			if err != nil {
				return s, err
			}
			objs = kept
		}
		if len(objs) > 0 {
			// A version of another organisation's object is refused, unless
			// the hub narrows it (then it keeps that object's source).
			decs, err := p.wc.check(ctx, objs)
			if err != nil {
				return s, fmt.Errorf("page %d: %w", s.Pages, err)
			}
			bySource := map[string][]*stix.Object{}
			var order []string
			for i, d := range decs {
				if d.Err != nil {
					reject(fmt.Sprintf("page %d: %s: %v", s.Pages, objs[i].ID, d.Err))
					continue
				}
				if _, ok := bySource[d.Source]; !ok {
					order = append(order, d.Source)
				}
				bySource[d.Source] = append(bySource[d.Source], objs[i])
			}
			for _, src := range order {
				outs, err := p.st.Put(ctx, p.into, src, bySource[src])
				if err != nil {
					return s, fmt.Errorf("storing page %d: %w", s.Pages, err)
				}
				for _, o := range outs {
					if o.Added {
						s.Added++
					} else {
						s.Unchanged++
					}
				}
			}
		}
		last := env.DateAddedLast
		if last.IsZero() && len(env.Objects) > 0 {
			if last, err = p.lastDateAdded(ctx, env.Objects[len(env.Objects)-1]); err != nil {
				return s, err
			}
		}
		if env.More && len(env.Objects) > 0 && !last.After(prevLast) {
			// date_added only grows in a listing (section 3.4.1): a page
			// that does not move on would make this loop forever.
			return s, fmt.Errorf("server sent page %d ending at date_added %s, not after the previous page's %s; stopping", s.Pages, cursorText(last), cursorText(prevLast))
		}
		prevLast = last
		if last.After(s.Cursor) {
			if err := p.saveCursor(ctx, last); err != nil {
				return s, err
			}
			s.Cursor = last
		}
		if p.progress != nil {
			p.progress(s)
		}
		if !env.More {
			return s, nil
		}
		if len(env.Objects) == 0 {
			if empty++; empty >= maxEmptyPages {
				return s, fmt.Errorf("server said more objects follow but sent %d empty pages in a row", empty)
			}
		} else {
			empty = 0
		}
		if env.Next != "" {
			f.Next = env.Next
		} else {
			// No next token: page with added_after alone (section 3.5).
			if last.IsZero() {
				return s, errors.New("server said more objects follow but gave neither next nor a date_added to continue from")
			}
			f.Next, f.AddedAfter = "", last
		}
	}
}

// lastDateAdded finds the date_added of an object version through the
// manifest, for servers that send no X-TAXII-Date-Added-Last header.
func (p *puller) lastDateAdded(ctx context.Context, raw []byte) (time.Time, error) {
	o, err := stix.Parse(raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("no X-TAXII-Date-Added-Last header and the page's last object is unreadable (%v): cannot record how far the pull got", err)
	}
	m, err := p.c.Manifest(ctx, p.rootURL, p.collection, client.Filter{IDs: []string{o.ID}, Versions: []string{"all"}})
	if err != nil {
		return time.Time{}, fmt.Errorf("no X-TAXII-Date-Added-Last header; reading the manifest of %s: %w", o.ID, err)
	}
	var best time.Time
	for _, r := range m.Objects {
		if r.ID != o.ID {
			continue
		}
		if v := o.Version(); !v.IsZero() {
			rv, err := stix.ParseTimestamp(r.Version)
			if err != nil || !rv.Equal(v) {
				continue
			}
		}
		t, err := stix.ParseTimestamp(r.DateAdded)
		if err != nil {
			return time.Time{}, fmt.Errorf("manifest of %s: date_added %q: %v", o.ID, r.DateAdded, err)
		}
		if t.After(best) {
			best = t
		}
	}
	if best.IsZero() {
		return time.Time{}, fmt.Errorf("no X-TAXII-Date-Added-Last header and the manifest has no date_added for %s", o.ID)
	}
	return best, nil
}

// checkObject parses and validates one object received from or sent to
// another server.
func checkObject(raw []byte) (*stix.Object, error) {
	o, err := stix.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := stix.Validate(o); err != nil {
		return nil, err
	}
	return o, nil
}
