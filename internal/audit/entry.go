package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"fusion/internal/jsonscan"
	"fusion/internal/store"
)

// SchemaVersion is the "v" of the entries this package writes. Version 2
// changed only the "objects" of served and denied entries, from a list of
// [id, version] pairs to objects grouped by type and id with versions as
// Unix microseconds (see Items); every other field is as in version 1.
// Version 3 records the versions a change stores in accepted entries,
// many versions each (see AcceptedList), instead of one object.accepted
// entry per version. Version 4 changes the "objects" of served and
// denied entries again: the versions of a type whose ids end in
// canonical UUIDs and whose version keys are whole microseconds within
// ±2^53 are one string of packed 24-byte records (see Items); and the
// accepted member of accepted entries likewise, one string of 64-byte
// records (UUID, date_added, SHA-256, version key) for each type whose
// versions can all be packed (see AcceptedList). ParseEntry reads all
// four; Encode writes the form of e.V.
const SchemaVersion = 4

// Entry kinds ("kind").
const (
	KindAccepted          = "accepted"           // new object versions of one source were stored (version 3)
	KindObjectAccepted    = "object.accepted"    // a new object version was stored (versions 1 and 2)
	KindObjectDeleted     = "object.deleted"     // versions of an object were deleted
	KindCollectionCreated = "collection.created" // admin
	KindCollectionUpdated = "collection.updated" // admin
	KindCollectionDeleted = "collection.deleted" // admin
	KindOrgCreated        = "org.created"        // admin
	KindTokenCreated      = "token.created"      // admin; never the secret or its hash
	KindTokenRevoked      = "token.revoked"      // admin
	KindGrantSet          = "grant.set"          // admin; read and write both false: removed
	KindAssetsSet         = "assets.set"         // a protected-asset list was set (digest only)
	KindServed            = "served"             // object versions of one source sent in one response
	KindDenied            = "denied"             // a policy decision refused access
	KindGuard             = "guard"              // the customer-data guard blocked, redacted or quarantined an object
)

// Paths of served and denied entries ("path").
const (
	PathTAXIIObjects    = "taxii.objects"
	PathTAXIIObject     = "taxii.object"
	PathTAXIIVersions   = "taxii.versions"
	PathTAXIIManifest   = "taxii.manifest"
	PathTAXIICollection = "taxii.collection" // denied only: the collection resource
	PathTAXIIPost       = "taxii.post"
	PathTAXIIDelete     = "taxii.delete" // denied only
	PathExport          = "export"
	PathMatch           = "match"
	PathReport          = "report"
)

// Reasons of denied entries ("reason").
const (
	ReasonPolicy  = "policy"          // the sharing policy (package policy) hid the versions named
	ReasonNoGrant = "no grant"        // no grant on the collection: answered as not found
	ReasonNoRead  = "no read access"  // a grant, but not to read (or not the read role)
	ReasonNoWrite = "no write access" // a grant, but not to write (or not the write role)
)

// Item is one object version named by a served or denied entry. Alone
// in JSON (version 1 entries, receipt summaries) it is a compact array,
// [id, version], or [id] for an object without a version key; version 2
// entries group Items (see Items).
type Item struct {
	ID      string
	Version string // STIX timestamp of the version key; "" for unversioned objects
}

// MarshalJSON writes the canonical form.
func (it Item) MarshalJSON() ([]byte, error) { return it.appendTo(nil), nil }

func (it *Item) appendTo(b []byte) []byte {
	b = append(b, '[')
	b = appendString(b, it.ID)
	if it.Version != "" {
		b = append(b, ',')
		b = appendString(b, it.Version)
	}
	return append(b, ']')
}

// UnmarshalJSON reads [id] or [id, version] (strings).
func (it *Item) UnmarshalJSON(data []byte) error {
	var ss []string
	if err := json.Unmarshal(data, &ss); err != nil {
		return err
	}
	if len(ss) < 1 || len(ss) > 2 {
		return errors.New("an object is [id] or [id, version]")
	}
	it.ID = ss[0]
	if len(ss) == 2 {
		it.Version = ss[1]
	}
	return nil
}

