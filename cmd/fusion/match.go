package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/match"
	"fusion/internal/server"
)

// fusion match screens a member country's files against the hub's
// indicators through POST /api/v1/match (docs/screening.md): it reads
// values from the files as a stream, sends them in chunks, and prints the
// matches with the file and line they came from.

func init() {
	register(&command{
		name:    "match",
		summary: "screen log files and lists of IPs, domains, URLs, e-mail addresses and hashes against the hub's indicators",
		usage: "[--server URL] [--token T] [--column N | --field NAME | --extract] [--table] [--report-sightings] FILE...\n\n" +
			"Reads each FILE (\"-\" for standard input) as a stream: one value per line by default, the Nth\n" +
			"column of a CSV file with --column, a field of JSON lines with --field, or every IP address,\n" +
			"domain name, URL, e-mail address and hash found in any text (defanged forms too) with --extract.\n" +
			"Prints one JSON line per match (a table with --table) and a summary on standard error.\n" +
			"With --report-sightings the hub stores a STIX sighting of each matched indicator from your\n" +
			"organisation (TLP:AMBER; repeated reports add to the same sighting's count).\n" +
			"common flags: --server URL (env FUSION_SERVER, default http://127.0.0.1:8080), --token TOKEN (env FUSION_TOKEN)",
		run: runMatch,
	})
}

// matchLine is one match as fusion match prints it: where the value was
// found and what the hub said about it.
type matchLine struct {
	File       string               `json:"file"`
	Line       int64                `json:"line"`
	Type       string               `json:"type,omitempty"`
	Value      string               `json:"value,omitempty"`
	Kind       string               `json:"kind"`
	Matched    string               `json:"matched,omitempty"`
	Indicator  string               `json:"indicator"`
	Version    string               `json:"version"`
	Collection string               `json:"collection"`
	Name       string               `json:"name,omitempty"`
	ValidFrom  string               `json:"valid_from,omitempty"`
	ValidUntil string               `json:"valid_until,omitempty"`
	Source     string               `json:"source,omitempty"`
	Confidence *int                 `json:"confidence,omitempty"`
	Related    []server.RelatedJSON `json:"related,omitempty"`
	Sighting   string               `json:"sighting,omitempty"` // --report-sightings: the sighting reported
}

// origin is where a value sent to the hub came from.
type origin struct {
	file int // index into the file names
	line int64
}

// matchChunk is one request's worth of values.
type matchChunk struct {
	body   bytes.Buffer
	origin []origin
}

type matchOpts struct {
	column  int
	field   string
	extract bool
	table   bool
	chunk   int
	report  bool // --report-sightings
}

type matchStats struct {
	lines, observables, matches atomic.Int64

	sightMu   sync.Mutex
	sightings map[string]bool // sighting ids the hub reported (--report-sightings)
}

func runMatch(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	c := clientFlags(fs)
	var o matchOpts
	fs.IntVar(&o.column, "column", 0, "read the `N`th column (from 1) of CSV files")
	fs.StringVar(&o.field, "field", "", "read the field `NAME` of JSON lines (a dotted path for nested objects: src.ip)")
	fs.BoolVar(&o.extract, "extract", false, "extract every IP address, domain name, URL, e-mail address and hash from any text")
	fs.BoolVar(&o.table, "table", false, "print matches as a table instead of JSON lines")
	fs.IntVar(&o.chunk, "chunk", 10000, "values per request (at most 1,000,000)")
	fs.BoolVar(&o.report, "report-sightings", false, "report a STIX sighting of each matched indicator to the hub, from your organisation (aggregated per indicator)")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	modes := 0
	for _, on := range []bool{o.column != 0, o.field != "", o.extract} {
		if on {
			modes++
		}
	}
	switch {
	case len(files) == 0:
		fs.Usage()
		return exitError{2}
	case modes > 1:
		return errors.New("--column, --field and --extract exclude each other")
	case o.column < 0:
		return errors.New("--column counts from 1")
	case o.chunk < 1 || o.chunk > server.MaxMatchLines:
		return fmt.Errorf("--chunk must be from 1 to %d", server.MaxMatchLines)
	}
	if c.token == "" {
		c.token = os.Getenv("FUSION_TOKEN")
	}
	if c.token == "" {
		return errors.New("no token: pass --token or set FUSION_TOKEN (a token of your organisation with the read role)")
	}
	c.http.Timeout = 10 * time.Minute

	var st matchStats
	con := newConsole(stderr, &st.observables) // closed once, below
	start := time.Now()

	// The reader fills chunks; the sender posts them in order and prints
	// the matches, so reading overlaps with the network.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan *matchChunk, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		readErr <- readMatchFiles(ctx, files, o, &st, con, chunks)
	}()

	out := bufio.NewWriter(stdout)
	var tw *tabwriter.Writer
	if o.table {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE:LINE\tVALUE\tKIND\tINDICATOR\tNAME\tSOURCE")
	}
	var sendErr error
	for ch := range chunks {
		if sendErr != nil {
			continue // drain
		}
		if sendErr = c.screen(ctx, ch, files, o.report, &st, out, tw); sendErr != nil {
			cancel()
		}
	}
	if tw != nil {
		tw.Flush()
	}
	out.Flush()
	con.close()
	if err := <-readErr; err != nil && sendErr == nil && !errors.Is(err, context.Canceled) {
		sendErr = err
	}
	d := time.Since(start)
	fmt.Fprintf(stderr, "%d lines read, %d observables, %d matches in %.1fs (%.0f observables/s)\n",
		st.lines.Load(), st.observables.Load(), st.matches.Load(), d.Seconds(), rate(st.observables.Load(), d))
	if o.report {
		fmt.Fprintf(stderr, "%d sightings reported to the hub (one per matched indicator, aggregated there)\n", len(st.sightings))
	}
	if sendErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return sendErr
}

