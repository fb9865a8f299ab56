package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Pattern is a parsed STIX pattern. Its tree is Root; String prints the
// canonical form, which Parse turns back into an equal tree.
type Pattern struct {
	Root ObservationExpr

	comparisons []*Comparison // every Comparison of the tree, in source order
}

// String returns the canonical text of the pattern: single spaces between
// tokens, upper-case keywords, parentheses exactly where the source had
// them, and constants in their canonical spelling.
func (p *Pattern) String() string {
	var b strings.Builder
	p.Root.write(&b)
	return b.String()
}

// ObservationExpr is one of *ObsBracket, *ObsParen, *ObsBinary or
// *ObsQualified.
type ObservationExpr interface {
	write(b *strings.Builder)
	String() string
}

// ObsBracket is an observation expression `[ comparison ]`: it matches
// one Observation whose SCOs satisfy the comparison expression.
type ObsBracket struct {
	Comparison ComparisonExpr

	plan *bracketPlan // evaluation form, set by Parse
}

// ObsParen is a parenthesised observation expression.
type ObsParen struct {
	Inner ObservationExpr
}

// ObsOp is an observation operator.
type ObsOp uint8

const (
	ObsAnd        ObsOp = iota + 1 // both sides match (any observations)
	ObsOr                          // either side matches
	ObsFollowedBy                  // left matches, then right matches later
)

func (o ObsOp) String() string {
	switch o {
	case ObsAnd:
		return "AND"
	case ObsOr:
		return "OR"
	case ObsFollowedBy:
		return "FOLLOWEDBY"
	}
	return "?"
}

// ObsBinary joins two observation expressions; chains are left-nested
// (a AND b AND c is ((a AND b) AND c)).
type ObsBinary struct {
	Op          ObsOp
	Left, Right ObservationExpr
}

// ObsQualified applies one qualifier to an observation expression. Several
// qualifiers nest, the innermost written first.
type ObsQualified struct {
	Inner     ObservationExpr
	Qualifier Qualifier
}

// QualifierKind tells which qualifier a Qualifier is.
type QualifierKind uint8

const (
	QualWithin    QualifierKind = iota + 1 // WITHIN n SECONDS
	QualRepeats                            // REPEATS n TIMES
	QualStartStop                          // START t'…' STOP t'…'
)

func (k QualifierKind) String() string {
	switch k {
	case QualWithin:
		return "WITHIN"
	case QualRepeats:
		return "REPEATS"
	case QualStartStop:
		return "START/STOP"
	}
	return "?"
}

// Qualifier is a WITHIN, REPEATS or START/STOP qualifier. Only the fields
// of its Kind are set.
type Qualifier struct {
	Kind        QualifierKind
	Seconds     float64 // WITHIN
	Times       int64   // REPEATS
	Start, Stop Value   // START/STOP: timestamp values
}

// ComparisonExpr is one of *Comparison, *CompBinary or *CompParen.
type ComparisonExpr interface {
	write(b *strings.Builder)
	String() string
}

// BoolOp joins comparison expressions.
type BoolOp uint8

const (
	And BoolOp = iota + 1
	Or
)

func (o BoolOp) String() string {
	if o == And {
		return "AND"
	}
	return "OR"
}

// CompBinary joins two comparison expressions; chains are left-nested.
type CompBinary struct {
	Op          BoolOp
	Left, Right ComparisonExpr
}

// CompParen is a parenthesised comparison expression.
type CompParen struct {
	Inner ComparisonExpr
}

// Operator is a comparison operator.
type Operator uint8

const (
	OpEQ Operator = iota + 1
	OpNEQ
	OpLT
	OpLE
	OpGT
	OpGE
	OpIn
	OpLike
	OpMatches
	OpIsSubset
	OpIsSuperset
	OpExists
)

var opNames = [...]string{OpEQ: "=", OpNEQ: "!=", OpLT: "<", OpLE: "<=", OpGT: ">", OpGE: ">=",
	OpIn: "IN", OpLike: "LIKE", OpMatches: "MATCHES", OpIsSubset: "ISSUBSET",
	OpIsSuperset: "ISSUPERSET", OpExists: "EXISTS"}

func (o Operator) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "?"
}

// Comparison is one comparison `path [NOT] op value` (or `EXISTS path`).
// Value is a ValSet for IN and zero for EXISTS.
type Comparison struct {
	Path    ObjectPath
	Op      Operator
	Negated bool
	Value   Value

	m *compiled // evaluation form, set by Parse
}

// ObjectPath is `type:step…`. Steps[0] is always a StepKey.
type ObjectPath struct {
	ObjectType string
	Steps      []PathStep
}

// StepKind tells a PathStep's kind.
type StepKind uint8

const (
	StepKey   StepKind = iota + 1 // .name or .'quoted name'
	StepIndex                     // [n]
	StepAny                       // [*]
)

// PathStep is one step of an object path.
type PathStep struct {
	Kind  StepKind
	Key   string // StepKey
	Index int64  // StepIndex
}

// ValueKind tells a Value's kind.
type ValueKind uint8

const (
	ValString ValueKind = iota + 1
	ValInt
	ValFloat
	ValBool
	ValTimestamp
	ValBinary
	ValHex
	ValSet
)

// Value is a constant of a comparison. Only the fields of its Kind are
// set: Str for strings; Int; Float; Bool; Time and Str (the literal text
// between the quotes) for timestamps; Bytes for binary and hex; Set for
// the IN operator.
type Value struct {
	Kind  ValueKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Time  time.Time
	Bytes []byte
	Set   []Value
}

