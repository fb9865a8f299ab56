package match

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"
)

// entry is one indicator version known to the index. Entries are written
// once, before the snapshot that refers to them is published, and never
// changed; whether an entry still counts is its dead bit.
type entry struct {
	uuid       [16]byte
	modSec     int64  // version key: Unix seconds (noTime when absent) …
	validFrom  int64  // Unix nanoseconds (clamped to the int64 range)
	validUntil int64  // Unix nanoseconds, math.MaxInt64 when open
	coll       uint32 // collection, index into snapshot.colls
	modNsec    int32  // … and nanoseconds: exact for any year
	idType     uint16 // the part of the id before "--", index into snapshot.idTypes
	flags      uint16
	pat        uint32 // index into snapshot.pats (flagEval only)
}

// versionKey splits a version key for an entry; the zero time is noTime.
func versionKey(t time.Time) (int64, int32) {
	if t.IsZero() {
		return noTime, 0
	}
	return t.Unix(), int32(t.Nanosecond())
}

// notOlderThan reports whether e's version key is at or after (sec, nsec).
func (e *entry) notOlderThan(sec int64, nsec int32) bool {
	return e.modSec > sec || e.modSec == sec && e.modNsec >= nsec
}

const (
	// flagEval: the pattern must be evaluated (its keys are necessary
	// conditions only); entry.pat holds its text.
	flagEval uint16 = 1 << iota
	// flagTombstone: the version is known but matches nothing (revoked,
	// not a STIX pattern, or a pattern that does not parse); it is kept
	// so that older versions arriving later do not come back.
	flagTombstone
	// flagSingle: an evaluated pattern whose every match is one
	// observation (one bracketed expression, or an OR of such, without
	// qualifiers).
	flagSingle
)

// noTime marks an absent version key.
const noTime = math.MinInt64

const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

type entryChunk struct {
	e    [chunkSize]entry
	dead [chunkSize / 64]atomic.Uint64
}

// entryTable is an append-only array of entries in chunks. A value of
// this type is immutable once published in a snapshot; appending makes a
// new value that shares the chunks (the writer fills slots past every
// published length, which no reader looks at).
type entryTable struct {
	chunks []*entryChunk
	n      uint32
}

func (t *entryTable) at(slot uint32) *entry {
	return &t.chunks[slot>>chunkBits].e[slot&(chunkSize-1)]
}

func (t *entryTable) isDead(slot uint32) bool {
	w := t.chunks[slot>>chunkBits].dead[(slot&(chunkSize-1))>>6].Load()
	return w&(1<<(slot&63)) != 0
}

func (t *entryTable) kill(slot uint32) {
	t.chunks[slot>>chunkBits].dead[(slot&(chunkSize-1))>>6].Or(1 << (slot & 63))
}

// appendEntry returns the table with e added and e's slot.
func (t entryTable) appendEntry(e entry) (entryTable, uint32) {
	slot := t.n
	if int(slot>>chunkBits) == len(t.chunks) {
		chunks := make([]*entryChunk, len(t.chunks)+1, len(t.chunks)+1+len(t.chunks)/4)
		copy(chunks, t.chunks)
		chunks[len(t.chunks)] = new(entryChunk)
		t.chunks = chunks
	}
	t.chunks[slot>>chunkBits].e[slot&(chunkSize-1)] = e
	t.n++
	return t, slot
}

// stringTable is an append-only array of strings, published like
// entryTable.
type stringTable struct {
	chunks []*[chunkSize]string
	n      uint32
}

func (t *stringTable) at(i uint32) string { return t.chunks[i>>chunkBits][i&(chunkSize-1)] }

func (t stringTable) appendString(s string) (stringTable, uint32) {
	i := t.n
	if int(i>>chunkBits) == len(t.chunks) {
		chunks := make([]*[chunkSize]string, len(t.chunks)+1, len(t.chunks)+1+len(t.chunks)/4)
		copy(chunks, t.chunks)
		chunks[len(t.chunks)] = new([chunkSize]string)
		t.chunks = chunks
	}
	t.chunks[i>>chunkBits][i&(chunkSize-1)] = s
	t.n++
	return t, i
}

// idTable finds the current entry of an object (collection, id). It is an
// open-addressing set of slot+1 (0 empty), hashed by the entry's
// collection and id, with linear probing and backward-shift deletion. Only
// the writer uses it.
type idTable struct {
	seed  maphash.Seed
	slots []uint32
	n     int
}

func newIDTable(seed maphash.Seed, capacity int) idTable {
	t := idTable{seed: seed}
	t.slots = make([]uint32, max(16, capacity*10/7+1))
	return t
}

func (t *idTable) hash(coll uint32, idType uint16, uuid *[16]byte) uint64 {
	var b [22]byte
	binary.LittleEndian.PutUint32(b[:], coll)
	binary.LittleEndian.PutUint16(b[4:], idType)
	copy(b[6:], uuid[:])
	return maphash.Bytes(t.seed, b[:])
}

func (t *idTable) home(h uint64) int {
	return int((uint64(uint32(h)) * uint64(len(t.slots))) >> 32)
}

// find returns the position of the object's slot in t.slots and the entry
// slot, or pos of the empty place where it would go and ok false.
func (t *idTable) find(ents *entryTable, coll uint32, idType uint16, uuid *[16]byte) (pos int, slot uint32, ok bool) {
	i := t.home(t.hash(coll, idType, uuid))
	for {
		s := t.slots[i]
		if s == 0 {
			return i, 0, false
		}
		e := ents.at(s - 1)
		if e.coll == coll && e.idType == idType && e.uuid == *uuid {
			return i, s - 1, true
		}
		i++
		if i == len(t.slots) {
			i = 0
		}
	}
}

// set stores slot at pos (from find); it may grow the table, which needs
// ents to rehash.
func (t *idTable) set(ents *entryTable, pos int, slot uint32, isNew bool) {
	t.slots[pos] = slot + 1
	if !isNew {
		return
	}
	t.n++
	if t.n*10 > len(t.slots)*7 {
		old := t.slots
		t.slots = make([]uint32, len(old)*2)
		for _, s := range old {
			if s != 0 {
				t.insert(ents, s-1)
			}
		}
	}
}

func (t *idTable) insert(ents *entryTable, slot uint32) {
	e := ents.at(slot)
	i := t.home(t.hash(e.coll, e.idType, &e.uuid))
	for t.slots[i] != 0 {
		i++
		if i == len(t.slots) {
			i = 0
		}
	}
	t.slots[i] = slot + 1
}

// remove deletes the slot at pos, shifting later members of its probe run
// back so that lookups still find them.
func (t *idTable) remove(ents *entryTable, pos int) {
	n := len(t.slots)
	t.slots[pos] = 0
	t.n--
	i := pos
	for {
		i++
		if i == n {
			i = 0
		}
		s := t.slots[i]
		if s == 0 {
			return
		}
		e := ents.at(s - 1)
		h := t.home(t.hash(e.coll, e.idType, &e.uuid))
		// Move s back to the hole when its home is not in (hole, i].
		if (i > pos && (h <= pos || h > i)) || (i < pos && h <= pos && h > i) {
			t.slots[pos] = s
			t.slots[i] = 0
			pos = i
		}
	}
}