// readMatchFiles reads the values of every file into chunks.
func readMatchFiles(ctx context.Context, files []string, o matchOpts, st *matchStats, con *console, chunks chan<- *matchChunk) error {
	cur := &matchChunk{}
	emit := func(fi int, line int64, value string) error {
		value = strings.TrimSpace(value)
		if value == "" || strings.ContainsAny(value, "\r\n") {
			return nil
		}
		cur.body.WriteString(value)
		cur.body.WriteByte('\n')
		cur.origin = append(cur.origin, origin{fi, line})
		st.observables.Add(1)
		if len(cur.origin) >= o.chunk {
			select {
			case chunks <- cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			cur = &matchChunk{}
		}
		return nil
	}
	for fi, name := range files {
		if err := readMatchFile(ctx, fi, name, o, st, con, emit); err != nil {
			return err
		}
	}
	if len(cur.origin) > 0 {
		select {
		case chunks <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// countingReader counts the bytes read for the progress bar.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// maxMatchLine bounds one input line; longer lines are cut.
const maxMatchLine = 1 << 20

func readMatchFile(ctx context.Context, fi int, name string, o matchOpts, st *matchStats, con *console, emit func(int, int64, string) error) error {
	var r io.Reader = os.Stdin
	size := int64(-1)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			size = info.Size()
		}
		r = f
	}
	var read atomic.Int64
	con.setFile(name, size, &read)
	r = countingReader{r, &read}

	if o.column > 0 {
		cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		cr.ReuseRecord = true
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			st.lines.Add(1)
			line, _ := cr.FieldPos(0)
			if o.column <= len(rec) {
				if err := emit(fi, int64(line), rec[o.column-1]); err != nil {
					return err
				}
			}
		}
	}

	br := bufio.NewReaderSize(r, 1<<16)
	var ex match.Extractor
	var obs []match.Observable
	var long []byte
	for n := int64(1); ; n++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it up to maxMatchLine, skip the rest.
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				if len(long) < maxMatchLine {
					long = append(long, line[:min(len(line), maxMatchLine-len(long))]...)
				}
			}
			line = long
		}
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		st.lines.Add(1)
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case o.extract:
			obs = ex.Extract(line, obs[:0])
			for _, ob := range obs {
				if e := emit(fi, n, ob.Value); e != nil {
					return e
				}
			}
		case o.field != "":
			if v, ok := jsonField(line, o.field); ok {
				if e := emit(fi, n, v); e != nil {
					return e
				}
			}
		default:
			if e := emit(fi, n, string(line)); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

// jsonField returns the string (or number) at a dotted path in a JSON
// object; ok is false when the line is not an object or has no such
// field.
func jsonField(line []byte, path string) (string, bool) {
	var obj map[string]any
	if json.Unmarshal(line, &obj, json.RejectUnknownMembers(false)) != nil {
		return "", false
	}
	var v any = obj
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[k]; !ok {
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// screen posts one chunk and prints its matches.
func (c *adminClient) screen(ctx context.Context, ch *matchChunk, files []string, report bool, st *matchStats, out *bufio.Writer, tw *tabwriter.Writer) error {
	var res *http.Response
	url := strings.TrimRight(c.server, "/") + "/api/v1/match"
	if report {
		url += "?report_sightings=true"
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(ch.body.Bytes()))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		res, err = c.http.Do(req)
		if err != nil {
			return err
		}
		if (res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusServiceUnavailable) || attempt >= 20 {
			break
		}
		wait := time.Second
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		res.Body.Close()
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		var e struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		if json.Unmarshal(b, &e, json.RejectUnknownMembers(false)) == nil && e.Title != "" {
			return fmt.Errorf("POST /api/v1/match: %d %s: %s", res.StatusCode, e.Title, e.Description)
		}
		return fmt.Errorf("POST /api/v1/match: %s", res.Status)
	}
	dec := jsontext.NewDecoder(res.Body)
	enc := jsontext.NewEncoder(out, jsontext.EscapeForHTML(false))
	for {
		var m server.MatchJSON
		if err := json.UnmarshalDecode(dec, &m, json.RejectUnknownMembers(false)); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("POST /api/v1/match: reading the answer: %w", err)
		}
		if m.Input < 0 || m.Input >= len(ch.origin) {
			return fmt.Errorf("POST /api/v1/match: a match for input %d of %d", m.Input, len(ch.origin))
		}
		o := ch.origin[m.Input]
		st.matches.Add(1)
		if m.Sighting != "" {
			st.sightMu.Lock()
			if st.sightings == nil {
				st.sightings = map[string]bool{}
			}
			st.sightings[m.Sighting] = true
			st.sightMu.Unlock()
		}
		l := matchLine{File: files[o.file], Line: o.line, Type: m.Type, Value: m.Value, Kind: m.Kind, Matched: m.Matched,
			Indicator: m.Indicator, Version: m.Version, Collection: m.Collection, Name: m.Name, ValidFrom: m.ValidFrom,
			ValidUntil: m.ValidUntil, Source: m.Source, Confidence: m.Confidence, Related: m.Related, Sighting: m.Sighting}
		if tw != nil {
			v := l.Value
			if l.Matched != "" {
				v += " (in " + l.Matched + ")"
			}
			fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\t%s\n", l.File, l.Line, v, l.Kind, l.Indicator, l.Name, l.Source)
			continue
		}
		if err := json.MarshalEncode(enc, &l); err != nil {
			return err
		}
	}
}
