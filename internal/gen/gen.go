// Package gen generates synthetic but realistic STIX 2.1 content for
// benchmarks and tests: indicators with STIX patterns (IPv4 and IPv6
// addresses and CIDRs, domains, URLs, e-mail addresses, MD5/SHA-1/SHA-256
// file hashes, network traffic), malware, threat actors, intrusion sets,
// campaigns, attack patterns, vulnerabilities, identities, a statement
// marking definition, relationships between them, sightings, and
// observed-data with the cyber-observable objects it refers to.
//
// Every object follows the STIX 2.1 specification (OASIS Standard, 10 June
// 2021): identifiers are type--UUID with UUIDv4 for SDOs, SROs and the
// marking definition (section 2.9) and deterministic UUIDv5 identifiers in
// the SCO namespace for SCOs (section 6.1: the ID contributing properties
// serialised in canonical JSON); created and modified carry millisecond
// precision and modified >= created (section 3.2); references point at
// objects of the types the spec allows and that were generated earlier in
// the same stream. Objects are marked with the predefined TLP 1.0 and TLP
// 2.0 marking definitions (section 7.2.1.4) by reference.
//
// Output is a pure function of the seed: the same seed gives the same
// bytes. Memory stays bounded whatever the count, because only a few
// hundred recent identifiers are remembered for references.
package gen

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Start is the instant the generated timeline begins.
var Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Predefined TLP marking definitions (STIX 2.1 section 7.2.1.4 for TLP 1.0,
// the OASIS TLP 2.0 extension for TLP 2.0).
const (
	TLPClear       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	TLPGreen       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	TLPAmber       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	TLPAmberStrict = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	TLPRed         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
	TLP1White      = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	TLP1Green      = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	TLP1Amber      = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	TLP1Red        = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
)

// scoNamespace is the UUIDv5 namespace for SCO identifiers (STIX 2.1
// section 2.9).
var scoNamespace = [16]byte{0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c, 0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7}

// recent is how many identifiers of each kind are remembered as
// reference targets.
const recent = 512

// producers is how many organisations produce the content.
const producers = 6

// Generator produces STIX objects one at a time. It is not safe for
// concurrent use.
type Generator struct {
	rng     *rand.Rand
	clock   int64 // milliseconds since the Unix epoch; only grows
	pending [][]byte
	started bool

	identities  []string     // the producers, also where sightings happen
	victims     ring[string] // identities that are targeted
	nIdentities int
	marking     string // the generated statement marking definition

	indicators                                   ring[indicator]
	malware, actors, sets, campaigns, attackPats ring[string]
	vulns, observed                              ring[string]
}

// New returns a generator for seed.
func New(seed uint64) *Generator {
	return &Generator{
		rng:   rand.New(rand.NewPCG(seed, 0x5eed_f051_0000_0001)),
		clock: Start.UnixMilli(),
	}
}

// Next returns the next object's JSON, compact, in a new slice.
func (g *Generator) Next() []byte { return g.AppendNext(nil) }

// AppendNext appends the next object's compact JSON to dst.
func (g *Generator) AppendNext(dst []byte) []byte {
	if !g.started {
		g.started = true
		g.preamble()
	}
	if len(g.pending) == 0 {
		g.step()
	}
	o := g.pending[0]
	g.pending[0] = nil
	g.pending = g.pending[1:]
	return append(dst, o...)
}

// Format is an output layout accepted by fusion ingest.
type Format int

const (
	// Bundle is one STIX bundle with one object per line.
	Bundle Format = iota
	// JSONLines is one object per line, no enclosing value.
	JSONLines
	// Array is a JSON array of objects, one per line.
	Array
)

// ParseFormat maps "bundle", "jsonl" and "array" to a Format.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "bundle":
		return Bundle, nil
	case "jsonl", "jsonlines":
		return JSONLines, nil
	case "array":
		return Array, nil
	}
	return 0, fmt.Errorf("unknown format %q (want bundle, jsonl or array)", s)
}

// Write writes n objects generated from seed to w in format f. The bundle
// id is derived from the seed too, so the output is reproducible.
func Write(w io.Writer, n int, seed uint64, f Format) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	g := New(seed)
	switch f {
	case Bundle:
		id := uuid4(rand.New(rand.NewPCG(seed, 0xb0d1e)))
		fmt.Fprintf(bw, `{"type":"bundle","id":"bundle--%s","objects":[`, id)
	case Array:
		bw.WriteByte('[')
	}
	buf := make([]byte, 0, 4096)
	for i := 0; i < n; i++ {
		buf = buf[:0]
		if f != JSONLines {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '\n')
		}
		buf = g.AppendNext(buf)
		if f == JSONLines {
			buf = append(buf, '\n')
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	switch f {
	case Bundle:
		bw.WriteString("\n]}\n")
	case Array:
		bw.WriteString("\n]\n")
	}
	return bw.Flush()
}

