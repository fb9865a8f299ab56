package server

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/guard"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/taxii"
)

// The admin API (JSON under /api/v1/). Organisations, collections and
// grants are managed by hub admins only. Tokens are managed by hub
// admins for every organisation and by an organisation's own admin
// tokens for that organisation.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/orgs", s.wrap(s.listOrgs))
	mux.Handle("POST /api/v1/orgs", s.wrap(s.createOrg))
	mux.Handle("GET /api/v1/tokens", s.wrap(s.listTokens))
	mux.Handle("POST /api/v1/tokens", s.wrap(s.createToken))
	mux.Handle("DELETE /api/v1/tokens/{id}", s.wrap(s.revokeToken))
	mux.Handle("GET /api/v1/collections", s.wrap(s.listCollections))
	mux.Handle("POST /api/v1/collections", s.wrap(s.createCollection))
	mux.Handle("PATCH /api/v1/collections/{id}", s.wrap(s.updateCollection))
	mux.Handle("DELETE /api/v1/collections/{id}", s.wrap(s.deleteCollection))
	mux.Handle("GET /api/v1/collections/{id}/grants", s.wrap(s.listGrants))
	mux.Handle("PUT /api/v1/collections/{id}/grants/{org}", s.wrap(s.setGrant))
	s.guardRoutes(mux)
}

// JSON shapes of the admin API.

// OrgJSON is an organisation.
type OrgJSON struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Country string    `json:"country,omitempty"`
	Created time.Time `json:"created"`
}

// TokenJSON is a token as listed; Token (the secret) is set only in the
// response that creates it.
type TokenJSON struct {
	ID      string     `json:"id"`
	Org     string     `json:"org"` // organisation name
	OrgID   string     `json:"org_id"`
	Role    string     `json:"role"`
	Label   string     `json:"label,omitempty"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
	Revoked *time.Time `json:"revoked,omitempty"`
	Token   string     `json:"token,omitempty"`
}

// CollectionJSON is a collection as the admin API shows it.
type CollectionJSON struct {
	ID          string    `json:"id"`
	APIRoot     string    `json:"api_root"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	Alias       string    `json:"alias,omitempty"`
	MediaTypes  []string  `json:"media_types,omitempty"`
	Created     time.Time `json:"created"`
}

// GrantJSON is one organisation's access to a collection.
type GrantJSON struct {
	Collection string `json:"collection"`
	OrgID      string `json:"org_id"`
	Org        string `json:"org"`
	Read       bool   `json:"read"`
	Write      bool   `json:"write"`
}

func orgJSON(o store.Org) OrgJSON {
	return OrgJSON{ID: o.ID, Name: o.Name, Kind: o.Kind, Country: o.Country, Created: o.Created}
}

func tokenJSON(t store.Token, orgName string) TokenJSON {
	j := TokenJSON{ID: t.ID, Org: orgName, OrgID: t.OrgID, Role: t.Role, Label: t.Label, Created: t.Created}
	if !t.Expires.IsZero() {
		e := t.Expires
		j.Expires = &e
	}
	if !t.Revoked.IsZero() {
		r := t.Revoked
		j.Revoked = &r
	}
	return j
}

func collectionJSON(c store.Collection) CollectionJSON {
	return CollectionJSON{ID: c.ID, APIRoot: c.APIRoot, Title: c.Title, Description: c.Description,
		Alias: c.Alias, MediaTypes: c.MediaTypes, Created: c.Created}
}

func writeAdminJSON(w http.ResponseWriter, code int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
	return nil
}

// readJSON decodes a request body of at most 1 MiB into v, rejecting
// unknown fields so that typos do not pass silently.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return err
	}
	if len(b) > 1<<20 {
		return taxii.Errorf(http.StatusRequestEntityTooLarge, "admin request bodies are limited to 1 MiB")
	}
	if err := json.Unmarshal(b, v, json.RejectUnknownMembers(true)); err != nil {
		return taxii.Errorf(http.StatusBadRequest, "request body: %v", err)
	}
	return nil
}

