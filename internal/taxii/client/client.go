// Package client is a TAXII 2.1 client (OASIS TAXII Version 2.1, OASIS
// Standard, 10 June 2021): server discovery (section 4.1), API roots
// (4.2), status (4.3), collections (5.1, 5.2), objects (5.3–5.5),
// manifests (5.6), object versions (5.7, 5.8) and object deletion (5.7),
// with the filters of section 3.4 and the pagination of section 3.5.
//
// It speaks exactly the media types of section 1.6.8, authenticates with
// a bearer token or HTTP Basic, turns TAXII error messages (section
// 3.6.1) into *Error, retries network failures, 429 and 5xx answers with
// exponential backoff and jitter (honouring Retry-After), and reads
// response bodies as bounded streams. Fusion's `pull` and `push`
// commands are built on it; it works against any TAXII 2.1 server.
//
// Every method takes URLs as given: a discovery URL (…/taxii2/) or an API
// root URL (…/api1/), with or without the trailing slash.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configure a Client. The zero value works: no authentication,
// http.DefaultTransport, DefaultRetry, DefaultMaxResponseBytes.
type Options struct {
	// HTTPClient sends the requests; nil means a client with
	// http.DefaultTransport and no overall timeout (AttemptTimeout bounds
	// each try instead).
	HTTPClient *http.Client

	// Token, when not empty, is sent as "Authorization: Bearer TOKEN".
	Token string
	// Username and Password, when Token is empty and Username is not,
	// are sent with HTTP Basic authentication.
	Username, Password string

	Retry Retry

	// MaxResponseBytes bounds every response body; a larger one fails
	// with ErrTooLarge. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64

	// AttemptTimeout bounds one try, from sending the request to the end
	// of reading the response. Default 5 minutes.
	AttemptTimeout time.Duration

	// UserAgent is sent in the User-Agent header; default "fusion-taxii-client".
	UserAgent string
}

// DefaultMaxResponseBytes is the default bound on one response body:
// enough for a page of 1000 objects of 256 KiB each.
const DefaultMaxResponseBytes = 256 << 20

// Client is a TAXII 2.1 client. It is safe for concurrent use.
type Client struct {
	hc             *http.Client
	token          string
	user, password string
	basic          bool
	retry          Retry
	maxBody        int64
	attemptTimeout time.Duration
	userAgent      string

	// sleep waits d or until ctx is done; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
	rnd   func() float64
}