// ring remembers the last `recent` values added.
type ring[T any] struct {
	items []T
	next  int
}

func (r *ring[T]) add(v T) {
	if len(r.items) < recent {
		r.items = append(r.items, v)
		return
	}
	r.items[r.next] = v
	r.next = (r.next + 1) % recent
}

func (r *ring[T]) empty() bool { return len(r.items) == 0 }

func (r *ring[T]) pick(rng *rand.Rand) T { return r.items[rng.IntN(len(r.items))] }

// remove drops the value at index i (order does not matter).
func (r *ring[T]) remove(i int) {
	last := len(r.items) - 1
	r.items[i] = r.items[last]
	r.items = r.items[:last]
	if r.next > len(r.items) {
		r.next = 0
	}
}

// preamble queues the objects everything else refers to: the producing
// organisations, a statement marking, attack patterns and vulnerabilities.
func (g *Generator) preamble() {
	for i := 0; i < producers; i++ {
		g.emit(g.identity())
	}
	g.emit(g.statementMarking())
	for i := 0; i < 8; i++ {
		g.emit(g.attackPattern())
	}
	for i := 0; i < 4; i++ {
		g.emit(g.vulnerability())
	}
}

func (g *Generator) emit(b []byte) { g.pending = append(g.pending, b) }

// step queues the next object or group of objects. The mix per 1000 draws
// is roughly: 370 indicators, 200 relationships, 60 sightings, 60
// observed-data groups (1-3 SCOs each), 25 new indicator versions, 40
// malware, 15 threat actors, 15 intrusion sets, 20 campaigns, 15 attack
// patterns, 10 vulnerabilities, 5 identities.
func (g *Generator) step() {
	g.clock += 1 + int64(g.rng.IntN(1500))
	r := g.rng.IntN(1000)
	switch {
	case r < 370:
		g.emit(g.newIndicator())
	case r < 570:
		g.emit(g.relationship())
	case r < 630:
		if g.indicators.empty() && g.malware.empty() {
			g.emit(g.newIndicator())
			return
		}
		g.emit(g.sighting())
	case r < 690:
		g.observedDataGroup()
	case r < 715:
		if g.indicators.empty() {
			g.emit(g.newIndicator())
			return
		}
		g.emit(g.indicatorVersion())
	case r < 755:
		g.emit(g.malwareSDO())
	case r < 770:
		g.emit(g.threatActor())
	case r < 785:
		g.emit(g.intrusionSet())
	case r < 805:
		g.emit(g.campaign())
	case r < 820:
		g.emit(g.attackPattern())
	case r < 830:
		g.emit(g.vulnerability())
	case r < 835:
		g.emit(g.identity())
	default:
		g.emit(g.newIndicator())
	}
}

// ---- JSON building ----

// obj builds one JSON object member by member.
type obj struct{ b []byte }

func newObj(typ, id string) *obj {
	o := &obj{b: make([]byte, 0, 768)}
	o.b = append(o.b, `{"type":"`...)
	o.b = append(o.b, typ...)
	o.b = append(o.b, `","spec_version":"2.1","id":"`...)
	o.b = append(o.b, id...)
	o.b = append(o.b, '"')
	return o
}

func (o *obj) key(k string) {
	o.b = append(o.b, ',', '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *obj) str(k, v string) {
	o.key(k)
	o.b, _ = jsontext.AppendQuote(o.b, v)
}

func (o *obj) strs(k string, vs ...string) {
	o.key(k)
	o.b = append(o.b, '[')
	for i, v := range vs {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b, _ = jsontext.AppendQuote(o.b, v)
	}
	o.b = append(o.b, ']')
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *obj) raw(k, v string) {
	o.key(k)
	o.b = append(o.b, v...)
}

// ts writes a millisecond timestamp in STIX form.
func (o *obj) ts(k string, ms int64) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = time.UnixMilli(ms).UTC().AppendFormat(o.b, "2006-01-02T15:04:05.000Z")
	o.b = append(o.b, '"')
}

func (o *obj) done() []byte { return append(o.b, '}') }

// ---- identifiers ----

func uuid4(rng *rand.Rand) string {
	var u [16]byte
	a, b := rng.Uint64(), rng.Uint64()
	for i := 0; i < 8; i++ {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

// uuid5 is RFC 4122 section 4.3 with SHA-1.
func uuid5(ns [16]byte, name []byte) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write(name)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

func (g *Generator) id(typ string) string { return typ + "--" + uuid4(g.rng) }

// scoID is the deterministic SCO identifier: UUIDv5 in the SCO namespace
// over the canonical JSON (RFC 8785) of the ID contributing properties,
// which the caller passes already canonical.
func scoID(typ, canonical string) string {
	return typ + "--" + uuid5(scoNamespace, []byte(canonical))
}

func quote(s string) string {
	b, _ := jsontext.AppendQuote(nil, s)
	return string(b)
}
