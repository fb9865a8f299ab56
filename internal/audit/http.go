package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json"
	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/policy"
	"fusion/internal/store"
)

// HandlerOptions configure the HTTP API.
type HandlerOptions struct {
	// Caller returns the authenticated organisation of a request (the
	// server's auth middleware put it in the context); false means none,
	// and the request is refused with 401. Required.
	Caller func(ctx context.Context) (policy.Caller, bool)
	Logger *slog.Logger
	// MaxEntries caps the entries of one range response (default 1000),
	// MaxBytes their total size (default 8 MiB; a served entry names a
	// whole page of objects) and MaxScan the entries one range request
	// examines (default 20000); a response that stops early says where to
	// go on. One entry is always returned if one is found.
	MaxEntries int
	MaxBytes   int
	MaxScan    int64
}

// Handler serves the audit log's HTTP API. Every route is registered in
// Routes. Any authenticated organisation may use it; entries are shown
// only to hub admins and to the organisations they concern
// (Entry.Concerns): a hidden entry is answered like a missing one.
type Handler struct {
	l    *Log
	opts HandlerOptions
	log  *slog.Logger
}

// NewHandler returns the HTTP API over l.
func NewHandler(l *Log, opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1000
	}
	if opts.MaxScan <= 0 {
		opts.MaxScan = 20000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 8 << 20
	}
	return &Handler{l: l, opts: opts, log: opts.Logger}
}

// Routes registers the API on mux:
//
//	GET /api/v1/audit/checkpoint[?size=N]            the latest (or size-N) checkpoint, a signed note (text/plain)
//	GET /api/v1/audit/consistency?from=N&to=M        consistency proof from size N to size M (JSON)
//	GET /api/v1/audit/entries/{index}[?size=N]       one entry and its inclusion proof (JSON)
//	GET /api/v1/audit/entries?start=A[&end=B][&size=N][&proofs=true]
//	                                                 the entries in [A, B) the caller may see (JSON)
//
// size defaults to the latest checkpoint's. JSON field names and types
// are those of CheckpointJSON, ConsistencyJSON, EntryJSON and EntriesJSON.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/audit/checkpoint", h.wrap(h.checkpoint))
	mux.Handle("GET /api/v1/audit/consistency", h.wrap(h.consistency))
	mux.Handle("GET /api/v1/audit/entries/{index}", h.wrap(h.entry))
	mux.Handle("GET /api/v1/audit/entries", h.wrap(h.entries))
}

// ConsistencyJSON is the answer of /consistency.
type ConsistencyJSON struct {
	From  int64       `json:"from"`
	To    int64       `json:"to"`
	Proof []tlog.Hash `json:"proof"` // RFC 6962 section 2.1.2, each hash standard base64
}

// EntryJSON is one entry: its exact bytes (standard base64: the leaf of
// the tree is SHA-256(0x00 || entry)), and when asked for its inclusion
// proof in the tree of TreeSize entries.
type EntryJSON struct {
	Index int64       `json:"index"`
	Entry []byte      `json:"entry"`
	Proof []tlog.Hash `json:"proof,omitzero"` // RFC 6962 section 2.1.1
}

// EntryProofJSON is the answer of /entries/{index}: an entry, its proof
// and the signed checkpoint of the tree it is proved in.
type EntryProofJSON struct {
	EntryJSON
	TreeSize   int64  `json:"tree_size"`
	Checkpoint string `json:"checkpoint"`
}

// EntriesJSON is the answer of /entries: the visible entries in
// [Start, Next) in index order; Next is absent when the range was
// examined to its end.
type EntriesJSON struct {
	TreeSize   int64       `json:"tree_size"`
	Checkpoint string      `json:"checkpoint"`
	Start      int64       `json:"start"`
	Next       int64       `json:"next,omitzero"`
	Entries    []EntryJSON `json:"entries"`
	// Unreadable lists entries in the range that the tree covers but the
	// hub's storage cannot produce: evidence of damage or tampering, shown
	// (by index only) to everyone.
	Unreadable []int64 `json:"unreadable,omitzero"`
}

// apiError is an error with the status and message a client may see.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func (h *Handler) wrap(fn func(w http.ResponseWriter, r *http.Request, c policy.Caller) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.opts.Caller(r.Context())
		var err error
		if !ok {
			err = &apiError{http.StatusUnauthorized, "authentication required"}
		} else {
			err = fn(w, r, c)
		}
		if err == nil {
			return
		}
		var ae *apiError
		switch {
		case errors.As(err, &ae):
		case errors.Is(err, ErrNoCheckpoint):
			ae = &apiError{http.StatusNotFound, "the audit log has no checkpoint yet"}
		case errors.Is(err, ErrRange):
			ae = &apiError{http.StatusNotFound, "beyond the tree: " + err.Error()}
		case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
			return
		default:
			h.log.Error("audit API", "path", r.URL.Path, "err", err)
			ae = &apiError{http.StatusInternalServerError, "internal error"}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(ae.status)
		json.MarshalWrite(w, struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			HTTPStatus  string `json:"http_status"`
		}{http.StatusText(ae.status), ae.msg, strconv.Itoa(ae.status)})
	})
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.MarshalWrite(w, v)
}

// intParam reads a non-negative integer query parameter; def when absent.
func intParam(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("%s: %q is not a non-negative integer", name, s)
	}
	return n, nil
}

