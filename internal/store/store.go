// Package store defines Fusion's persistence contract: STIX object
// versions kept per collection with a server-assigned date_added (TAXII
// 2.1 section 3.4.1), collections, organisations, API tokens, grants and
// small named records. Two backends implement it — sqlite (embedded
// default) and postgres (several nodes sharing one database) — and both
// must pass the conformance suite in storetest.
//
// Only cmd/ imports a backend; everything else takes a Store (or a
// smaller interface of its own).
package store

import (
	"context"
	"errors"
	"time"

	"fusion/internal/stix"
)

var (
	// ErrNotFound: the named collection, object, organisation, token or
	// record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a create would duplicate a unique id, name or alias.
	ErrExists = errors.New("already exists")
)

// DefaultCollectionID is the collection that always exists; ingest and
// export use it when no collection is named.
const DefaultCollectionID = "8f3c9a52-2d0e-4b7a-9a61-0c5e1f2b7d10"

// DefaultAPIRoot is the API root that always exists.
const DefaultAPIRoot = "api1"

// Collection is a TAXII collection (TAXII 2.1 section 5.2).
type Collection struct {
	ID          string // UUID
	APIRoot     string // API root path segment it belongs to
	Title       string
	Description string
	Alias       string   // unique within its API root when not empty
	MediaTypes  []string // empty means application/stix+json;version=2.1
	DefaultTLP  string   // TLP applied to objects without a marking; empty = policy default
	Created     time.Time
}

// Version is one stored version of an object in a collection.
type Version struct {
	Collection  string
	ID          string
	Type        string
	SpecVersion string
	Modified    time.Time // the version key (stix.Object.Version); zero for unversioned objects
	DateAdded   time.Time // server-assigned, microsecond precision, strictly increasing per collection
	Source      string    // id of the organisation that submitted it; empty when loaded by an operator
	Revoked     bool
	// Latest: when read, this was the object's last version in the
	// collection (the highest version key), the one match[version]=last
	// selects.
	Latest bool
	Raw    []byte // nil when the query asked for metadata only
	// Facts is the blob derived from Raw at write time by the function
	// package policy installs (stix.Object.FactsBlob: the version's policy
	// facts in policy's binary form), returned by List with or without
	// MetaOnly. Nil for versions stored before the store kept facts (or by
	// a program that does not link policy): readers then derive them from
	// Raw. Existing rows are not backfilled.
	Facts []byte
}

// PutOutcome says what Put did with one input object.
type PutOutcome struct {
	Added     bool      // stored as a new version
	DateAdded time.Time // its date_added when Added
	// !Added means unchanged: a version with the same id and version key
	// was already in the collection (or earlier in the same batch).
}

// VersionMatch selects versions of each object (TAXII match[version]).
// The zero value means "last". Several fields set are ORed.
type VersionMatch struct {
	All   bool
	First bool
	Last  bool
	At    []time.Time // exact version keys
}

// IsZero reports whether no selector is set (meaning "last").
func (v VersionMatch) IsZero() bool { return !v.All && !v.First && !v.Last && len(v.At) == 0 }

// Query filters a collection's versions. Empty slices do not filter;
// several values in one slice are ORed; the filters are ANDed.
type Query struct {
	AddedAfter   time.Time // only versions with date_added strictly after this
	IDs          []string
	Types        []string
	Versions     VersionMatch
	SpecVersions []string
	Limit        int  // maximum versions returned; must be > 0
	MetaOnly     bool // leave Version.Raw nil (Facts are still returned)
}

// Page is one page of a listing in date_added order.
type Page struct {
	Versions []Version
	More     bool // versions matching the query exist after the last one returned
}

// Org kinds.
const (
	KindPartner = "partner"
	KindHub     = "hub"
	KindMember  = "member"
)

// Token roles, each including the ones before it.
const (
	RoleRead  = "read"
	RoleWrite = "write"
	RoleAdmin = "admin"
)

// Org is an organisation taking part in the exchange.
type Org struct {
	ID      string // UUID
	Name    string // unique; the HTTP Basic user name
	Kind    string // KindPartner, KindHub or KindMember
	Country string // ISO 3166-1 alpha-2, members only
	Created time.Time
}

// Token is an API token; only its SHA-256 is stored.
type Token struct {
	ID      string // UUID, shown to admins; not a secret
	OrgID   string
	Role    string
	Hash    []byte // SHA-256 of the secret
	Label   string
	Created time.Time
	Expires time.Time // zero: never
	Revoked time.Time // zero: not revoked
}

// Grant gives one organisation read and/or write access to a collection.
type Grant struct {
	Collection string
	OrgID      string
	Read       bool
	Write      bool
}