// Entry is one audit log entry. Only the fields of its Kind are set;
// Encode leaves the zero ones out. Times are strings so that an entry
// read back encodes to the same bytes: "t" is UTC with exactly six
// fractional digits, object version keys are STIX timestamps
// (stix.FormatTimestamp). The JSON names are in sorted order here, as
// they are in the encoding. docs/audit.md lists the fields of each kind.
type Entry struct {
	Accepted   AcceptedList `json:"accepted,omitzero"`    // accepted: the versions stored
	Action     string       `json:"action,omitzero"`      // guard: block, redact or quarantine
	Actor      string       `json:"actor,omitzero"`       // the acting organisation's id; absent: the operator or the hub itself
	Added      string       `json:"added,omitzero"`       // object.accepted: date_added
	Alias      string       `json:"alias,omitzero"`       // collection.created/updated
	APIRoot    string       `json:"api_root,omitzero"`    // collection.created/updated
	Collection string       `json:"collection,omitzero"`  // the collection's id
	Count      int64        `json:"count,omitzero"`       // object.deleted: versions removed; assets.set: list entries
	Country    string       `json:"country,omitzero"`     // org.created: ISO 3166-1 alpha-2 of a member
	DefaultTLP string       `json:"default_tlp,omitzero"` // collection.created/updated
	Expires    string       `json:"expires,omitzero"`     // token.created
	ID         string       `json:"id,omitzero"`          // object.accepted/deleted, guard: the STIX object id
	Kind       string       `json:"kind"`                 // one of the Kind constants
	MediaTypes []string     `json:"media_types,omitzero"` // collection.created/updated
	Name       string       `json:"name,omitzero"`        // org.created: the organisation's name
	Objects    Items        `json:"objects,omitzero"`     // served, denied
	Org        string       `json:"org,omitzero"`         // the organisation acted upon or served to
	OrgKind    string       `json:"org_kind,omitzero"`    // org.created: partner, hub or member
	Path       string       `json:"path,omitzero"`        // served, denied: a Path constant
	Read       bool         `json:"read,omitzero"`        // grant.set
	Reason     string       `json:"reason,omitzero"`      // denied: why, in words that hold no object content
	Revoked    string       `json:"revoked,omitzero"`     // token.revoked: when
	Role       string       `json:"role,omitzero"`        // token.created
	Rules      []string     `json:"rules,omitzero"`       // guard: rule kinds that matched (cidr, domain, …), never the value
	SHA256     string       `json:"sha256,omitzero"`      // object.accepted: hex SHA-256 of the object's stored bytes; assets.set: of the list
	Source     string       `json:"source,omitzero"`      // the organisation whose data it is
	Time       string       `json:"t"`                    // when the entry was made
	Title      string       `json:"title,omitzero"`       // collection.created/updated
	Token      string       `json:"token,omitzero"`       // token.created/revoked: the token's id (not a secret)
	V          int          `json:"v"`                    // SchemaVersion
	Version    string       `json:"version,omitzero"`     // object.accepted: the version key
	Write      bool         `json:"write,omitzero"`       // grant.set
}

// Concerns reports whether the entry concerns organisation org: it acted,
// the data is its own, or it was acted upon or served to. These are the
// entries an organisation that is not a hub admin may read.
//
// A denied entry concerns only the source of the data it names (Source):
// the refused organisation got the refusal as its answer already, and the
// entry would tell it more than that answer did (the ids of objects the
// policy hid from it, or that a collection it has no grant on exists,
// where it was told "not found"). A denied entry without a source (a
// refusal at the collection) is for hub admins only.
func (e *Entry) Concerns(org string) bool {
	if org == "" {
		return false
	}
	if e.Kind == KindDenied {
		return e.Source == org
	}
	return e.Actor == org || e.Source == org || e.Org == org
}

// FormatTime is the form of an entry's "t" (and of added, expires and
// revoked): UTC, microseconds.
func FormatTime(t time.Time) string { return string(appendTimestamp(make([]byte, 0, 27), t.UTC(), 6)) }

// ParseEntry decodes an entry. It rejects malformed JSON, invalid UTF-8,
// duplicate names and entries without kind or t; unknown names are
// ignored (newer kinds may add some). It does not check that data is in
// canonical form: compare Encode of the result with data for that.
func ParseEntry(data []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("audit entry: %w", err)
	}
	if e.Kind == "" {
		return Entry{}, errors.New("audit entry: no kind")
	}
	if e.Time == "" {
		return Entry{}, errors.New("audit entry: no t")
	}
	return e, nil
}

// Encode returns the canonical encoding of e: a JSON object with the
// non-zero fields (kind, t and v always), names in ascending byte order,
// no whitespace, strings escaped as RFC 8785 section 3.2.2.2 does (only
// '"', '\\' and control characters; invalid UTF-8 becomes U+FFFD).
func Encode(e *Entry) []byte {
	return e.appendTo(make([]byte, 0, 256))
}