// treeAt returns the stored checkpoint of size (the latest when size is
// -1) as stored: checking it is the client's business, but one that does
// not verify with the hub's own key is logged.
func (h *Handler) treeAt(ctx context.Context, size int64) (store.Checkpoint, error) {
	var cp store.Checkpoint
	if size < 0 {
		var err error
		cp, err = h.l.st.LatestCheckpoint(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return cp, ErrNoCheckpoint
		}
		if err != nil {
			return cp, fmt.Errorf("latest checkpoint: %w", err)
		}
	} else {
		cps, err := h.l.st.Checkpoints(ctx, size, size)
		if err != nil {
			return cp, fmt.Errorf("checkpoint %d: %w", size, err)
		}
		if len(cps) == 0 {
			return cp, notFound("no checkpoint of size %d", size)
		}
		cp = cps[0]
	}
	if _, err := h.l.open(cp); err != nil {
		h.log.Error("audit API: serving a stored checkpoint that does not verify with this hub's key", "size", cp.Size, "err", err)
	}
	return cp, nil
}

func (h *Handler) checkpoint(w http.ResponseWriter, r *http.Request, _ policy.Caller) error {
	size, err := intParam(r, "size", -1)
	if err != nil {
		return err
	}
	cp, err := h.treeAt(r.Context(), size)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(cp.Note)
	return err
}

func (h *Handler) consistency(w http.ResponseWriter, r *http.Request, _ policy.Caller) error {
	from, err := intParam(r, "from", -1)
	if err != nil {
		return err
	}
	to, err := intParam(r, "to", -1)
	if err != nil {
		return err
	}
	if from < 1 || to < from {
		return badRequest("want 1 <= from <= to, have from=%d to=%d", from, to)
	}
	p, err := h.l.ProveConsistency(r.Context(), from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, ConsistencyJSON{From: from, To: to, Proof: p})
}

// visible reports whether c may see the entry.
func visible(c policy.Caller, data []byte) bool {
	if c.IsHubAdmin() {
		return true
	}
	e, err := ParseEntry(data)
	return err == nil && e.Concerns(c.Org.ID)
}

func (h *Handler) entry(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	idx, err := strconv.ParseInt(r.PathValue("index"), 10, 64)
	if err != nil || idx < 0 {
		return badRequest("entry index %q is not a non-negative integer", r.PathValue("index"))
	}
	size, err := intParam(r, "size", -1)
	if err != nil {
		return err
	}
	ctx := r.Context()
	cp, err := h.treeAt(ctx, size)
	if err != nil {
		return err
	}
	hidden := notFound("no entry %d that you may see in the tree of %d entries", idx, cp.Size)
	if idx >= cp.Size {
		return hidden
	}
	es, err := h.l.st.ReadLog(ctx, idx, idx+1)
	if err != nil {
		return fmt.Errorf("read entry %d: %w", idx, err)
	}
	if !visible(c, es[0]) {
		return hidden
	}
	p, err := h.l.ProveEntry(ctx, idx, cp.Size)
	if err != nil {
		return err
	}
	return writeJSON(w, EntryProofJSON{EntryJSON: EntryJSON{Index: idx, Entry: es[0], Proof: p},
		TreeSize: cp.Size, Checkpoint: string(cp.Note)})
}

func (h *Handler) entries(w http.ResponseWriter, r *http.Request, c policy.Caller) error {
	start, err := intParam(r, "start", 0)
	if err != nil {
		return err
	}
	size, err := intParam(r, "size", -1)
	if err != nil {
		return err
	}
	end, err := intParam(r, "end", -1)
	if err != nil {
		return err
	}
	proofs := false
	if s := r.URL.Query().Get("proofs"); s != "" {
		if proofs, err = strconv.ParseBool(s); err != nil {
			return badRequest("proofs: %q is not true or false", s)
		}
	}
	ctx := r.Context()
	cp, err := h.treeAt(ctx, size)
	if err != nil {
		return err
	}
	if end < 0 || end > cp.Size {
		end = cp.Size
	}
	out := EntriesJSON{TreeSize: cp.Size, Checkpoint: string(cp.Note), Start: start, Entries: []EntryJSON{}}
	// Entries are up to about 150 KB: read a few at a time, so that a
	// request holds little more than the MaxBytes it may send.
	const step = 64
	pos := start
	sent := 0 // entry bytes in out
	for pos < end && pos-start < h.opts.MaxScan && len(out.Entries) < h.opts.MaxEntries {
		b := min(end, pos+step, start+h.opts.MaxScan)
		es, err := h.l.st.ReadLog(ctx, pos, b)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// One by one, to say which entries are missing.
			es = make([][]byte, b-pos)
			var first error
			for i := range es {
				one, err := h.l.st.ReadLog(ctx, pos+int64(i), pos+int64(i)+1)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					first = cmp.Or(first, err)
					out.Unreadable = append(out.Unreadable, pos+int64(i))
					continue
				}
				es[i] = one[0]
			}
			if first != nil {
				h.log.Error("audit API: entries the tree covers cannot be read", "range", fmt.Sprintf("[%d, %d)", pos, b),
					"unreadable", len(out.Unreadable), "err", first)
			}
		}
		for i, e := range es {
			idx := pos + int64(i)
			if e == nil || !visible(c, e) {
				continue
			}
			ej := EntryJSON{Index: idx, Entry: e}
			if proofs {
				if ej.Proof, err = h.l.ProveEntry(ctx, idx, cp.Size); err != nil {
					return err
				}
			}
			out.Entries = append(out.Entries, ej)
			sent += len(e)
			if len(out.Entries) == h.opts.MaxEntries || sent >= h.opts.MaxBytes {
				pos = idx + 1
				goto done
			}
		}
		pos = b
	}
done:
	if pos < end {
		out.Next = pos
	}
	return writeJSON(w, out)
}
