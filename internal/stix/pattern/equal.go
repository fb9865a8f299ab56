package pattern

import (
	"bytes"
	"slices"
)

// Equal reports whether two patterns have the same tree: the same
// structure, operators, paths and constants (timestamps compared by their
// literal text). It ignores how the source was spaced or spelled.
func Equal(a, b *Pattern) bool {
	if a == nil || b == nil {
		return a == b
	}
	return equalObs(a.Root, b.Root)
}

func equalObs(a, b ObservationExpr) bool {
	switch x := a.(type) {
	case *ObsBracket:
		y, ok := b.(*ObsBracket)
		return ok && equalComp(x.Comparison, y.Comparison)
	case *ObsParen:
		y, ok := b.(*ObsParen)
		return ok && equalObs(x.Inner, y.Inner)
	case *ObsBinary:
		y, ok := b.(*ObsBinary)
		return ok && x.Op == y.Op && equalObs(x.Left, y.Left) && equalObs(x.Right, y.Right)
	case *ObsQualified:
		y, ok := b.(*ObsQualified)
		return ok && equalQual(x.Qualifier, y.Qualifier) && equalObs(x.Inner, y.Inner)
	}
	return false
}

func equalQual(a, b Qualifier) bool {
	return a.Kind == b.Kind && a.Seconds == b.Seconds && a.Times == b.Times &&
		equalValue(a.Start, b.Start) && equalValue(a.Stop, b.Stop)
}

func equalComp(a, b ComparisonExpr) bool {
	switch x := a.(type) {
	case *Comparison:
		y, ok := b.(*Comparison)
		return ok && x.Op == y.Op && x.Negated == y.Negated &&
			x.Path.ObjectType == y.Path.ObjectType && slices.Equal(x.Path.Steps, y.Path.Steps) &&
			equalValue(x.Value, y.Value)
	case *CompBinary:
		y, ok := b.(*CompBinary)
		return ok && x.Op == y.Op && equalComp(x.Left, y.Left) && equalComp(x.Right, y.Right)
	case *CompParen:
		y, ok := b.(*CompParen)
		return ok && equalComp(x.Inner, y.Inner)
	}
	return false
}

func equalValue(a, b Value) bool {
	if a.Kind != b.Kind || a.Str != b.Str || a.Int != b.Int || a.Bool != b.Bool ||
		!a.Time.Equal(b.Time) || !bytes.Equal(a.Bytes, b.Bytes) || len(a.Set) != len(b.Set) {
		return false
	}
	if a.Float != b.Float && !(a.Float != a.Float && b.Float != b.Float) {
		return false
	}
	for i := range a.Set {
		if !equalValue(a.Set[i], b.Set[i]) {
			return false
		}
	}
	return true
}
