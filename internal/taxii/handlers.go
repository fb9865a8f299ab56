package taxii

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// Resources of sections 4 and 5, as sent.

type discoveryResource struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

type apiRootResource struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

type collectionResource struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

type collectionsResource struct {
	Collections []collectionResource `json:"collections,omitempty"`
}

type manifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type,omitempty"`
}

type manifestResource struct {
	More    bool             `json:"more"`
	Next    string           `json:"next,omitempty"`
	Objects []manifestRecord `json:"objects,omitempty"`
}

type versionsResource struct {
	More     bool     `json:"more"`
	Next     string   `json:"next,omitempty"`
	Versions []string `json:"versions,omitempty"`
}

// writeJSON sends a TAXII resource with status code.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", MediaTypeTAXII)
	w.WriteHeader(code)
	w.Write(b) // a failed write means the client went away; nothing to tell it
	return nil
}

// baseURL is the scheme and host clients reach this server at.
func (h *Handler) baseURL(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return strings.TrimRight(h.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// apiRoots lists the API roots: the default one and every root that holds
// a collection.
func (h *Handler) apiRoots(r *http.Request) ([]string, error) {
	cols, err := h.st.ListCollections(r.Context(), "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{store.DefaultAPIRoot: true}
	roots := []string{store.DefaultAPIRoot}
	for _, c := range cols {
		if !seen[c.APIRoot] {
			seen[c.APIRoot] = true
			roots = append(roots, c.APIRoot)
		}
	}
	sort.Strings(roots[1:])
	return roots, nil
}

func (h *Handler) discovery(w http.ResponseWriter, r *http.Request) error {
	if _, err := caller(r); err != nil {
		return err
	}
	roots, err := h.apiRoots(r)
	if err != nil {
		return err
	}
	base := h.baseURL(r)
	d := discoveryResource{Title: h.cfg.Title, Description: h.cfg.Description, Contact: h.cfg.Contact,
		Default: base + "/" + store.DefaultAPIRoot + "/"}
	for _, root := range roots {
		d.APIRoots = append(d.APIRoots, base+"/"+url.PathEscape(root)+"/")
	}
	return writeJSON(w, http.StatusOK, d)
}

// checkRoot is a 404 unless root is an API root of this server.
func (h *Handler) checkRoot(r *http.Request) error {
	root := r.PathValue("root")
	if root == store.DefaultAPIRoot {
		return nil
	}
	roots, err := h.apiRoots(r)
	if err != nil {
		return err
	}
	for _, x := range roots {
		if x == root {
			return nil
		}
	}
	return Errorf(http.StatusNotFound, "API root %q not found", root)
}

func (h *Handler) apiRoot(w http.ResponseWriter, r *http.Request) error {
	if _, err := caller(r); err != nil {
		return err
	}
	if err := h.checkRoot(r); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiRootResource{
		Title:            h.cfg.Title + ": " + r.PathValue("root"),
		Versions:         []string{MediaTypeTAXII},
		MaxContentLength: h.cfg.MaxContentLength,
	})
}

func (h *Handler) collections(w http.ResponseWriter, r *http.Request) error {
	c, err := caller(r)
	if err != nil {
		return err
	}
	if err := h.checkRoot(r); err != nil {
		return err
	}
	cols, err := h.st.ListCollections(r.Context(), r.PathValue("root"))
	if err != nil {
		return err
	}
	var res collectionsResource
	for _, col := range cols {
		acc, err := CollectionAccess(r.Context(), h.st, c, col.ID)
		if err != nil {
			return err
		}
		if acc.Visible {
			res.Collections = append(res.Collections, collectionJSON(col, acc))
		}
	}
	return writeJSON(w, http.StatusOK, res)
}

func collectionJSON(c store.Collection, acc Access) collectionResource {
	mt := c.MediaTypes
	if len(mt) == 0 {
		mt = []string{MediaTypeSTIX}
	}
	return collectionResource{ID: c.ID, Title: c.Title, Description: c.Description, Alias: c.Alias,
		CanRead: acc.Read, CanWrite: acc.Write, MediaTypes: mt}
}

func (h *Handler) collection(w http.ResponseWriter, r *http.Request) error {
	_, col, acc, err := h.collectionFor(r, needVisible, audit.PathTAXIICollection)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, collectionJSON(col, acc))
}

// setPageHeaders sets X-TAXII-Date-Added-First and -Last (section 3.4.3)
// from a non-empty page.
func setPageHeaders(w http.ResponseWriter, vs []store.Version) {
	if len(vs) == 0 {
		return
	}
	w.Header().Set("X-TAXII-Date-Added-First", formatDateAdded(vs[0].DateAdded))
	w.Header().Set("X-TAXII-Date-Added-Last", formatDateAdded(vs[len(vs)-1].DateAdded))
}

// versionString is a version's "version" as TAXII shows it: modified,
// else created (both folded into the store's version key), else, for
// objects without either (SCOs), their date_added.
func versionString(v *store.Version) string {
	if !v.Modified.IsZero() {
		return stix.FormatTimestamp(v.Modified)
	}
	return formatDateAdded(v.DateAdded)
}

// collectionPage answers the collection-wide listings (objects and
// manifest): the caller's read access, the list filters, one page the
// policy lets the caller see, and its served entry in the audit log.
func (h *Handler) collectionPage(r *http.Request, path string, metaOnly bool) (listPage, error) {
	c, col, _, err := h.collectionFor(r, needRead, path)
	if err != nil {
		return listPage{}, err
	}
	f, err := parseFilters(r.URL.Query(), paramsList, h.cfg.MaxPageSize)
	if err != nil {
		return listPage{}, err
	}
	p, err := h.listVisible(r.Context(), c, col, f.query(metaOnly), f.limit)
	if err != nil {
		return listPage{}, err
	}
	if err := h.served(r.Context(), c, col, path, p.versions, p.hidden); err != nil {
		return listPage{}, err
	}
	return p, nil
}

func (h *Handler) manifest(w http.ResponseWriter, r *http.Request) error {
	p, err := h.collectionPage(r, audit.PathTAXIIManifest, true)
	if err != nil {
		return err
	}
	res := manifestResource{More: p.more, Next: p.next()}
	for i := range p.versions {
		v := &p.versions[i]
		res.Objects = append(res.Objects, manifestRecord{ID: v.ID, DateAdded: formatDateAdded(v.DateAdded),
			Version: versionString(v), MediaType: "application/stix+json;version=" + specVersion(v)})
	}
	setPageHeaders(w, p.versions)
	return writeJSON(w, http.StatusOK, res)
}

func specVersion(v *store.Version) string {
	if v.SpecVersion == "" {
		return "2.1"
	}
	return v.SpecVersion
}

func (f filters) query(metaOnly bool) store.Query {
	return store.Query{AddedAfter: f.after, IDs: f.ids, Types: f.types, Versions: f.versions,
		SpecVersions: f.specVersions, MetaOnly: metaOnly}
}

func (h *Handler) getObjects(w http.ResponseWriter, r *http.Request) error {
	p, err := h.collectionPage(r, audit.PathTAXIIObjects, false)
	if err != nil {
		return err
	}
	return writeEnvelope(w, p)
}

// writeEnvelope streams an envelope (section 3.7) of a page's raw objects.
func writeEnvelope(w http.ResponseWriter, p listPage) error {
	setPageHeaders(w, p.versions)
	w.Header().Set("Content-Type", MediaTypeTAXII)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	if p.more {
		bw.WriteString(`{"more":true,"next":"`)
		bw.WriteString(p.next())
		bw.WriteString(`"`)
	} else {
		bw.WriteString(`{"more":false`)
	}
	if len(p.versions) > 0 {
		bw.WriteString(`,"objects":[`)
		for i := range p.versions {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.Write(p.versions[i].Raw)
		}
		bw.WriteByte(']')
	}
	bw.WriteByte('}')
	return bw.Flush()
}

// objectID checks the {object} path segment.
func objectID(r *http.Request) (string, error) {
	id := r.PathValue("object")
	if validID(id) != "" {
		return "", Errorf(http.StatusNotFound, "%q is not a STIX identifier", id)
	}
	return id, nil
}

// objectExists tells a missing object (404) from filters that matched
// none of its versions (an empty page). An object none of whose versions
// the caller may see is missing, so that a 404 reveals nothing; but when
// it is in the collection that 404 is a refusal, recorded as a denied
// entry naming the versions withheld (hidden: those the request's own
// filters already examined and hid; if none, every version of the
// object).
func (h *Handler) objectExists(r *http.Request, c policy.Caller, col store.Collection, id, path string, hidden []store.Version) error {
	p, err := h.listVisible(r.Context(), c, col, store.Query{IDs: []string{id}, Versions: store.VersionMatch{All: true}, MetaOnly: true}, 1)
	if err != nil {
		return err
	}
	if len(p.versions) == 0 {
		if len(hidden) == 0 {
			hidden = p.hidden
		}
		if len(hidden) > 0 {
			h.denied(r.Context(), c, col.ID, path, audit.ReasonPolicy, hidden)
		}
		return Errorf(http.StatusNotFound, "object %s not found in collection %s", id, col.ID)
	}
	return nil
}

func (h *Handler) getObject(w http.ResponseWriter, r *http.Request) error {
	c, col, _, err := h.collectionFor(r, needRead, audit.PathTAXIIObject)
	if err != nil {
		return err
	}
	id, err := objectID(r)
	if err != nil {
		return err
	}
	f, err := parseFilters(r.URL.Query(), paramsObject, h.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	q := f.query(false)
	q.IDs = []string{id}
	p, err := h.listVisible(r.Context(), c, col, q, f.limit)
	if err != nil {
		return err
	}
	if len(p.versions) == 0 && !p.more {
		if err := h.objectExists(r, c, col, id, audit.PathTAXIIObject, p.hidden); err != nil {
			return err
		}
	}
	if err := h.served(r.Context(), c, col, audit.PathTAXIIObject, p.versions, p.hidden); err != nil {
		return err
	}
	return writeEnvelope(w, p)
}

func (h *Handler) objectVersions(w http.ResponseWriter, r *http.Request) error {
	c, col, _, err := h.collectionFor(r, needRead, audit.PathTAXIIVersions)
	if err != nil {
		return err
	}
	id, err := objectID(r)
	if err != nil {
		return err
	}
	f, err := parseFilters(r.URL.Query(), paramsVersions, h.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	q := f.query(true)
	q.IDs = []string{id}
	q.Versions = store.VersionMatch{All: true}
	p, err := h.listVisible(r.Context(), c, col, q, f.limit)
	if err != nil {
		return err
	}
	if len(p.versions) == 0 && !p.more {
		if err := h.objectExists(r, c, col, id, audit.PathTAXIIVersions, p.hidden); err != nil {
			return err
		}
	}
	if err := h.served(r.Context(), c, col, audit.PathTAXIIVersions, p.versions, p.hidden); err != nil {
		return err
	}
	res := versionsResource{More: p.more, Next: p.next()}
	for i := range p.versions {
		res.Versions = append(res.Versions, versionString(&p.versions[i]))
	}
	setPageHeaders(w, p.versions)
	return writeJSON(w, http.StatusOK, res)
}

func (h *Handler) deleteObject(w http.ResponseWriter, r *http.Request) error {
	// Deleting needs both: a client that may not read the collection
	// must not learn whether an object is in it.
	c, col, acc, err := h.collectionFor(r, needWrite, audit.PathTAXIIDelete)
	if err != nil {
		return err
	}
	if !acc.Read {
		return Errorf(http.StatusForbidden, "%s may not read collection %q", c.Org.Name, r.PathValue("coll"))
	}
	id, err := objectID(r)
	if err != nil {
		return err
	}
	f, err := parseFilters(r.URL.Query(), paramsDelete, h.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	// Without match[version], deleting an object deletes all of its
	// versions: removing only the latest would bring an older one back.
	if f.versions.IsZero() {
		f.versions.All = true
	}
	n, err := h.st.Delete(r.Context(), col.ID, id, f.versions, f.specVersions)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, "object %s not found in collection %s (or no version matched the filters)", id, col.ID)
	}
	if err != nil {
		return err
	}
	h.log.Info("object deleted", "collection", col.ID, "object", id, "versions", n, "org", c.Org.Name)
	w.Header().Set("Content-Type", MediaTypeTAXII)
	w.WriteHeader(http.StatusOK)
	return nil
}