// New returns a Client configured by opts.
func New(opts Options) *Client {
	c := &Client{
		hc:             opts.HTTPClient,
		token:          opts.Token,
		user:           opts.Username,
		password:       opts.Password,
		basic:          opts.Token == "" && opts.Username != "",
		retry:          opts.Retry.withDefaults(),
		maxBody:        opts.MaxResponseBytes,
		attemptTimeout: opts.AttemptTimeout,
		userAgent:      opts.UserAgent,
		sleep:          sleepCtx,
		rnd:            jitter,
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.attemptTimeout <= 0 {
		c.attemptTimeout = 5 * time.Minute
	}
	if c.userAgent == "" {
		c.userAgent = "fusion-taxii-client"
	}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Filter holds the URL filter parameters of TAXII 2.1 section 3.4.
// Zero fields are not sent. Several values in one slice are sent
// comma-separated and mean OR (section 3.4.2).
type Filter struct {
	AddedAfter   time.Time // added_after
	Limit        int       // limit; 0 leaves the page size to the server
	Next         string    // next, from the previous page
	IDs          []string  // match[id]
	Types        []string  // match[type]
	Versions     []string  // match[version]: "first", "last", "all" or timestamps
	SpecVersions []string  // match[spec_version]
}

func (f Filter) values() url.Values {
	q := url.Values{}
	if !f.AddedAfter.IsZero() {
		q.Set("added_after", formatTimestamp(f.AddedAfter))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if f.Next != "" {
		q.Set("next", f.Next)
	}
	set := func(k string, v []string) {
		if len(v) > 0 {
			q.Set(k, strings.Join(v, ","))
		}
	}
	set("match[id]", f.IDs)
	set("match[type]", f.Types)
	set("match[version]", f.Versions)
	set("match[spec_version]", f.SpecVersions)
	return q
}

// formatTimestamp writes t as a STIX/TAXII timestamp with as many
// fractional digits as it carries (at least milliseconds).
func formatTimestamp(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	switch {
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	default:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
}

// baseURL parses a discovery or API root URL and gives it a trailing
// slash, as section 4 writes every endpoint.
func baseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %v", truncate(raw, 200), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("bad URL %q: want an absolute http or https URL", truncate(raw, 200))
	}
	if u.User != nil {
		return nil, fmt.Errorf("bad URL %q: put credentials in the options, not the URL", u.Redacted())
	}
	u.RawQuery, u.Fragment = "", ""
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// endpoint joins an API root URL and path segments (each escaped) with a
// trailing slash, and adds the query.
func endpoint(root string, q url.Values, segments ...string) (string, error) {
	u, err := baseURL(root)
	if err != nil {
		return "", err
	}
	var p strings.Builder
	p.WriteString(u.EscapedPath())
	for _, s := range segments {
		if s == "" {
			return "", errors.New("empty path segment (missing collection or object id?)")
		}
		p.WriteString(url.PathEscape(s))
		p.WriteByte('/')
	}
	out := u.Scheme + "://" + u.Host + p.String()
	if len(q) > 0 {
		out += "?" + q.Encode()
	}
	return out, nil
}

// call is one HTTP exchange, tried up to Retry.Attempts times.
type call struct {
	method string
	url    string
	body   []byte // request body; nil for none
	ok     int    // the success status (200, or 202 for POST objects)
	// decode reads a successful response. It must not keep resp.Body.
	decode func(resp *http.Response, body io.Reader) error
}

// do runs c with retries. Errors name the request; an *Error from the
// last try is returned wrapped, so errors.As finds it.
func (c *Client) do(ctx context.Context, cl call) error {
	var err error
	for try := 1; ; try++ {
		var wait time.Duration
		var retry bool
		err, retry, wait = c.once(ctx, cl)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", cl.method, cl.url, ctx.Err())
		}
		if !retry || try >= c.retry.Attempts {
			if try > 1 {
				return fmt.Errorf("after %d tries: %w", try, err)
			}
			return err
		}
		if wait > c.retry.MaxRetryAfter {
			return fmt.Errorf("server asked to retry after %s, longer than the %s this client waits: %w", wait, c.retry.MaxRetryAfter, err)
		}
		if d := c.retry.delay(try+1, c.rnd); d > wait {
			wait = d
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s %s: %w (while waiting to retry after: %v)", cl.method, cl.url, serr, err)
		}
	}
}

// once makes one try. retry reports whether another try may succeed;
// wait is the server's Retry-After, if any.
func (c *Client) once(ctx context.Context, cl call) (err error, retry bool, wait time.Duration) {
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, cl.url, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", cl.method, cl.url, err), false, 0
	}
	req.Header.Set("Accept", MediaTypeTAXII)
	if cl.body != nil {
		req.Header.Set("Content-Type", MediaTypeTAXII)
	}
	req.Header.Set("User-Agent", c.userAgent)
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.basic:
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", cl.method, cl.url, unwrapURLError(err)), transient(ctx, err), 0
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode != cl.ok {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := decodeError(cl.method, cl.url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return e, retryableStatus(resp.StatusCode), e.RetryAfter
	}
	if cl.decode == nil {
		return nil, false, 0
	}
	if err := checkTAXIIResponse(resp.Header.Get("Content-Type")); err != nil {
		return fmt.Errorf("%s %s: %w", cl.method, cl.url, err), false, 0
	}
	if err := cl.decode(resp, newLimitReader(resp.Body, c.maxBody)); err != nil {
		return fmt.Errorf("%s %s: %w", cl.method, cl.url, err), transient(ctx, err), 0
	}
	return nil, false, 0
}

// transient reports whether err is a failure of the network or of the
// connection (reset, refused, truncated body, timeout of one try) rather
// than of the request or the answer itself.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, ErrTooLarge) {
		return false
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var tv *tls.CertificateVerificationError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &tv) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Discovery reads the server discovery resource at discoveryURL
// (e.g. https://host/taxii2/), section 4.1.
func (c *Client) Discovery(ctx context.Context, discoveryURL string) (*Discovery, error) {
	u, err := baseURL(discoveryURL)
	if err != nil {
		return nil, err
	}
	var d Discovery
	err = c.do(ctx, call{method: http.MethodGet, url: u.String(), ok: http.StatusOK,
		decode: func(_ *http.Response, r io.Reader) error { return decodeJSON(r, "discovery", &d) }})
	if err != nil {
		return nil, err
	}
	resolve := func(s string) (string, error) {
		ref, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("discovery: bad API root URL %q: %v", truncate(s, 200), err)
		}
		return u.ResolveReference(ref).String(), nil
	}
	for i, r := range d.APIRoots {
		if d.APIRoots[i], err = resolve(r); err != nil {
			return nil, err
		}
	}
	if d.Default != "" {
		if d.Default, err = resolve(d.Default); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// APIRoot reads the API root resource at rootURL, section 4.2.
func (c *Client) APIRoot(ctx context.Context, rootURL string) (*APIRoot, error) {
	u, err := endpoint(rootURL, nil)
	if err != nil {
		return nil, err
	}
	var a APIRoot
	err = c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(_ *http.Response, r io.Reader) error { return decodeJSON(r, "API root", &a) }})
	if err != nil {
		return nil, err
	}
	if a.MaxContentLength < 0 {
		return nil, fmt.Errorf("GET %s: API root: negative max_content_length %d", u, a.MaxContentLength)
	}
	return &a, nil
}

