// Package taxii is Fusion's TAXII 2.1 HTTP API (OASIS TAXII Version 2.1,
// OASIS Standard, 10 June 2021): server discovery (section 4.1), API roots
// (4.2), status (4.3), collections (5.1, 5.2), manifest (5.3), objects
// (5.4, 5.5), object (5.6, 5.7) and versions (5.8), with the filtering and
// pagination of section 3.4 and the error messages of section 3.6.1.
//
// Every route is registered in Routes. Handlers return errors; WriteError
// turns them into TAXII error messages. Authentication is not done here:
// the server's middleware puts a policy.Caller in the request context
// (ContextWithCaller) and this package decides, per collection, what that
// caller may do (its grants) and, per object version, what it may see
// (policy.CanRead).
package taxii

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// Config holds the server's TAXII settings. Zero values take defaults.
type Config struct {
	Title       string // discovery title; default "Fusion TAXII 2.1 server"
	Description string
	Contact     string
	// MaxPageSize caps limit (default 1000).
	MaxPageSize int
	// MaxContentLength is the largest POST body accepted, advertised in
	// the API root resource (default 100 MiB).
	MaxContentLength int64
	// BatchSize is how many posted objects are stored per transaction
	// (default 1000); it bounds the memory one POST holds beyond the
	// status details.
	BatchSize int
	// Validate applies the STIX 2.1 rules to a parsed object; nil means
	// only what stix.Parse checks.
	Validate func(*stix.Object) error
	// Guard, when set, screens every posted object before anything else
	// reads it (see Guard in post.go); nil: no guard.
	Guard Guard
	// Audit, when set, is the audit log every read response is recorded
	// in (one audit.Served call per response, see served in list.go);
	// nil: reads are not logged.
	Audit *audit.Log
	// PublicURL is the server's base URL as clients see it (scheme and
	// host, e.g. https://fusion.example.org), used in discovery. Empty:
	// derived from each request.
	PublicURL string
	Logger    *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Handler serves the TAXII API from a store.
type Handler struct {
	st  store.Store
	cfg Config
	log *slog.Logger
}

// New returns a TAXII handler over st.
func New(st store.Store, cfg Config) *Handler {
	if cfg.Title == "" {
		cfg.Title = "Fusion TAXII 2.1 server"
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 1000
	}
	if cfg.MaxContentLength <= 0 {
		cfg.MaxContentLength = 100 << 20
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{st: st, cfg: cfg, log: cfg.Logger}
}

// Routes registers every TAXII endpoint on mux. Paths end in a slash as
// in the specification; {$} makes each pattern match exactly that path.
// The other common methods on each path get a TAXII 405.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("GET /taxii2/{$}", h.wrap(h.discovery))                                                   // 4.1
	mux.Handle("GET /{root}/{$}", h.wrap(h.apiRoot))                                                     // 4.2
	mux.Handle("GET /{root}/status/{status}/{$}", h.wrap(h.status))                                      // 4.3
	mux.Handle("GET /{root}/collections/{$}", h.wrap(h.collections))                                     // 5.1
	mux.Handle("GET /{root}/collections/{coll}/{$}", h.wrap(h.collection))                               // 5.2
	mux.Handle("GET /{root}/collections/{coll}/manifest/{$}", h.wrap(h.manifest))                        // 5.3
	mux.Handle("GET /{root}/collections/{coll}/objects/{$}", h.wrap(h.getObjects))                       // 5.4
	mux.Handle("POST /{root}/collections/{coll}/objects/{$}", h.wrap(h.addObjects))                      // 5.5
	mux.Handle("GET /{root}/collections/{coll}/objects/{object}/{$}", h.wrap(h.getObject))               // 5.6
	mux.Handle("DELETE /{root}/collections/{coll}/objects/{object}/{$}", h.wrap(h.deleteObject))         // 5.7
	mux.Handle("GET /{root}/collections/{coll}/objects/{object}/versions/{$}", h.wrap(h.objectVersions)) // 5.8

	for path, allow := range map[string]string{
		"/taxii2/{$}":                                              "GET, HEAD",
		"/{root}/{$}":                                              "GET, HEAD",
		"/{root}/status/{status}/{$}":                              "GET, HEAD",
		"/{root}/collections/{$}":                                  "GET, HEAD",
		"/{root}/collections/{coll}/{$}":                           "GET, HEAD",
		"/{root}/collections/{coll}/manifest/{$}":                  "GET, HEAD",
		"/{root}/collections/{coll}/objects/{$}":                   "GET, HEAD, POST",
		"/{root}/collections/{coll}/objects/{object}/{$}":          "GET, HEAD, DELETE",
		"/{root}/collections/{coll}/objects/{object}/versions/{$}": "GET, HEAD",
	} {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if !strings.Contains(allow, m) {
				mux.Handle(m+" "+path, methodNotAllowed(h, allow))
			}
		}
	}
}