func (e *Entry) appendTo(b []byte) []byte {
	w := objWriter{b: append(b, '{')}
	if len(e.Accepted) > 0 {
		w.key("accepted")
		w.b = appendAccepted(w.b, e.Accepted.keys(), e.V >= 4)
	}
	w.str("action", e.Action)
	w.str("actor", e.Actor)
	w.str("added", e.Added)
	w.str("alias", e.Alias)
	w.str("api_root", e.APIRoot)
	w.str("collection", e.Collection)
	w.int("count", e.Count, false)
	w.str("country", e.Country)
	w.str("default_tlp", e.DefaultTLP)
	w.str("expires", e.Expires)
	w.str("id", e.ID)
	w.key("kind")
	w.b = appendString(w.b, e.Kind)
	if len(e.MediaTypes) > 0 {
		w.key("media_types")
		w.b = appendStrings(w.b, e.MediaTypes)
	}
	w.str("name", e.Name)
	if len(e.Objects) > 0 {
		w.key("objects")
		if e.V >= 2 {
			w.b = appendGrouped(w.b, itemKeys(e.Objects), e.V >= 4)
		} else {
			w.b = append(w.b, '[')
			for i := range e.Objects {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.b = e.Objects[i].appendTo(w.b)
			}
			w.b = append(w.b, ']')
		}
	}
	w.str("org", e.Org)
	w.str("org_kind", e.OrgKind)
	w.str("path", e.Path)
	w.bool("read", e.Read)
	w.str("reason", e.Reason)
	w.str("revoked", e.Revoked)
	w.str("role", e.Role)
	if len(e.Rules) > 0 {
		w.key("rules")
		w.b = appendStrings(w.b, e.Rules)
	}
	w.str("sha256", e.SHA256)
	w.str("source", e.Source)
	w.key("t")
	w.b = appendString(w.b, e.Time)
	w.str("title", e.Title)
	w.str("token", e.Token)
	w.int("v", int64(e.V), true)
	w.str("version", e.Version)
	w.bool("write", e.Write)
	return append(w.b, '}')
}

type objWriter struct {
	b    []byte
	more bool
}

func (w *objWriter) key(k string) {
	if w.more {
		w.b = append(w.b, ',')
	}
	w.more = true
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *objWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.b = appendString(w.b, v)
}

