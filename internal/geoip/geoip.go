// Package geoip maps IP addresses to countries with a MaxMind DB format
// country database (the MaxMind DB File Format Specification, version 2.0,
// read by github.com/oschwald/maxminddb-golang/v2): GeoLite2-Country,
// GeoIP2-Country or -City, DB-IP's and IPinfo's country databases, or
// one a test writes with github.com/maxmind/mmdbwriter.
//
// The hub keeps its database in two places (Save): as the file
// DATA/geoip/country.mmdb, written atomically, and in the store as
// records (the bytes in 1 MiB chunks and a metadata record with its
// SHA-256), so that every node sharing a PostgreSQL store finds the same
// database (Current) even when its data directory is empty.
package geoip

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Meta describes a loaded database.
type Meta struct {
	SHA256    string    `json:"sha256"`          // hex SHA-256 of the file
	Size      int64     `json:"size"`            // bytes
	Type      string    `json:"database_type"`   // the database_type of its metadata, e.g. GeoLite2-Country
	Built     time.Time `json:"built"`           // its build_epoch
	IPVersion int       `json:"ip_version"`      // 4: IPv4 only; 6: both
	Name      string    `json:"name,omitempty"`  // the file name it was loaded from (base name)
	Loaded    time.Time `json:"loaded,omitzero"` // when fusion geoip load stored it
}

// DB is a validated country database. It is safe for concurrent use.
type DB struct {
	r    *maxminddb.Reader
	raw  []byte
	meta Meta

	mu    sync.RWMutex
	cache map[uintptr]string // record offset → ISO code ("" for none)
}

// maxCheckedNetworks is how many networks (with data or without) Parse
// visits to find a country field. Every visit counts, aliased IPv4
// subtrees included (the reader skips those silently otherwise), so that
// a hostile search tree whose nodes are shared so that paths multiply
// cannot keep a walk busy without it counting.
const maxCheckedNetworks = 1 << 16

// Parse validates a database held in b and returns it; name (a file
// name) is used in errors and kept in Meta. It fails with an error naming
// the file and the problem when b is not a MaxMind DB file, is corrupt
// (its search tree or data section does not verify), is not a country or
// city database (by its database_type), or its records carry no country
// ISO code (country.iso_code or registered_country.iso_code, or country
// as a plain code as in IPinfo's databases).
func Parse(name string, b []byte) (db *DB, err error) {
	defer func() {
		// The reader is meant to report bad data as errors; a panic on
		// some hostile file must not take the hub down either.
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("geoip: %s: not a valid MaxMind DB file (%v)", name, p)
		}
	}()
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip: %s: not a MaxMind DB file: %v", name, err)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("geoip: %s: corrupt MaxMind DB file: %v", name, err)
	}
	md := r.Metadata
	lt := strings.ToLower(md.DatabaseType)
	if !strings.Contains(lt, "country") && !strings.Contains(lt, "city") {
		return nil, fmt.Errorf("geoip: %s: database type %q is not a country database (want a type naming Country or City, e.g. GeoLite2-Country)", name, md.DatabaseType)
	}
	sum := sha256.Sum256(b)
	db = &DB{r: r, raw: b, cache: map[uintptr]string{}, meta: Meta{
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), Type: md.DatabaseType,
		IPVersion: int(md.IPVersion), Name: name,
	}}
	if md.BuildEpoch > 0 {
		db.meta.Built = md.BuildTime().UTC()
	}
	n, withData, found := 0, 0, false
	for res := range r.Networks(maxminddb.IncludeNetworksWithoutData(), maxminddb.IncludeAliasedNetworks()) {
		if res.Err() != nil {
			return nil, fmt.Errorf("geoip: %s: corrupt MaxMind DB file: %v", name, res.Err())
		}
		if res.Found() {
			withData++
			if cc, _ := decodeCountry(res); cc != "" {
				found = true
				break
			}
		}
		if n++; n >= maxCheckedNetworks {
			break
		}
	}
	if !found {
		if withData == 0 {
			return nil, fmt.Errorf("geoip: %s: the database holds no networks with data", name)
		}
		return nil, fmt.Errorf("geoip: %s: no country field: none of its first %d networks has country.iso_code or registered_country.iso_code", name, withData)
	}
	return db, nil
}

// OpenFile reads and validates the database at path (see Parse).
func OpenFile(path string) (*DB, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	return Parse(path, b)
}

// Meta describes the database.
func (d *DB) Meta() Meta { return d.meta }

// decodeCountry reads the ISO 3166-1 alpha-2 code of a record: its
// country, else its registered country (where the block is registered,
// for blocks without a located country, e.g. anycast).
func decodeCountry(res maxminddb.Result) (string, error) {
	var rec struct {
		Country    any `maxminddb:"country"`
		Registered struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"registered_country"`
	}
	if err := res.Decode(&rec); err != nil {
		return "", err
	}
	cc := ""
	switch c := rec.Country.(type) {
	case map[string]any:
		cc, _ = c["iso_code"].(string)
	case string:
		cc = c
	}
	if cc == "" {
		cc = rec.Registered.ISOCode
	}
	if len(cc) != 2 {
		return "", nil
	}
	return strings.ToUpper(cc), nil
}

// Country returns the ISO 3166-1 alpha-2 code (upper case) of the country
// a holds, or "" when the database does not know it. IPv4-mapped IPv6
// addresses are looked up as IPv4.
func (d *DB) Country(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is6() && d.meta.IPVersion == 4 {
		return ""
	}
	return d.country(d.r.Lookup(a))
}

func (d *DB) country(res maxminddb.Result) string {
	if res.Err() != nil || !res.Found() {
		return ""
	}
	off := res.Offset()
	d.mu.RLock()
	cc, ok := d.cache[off]
	d.mu.RUnlock()
	if ok {
		return cc
	}
	cc, _ = decodeCountry(res)
	d.mu.Lock()
	if len(d.cache) < 1<<16 {
		d.cache[off] = cc
	}
	d.mu.Unlock()
	return cc
}

// MaxPrefixNetworks bounds how many of the database's networks (with data
// or without) Countries examines inside one prefix: a /8 can hold
// thousands.
const MaxPrefixNetworks = 4096

// Countries returns the countries of every network of the database that
// overlaps p (for a prefix inside one network, that network's country),
// each once, in the order found. When p holds more than MaxPrefixNetworks
// networks only the first ones are examined, and the country of p's
// network address is always included.
func (d *DB) Countries(p netip.Prefix) []string {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return nil
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Addr().Is6() && d.meta.IPVersion == 4 {
		return nil
	}
	var out []string
	add := func(cc string) {
		if cc == "" {
			return
		}
		for _, x := range out {
			if x == cc {
				return
			}
		}
		out = append(out, cc)
	}
	add(d.Country(p.Addr()))
	if p.IsSingleIP() {
		return out
	}
	n := 0
	for res := range d.r.NetworksWithin(p, maxminddb.IncludeNetworksWithoutData(), maxminddb.IncludeAliasedNetworks()) {
		if res.Err() != nil {
			break
		}
		add(d.country(res))
		if n++; n >= MaxPrefixNetworks {
			break
		}
	}
	return out
}

// ErrNotLoaded: no database has been loaded into the store.
var ErrNotLoaded = errors.New("no geoip database loaded; run: fusion geoip load FILE.mmdb")
