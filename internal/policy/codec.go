package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// factsFormat is the first byte of the binary form. A change of layout,
// and any change to what FactsOf extracts, gets a new one: stores keep
// facts computed at write time (StoredFacts), and readers derive the
// facts of a version stored with another format from its Raw instead.
const factsFormat = 2

// Bits of the flags byte.
const (
	flagBroken = 1
	// flagMeta: ID and Type are not encoded; they are the store version's
	// (StoredFacts and VersionFacts only).
	flagMeta = 2
	// flagCreatedBy: CreatedByRef is not encoded; it is the one id of the
	// reference at path created_by_ref.
	flagCreatedBy = 4
)

// Bits of a reference's flags byte.
const (
	refList     = 1
	refRequired = 2
	refCommon   = 4 // the path is commonPaths[next byte]
)

// commonPaths are the reference properties most objects have, encoded as
// one byte. Append only: the index is part of the format.
var commonPaths = [...]string{
	"created_by_ref", "object_refs", "source_ref", "target_ref", "sighting_of_ref",
	"observed_data_refs", "where_sighted_refs", "object_ref", "sample_refs", "sample_ref",
	"resolves_to_refs", "belongs_to_refs", "from_ref", "to_ref", "src_ref", "dst_ref",
	"contains_refs", "parent_ref", "child_refs", "opened_connection_refs", "creator_user_ref",
	"image_ref", "parent_directory_ref", "content_ref", "raw_email_ref", "operating_system_refs",
	"installed_software_refs", "host_vm_ref", "analysis_sco_refs",
}

var commonPathIndex = func() map[string]byte {
	m := make(map[string]byte, len(commonPaths))
	for i, p := range commonPaths {
		m[p] = byte(i)
	}
	return m
}()

// createdByRef returns the index in f.Refs of the reference CreatedByRef
// duplicates, or -1.
func (f *Facts) createdByRef() int {
	for i := range f.Refs {
		r := &f.Refs[i]
		if r.Path == "created_by_ref" && !r.List && len(r.IDs) == 1 {
			if r.IDs[0] == f.CreatedByRef {
				return i
			}
			return -1
		}
	}
	return -1
}

// MarshalBinary encodes the facts compactly, for a store that keeps them
// beside each version. UnmarshalBinary reads them back.
func (f *Facts) MarshalBinary() ([]byte, error) { return f.AppendBinary(nil) }

// AppendBinary appends the binary form of f to b.
func (f *Facts) AppendBinary(b []byte) ([]byte, error) { return f.appendBinary(b, false) }

// appendBinary appends the binary form, leaving ID and Type out (and
// setting flagMeta) when meta is set.
func (f *Facts) appendBinary(b []byte, meta bool) ([]byte, error) {
	if f.TLP&^allLevels != 0 || f.Floor&^allLevels != 0 {
		return nil, fmt.Errorf("facts: invalid TLP level")
	}
	var flags byte
	if f.Broken {
		flags |= flagBroken
	}
	if meta {
		flags |= flagMeta
	}
	cbr := f.CreatedByRef != "" && f.createdByRef() >= 0
	if cbr {
		flags |= flagCreatedBy
	}
	b = append(b, factsFormat, byte(f.TLP), byte(f.Floor), flags)
	if !meta {
		b = appendStr(b, f.ID)
		b = appendStr(b, f.Type)
	}
	if !cbr {
		b = appendStr(b, f.CreatedByRef)
	}
	b = appendStrs(b, f.AllowCountries)
	b = appendStrs(b, f.DenyCountries)
	b = appendStrs(b, f.Recipients)
	b = binary.AppendUvarint(b, uint64(len(f.Granular)))
	for _, g := range f.Granular {
		if g.Level > LevelRed {
			return nil, fmt.Errorf("facts: invalid TLP level")
		}
		b = append(b, byte(g.Level))
		b = appendStrs(b, g.Selectors)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Refs)))
	for _, r := range f.Refs {
		var rf byte
		if r.List {
			rf |= refList
		}
		if r.Required {
			rf |= refRequired
		}
		if i, ok := commonPathIndex[r.Path]; ok {
			b = append(b, rf|refCommon, i)
		} else {
			b = append(b, rf)
			b = appendStr(b, r.Path)
		}
		b = appendStrs(b, r.IDs)
	}
	return b, nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrs(b []byte, list []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, s := range list {
		b = appendStr(b, s)
	}
	return b
}

