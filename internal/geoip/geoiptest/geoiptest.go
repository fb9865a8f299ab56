// Package geoiptest writes small MaxMind DB country databases for tests,
// with github.com/maxmind/mmdbwriter. Only tests import it.
package geoiptest

import (
	"bytes"
	"net"
	"sort"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Options change what Build writes.
type Options struct {
	DatabaseType string // default "Fusion-Test-Country"
	// Record builds the record for a country code; default
	// {"country": {"iso_code": cc}}.
	Record func(cc string) mmdbtype.DataType
}

// Build returns a database mapping each CIDR of networks to a country
// code (networks inserted in sorted order, so more specific ones should
// sort after the ones they are inside, e.g. "10.0.0.0/8" before
// "10.1.0.0/16").
func Build(tb testing.TB, networks map[string]string, o Options) []byte {
	tb.Helper()
	b, err := BuildBytes(networks, o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BuildBytes is Build returning its error.
func BuildBytes(networks map[string]string, o Options) ([]byte, error) {
	if o.DatabaseType == "" {
		o.DatabaseType = "Fusion-Test-Country"
	}
	if o.Record == nil {
		o.Record = func(cc string) mmdbtype.DataType {
			return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}
		}
	}
	t, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: o.DatabaseType, RecordSize: 24,
		IncludeReservedNetworks: true, BuildEpoch: 1700000000,
		Description: map[string]string{"en": "Fusion test country database"}})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(networks))
	for k := range networks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		_, a, _ := net.ParseCIDR(keys[i])
		_, b, _ := net.ParseCIDR(keys[j])
		oa, _ := a.Mask.Size()
		ob, _ := b.Mask.Size()
		if oa != ob {
			return oa < ob
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		_, n, err := net.ParseCIDR(k)
		if err != nil {
			return nil, err
		}
		if err := t.Insert(n, o.Record(networks[k])); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := t.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