// Collections lists the API root's collections the caller can see,
// section 5.1. A server with none may answer with an empty resource.
func (c *Client) Collections(ctx context.Context, rootURL string) ([]Collection, error) {
	u, err := endpoint(rootURL, nil, "collections")
	if err != nil {
		return nil, err
	}
	var list struct {
		Collections []Collection `json:"collections"`
	}
	err = c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(_ *http.Response, r io.Reader) error { return decodeJSON(r, "collections", &list) }})
	return list.Collections, err
}

// Collection reads one collection resource, section 5.2.
func (c *Client) Collection(ctx context.Context, rootURL, id string) (*Collection, error) {
	u, err := endpoint(rootURL, nil, "collections", id)
	if err != nil {
		return nil, err
	}
	var col Collection
	err = c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(_ *http.Response, r io.Reader) error { return decodeJSON(r, "collection", &col) }})
	if err != nil {
		return nil, err
	}
	return &col, nil
}

// GetObjects reads one page of a collection's objects, section 5.3.
// Filters: added_after, limit, next, match[id|type|version|spec_version].
// The page is streamed from the connection into Envelope.Objects; follow
// Envelope.Next (with the same filter) while Envelope.More.
func (c *Client) GetObjects(ctx context.Context, rootURL, collectionID string, f Filter) (*Envelope, error) {
	u, err := endpoint(rootURL, f.values(), "collections", collectionID, "objects")
	if err != nil {
		return nil, err
	}
	return c.getEnvelope(ctx, u)
}

// GetObject reads the versions of one object, section 5.5. Filters:
// added_after, limit, next, match[version], match[spec_version]; without
// match[version] the server returns the last version.
func (c *Client) GetObject(ctx context.Context, rootURL, collectionID, objectID string, f Filter) (*Envelope, error) {
	u, err := endpoint(rootURL, f.values(), "collections", collectionID, "objects", objectID)
	if err != nil {
		return nil, err
	}
	return c.getEnvelope(ctx, u)
}

func (c *Client) getEnvelope(ctx context.Context, u string) (*Envelope, error) {
	var env *Envelope
	err := c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(resp *http.Response, r io.Reader) error {
			e, err := decodeEnvelope(r)
			if err != nil {
				return err
			}
			if e.DateAddedFirst, e.DateAddedLast, err = dateHeaders(resp.Header); err != nil {
				return err
			}
			env = e
			return nil
		}})
	return env, err
}

func dateHeaders(h http.Header) (first, last time.Time, err error) {
	if first, err = parseDateAdded("X-TAXII-Date-Added-First", h.Get("X-TAXII-Date-Added-First")); err != nil {
		return
	}
	last, err = parseDateAdded("X-TAXII-Date-Added-Last", h.Get("X-TAXII-Date-Added-Last"))
	return
}

// Manifest reads one page of a collection's manifest, section 5.6, with
// the same filters as GetObjects.
func (c *Client) Manifest(ctx context.Context, rootURL, collectionID string, f Filter) (*Manifest, error) {
	u, err := endpoint(rootURL, f.values(), "collections", collectionID, "manifest")
	if err != nil {
		return nil, err
	}
	var m Manifest
	err = c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(resp *http.Response, r io.Reader) error {
			m = Manifest{}
			if err := decodeJSON(r, "manifest", &m); err != nil {
				return err
			}
			var err error
			m.DateAddedFirst, m.DateAddedLast, err = dateHeaders(resp.Header)
			return err
		}})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// Versions lists the versions of one object, section 5.8. Filters:
// added_after, limit, next, match[spec_version].
func (c *Client) Versions(ctx context.Context, rootURL, collectionID, objectID string, f Filter) (*Versions, error) {
	u, err := endpoint(rootURL, f.values(), "collections", collectionID, "objects", objectID, "versions")
	if err != nil {
		return nil, err
	}
	var v Versions
	err = c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(resp *http.Response, r io.Reader) error {
			v = Versions{}
			if err := decodeJSON(r, "versions", &v); err != nil {
				return err
			}
			var err error
			v.DateAddedFirst, v.DateAddedLast, err = dateHeaders(resp.Header)
			return err
		}})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// DeleteObject deletes versions of one object, section 5.7. Filters:
// match[version], match[spec_version]; without them every version goes.
// A retried DELETE whose first try did reach the server answers 404;
// the caller decides whether that is an error.
func (c *Client) DeleteObject(ctx context.Context, rootURL, collectionID, objectID string, f Filter) error {
	q := url.Values{}
	if len(f.Versions) > 0 {
		q.Set("match[version]", strings.Join(f.Versions, ","))
	}
	if len(f.SpecVersions) > 0 {
		q.Set("match[spec_version]", strings.Join(f.SpecVersions, ","))
	}
	u, err := endpoint(rootURL, q, "collections", collectionID, "objects", objectID)
	if err != nil {
		return err
	}
	return c.do(ctx, call{method: http.MethodDelete, url: u, ok: http.StatusOK})
}

// AddObjects posts an envelope (section 5.4) and returns the status
// resource of the 202 answer. envelope must be a complete envelope
// ({"objects":[…]}), no larger than the API root's max_content_length;
// EnvelopeBuilder makes such envelopes. The request is retried on
// network failures, 429 and 5xx: adding an object version the server
// already holds does not add it twice (section 5.4).
func (c *Client) AddObjects(ctx context.Context, rootURL, collectionID string, envelope []byte) (*Status, error) {
	u, err := endpoint(rootURL, nil, "collections", collectionID, "objects")
	if err != nil {
		return nil, err
	}
	if envelope == nil {
		envelope = []byte{}
	}
	var st Status
	err = c.do(ctx, call{method: http.MethodPost, url: u, body: envelope, ok: http.StatusAccepted,
		decode: func(_ *http.Response, r io.Reader) error {
			st = Status{}
			if err := decodeJSON(r, "status", &st); err != nil {
				return err
			}
			return st.check()
		}})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Status reads a status resource, section 4.3.
func (c *Client) Status(ctx context.Context, rootURL, statusID string) (*Status, error) {
	u, err := endpoint(rootURL, nil, "status", statusID)
	if err != nil {
		return nil, err
	}
	var st Status
	err = c.do(ctx, call{method: http.MethodGet, url: u, ok: http.StatusOK,
		decode: func(_ *http.Response, r io.Reader) error {
			st = Status{}
			if err := decodeJSON(r, "status", &st); err != nil {
				return err
			}
			return st.check()
		}})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// PollPolicy spaces the polls of WaitStatus: the first after First, each
// next one twice as late, up to Max, each with jitter.
type PollPolicy struct {
	First time.Duration
	Max   time.Duration
}

// DefaultPoll is used for the zero fields of a PollPolicy.
var DefaultPoll = PollPolicy{First: 100 * time.Millisecond, Max: 5 * time.Second}

// WaitStatus polls a status resource until it is complete, starting from
// st (a status already in hand, e.g. from AddObjects; nil to fetch it
// first), and returns the complete status. It stops with ctx: give ctx a
// deadline to bound the wait.
func (c *Client) WaitStatus(ctx context.Context, rootURL string, st *Status, statusID string, p PollPolicy) (*Status, error) {
	if p.First <= 0 {
		p.First = DefaultPoll.First
	}
	if p.Max < p.First {
		p.Max = max(DefaultPoll.Max, p.First)
	}
	r := Retry{BaseDelay: p.First, MaxDelay: p.Max}
	for n := 2; st == nil || !st.Complete(); n++ {
		if st != nil {
			if err := c.sleep(ctx, r.delay(n, c.rnd)); err != nil {
				return st, fmt.Errorf("waiting for status %s: %w", statusID, err)
			}
		}
		next, err := c.Status(ctx, rootURL, statusID)
		if err != nil {
			return st, err
		}
		st = next
	}
	return st, nil
}
