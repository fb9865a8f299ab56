package taxii

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// Which URL parameters an endpoint takes (TAXII 2.1 section 3.4 and the
// parameter tables of sections 5.3-5.8). Parameters an endpoint does not
// take are ignored, as are unknown ones, so that clients sending extra
// filters still work.
type paramSet uint8

const (
	pAddedAfter paramSet = 1 << iota
	pLimit
	pNext
	pMatchID
	pMatchType
	pMatchVersion
	pMatchSpecVersion
)

const (
	paramsList     = pAddedAfter | pLimit | pNext | pMatchID | pMatchType | pMatchVersion | pMatchSpecVersion // objects, manifest
	paramsObject   = pAddedAfter | pLimit | pNext | pMatchVersion | pMatchSpecVersion
	paramsVersions = pAddedAfter | pLimit | pNext | pMatchSpecVersion
	paramsDelete   = pMatchVersion | pMatchSpecVersion
)

// maxMatchValues bounds the comma-separated values of one match filter,
// so that a query string cannot make the server build a huge query.
const maxMatchValues = 100

// filters are the parsed URL parameters of a request.
type filters struct {
	after        time.Time // max(added_after, next): the effective lower bound
	limit        int       // 1..maxPageSize
	ids          []string
	types        []string
	versions     store.VersionMatch
	specVersions []string
}

// parseFilters reads the parameters allowed in set from q. Values of
// repeated parameters and comma-separated values are ORed. Bad values are
// a 400 naming the parameter. limit is clamped to maxPage (section 3.4.1
// lets the server return fewer than asked); a missing limit means maxPage.
func parseFilters(q url.Values, set paramSet, maxPage int) (filters, error) {
	f := filters{limit: maxPage}
	if set&pAddedAfter != 0 {
		if v, ok := single(q, "added_after"); ok {
			t, err := stix.ParseTimestamp(v)
			if err != nil {
				return f, badParam("added_after", v, "must be a timestamp such as 2016-02-01T00:00:01.000Z")
			}
			f.after = t
		} else if len(q["added_after"]) > 1 {
			return f, badParam("added_after", strings.Join(q["added_after"], ","), "must be given once")
		}
	}
	if set&pNext != 0 {
		if v, ok := single(q, "next"); ok {
			t, err := decodeCursor(v)
			if err != nil {
				return f, badParam("next", v, "is not a value this server returned")
			}
			// A client may keep added_after while following next: the
			// later of the two is where the page starts.
			if t.After(f.after) {
				f.after = t
			}
		} else if len(q["next"]) > 1 {
			return f, badParam("next", "", "must be given once")
		}
	}
	if set&pLimit != 0 {
		if v, ok := single(q, "limit"); ok {
			n, err := parseLimit(v)
			if err != nil {
				return f, badParam("limit", v, err.Error())
			}
			if n < f.limit {
				f.limit = n
			}
		} else if len(q["limit"]) > 1 {
			return f, badParam("limit", "", "must be given once")
		}
	}
	var err error
	if set&pMatchID != 0 {
		if f.ids, err = matchValues(q, "match[id]", validID); err != nil {
			return f, err
		}
	}
	if set&pMatchType != 0 {
		if f.types, err = matchValues(q, "match[type]", validType); err != nil {
			return f, err
		}
	}
	if set&pMatchSpecVersion != 0 {
		if f.specVersions, err = matchValues(q, "match[spec_version]", validSpecVersion); err != nil {
			return f, err
		}
	}
	if set&pMatchVersion != 0 {
		vs, err := matchValues(q, "match[version]", validVersion)
		if err != nil {
			return f, err
		}
		for _, v := range vs {
			switch v {
			case "all":
				f.versions.All = true
			case "first":
				f.versions.First = true
			case "last":
				f.versions.Last = true
			default:
				t, _ := stix.ParseTimestamp(v) // checked by validVersion
				f.versions.At = append(f.versions.At, t)
			}
		}
	}
	return f, nil
}

// single returns the value of a parameter given exactly once.
func single(q url.Values, name string) (string, bool) {
	vs := q[name]
	if len(vs) != 1 {
		return "", false
	}
	return vs[0], true
}

func parseLimit(v string) (int, error) {
	if v == "" || len(v) > 9 {
		return 0, errString("must be a whole number from 1 to 999999999")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errString("must be a whole number from 1 to 999999999")
		}
	}
	n, _ := strconv.Atoi(v)
	if n < 1 {
		return 0, errString("must be at least 1")
	}
	return n, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// matchValues splits a match filter's values (repeated parameters and
// commas both OR), checking each.
func matchValues(q url.Values, name string, check func(string) string) ([]string, error) {
	raw := q[name]
	if len(raw) == 0 {
		return nil, nil
	}
	var out []string
	for _, r := range raw {
		for _, v := range strings.Split(r, ",") {
			if len(out) == maxMatchValues {
				return nil, badParam(name, "", "takes at most "+strconv.Itoa(maxMatchValues)+" values")
			}
			if why := check(v); why != "" {
				return nil, badParam(name, v, why)
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func validID(v string) string {
	typ, u, ok := strings.Cut(v, "--")
	if !ok || validType(typ) != "" || !stix.IsUUID(u) {
		return "must be a STIX identifier such as indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	}
	return ""
}

// validType follows the STIX type-name rule (spec 3.1): 3-250 ASCII
// lowercase letters, digits and hyphens.
func validType(v string) string {
	const why = "must be a STIX type such as indicator"
	if len(v) < 3 || len(v) > 250 {
		return why
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return why
		}
	}
	return ""
}

func validSpecVersion(v string) string {
	const why = "must be a STIX version such as 2.1"
	maj, min, ok := strings.Cut(v, ".")
	if !ok || !digits(maj, 3) || !digits(min, 3) {
		return why
	}
	return ""
}

func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validVersion(v string) string {
	switch v {
	case "all", "first", "last":
		return ""
	}
	if _, err := stix.ParseTimestamp(v); err != nil {
		return "must be first, last, all or a timestamp such as 2016-01-01T01:01:01.000Z"
	}
	return ""
}

func badParam(name, value, why string) *Error {
	e := Errorf(http.StatusBadRequest, "URL parameter %s %s", name, why)
	if value != "" {
		if len(value) > 80 {
			value = value[:80] + "…"
		}
		e.Description = "URL parameter " + name + "=" + strconv.Quote(value) + " " + why
	}
	return e
}

// The next cursor (section 3.4.1) is opaque to clients. It encodes the
// date_added of the last version of the page it came with; the following
// page starts strictly after it, which never skips or repeats a version
// because date_added only grows within a collection. Layout: one version
// byte (1), then the microseconds since the Unix epoch as a big-endian
// uint64; base64url without padding.
const cursorVersion = 1

// cursorMax is the latest time a cursor may hold (year 9999).
var cursorMax = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)

func encodeCursor(t time.Time) string {
	var b [9]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(t.UnixMicro()))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeCursor(s string) (time.Time, error) {
	if len(s) != 12 {
		return time.Time{}, errString("bad cursor length")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 9 || b[0] != cursorVersion {
		return time.Time{}, errString("bad cursor")
	}
	us := binary.BigEndian.Uint64(b[1:])
	if us > uint64(cursorMax.UnixMicro()) {
		return time.Time{}, errString("cursor out of range")
	}
	return time.UnixMicro(int64(us)).UTC(), nil
}

// formatDateAdded writes a date_added with microsecond precision, the
// precision the store keeps (section 3.4.1 asks for at least
// milliseconds; more keeps added_after exact).
func formatDateAdded(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}