func (w *objWriter) int(k string, v int64, always bool) {
	if v == 0 && !always {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *objWriter) bool(k string, v bool) {
	if !v {
		return
	}
	w.key(k)
	w.b = append(w.b, "true"...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way RFC 8785 does: '"' and
// '\\' escaped, control characters as \b \t \n \f \r or \u00xx, everything
// else as UTF-8; invalid UTF-8 bytes become U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = jsonscan.PlainASCIIEnd(s, i); i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf { // a quote, a backslash or a control character
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\t':
				b = append(b, '\\', 't')
			case '\n':
				b = append(b, '\\', 'n')
			case '\f':
				b = append(b, '\\', 'f')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ObjectSHA256 is the digest an accepted entry carries: SHA-256 of
// the object's stored bytes (stix.Object.Raw, store.Version.Raw), hex.
func ObjectSHA256(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Access describes one response of a read path (or one refusal) for
// Served and Denied.
type Access struct {
	Time       time.Time
	Actor      string // the organisation that asked
	To         string // the organisation the objects go to; "" means Actor
	Path       string // a Path constant
	Collection string // the collection's id; "" when none
	Reason     string // Denied only: why, without any object content
}

// Served returns the entries recording that the versions vs were sent in
// one response: one entry per source organisation (in order of first
// appearance), so that each entry concerns exactly the recipient and one
// source and can be shown to both without showing one source's objects to
// another. No entries when vs is empty. Only ID, Modified and Source of
// each version are used.
func Served(a Access, vs []store.Version) [][]byte {
	return accessEntries(KindServed, a, vs)
}

// Denied returns the entries recording that a policy decision refused a:
// one without objects when vs is empty (a refusal at the collection:
// no grant, no read role), else one per source of vs, naming the
// versions withheld (as Served does). Only ids and version keys go in,
// never content. Entry.Concerns shows such an entry to the source of the
// withheld versions and hub admins, never to the refused organisation.
func Denied(a Access, vs []store.Version) [][]byte {
	out := accessEntries(KindDenied, a, vs)
	if len(vs) == 0 {
		e := accessEntry(KindDenied, a, "")
		out = append(out, Encode(&e))
	}
	return out
}

// Response returns the entries of one read response, to be appended in
// one Log.Append call: Served for the versions sent, then, when the
// policy withheld versions the request matched, one denied entry per
// source of withheld (reason a.Reason, ReasonPolicy when empty) naming
// them by id and version. Nothing when both are empty. Read paths list
// what they hide once per response, never one entry per object, and only
// versions they examined for this response (not those a look-ahead read
// past the end of the page).
func Response(a Access, served, withheld []store.Version) [][]byte {
	out := accessEntries(KindServed, a, served)
	if len(withheld) > 0 {
		if a.Reason == "" {
			a.Reason = ReasonPolicy
		}
		out = append(out, accessEntries(KindDenied, a, withheld)...)
	}
	return out
}

// VersionKeys copies what Served, Denied and Response use of each version
// (ID, Modified, Source): take it before policy.Filter.Visible, which
// compacts its input in place, to find what it withheld with Withheld.
func VersionKeys(vs []store.Version) []store.Version {
	out := make([]store.Version, len(vs))
	for i := range vs {
		out[i] = store.Version{ID: vs[i].ID, Modified: vs[i].Modified, Source: vs[i].Source}
	}
	return out
}

// Withheld returns the versions of keys (VersionKeys of a filter's input)
// that are not in kept, the subsequence of that input the filter kept
// (policy.Filter.Visible keeps order; a version is unique by id and
// modified).
func Withheld(keys, kept []store.Version) []store.Version {
	var out []store.Version
	k := 0
	for _, v := range keys {
		if k < len(kept) && kept[k].ID == v.ID && kept[k].Modified.Equal(v.Modified) {
			k++
			continue
		}
		out = append(out, v)
	}
	return out
}

func accessEntry(kind string, a Access, source string) Entry {
	to := a.To
	if to == "" {
		to = a.Actor
	}
	e := Entry{Kind: kind, V: SchemaVersion, Time: FormatTime(a.Time), Actor: a.Actor, Org: to,
		Path: a.Path, Collection: a.Collection, Source: source}
	if kind == KindDenied {
		e.Reason = a.Reason
	}
	return e
}

// accessEntries encodes the entries of Served and Denied directly from
// vs, without building Items: this runs on every page a read path serves.
// The bytes are exactly Encode's (TestAccessEntriesMatchEncode). Packed
// types (the usual case) are written straight from vs, without an
// objKey per version.
func accessEntries(kind string, a Access, vs []store.Version) [][]byte {
	if len(vs) == 0 {
		return nil
	}
	// Sources in order of first appearance; a page rarely has many.
	var sources []string
	for i := range vs {
		if !slices.Contains(sources, vs[i].Source) {
			sources = append(sources, vs[i].Source)
		}
	}
	base := accessEntry(kind, a, "")
	t := FormatTime(a.Time)
	out := make([][]byte, 0, len(sources))
	g := accessGroups{vs: vs, typeOf: make([]int32, len(vs)), recs: make([]byte, packedRecord*len(vs))}
	for _, src := range sources {
		g.group(src)
		size := 256 + len(base.Actor) + len(base.Collection) + len(base.Org) + len(base.Path) + len(base.Reason) + len(src) + g.size()
		w := objWriter{b: make([]byte, 0, size)}
		w.b = append(w.b, '{')
		w.str("actor", base.Actor)
		w.str("collection", base.Collection)
		w.key("kind")
		w.b = appendString(w.b, kind)
		w.key("objects")
		w.b = g.appendTo(w.b)
		w.str("org", base.Org)
		w.str("path", base.Path)
		w.str("reason", base.Reason)
		w.str("source", src)
		w.key("t")
		w.b = appendString(w.b, t)
		w.int("v", SchemaVersion, true)
		out = append(out, append(w.b, '}'))
	}
	return out
}

// accessGroups groups the versions of one source of a response by type
// for accessEntries, with each version's packed record; its slices are
// reused from one source to the next.
type accessGroups struct {
	vs     []store.Version
	types  []accessType // of the current source, in order of appearance
	order  []int        // indexes in types, by name
	typeOf []int32      // index in types of vs[i]; -1: another source
	recs   []byte       // the record of vs[i] at i*packedRecord, while its type is packable
	keys   []objKey
}

// accessType is one type of the versions of an entry accessEntries
// writes.
type accessType struct {
	name   string
	n      int  // versions
	packed bool // all of them packable
}

// group finds the types of src's versions and which of them can be
// packed, writing the records of those that still can.
func (g *accessGroups) group(src string) {
	g.types = g.types[:0]
	last := -1
	for i := range g.vs {
		v := &g.vs[i]
		if v.Source != src {
			g.typeOf[i] = -1
			continue
		}
		typ, rest := splitID(v.ID)
		j := last
		if j < 0 || g.types[j].name != typ {
			j = slices.IndexFunc(g.types, func(at accessType) bool { return at.name == typ })
			if j < 0 {
				j = len(g.types)
				g.types = append(g.types, accessType{name: typ, packed: typ != ""})
			}
			last = j
		}
		g.typeOf[i] = int32(j)
		at := &g.types[j]
		at.n++
		if at.packed {
			us, exact := exactMicros(v.Modified)
			if v.Modified.IsZero() {
				us, exact = noVersionKey, true
			}
			at.packed = putRecord((*[packedRecord]byte)(g.recs[i*packedRecord:]), rest, us) && exact
		}
	}
	g.order = g.order[:0]
	for j := range g.types {
		g.order = append(g.order, j)
	}
	slices.SortFunc(g.order, func(x, y int) int { return strings.Compare(g.types[x].name, g.types[y].name) })
}

// size is about the bytes appendTo writes (exact for packed types).
func (g *accessGroups) size() int {
	n := 0
	for _, at := range g.types {
		n += len(at.name) + 4 + at.n*packedChars
		if !at.packed {
			n += at.n * 32
		}
	}
	return n
}

// appendTo writes the grouped "objects" of the current source: each
// packed type as one string of its records (consecutive records encoded
// at once), any other in the list form.
func (g *accessGroups) appendTo(b []byte) []byte {
	b = append(b, '{')
	for n, j := range g.order {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, g.types[j].name)
		b = append(b, ':')
		if !g.types[j].packed {
			g.keys = g.keys[:0]
			for i := range g.vs {
				if g.typeOf[i] == int32(j) {
					g.keys = append(g.keys, versionObjKey(g.vs[i].ID, g.vs[i].Modified))
				}
			}
			b = appendTypeList(b, g.keys)
			continue
		}
		b = append(b, '"')
		for i := 0; i < len(g.vs); {
			if g.typeOf[i] != int32(j) {
				i++
				continue
			}
			end := i + 1
			for end < len(g.vs) && g.typeOf[end] == int32(j) {
				end++
			}
			b = appendRecords(b, g.recs[i*packedRecord:end*packedRecord])
			i = end
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendVersionKey appends stix.FormatTimestamp(t) without allocating:
// milliseconds, or micro- or nanoseconds when t carries them.
func appendVersionKey(b []byte, t time.Time) []byte {
	t = t.UTC()
	ns := t.Nanosecond()
	switch {
	case ns%1e6 == 0:
		return appendTimestamp(b, t, 3)
	case ns%1e3 == 0:
		return appendTimestamp(b, t, 6)
	}
	return appendTimestamp(b, t, 9)
}

// appendTimestamp appends UTC t as YYYY-MM-DDThh:mm:ss.fffZ with digits
// fractional digits (3, 6 or 9). Years outside 0–9999 take the slow path.
func appendTimestamp(b []byte, t time.Time, digits int) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05."+"000000000"[:digits]+"Z")
	}
	hour, min, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.')
	frac := t.Nanosecond()
	for range 9 - digits {
		frac /= 10
	}
	var d [9]byte
	for i := digits - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	b = append(b, d[:digits]...)
	return append(b, 'Z')
}

// GuardDecision is what the customer-data guard decided about one object,
// for Guard.
type GuardDecision struct {
	Time       time.Time
	Actor      string   // the organisation that submitted it
	Source     string   // whose data it is ("" means Actor)
	Collection string   // the collection it was submitted to
	ObjectID   string   // the STIX id ("" when unreadable)
	Action     string   // "block", "redact" or "quarantine"
	Rules      []string // rule kinds that matched (guard.Kind.String()); never the matched value
}

// Guard returns the entry recording a guard decision. Rules are sorted
// and deduplicated.
func Guard(d GuardDecision) []byte {
	src := d.Source
	if src == "" {
		src = d.Actor
	}
	rules := slices.Clone(d.Rules)
	slices.Sort(rules)
	rules = slices.Compact(rules)
	e := Entry{Kind: KindGuard, V: SchemaVersion, Time: FormatTime(d.Time), Actor: d.Actor, Source: src,
		Collection: d.Collection, ID: d.ObjectID, Action: d.Action, Rules: rules}
	return Encode(&e)
}

// AssetsSet returns the entry recording that org's protected-asset list
// was set by actor: only the list's SHA-256 and its number of entries,
// never its content.
func AssetsSet(at time.Time, actor, org string, digest [32]byte, count int) []byte {
	e := Entry{Kind: KindAssetsSet, V: SchemaVersion, Time: FormatTime(at), Actor: actor, Org: org,
		SHA256: hex.EncodeToString(digest[:]), Count: int64(count)}
	return Encode(&e)
}