func (e *ObsBracket) String() string   { return str(e) }
func (e *ObsParen) String() string     { return str(e) }
func (e *ObsBinary) String() string    { return str(e) }
func (e *ObsQualified) String() string { return str(e) }
func (e *CompBinary) String() string   { return str(e) }
func (e *CompParen) String() string    { return str(e) }
func (e *Comparison) String() string   { return str(e) }

func str(w interface{ write(*strings.Builder) }) string {
	var b strings.Builder
	w.write(&b)
	return b.String()
}

func (e *ObsBracket) write(b *strings.Builder) {
	b.WriteByte('[')
	e.Comparison.write(b)
	b.WriteByte(']')
}

func (e *ObsParen) write(b *strings.Builder) {
	b.WriteByte('(')
	e.Inner.write(b)
	b.WriteByte(')')
}

func (e *ObsBinary) write(b *strings.Builder) {
	e.Left.write(b)
	b.WriteByte(' ')
	b.WriteString(e.Op.String())
	b.WriteByte(' ')
	e.Right.write(b)
}

func (e *ObsQualified) write(b *strings.Builder) {
	e.Inner.write(b)
	b.WriteByte(' ')
	e.Qualifier.write(b)
}

func (q *Qualifier) write(b *strings.Builder) {
	switch q.Kind {
	case QualWithin:
		b.WriteString("WITHIN ")
		b.WriteString(strconv.FormatFloat(q.Seconds, 'f', -1, 64))
		b.WriteString(" SECONDS")
	case QualRepeats:
		b.WriteString("REPEATS ")
		b.WriteString(strconv.FormatInt(q.Times, 10))
		b.WriteString(" TIMES")
	case QualStartStop:
		b.WriteString("START ")
		q.Start.write(b)
		b.WriteString(" STOP ")
		q.Stop.write(b)
	}
}

// String returns the qualifier's pattern text.
func (q Qualifier) String() string { return str(&q) }

func (e *CompBinary) write(b *strings.Builder) {
	e.Left.write(b)
	b.WriteByte(' ')
	b.WriteString(e.Op.String())
	b.WriteByte(' ')
	e.Right.write(b)
}

func (e *CompParen) write(b *strings.Builder) {
	b.WriteByte('(')
	e.Inner.write(b)
	b.WriteByte(')')
}

func (e *Comparison) write(b *strings.Builder) {
	if e.Op == OpExists {
		b.WriteString("EXISTS ")
		e.Path.write(b)
		return
	}
	e.Path.write(b)
	b.WriteByte(' ')
	if e.Negated {
		b.WriteString("NOT ")
	}
	b.WriteString(e.Op.String())
	b.WriteByte(' ')
	e.Value.write(b)
}

// String returns the path's pattern text.
func (p ObjectPath) String() string { return str(&p) }

func (p *ObjectPath) write(b *strings.Builder) {
	b.WriteString(p.ObjectType)
	b.WriteByte(':')
	for i, s := range p.Steps {
		switch s.Kind {
		case StepKey:
			if i > 0 {
				b.WriteByte('.')
			}
			if isPlainKey(s.Key) {
				b.WriteString(s.Key)
			} else {
				writeQuoted(b, s.Key)
			}
		case StepIndex:
			b.WriteByte('[')
			b.WriteString(strconv.FormatInt(s.Index, 10))
			b.WriteByte(']')
		case StepAny:
			b.WriteString("[*]")
		}
	}
}

// isPlainKey reports whether a property name can be written unquoted: an
// IdentifierWithoutHyphen that is not a keyword.
func isPlainKey(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) || s[i] == '-' {
			return false
		}
	}
	if s == "t" || s == "b" || s == "h" {
		return true // only a typed constant when a quote follows
	}
	_, kw := keywords[s]
	return !kw
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
}

// String returns the constant's pattern text.
func (v Value) String() string { return str(&v) }

func (v *Value) write(b *strings.Builder) {
	switch v.Kind {
	case ValString:
		writeQuoted(b, v.Str)
	case ValInt:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case ValFloat:
		s := strconv.FormatFloat(v.Float, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		b.WriteString(s)
	case ValBool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case ValTimestamp:
		b.WriteString("t'")
		b.WriteString(v.Str)
		b.WriteByte('\'')
	case ValBinary:
		b.WriteString("b'")
		b.WriteString(base64.StdEncoding.EncodeToString(v.Bytes))
		b.WriteByte('\'')
	case ValHex:
		b.WriteString("h'")
		b.WriteString(hex.EncodeToString(v.Bytes))
		b.WriteByte('\'')
	case ValSet:
		b.WriteByte('(')
		for i := range v.Set {
			if i > 0 {
				b.WriteString(", ")
			}
			v.Set[i].write(b)
		}
		b.WriteByte(')')
	}
}

// EachComparison calls fn with every comparison of e, left to right,
// whatever the observation and comparison operators, parentheses and
// qualifiers around it.
func EachComparison(e ObservationExpr, fn func(*Comparison)) {
	switch x := e.(type) {
	case *ObsParen:
		EachComparison(x.Inner, fn)
	case *ObsQualified:
		EachComparison(x.Inner, fn)
	case *ObsBinary:
		EachComparison(x.Left, fn)
		EachComparison(x.Right, fn)
	case *ObsBracket:
		eachComparison(x.Comparison, fn)
	}
}

func eachComparison(e ComparisonExpr, fn func(*Comparison)) {
	switch y := e.(type) {
	case *CompParen:
		eachComparison(y.Inner, fn)
	case *CompBinary:
		eachComparison(y.Left, fn)
		eachComparison(y.Right, fn)
	case *Comparison:
		fn(y)
	}
}
