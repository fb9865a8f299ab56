package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkGetRecordBesideLarge reads a small record whose key sorts
// next to large ones (TAXII status resources, asset lists), the case
// migration 0004 is for:
//
//	go test -run '^$' -bench GetRecordBesideLarge ./internal/store/sqlite
func BenchmarkGetRecordBesideLarge(b *testing.B) {
	db := openTemp(b)
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 3<<20)
	for i := range 4 {
		if err := db.SetRecord(ctx, fmt.Sprintf("guard:list:%d", i), big); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.SetRecord(ctx, "guard:meta", []byte("small")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if v, err := db.GetRecord(ctx, "guard:meta"); err != nil || len(v) != 5 {
			b.Fatalf("GetRecord = %q, %v", v, err)
		}
	}
}