func methodNotAllowed(h *Handler, allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := Errorf(http.StatusMethodNotAllowed, "%s is not allowed here; use %s", r.Method, allow)
		e.Header = http.Header{"Allow": []string{allow}}
		WriteError(w, r, h.log, e)
	})
}

// wrap adapts a handler that returns an error: it checks Accept (every
// TAXII endpoint answers in application/taxii+json) and sends errors to
// WriteError.
func (h *Handler) wrap(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := checkAccept(r)
		if err == nil {
			err = fn(w, r)
		}
		if err != nil {
			WriteError(w, r, h.log, err)
		}
	})
}

type callerKey struct{}

// ContextWithCaller returns ctx carrying the authenticated caller.
func ContextWithCaller(ctx context.Context, c policy.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the authentication middleware stored.
func CallerFrom(ctx context.Context) (policy.Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(policy.Caller)
	return c, ok
}

func caller(r *http.Request) (policy.Caller, error) {
	c, ok := CallerFrom(r.Context())
	if !ok {
		return policy.Caller{}, Unauthorized("authentication required")
	}
	return c, nil
}

// roleRank orders roles: read < write < admin.
func roleRank(role string) int {
	switch role {
	case store.RoleRead:
		return 1
	case store.RoleWrite:
		return 2
	case store.RoleAdmin:
		return 3
	}
	return 0
}

// RoleAtLeast reports whether role includes want.
func RoleAtLeast(role, want string) bool {
	return roleRank(role) >= roleRank(want) && roleRank(want) > 0
}

// Access is what a caller may do with one collection.
type Access struct {
	Visible     bool // the collection shows up at all (any grant)
	Read, Write bool
}

// CollectionAccess combines the caller's role with its organisation's
// grant on c. A hub admin may do everything; anyone else needs a grant,
// and reading needs the read role, writing the write role.
func CollectionAccess(ctx context.Context, st store.Store, c policy.Caller, collection string) (Access, error) {
	if c.IsHubAdmin() {
		return Access{Visible: true, Read: true, Write: true}, nil
	}
	g, err := st.GetGrant(ctx, collection, c.Org.ID)
	if errors.Is(err, store.ErrNotFound) {
		return Access{}, nil
	}
	if err != nil {
		return Access{}, err
	}
	return Access{
		Visible: g.Read || g.Write,
		Read:    g.Read && RoleAtLeast(c.Role, store.RoleRead),
		Write:   g.Write && RoleAtLeast(c.Role, store.RoleWrite),
	}, nil
}

// need says what a handler requires of the collection.
type need int

const (
	needVisible need = iota
	needRead
	needWrite
)

// collectionFor resolves {root}/{coll} (an id or an alias) for the
// caller. A collection the caller has no grant on is a 404, as if it did
// not exist (section 5.2: "or the client does not have access"); one it
// sees but may not read or write as asked is a 403. Both refusals of an
// existing collection are denied entries in the audit log (path says
// which request; see denied).
func (h *Handler) collectionFor(r *http.Request, n need, path string) (policy.Caller, store.Collection, Access, error) {
	c, err := caller(r)
	if err != nil {
		return c, store.Collection{}, Access{}, err
	}
	root, ref := r.PathValue("root"), r.PathValue("coll")
	col, err := h.findCollection(r.Context(), root, ref)
	if err != nil {
		return c, col, Access{}, err
	}
	acc, err := CollectionAccess(r.Context(), h.st, c, col.ID)
	if err != nil {
		return c, col, acc, err
	}
	notFound := Errorf(http.StatusNotFound, "collection %q not found in API root %q", ref, root)
	switch {
	case !acc.Visible:
		h.denied(r.Context(), c, col.ID, path, audit.ReasonNoGrant, nil)
		return c, col, acc, notFound
	case n == needRead && !acc.Read:
		h.denied(r.Context(), c, col.ID, path, audit.ReasonNoRead, nil)
		return c, col, acc, Errorf(http.StatusForbidden, "%s may not read collection %q", c.Org.Name, ref)
	case n == needWrite && !acc.Write:
		h.denied(r.Context(), c, col.ID, path, audit.ReasonNoWrite, nil)
		return c, col, acc, Errorf(http.StatusForbidden, "%s may not write to collection %q", c.Org.Name, ref)
	}
	return c, col, acc, nil
}

// findCollection looks a collection up by id, then by alias, within an
// API root.
func (h *Handler) findCollection(ctx context.Context, root, ref string) (store.Collection, error) {
	notFound := Errorf(http.StatusNotFound, "collection %q not found in API root %q", ref, root)
	if stix.IsUUID(ref) {
		col, err := h.st.GetCollection(ctx, ref)
		if err == nil && col.APIRoot == root {
			return col, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return col, err
		}
	}
	cols, err := h.st.ListCollections(ctx, root)
	if err != nil {
		return store.Collection{}, err
	}
	for _, col := range cols {
		if col.Alias != "" && col.Alias == ref {
			return col, nil
		}
	}
	return store.Collection{}, notFound
}