// adminCaller requires an admin token; hubOnly further requires the hub.
func adminCaller(r *http.Request, hubOnly bool) (policy.Caller, error) {
	c, ok := taxii.CallerFrom(r.Context())
	if !ok {
		return c, taxii.Unauthorized("authentication required")
	}
	if c.Role != store.RoleAdmin {
		return c, taxii.Errorf(http.StatusForbidden, "the admin API needs an admin token")
	}
	if hubOnly && !c.IsHubAdmin() {
		return c, taxii.Errorf(http.StatusForbidden, "only hub admins may do this")
	}
	return c, nil
}

func conflict(err error, what string) error {
	if errors.Is(err, store.ErrExists) {
		return taxii.Errorf(http.StatusConflict, "%s already exists", what)
	}
	return err
}

var (
	orgNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	aliasRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	rootRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// reservedRoots are first path segments the server uses itself.
var reservedRoots = map[string]bool{"taxii2": true, "api": true, "healthz": true, "metrics": true}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	orgs, err := s.st.ListOrgs(r.Context())
	if err != nil {
		return err
	}
	out := make([]OrgJSON, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, orgJSON(o))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// CheckOrg validates an organisation's name, kind and country.
func CheckOrg(o store.Org) error {
	if !orgNameRE.MatchString(o.Name) {
		return taxii.Errorf(http.StatusBadRequest, "organisation name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", o.Name)
	}
	switch o.Kind {
	case store.KindPartner, store.KindHub:
		if o.Country != "" {
			return taxii.Errorf(http.StatusBadRequest, "only member organisations have a country")
		}
	case store.KindMember:
		if !policy.ValidCountry(o.Country) {
			return taxii.Errorf(http.StatusBadRequest, "a member organisation needs an assigned ISO 3166-1 alpha-2 country code such as FR, got %q", o.Country)
		}
	default:
		return taxii.Errorf(http.StatusBadRequest, "kind %q: must be partner, hub or member", o.Kind)
	}
	return nil
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	var in struct {
		Name    string `json:"name"`
		Kind    string `json:"kind"`
		Country string `json:"country"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	o := store.Org{ID: newID(), Name: in.Name, Kind: in.Kind, Country: strings.ToUpper(in.Country), Created: s.now().UTC()}
	if err := CheckOrg(o); err != nil {
		return err
	}
	if err := s.st.CreateOrg(r.Context(), o); err != nil {
		return conflict(err, "organisation "+strconv.Quote(o.Name))
	}
	s.log.Info("organisation created", "org", o.Name, "kind", o.Kind, "country", o.Country)
	return writeAdminJSON(w, http.StatusCreated, orgJSON(o))
}

// orgByRef finds an organisation by name or id.
func (s *Server) orgByRef(r *http.Request, ref string) (store.Org, error) {
	o, err := s.st.GetOrgByName(r.Context(), ref)
	if errors.Is(err, store.ErrNotFound) && stix.IsUUID(ref) {
		o, err = s.st.GetOrg(r.Context(), ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return o, taxii.Errorf(http.StatusNotFound, "organisation %q not found", ref)
	}
	return o, err
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	c, err := adminCaller(r, false)
	if err != nil {
		return err
	}
	orgID := ""
	if ref := r.URL.Query().Get("org"); ref != "" {
		o, err := s.orgByRef(r, ref)
		if err != nil {
			return err
		}
		orgID = o.ID
	}
	if !c.IsHubAdmin() {
		if orgID != "" && orgID != c.Org.ID {
			return taxii.Errorf(http.StatusForbidden, "you may list only your own organisation's tokens")
		}
		orgID = c.Org.ID
	}
	toks, err := s.st.ListTokens(r.Context(), orgID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	out := make([]TokenJSON, 0, len(toks))
	for _, t := range toks {
		name, ok := names[t.OrgID]
		if !ok {
			if o, err := s.st.GetOrg(r.Context(), t.OrgID); err == nil {
				name = o.Name
			}
			names[t.OrgID] = name
		}
		out = append(out, tokenJSON(t, name))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// ParseExpiry reads a token lifetime: a number of days ("90d") or a Go
// duration ("12h", "30m"). It must be positive and under 10 years.
func ParseExpiry(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 {
			return 0, taxii.Errorf(http.StatusBadRequest, "expiry %q: days must be a whole number from 1 to 3650", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil || d <= 0 || d > 3650*24*time.Hour {
			return 0, taxii.Errorf(http.StatusBadRequest, "expiry %q: use days (90d) or a duration (12h), positive and under 10 years", s)
		}
	}
	return d, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	c, err := adminCaller(r, false)
	if err != nil {
		return err
	}
	var in struct {
		Org       string `json:"org"`
		Role      string `json:"role"`
		Label     string `json:"label"`
		ExpiresIn string `json:"expires_in"`
		Expires   string `json:"expires"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	o, err := s.orgByRef(r, in.Org)
	if err != nil {
		return err
	}
	if !c.IsHubAdmin() && o.ID != c.Org.ID {
		return taxii.Errorf(http.StatusForbidden, "you may create tokens only for your own organisation")
	}
	if taxiiRole(in.Role) == 0 {
		return taxii.Errorf(http.StatusBadRequest, "role %q: must be read, write or admin", in.Role)
	}
	if len(in.Label) > 200 {
		return taxii.Errorf(http.StatusBadRequest, "label is over 200 characters")
	}
	now := s.now().UTC()
	t := store.Token{ID: newID(), OrgID: o.ID, Role: in.Role, Label: in.Label, Created: now}
	switch {
	case in.ExpiresIn != "" && in.Expires != "":
		return taxii.Errorf(http.StatusBadRequest, "give expires_in or expires, not both")
	case in.ExpiresIn != "":
		d, err := ParseExpiry(in.ExpiresIn)
		if err != nil {
			return err
		}
		t.Expires = now.Add(d)
	case in.Expires != "":
		e, err := time.Parse(time.RFC3339, in.Expires)
		if err != nil || !e.After(now) {
			return taxii.Errorf(http.StatusBadRequest, "expires %q: must be an RFC 3339 time in the future", in.Expires)
		}
		t.Expires = e.UTC()
	}
	secret, hash := NewToken()
	t.Hash = hash
	if err := s.st.CreateToken(r.Context(), t); err != nil {
		return conflict(err, "token")
	}
	s.log.Info("token created", "org", o.Name, "token_id", t.ID, "role", t.Role, "by", c.Org.Name)
	j := tokenJSON(t, o.Name)
	j.Token = secret
	return writeAdminJSON(w, http.StatusCreated, j)
}

func taxiiRole(role string) int {
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

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	c, err := adminCaller(r, false)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	notFound := taxii.Errorf(http.StatusNotFound, "token %q not found", id)
	if !c.IsHubAdmin() {
		toks, err := s.st.ListTokens(r.Context(), c.Org.ID)
		if err != nil {
			return err
		}
		mine := false
		for _, t := range toks {
			mine = mine || t.ID == id
		}
		if !mine {
			return notFound
		}
	}
	err = s.st.RevokeToken(r.Context(), id, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	s.log.Info("token revoked", "token_id", id, "by", c.Org.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listCollections(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	cols, err := s.st.ListCollections(r.Context(), r.URL.Query().Get("root"))
	if err != nil {
		return err
	}
	out := make([]CollectionJSON, 0, len(cols))
	for _, c := range cols {
		out = append(out, collectionJSON(c))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// collectionInput is the body of create and update; pointers tell
// "absent" from "empty" for updates.
type collectionInput struct {
	Title       *string  `json:"title"`
	Description *string  `json:"description"`
	Alias       *string  `json:"alias"`
	APIRoot     *string  `json:"api_root"`
	MediaTypes  []string `json:"media_types"`
}

func (in collectionInput) apply(c *store.Collection) error {
	if in.Title != nil {
		c.Title = *in.Title
	}
	if in.Description != nil {
		c.Description = *in.Description
	}
	if in.Alias != nil {
		c.Alias = *in.Alias
	}
	if in.APIRoot != nil {
		c.APIRoot = *in.APIRoot
	}
	if in.MediaTypes != nil {
		c.MediaTypes = in.MediaTypes
	}
	if strings.TrimSpace(c.Title) == "" || len(c.Title) > 200 {
		return taxii.Errorf(http.StatusBadRequest, "a collection needs a title of at most 200 characters")
	}
	if len(c.Description) > 4000 {
		return taxii.Errorf(http.StatusBadRequest, "description is over 4000 characters")
	}
	if c.Alias != "" && (!aliasRE.MatchString(c.Alias) || stix.IsUUID(c.Alias)) {
		return taxii.Errorf(http.StatusBadRequest, "alias %q: use letters, digits, '.', '_' or '-' (and not a UUID)", c.Alias)
	}
	if !rootRE.MatchString(c.APIRoot) || reservedRoots[c.APIRoot] {
		return taxii.Errorf(http.StatusBadRequest, "API root %q: use letters, digits, '.', '_' or '-'; taxii2, api, healthz and metrics are taken", c.APIRoot)
	}
	for _, mt := range c.MediaTypes {
		if !strings.HasPrefix(mt, "application/") || len(mt) > 200 {
			return taxii.Errorf(http.StatusBadRequest, "media type %q is not an application/… media type", mt)
		}
	}
	return nil
}

func (s *Server) createCollection(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	var in collectionInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	c := store.Collection{ID: newID(), APIRoot: store.DefaultAPIRoot, Created: s.now().UTC()}
	if err := in.apply(&c); err != nil {
		return err
	}
	if err := s.st.CreateCollection(r.Context(), c); err != nil {
		return conflict(err, "a collection with alias "+strconv.Quote(c.Alias)+" in API root "+strconv.Quote(c.APIRoot))
	}
	s.log.Info("collection created", "collection", c.ID, "title", c.Title, "root", c.APIRoot)
	return writeAdminJSON(w, http.StatusCreated, collectionJSON(c))
}

// collectionByRef finds a collection by id or by alias (in any API root;
// an alias used in several roots is ambiguous).
func (s *Server) collectionByRef(r *http.Request, ref string) (store.Collection, error) {
	if stix.IsUUID(ref) {
		c, err := s.st.GetCollection(r.Context(), ref)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return c, err
		}
	}
	cols, err := s.st.ListCollections(r.Context(), "")
	if err != nil {
		return store.Collection{}, err
	}
	var found []store.Collection
	for _, c := range cols {
		if c.Alias == ref {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return store.Collection{}, taxii.Errorf(http.StatusNotFound, "collection %q not found", ref)
	case 1:
		return found[0], nil
	}
	return store.Collection{}, taxii.Errorf(http.StatusConflict, "alias %q is used in several API roots; name the collection by id", ref)
}

func (s *Server) updateCollection(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	c, err := s.collectionByRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	var in collectionInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if err := in.apply(&c); err != nil {
		return err
	}
	if err := s.st.UpdateCollection(r.Context(), c); err != nil {
		return conflict(err, "a collection with alias "+strconv.Quote(c.Alias))
	}
	return writeAdminJSON(w, http.StatusOK, collectionJSON(c))
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	c, err := s.collectionByRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.ID == store.DefaultCollectionID {
		return taxii.Errorf(http.StatusBadRequest, "the default collection cannot be deleted")
	}
	if err := s.st.DeleteCollection(r.Context(), c.ID); err != nil {
		return err
	}
	s.log.Info("collection deleted", "collection", c.ID, "title", c.Title)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	c, err := s.collectionByRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	gs, err := s.st.ListGrants(r.Context(), c.ID)
	if err != nil {
		return err
	}
	out := make([]GrantJSON, 0, len(gs))
	for _, g := range gs {
		name := ""
		if o, err := s.st.GetOrg(r.Context(), g.OrgID); err == nil {
			name = o.Name
		}
		out = append(out, GrantJSON{Collection: g.Collection, OrgID: g.OrgID, Org: name, Read: g.Read, Write: g.Write})
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) setGrant(w http.ResponseWriter, r *http.Request) error {
	if _, err := adminCaller(r, true); err != nil {
		return err
	}
	c, err := s.collectionByRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	o, err := s.orgByRef(r, r.PathValue("org"))
	if err != nil {
		return err
	}
	var in struct {
		Read  bool `json:"read"`
		Write bool `json:"write"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	g := store.Grant{Collection: c.ID, OrgID: o.ID, Read: in.Read, Write: in.Write}
	if err := s.st.SetGrant(r.Context(), g); err != nil {
		return err
	}
	s.log.Info("grant set", "collection", c.ID, "org", o.Name, "read", g.Read, "write", g.Write)
	return writeAdminJSON(w, http.StatusOK, GrantJSON{Collection: c.ID, OrgID: o.ID, Org: o.Name, Read: g.Read, Write: g.Write})
}

// The guard part of the admin API: a partner's protected-asset list and
// its quarantine. Only hub admins and the partner itself may use it; to
// anyone else a partner's guard does not exist (404, whether or not the
// organisation does).
func (s *Server) guardRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/orgs/{org}/guard", s.wrap(s.getGuard))
	mux.Handle("PUT /api/v1/orgs/{org}/guard", s.wrap(s.putGuard))
	mux.Handle("PATCH /api/v1/orgs/{org}/guard", s.wrap(s.patchGuard))
	mux.Handle("GET /api/v1/orgs/{org}/guard/quarantine", s.wrap(s.listQuarantine))
	mux.Handle("GET /api/v1/orgs/{org}/guard/quarantine/{id}", s.wrap(s.showQuarantine))
	mux.Handle("DELETE /api/v1/orgs/{org}/guard/quarantine/{id}", s.wrap(s.dropQuarantine))
	mux.Handle("POST /api/v1/orgs/{org}/guard/quarantine/{id}/release", s.wrap(s.releaseQuarantine))
}

// GuardJSON is a partner's list as GET and PUT .../guard show it. List
// (the text as sent) is set by GET only.
type GuardJSON struct {
	Org   string `json:"org"`
	OrgID string `json:"org_id"`
	GuardMeta
	List string `json:"list,omitempty"`
}

// MaxGuardList is the largest list text accepted (100,000 assets take
// about 3 MB).
const MaxGuardList = 32 << 20

// guardOrg resolves {org} for a guard request by a hub admin, or by the
// partner's own token with at least role want. Everything else is the
// same 404, so that nobody learns which partners have a list.
func (s *Server) guardOrg(r *http.Request, want string) (policy.Caller, store.Org, error) {
	c, ok := taxii.CallerFrom(r.Context())
	if !ok {
		return c, store.Org{}, taxii.Unauthorized("authentication required")
	}
	ref := r.PathValue("org")
	notFound := taxii.Errorf(http.StatusNotFound, "no protected-asset list of organisation %q", ref)
	o, err := s.orgByRef(r, ref)
	var te *taxii.Error
	if errors.As(err, &te) && te.Status == http.StatusNotFound {
		return c, o, notFound
	}
	if err != nil {
		return c, o, err
	}
	if !c.IsHubAdmin() && (o.ID != c.Org.ID || !taxii.RoleAtLeast(c.Role, want)) {
		return c, o, notFound
	}
	if o.Kind != store.KindPartner {
		if c.IsHubAdmin() {
			return c, o, taxii.Errorf(http.StatusBadRequest, "organisation %q is a %s; only partners have a protected-asset list", o.Name, o.Kind)
		}
		return c, o, notFound
	}
	return c, o, nil
}

func (s *Server) getGuard(w http.ResponseWriter, r *http.Request) error {
	_, o, err := s.guardOrg(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	m, text, err := s.guard.ListText(r.Context(), o.ID)
	if errors.Is(err, ErrNoGuardList) {
		return taxii.Errorf(http.StatusNotFound, "no protected-asset list of organisation %q", r.PathValue("org"))
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeAdminJSON(w, http.StatusOK, GuardJSON{Org: o.Name, OrgID: o.ID, GuardMeta: m, List: text})
}

// putGuard replaces a partner's list with the request body (the text
// format of guard.ParseList); ?action=block|redact sets the action too
// (default: unchanged, block for a first list).
func (s *Server) putGuard(w http.ResponseWriter, r *http.Request) error {
	c, o, err := s.guardOrg(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	action := r.URL.Query().Get("action")
	if action != "" && action != GuardBlock && action != GuardRedact {
		return taxii.Errorf(http.StatusBadRequest, "action %q: must be block or redact", action)
	}
	text, err := io.ReadAll(io.LimitReader(r.Body, MaxGuardList+1))
	if err != nil {
		return err
	}
	if len(text) > MaxGuardList {
		return taxii.Errorf(http.StatusRequestEntityTooLarge, "a protected-asset list is limited to %d MiB", MaxGuardList>>20)
	}
	m, err := s.guard.SetList(r.Context(), o.ID, text, action)
	var le *guard.ListError
	if errors.As(err, &le) {
		return taxii.Errorf(http.StatusBadRequest, "%s", le.Error()) // line numbers and what is wrong, no values
	}
	if err != nil {
		return err
	}
	s.log.Info("guard list replaced", "org", o.Name, "assets", m.Assets, "digest", m.Digest, "action", m.Action, "by", c.Org.Name, "token_id", c.TokenID)
	return writeAdminJSON(w, http.StatusOK, GuardJSON{Org: o.Name, OrgID: o.ID, GuardMeta: m})
}

// patchGuard changes the action only: {"action": "block"|"redact"}.
func (s *Server) patchGuard(w http.ResponseWriter, r *http.Request) error {
	c, o, err := s.guardOrg(r, store.RoleAdmin)
	if err != nil {
		return err
	}
	var in struct {
		Action string `json:"action"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Action != GuardBlock && in.Action != GuardRedact {
		return taxii.Errorf(http.StatusBadRequest, "action %q: must be block or redact", in.Action)
	}
	m, err := s.guard.SetAction(r.Context(), o.ID, in.Action)
	if errors.Is(err, ErrNoGuardList) {
		return taxii.Errorf(http.StatusNotFound, "no protected-asset list of organisation %q", r.PathValue("org"))
	}
	if err != nil {
		return err
	}
	s.log.Info("guard action set", "org", o.Name, "action", m.Action, "digest", m.Digest, "by", c.Org.Name, "token_id", c.TokenID)
	return writeAdminJSON(w, http.StatusOK, GuardJSON{Org: o.Name, OrgID: o.ID, GuardMeta: m})
}

// quarantineErr is the answer to a failed quarantine look-up of object id:
// 404 when it is not there (or the caller may not know it is).
func quarantineErr(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return taxii.Errorf(http.StatusNotFound, "object %q is not in the quarantine", id)
	}
	return err
}

func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request) error {
	_, o, err := s.guardOrg(r, store.RoleWrite)
	if err != nil {
		return err
	}
	q, err := s.guard.QuarantineList(r.Context(), o.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeAdminJSON(w, http.StatusOK, q)
}

func (s *Server) showQuarantine(w http.ResponseWriter, r *http.Request) error {
	_, o, err := s.guardOrg(r, store.RoleWrite)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	q, err := s.guard.QuarantineShow(r.Context(), o.ID, id)
	if err != nil {
		return quarantineErr(id, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeAdminJSON(w, http.StatusOK, q)
}

func (s *Server) dropQuarantine(w http.ResponseWriter, r *http.Request) error {
	c, o, err := s.guardOrg(r, store.RoleWrite)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	n, err := s.guard.QuarantineDrop(r.Context(), o.ID, id)
	if err != nil {
		return quarantineErr(id, err)
	}
	s.log.Info("quarantine dropped", "org", o.Name, "object", id, "versions", n, "by", c.Org.Name, "token_id", c.TokenID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ReleaseJSON is the answer to a release.
type ReleaseJSON struct {
	ID         string `json:"id"`
	Version    string `json:"version,omitempty"`
	Collection string `json:"collection"`
	Added      bool   `json:"added"`              // false: that version was already stored
	Redacted   bool   `json:"redacted,omitempty"` // stored with free text redacted
	Dropped    int    `json:"dropped"`            // quarantined versions removed
}

// releaseQuarantine takes an edited version of a quarantined object (the
// request body), screens it again with the partner's current list and,
// if it passes and is valid, stores it in the collection it was first
// posted to, on the partner's behalf, and drops the object's quarantined
// versions. Blocked again: 422 with the guard's reason, nothing changes.
func (s *Server) releaseQuarantine(w http.ResponseWriter, r *http.Request) error {
	c, o, err := s.guardOrg(r, store.RoleWrite)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	q, err := s.guard.QuarantineShow(r.Context(), o.ID, id)
	if err != nil {
		return quarantineErr(id, err)
	}
	coll := q[len(q)-1].Collection
	if acc, err := taxii.CollectionAccess(r.Context(), s.st, c, coll); err != nil {
		return err
	} else if !acc.Write {
		return taxii.Errorf(http.StatusForbidden, "%s may no longer write to collection %s", c.Org.Name, coll)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, stix.MaxObjectSize+1))
	if err != nil {
		return err
	}
	if len(raw) > stix.MaxObjectSize {
		return taxii.Errorf(http.StatusRequestEntityTooLarge, "an object is limited to %d bytes", stix.MaxObjectSize)
	}
	res, ok, err := s.guard.Screen(r.Context(), o, [][]byte{raw})
	if err != nil {
		return err
	}
	redacted := false
	if ok {
		switch res[0].Action {
		case guard.Block:
			return taxii.Errorf(http.StatusUnprocessableEntity, "still blocked: %s", res[0].Reason())
		case guard.Redact:
			raw, redacted = res[0].Redacted, true
		}
	}
	obj, err := stix.Parse(raw)
	if err == nil && s.cfg.Validate != nil {
		err = s.cfg.Validate(obj)
	}
	if err != nil {
		return taxii.Errorf(http.StatusUnprocessableEntity, "the released object is not valid: %v", err)
	}
	if obj.ID != id {
		return taxii.Errorf(http.StatusBadRequest, "the released object's id is %q, not %q", obj.ID, id)
	}
	// The same write-side decision as every write path: only the object's
	// source may version it (the partner's release is the partner's write).
	col, err := s.st.GetCollection(r.Context(), coll)
	if errors.Is(err, store.ErrNotFound) {
		return taxii.Errorf(http.StatusConflict, "collection %s no longer exists; drop the object instead", coll)
	}
	if err != nil {
		return err
	}
	decs, err := policy.CheckWrites(r.Context(), s.st, coll, policy.CollectionDefault(col.DefaultTLP),
		policy.Caller{Org: o, Role: store.RoleWrite}, []*stix.Object{obj}, policy.OrgKinds(r.Context(), s.st))
	if err != nil {
		return err
	}
	if decs[0].Err != nil {
		return taxii.Errorf(http.StatusForbidden, "%v", decs[0].Err)
	}
	outs, err := s.st.Put(r.Context(), coll, decs[0].Source, []*stix.Object{obj})
	if errors.Is(err, store.ErrNotFound) {
		return taxii.Errorf(http.StatusConflict, "collection %s no longer exists; drop the object instead", coll)
	}
	if err != nil {
		return err
	}
	var decided *guard.Result
	if ok {
		decided = &res[0]
	}
	n, err := s.guard.QuarantineRelease(r.Context(), o.ID, coll, id, decided)
	if err != nil {
		return err
	}
	out := ReleaseJSON{ID: id, Collection: coll, Added: outs[0].Added, Redacted: redacted, Dropped: n}
	if v := obj.Version(); !v.IsZero() {
		out.Version = stix.FormatTimestamp(v)
	}
	s.log.Info("quarantine released", "org", o.Name, "object", id, "collection", coll, "redacted", redacted, "by", c.Org.Name, "token_id", c.TokenID)
	return writeAdminJSON(w, http.StatusOK, out)
}