// Record is one named value (see Store.GetRecord).
type Record struct {
	Key   string
	Value []byte
}

// Store is everything Fusion persists. Implementations are safe for
// concurrent use; every method honours ctx cancellation.
type Store interface {
	// Put stores versions in a collection atomically: either all of
	// Added are stored or none is. Each new version gets a date_added
	// strictly greater than every earlier one in the collection, in input
	// order. An input whose id and version key are already present (or
	// appear earlier in objs) is left unchanged. source is the submitting
	// organisation's id. The result is aligned with objs. ErrNotFound if
	// the collection does not exist; any other failure (a nil object, a
	// cancelled context, a version key the backend cannot store) fails the
	// whole batch and stores nothing. Each new version is stored with
	// o.FactsBlob(), computed from exactly the Raw stored: callers that
	// want it computed off the writer's path call o.PrepareFacts first.
	Put(ctx context.Context, collection, source string, objs []*stix.Object) ([]PutOutcome, error)

	// List returns the versions matching q in date_added order, at most
	// q.Limit of them. Paging: pass the last returned DateAdded as the next
	// query's AddedAfter; no version is skipped or repeated while writes
	// go on, because date_added only grows. With Versions "first" or
	// "last", an object is listed at the date_added of its first or last
	// version (so an object that gets a newer version is listed again).
	// First and last are by version key among the object's versions in
	// the collection, whatever order they arrived in. Version keys are
	// compared as instants to the nanosecond. Versions come with Facts and
	// Latest whether or not q.MetaOnly is set. An error if q.Limit <= 0;
	// ErrNotFound if the collection does not exist; an empty page is not
	// an error.
	List(ctx context.Context, collection string, q Query) (Page, error)

	// Delete removes the versions of object id selected by versions and
	// specVersions (empty: all spec versions) from a collection and
	// returns how many went; the zero VersionMatch means "last", as in
	// List. The remaining versions' first and last are recomputed.
	// ErrNotFound if the collection does not exist or none matched.
	Delete(ctx context.Context, collection, id string, versions VersionMatch, specVersions []string) (int, error)

	// Collections. CreateCollection fails with ErrExists on a duplicate id
	// or alias within the API root; Get/Update/Delete with ErrNotFound.
	// ListCollections returns an API root's collections ordered by title
	// then id (all roots when apiRoot is empty). DeleteCollection removes
	// its versions and grants too.
	CreateCollection(ctx context.Context, c Collection) error
	GetCollection(ctx context.Context, id string) (Collection, error)
	ListCollections(ctx context.Context, apiRoot string) ([]Collection, error)
	UpdateCollection(ctx context.Context, c Collection) error
	DeleteCollection(ctx context.Context, id string) error

	// Organisations. ErrExists on a duplicate id or name.
	CreateOrg(ctx context.Context, o Org) error
	GetOrg(ctx context.Context, id string) (Org, error)
	GetOrgByName(ctx context.Context, name string) (Org, error)
	ListOrgs(ctx context.Context) ([]Org, error) // ordered by name

	// Tokens. TokenByHash finds a token by the SHA-256 of its secret,
	// whether or not it is revoked or expired (the caller decides).
	// CreateToken: ErrExists on a duplicate id or hash, ErrNotFound when
	// the organisation does not exist. RevokeToken: ErrNotFound for an
	// unknown id.
	CreateToken(ctx context.Context, t Token) error
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	ListTokens(ctx context.Context, orgID string) ([]Token, error) // by created; all orgs when empty
	RevokeToken(ctx context.Context, id string, at time.Time) error

	// Grants. SetGrant creates or replaces; a grant with neither Read nor
	// Write is removed. SetGrant returns ErrNotFound when the collection or
	// organisation does not exist. GetGrant returns ErrNotFound when there
	// is none.
	SetGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, collection, orgID string) (Grant, error)
	ListGrants(ctx context.Context, collection string) ([]Grant, error)

	// Records are small named values that must survive and be shared by
	// all nodes (TAXII status resources, pull positions, settings).
	// GetRecord returns ErrNotFound for a missing key. ListRecords
	// returns, in bytewise key order, at most limit records whose key
	// starts with prefix and sorts strictly after after (empty: from the
	// first); page by passing the last key returned as after. An error if
	// limit <= 0. DeleteRecord removes a key; a missing key is not an
	// error.
	GetRecord(ctx context.Context, key string) ([]byte, error)
	SetRecord(ctx context.Context, key string, value []byte) error
	ListRecords(ctx context.Context, prefix, after string, limit int) ([]Record, error)
	DeleteRecord(ctx context.Context, key string) error

	// Log is the audit log's storage. Every mutating method above calls
	// the installed Recorder inside its transaction (see log.go).
	Log

	Close() error
}