var errCorrupt = errors.New("facts: corrupt binary form")

// UnmarshalBinary decodes what MarshalBinary encoded. Corrupt input is an
// error, never a panic.
func (f *Facts) UnmarshalBinary(data []byte) error { return f.decode(data, false, "", "") }

// decode decodes the binary form; with meta, a form without ID and Type
// (flagMeta) is accepted and takes id and typ. f is unchanged on error.
func (f *Facts) decode(data []byte, meta bool, id, typ string) error {
	var g Facts
	if err := g.decodeInto(data, meta, id, typ); err != nil {
		return err
	}
	*f = g
	return nil
}

// decodeInto is decode writing into g as it goes (no copy of the result,
// which a read path does for every version); g holds garbage on error.
func (g *Facts) decodeInto(data []byte, meta bool, id, typ string) error {
	if len(data) < 4 || data[0] != factsFormat {
		return errCorrupt
	}
	allowed := byte(flagBroken | flagCreatedBy)
	if meta {
		allowed |= flagMeta
	}
	if Levels(data[1])&^allLevels != 0 || Levels(data[2])&^allLevels != 0 || data[3]&^allowed != 0 {
		return errCorrupt
	}
	*g = Facts{TLP: Levels(data[1]), Floor: Levels(data[2]), Broken: data[3]&flagBroken != 0}
	d := decoder{b: data[4:]}
	if data[3]&flagMeta != 0 {
		g.ID, g.Type = id, typ
		if len(d.b) > 0 {
			d.s = string(d.b) // one copy holds every decoded string
		}
	} else {
		d.s = string(d.b)
		g.ID = d.str()
		g.Type = d.str()
	}
	if data[3]&flagCreatedBy == 0 {
		g.CreatedByRef = d.str()
	}
	g.AllowCountries = d.strs()
	g.DenyCountries = d.strs()
	g.Recipients = d.strs()
	if n := d.count(2); n > 0 {
		g.Granular = make([]Granular, n)
		for i := range g.Granular {
			l := d.byte()
			if l > byte(LevelRed) {
				return errCorrupt
			}
			g.Granular[i] = Granular{Level: Level(l), Selectors: d.strs()}
		}
	}
	if n := d.count(3); n > 0 {
		g.Refs = make([]Ref, n)
		for i := range g.Refs {
			rf := d.byte()
			if rf&^(refList|refRequired|refCommon) != 0 {
				return errCorrupt
			}
			r := Ref{List: rf&refList != 0, Required: rf&refRequired != 0}
			if rf&refCommon != 0 {
				p := d.byte()
				if int(p) >= len(commonPaths) {
					return errCorrupt
				}
				r.Path = commonPaths[p]
			} else {
				r.Path = d.str()
			}
			r.IDs = d.strs()
			g.Refs[i] = r
		}
	}
	if data[3]&flagCreatedBy != 0 {
		i := -1
		for j := range g.Refs {
			if r := &g.Refs[j]; r.Path == "created_by_ref" && !r.List && len(r.IDs) == 1 {
				i = j
				break
			}
		}
		if i < 0 || g.Refs[i].IDs[0] == "" {
			return errCorrupt
		}
		g.CreatedByRef = g.Refs[i].IDs[0]
	}
	if d.err || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

type decoder struct {
	b   []byte
	s   string // data as one string: decoded strings are slices of it
	err bool
}

func (d *decoder) uvarint() uint64 {
	if d.err {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each at least min bytes long, refusing
// counts the remaining input cannot hold.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.err = true
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err || len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	off := len(d.s) - len(d.b)
	d.b = d.b[n:]
	return d.s[off : off+int(n)]
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	list := make([]string, n)
	for i := range list {
		list[i] = d.str()
	}
	return list
}
