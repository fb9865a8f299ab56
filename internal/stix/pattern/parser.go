package pattern

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of brackets and parentheses Parse
// accepts. Real patterns stay under 10; the limit bounds the parser's
// recursion on hostile input.
const MaxDepth = 64

// MaxLength is the longest pattern, in bytes, that Parse accepts.
const MaxLength = 1 << 20

// SyntaxError reports where and why a pattern does not parse.
type SyntaxError struct {
	Offset int    // byte offset into the pattern, from 0
	Line   int    // line, from 1
	Column int    // column in characters, from 1
	Msg    string // what was wrong, e.g. "expected ']' or AND/OR, got 'foo'"
}

func (e *SyntaxError) Error() string {
	if e.Line > 1 || e.Column != e.Offset+1 {
		return fmt.Sprintf("pattern: at %d (line %d, column %d): %s", e.Offset, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("pattern: at %d: %s", e.Offset, e.Msg)
}

func newSyntaxError(src string, off int, msg string) *SyntaxError {
	if off > len(src) {
		off = len(src)
	}
	line, col := 1, 1
	for i := 0; i < off; {
		r, n := utf8.DecodeRuneInString(src[i:])
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: msg}
}

// Parse parses a STIX 2.1 pattern. It returns a *SyntaxError when src is
// not a pattern of the STIX 2.1 grammar, nests deeper than MaxDepth,
// repeats a qualifier type on one bracketed observation expression, or
// compares a hashes property of a known algorithm with a string of the
// wrong form. A nil error means the pattern can be evaluated: regular
// expressions that Go's RE2 engine cannot compile (PCRE-only features such
// as back-references or look-around) are accepted and never match.
func Parse(src string) (*Pattern, error) {
	if len(src) > MaxLength {
		return nil, &SyntaxError{Msg: fmt.Sprintf("pattern is %d bytes, over the %d byte limit", len(src), MaxLength), Line: 1, Column: 1}
	}
	if !utf8.ValidString(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, newSyntaxError(src, i, "invalid UTF-8")
	}
	p := &parser{lx: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	root, err := p.parseFollowedBy()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected("AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern")
	}
	pat := &Pattern{Root: root, comparisons: p.comps}
	for _, c := range pat.comparisons {
		c.m = compile(c)
	}
	return pat, nil
}

// MustParse is Parse for patterns known to be valid, such as constants in
// tests; it panics on error.
func MustParse(src string) *Pattern {
	p, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return p
}

type parser struct {
	lx    lexer
	tok   token
	depth int
	comps []*Comparison
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return newSyntaxError(p.lx.src, pos, fmt.Sprintf(format, args...))
}

func (p *parser) unexpected(want string) error {
	return p.errAt(p.tok.pos, "expected %s, got %s", want, p.tok.describe())
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errAt(p.tok.pos, "nested deeper than %d", MaxDepth)
	}
	return nil
}

// observationExpressions: FOLLOWEDBY binds loosest, then OR, then AND,
// then the postfix qualifiers.
func (p *parser) parseFollowedBy() (ObservationExpr, error) {
	left, err := p.parseObsOr()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tFollowedBy {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseObsOr()
		if err != nil {
			return nil, err
		}
		left = &ObsBinary{Op: ObsFollowedBy, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseObsOr() (ObservationExpr, error) {
	left, err := p.parseObsAnd()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseObsAnd()
		if err != nil {
			return nil, err
		}
		left = &ObsBinary{Op: ObsOr, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseObsAnd() (ObservationExpr, error) {
	left, err := p.parseQualified()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAnd {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseQualified()
		if err != nil {
			return nil, err
		}
		left = &ObsBinary{Op: ObsAnd, Left: left, Right: right}
	}
	return left, nil
}

// parseQualified parses an observation expression and its qualifiers. As
// the OASIS reference validator does, it rejects a qualifier type applied
// twice directly to a bracketed expression.
func (p *parser) parseQualified() (ObservationExpr, error) {
	var e ObservationExpr
	switch p.tok.kind {
	case tLBrack:
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		c, err := p.parseCompOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrack {
			return nil, p.unexpected("']' or AND/OR")
		}
		p.depth--
		if err := p.advance(); err != nil {
			return nil, err
		}
		br := &ObsBracket{Comparison: c}
		br.plan = planBracket(br)
		e = br
	case tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseFollowedBy()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected("')', AND, OR, FOLLOWEDBY or a qualifier")
		}
		p.depth--
		if err := p.advance(); err != nil {
			return nil, err
		}
		e = &ObsParen{Inner: inner}
	default:
		return nil, p.unexpected("'[' or '('")
	}
	_, bracket := e.(*ObsBracket)
	var seen [4]bool
	for {
		pos := p.tok.pos
		var q Qualifier
		var err error
		switch p.tok.kind {
		case tWithin:
			q, err = p.parseWithin()
		case tRepeats:
			q, err = p.parseRepeats()
		case tStart:
			q, err = p.parseStartStop()
		default:
			return e, nil
		}
		if err != nil {
			return nil, err
		}
		if bracket {
			if seen[q.Kind] {
				return nil, p.errAt(pos, "duplicate %s qualifier on one observation expression", q.Kind)
			}
			seen[q.Kind] = true
		}
		e = &ObsQualified{Inner: e, Qualifier: q}
	}
}

func (p *parser) expect(k tokKind, want string) (token, error) {
	t := p.tok
	if t.kind != k {
		return t, p.unexpected(want)
	}
	return t, p.advance()
}

func (p *parser) parseWithin() (Qualifier, error) {
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	n := p.tok
	if (n.kind != tInt && n.kind != tFloat) || n.neg {
		return Qualifier{}, p.unexpected("a positive number of seconds after WITHIN")
	}
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	if _, err := p.expect(tSeconds, "SECONDS"); err != nil {
		return Qualifier{}, err
	}
	return Qualifier{Kind: QualWithin, Seconds: n.f}, nil
}

func (p *parser) parseRepeats() (Qualifier, error) {
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	n := p.tok
	if n.kind != tInt || n.neg {
		return Qualifier{}, p.unexpected("a positive integer after REPEATS")
	}
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	if _, err := p.expect(tTimes, "TIMES"); err != nil {
		return Qualifier{}, err
	}
	return Qualifier{Kind: QualRepeats, Times: n.i}, nil
}

func (p *parser) parseStartStop() (Qualifier, error) {
	if err := p.advance(); err != nil {
		return Qualifier{}, err
	}
	start, err := p.expect(tTimestamp, "a timestamp t'…' after START")
	if err != nil {
		return Qualifier{}, err
	}
	if _, err := p.expect(tStop, "STOP"); err != nil {
		return Qualifier{}, err
	}
	stop, err := p.expect(tTimestamp, "a timestamp t'…' after STOP")
	if err != nil {
		return Qualifier{}, err
	}
	return Qualifier{Kind: QualStartStop,
		Start: Value{Kind: ValTimestamp, Str: start.str, Time: start.t},
		Stop:  Value{Kind: ValTimestamp, Str: stop.str, Time: stop.t}}, nil
}

// comparisonExpression: OR binds looser than AND.
func (p *parser) parseCompOr() (ComparisonExpr, error) {
	left, err := p.parseCompAnd()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseCompAnd()
		if err != nil {
			return nil, err
		}
		left = &CompBinary{Op: Or, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseCompAnd() (ComparisonExpr, error) {
	left, err := p.parsePropTest()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAnd {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parsePropTest()
		if err != nil {
			return nil, err
		}
		left = &CompBinary{Op: And, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parsePropTest() (ComparisonExpr, error) {
	switch p.tok.kind {
	case tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseCompOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.unexpected("')' or AND/OR")
		}
		p.depth--
		if err := p.advance(); err != nil {
			return nil, err
		}
		return &CompParen{Inner: inner}, nil
	case tExists:
		if err := p.advance(); err != nil {
			return nil, err
		}
		path, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		c := &Comparison{Path: path, Op: OpExists}
		p.comps = append(p.comps, c)
		return c, nil
	case tIdent, tIdentHyphen:
	default:
		return nil, p.unexpected("an object path, EXISTS or '('")
	}
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	c := &Comparison{Path: path}
	if p.tok.kind == tNot {
		c.Negated = true
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	opTok := p.tok
	switch opTok.kind {
	case tEQ:
		c.Op = OpEQ
	case tNEQ:
		c.Op = OpNEQ
	case tLT:
		c.Op = OpLT
	case tLE:
		c.Op = OpLE
	case tGT:
		c.Op = OpGT
	case tGE:
		c.Op = OpGE
	case tIn:
		c.Op = OpIn
	case tLike:
		c.Op = OpLike
	case tMatches:
		c.Op = OpMatches
	case tIsSubset:
		c.Op = OpIsSubset
	case tIsSuperset:
		c.Op = OpIsSuperset
	default:
		if c.Negated {
			return nil, p.unexpected("a comparison operator after NOT")
		}
		return nil, p.unexpected("a comparison operator (=, !=, <, <=, >, >=, IN, LIKE, MATCHES, ISSUBSET, ISSUPERSET) or NOT")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	valPos := p.tok.pos
	switch c.Op {
	case OpEQ, OpNEQ:
		v, ok := p.literal(true)
		if !ok {
			return nil, p.unexpected("a constant after " + opTok.text)
		}
		c.Value = v
		if err := p.advance(); err != nil {
			return nil, err
		}
	case OpLT, OpLE, OpGT, OpGE:
		v, ok := p.literal(false)
		if !ok {
			return nil, p.unexpected("a string, number, timestamp, binary or hex constant after " + opTok.text)
		}
		c.Value = v
		if err := p.advance(); err != nil {
			return nil, err
		}
	case OpIn:
		if p.tok.kind != tLParen {
			return nil, p.unexpected("'(' after IN")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		set := Value{Kind: ValSet, Set: []Value{}}
		if p.tok.kind != tRParen {
			for {
				v, ok := p.literal(true)
				if !ok {
					return nil, p.unexpected("a constant in the IN set")
				}
				set.Set = append(set.Set, v)
				if err := p.advance(); err != nil {
					return nil, err
				}
				if p.tok.kind == tRParen {
					break
				}
				if p.tok.kind != tComma {
					return nil, p.unexpected("',' or ')' in the IN set")
				}
				if err := p.advance(); err != nil {
					return nil, err
				}
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		c.Value = set
	default:
		if p.tok.kind != tString {
			return nil, p.unexpected("a string constant after " + opTok.text)
		}
		c.Value = Value{Kind: ValString, Str: p.tok.str}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if err := checkHash(c); err != nil {
		return nil, p.errAt(valPos, "%v", err)
	}
	p.comps = append(p.comps, c)
	return c, nil
}

// literal reads the constant at the current token without consuming it;
// bool constants only when allowBool.
func (p *parser) literal(allowBool bool) (Value, bool) {
	t := p.tok
	var v Value
	switch t.kind {
	case tString:
		v = Value{Kind: ValString, Str: t.str}
	case tInt:
		v = Value{Kind: ValInt, Int: t.i}
	case tFloat:
		v = Value{Kind: ValFloat, Float: t.f}
	case tTimestamp:
		v = Value{Kind: ValTimestamp, Str: t.str, Time: t.t}
	case tBinary:
		v = Value{Kind: ValBinary, Bytes: t.bytes}
	case tHex:
		v = Value{Kind: ValHex, Bytes: t.bytes}
	case tBool:
		if !allowBool {
			return v, false
		}
		v = Value{Kind: ValBool, Bool: t.b}
	default:
		return v, false
	}
	return v, true
}

func (p *parser) parsePath() (ObjectPath, error) {
	var path ObjectPath
	if p.tok.kind != tIdent && p.tok.kind != tIdentHyphen {
		return path, p.unexpected("an object type")
	}
	path.ObjectType = p.tok.text
	if err := p.advance(); err != nil {
		return path, err
	}
	if _, err := p.expect(tColon, "':' after the object type"); err != nil {
		return path, err
	}
	switch p.tok.kind {
	case tIdent:
		path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.text})
	case tString:
		path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.str})
	default:
		return path, p.unexpected("a property name after ':'")
	}
	if err := p.advance(); err != nil {
		return path, err
	}
	for {
		switch p.tok.kind {
		case tDot:
			if err := p.advance(); err != nil {
				return path, err
			}
			switch p.tok.kind {
			case tIdent:
				path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.text})
			case tString:
				path.Steps = append(path.Steps, PathStep{Kind: StepKey, Key: p.tok.str})
			default:
				return path, p.unexpected("a property name after '.' (quote names with hyphens)")
			}
			if err := p.advance(); err != nil {
				return path, err
			}
		case tLBrack:
			if err := p.advance(); err != nil {
				return path, err
			}
			switch p.tok.kind {
			case tInt:
				path.Steps = append(path.Steps, PathStep{Kind: StepIndex, Index: p.tok.i})
			case tAsterisk:
				path.Steps = append(path.Steps, PathStep{Kind: StepAny})
			default:
				return path, p.unexpected("an integer or '*' in the list index")
			}
			if err := p.advance(); err != nil {
				return path, err
			}
			if _, err := p.expect(tRBrack, "']' after the list index"); err != nil {
				return path, err
			}
		default:
			return path, nil
		}
	}
}

// hashForms are the forms the OASIS reference validator requires of hash
// values, keyed by algorithm name upper-cased without hyphens.
var hashForms = map[string]*regexp.Regexp{
	"MD5":       regexp.MustCompile(`^[a-fA-F0-9]{32}$`),
	"MD6":       regexp.MustCompile(`^(?:[a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{56}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$`),
	"RIPEMD160": regexp.MustCompile(`^[a-fA-F0-9]{40}$`),
	"SHA1":      regexp.MustCompile(`^[a-fA-F0-9]{40}$`),
	"SHA224":    regexp.MustCompile(`^[a-fA-F0-9]{56}$`),
	"SHA256":    regexp.MustCompile(`^[a-fA-F0-9]{64}$`),
	"SHA384":    regexp.MustCompile(`^[a-fA-F0-9]{96}$`),
	"SHA512":    regexp.MustCompile(`^[a-fA-F0-9]{128}$`),
	"SHA3224":   regexp.MustCompile(`^[a-fA-F0-9]{56}$`),
	"SHA3256":   regexp.MustCompile(`^[a-fA-F0-9]{64}$`),
	"SHA3384":   regexp.MustCompile(`^[a-fA-F0-9]{96}$`),
	"SHA3512":   regexp.MustCompile(`^[a-fA-F0-9]{128}$`),
	"SSDEEP":    regexp.MustCompile(`^[a-zA-Z0-9/+:.]{1,128}$`),
	"WHIRLPOOL": regexp.MustCompile(`^[a-fA-F0-9]{128}$`),
}

// checkHash applies the reference validator's hash check to =, != and IN
// comparisons on a path through "hashes" that ends in a known algorithm.
func checkHash(c *Comparison) error {
	if c.Op != OpEQ && c.Op != OpNEQ && c.Op != OpIn {
		return nil
	}
	last := c.Path.Steps[len(c.Path.Steps)-1]
	if last.Kind != StepKey {
		return nil
	}
	through := false
	for _, s := range c.Path.Steps[:len(c.Path.Steps)-1] {
		if s.Kind == StepKey && s.Key == "hashes" {
			through = true
		}
	}
	if !through {
		return nil
	}
	alg := strings.ToUpper(strings.ReplaceAll(last.Key, "-", ""))
	re := hashForms[alg]
	if re == nil {
		return nil
	}
	vals := []Value{c.Value}
	if c.Value.Kind == ValSet {
		vals = c.Value.Set
	}
	for _, v := range vals {
		if v.Kind == ValString && !re.MatchString(v.Str) {
			return fmt.Errorf("'%s' is not a valid %s hash", v.Str, last.Key)
		}
	}
	return nil
}
