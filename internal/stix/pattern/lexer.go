package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token of STIXPattern.g4.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tIdentHyphen // an identifier containing '-': valid only as an object type
	tString
	tInt
	tFloat
	tBool
	tTimestamp
	tBinary
	tHex

	// keywords (case-sensitive in STIX 2.1)
	tAnd
	tOr
	tNot
	tFollowedBy
	tLike
	tMatches
	tIsSuperset
	tIsSubset
	tExists
	tLast
	tIn
	tStart
	tStop
	tSeconds
	tWithin
	tRepeats
	tTimes

	// punctuation
	tEQ
	tNEQ
	tLT
	tLE
	tGT
	tGE
	tColon
	tDot
	tComma
	tLParen
	tRParen
	tLBrack
	tRBrack
	tAsterisk
	tPlus
	tMinus
	tPower
	tDivide
)

var keywords = map[string]tokKind{
	"AND":        tAnd,
	"OR":         tOr,
	"NOT":        tNot,
	"FOLLOWEDBY": tFollowedBy,
	"LIKE":       tLike,
	"MATCHES":    tMatches,
	"ISSUPERSET": tIsSuperset,
	"ISSUBSET":   tIsSubset,
	"EXISTS":     tExists,
	"LAST":       tLast,
	"IN":         tIn,
	"START":      tStart,
	"STOP":       tStop,
	"SECONDS":    tSeconds,
	"WITHIN":     tWithin,
	"REPEATS":    tRepeats,
	"TIMES":      tTimes,
	"true":       tBool,
	"false":      tBool,
}

// token is one lexical token. text is the source text of the token; the
// decoded forms are set according to kind.
type token struct {
	kind tokKind
	pos  int // byte offset of the first byte
	text string

	str   string    // tString: decoded; tTimestamp: text between the quotes
	i     int64     // tInt
	f     float64   // tFloat, and tInt as a float (for WITHIN)
	neg   bool      // tInt, tFloat: written with a leading '-'
	b     bool      // tBool
	t     time.Time // tTimestamp
	bytes []byte    // tBinary, tHex
}

// describe renders a token for error messages.
func (t token) describe() string {
	if t.kind == tEOF {
		return "end of pattern"
	}
	s := t.text
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:37]) + "..."
	}
	return "'" + s + "'"
}

type lexer struct {
	src string
	pos int
}

// isSpace reports whether r is one of the grammar's WS characters.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', '\v', '\f', 0x85, 0xa0, 0x1680,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '-'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skip passes over whitespace and comments.
func (l *lexer) skip() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f':
				l.pos++
				continue
			case c == '/' && strings.HasPrefix(l.src[l.pos:], "/*"):
				end := strings.Index(l.src[l.pos+2:], "*/")
				if end < 0 {
					return l.errAt(l.pos, "unterminated comment")
				}
				l.pos += 2 + end + 2
				continue
			case c == '/' && strings.HasPrefix(l.src[l.pos:], "//"):
				for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
					l.pos++
				}
				continue
			}
			return nil
		}
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !isSpace(r) {
			return nil
		}
		l.pos += n
	}
	return nil
}

func (l *lexer) errAt(pos int, format string, args ...any) *SyntaxError {
	return newSyntaxError(l.src, pos, fmt.Sprintf(format, args...))
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := l.src[start]
	switch {
	case c == '\'':
		return l.lexString()
	case (c == 't' || c == 'b' || c == 'h') && start+1 < len(l.src) && l.src[start+1] == '\'':
		return l.lexTyped(c)
	case isIdentStart(c):
		p := start + 1
		hyphen := false
		for p < len(l.src) && isIdentChar(l.src[p]) {
			if l.src[p] == '-' {
				hyphen = true
			}
			p++
		}
		l.pos = p
		tok := token{kind: tIdent, pos: start, text: l.src[start:p]}
		if hyphen {
			tok.kind = tIdentHyphen
		} else if k, ok := keywords[tok.text]; ok {
			tok.kind = k
			tok.b = tok.text == "true"
		}
		return tok, nil
	case isDigit(c),
		c == '.' && start+1 < len(l.src) && isDigit(l.src[start+1]),
		(c == '+' || c == '-') && start+1 < len(l.src) &&
			(isDigit(l.src[start+1]) || l.src[start+1] == '.' && start+2 < len(l.src) && isDigit(l.src[start+2])):
		return l.lexNumber()
	}
	l.pos++
	punct := func(k tokKind) (token, error) {
		return token{kind: k, pos: start, text: l.src[start:l.pos]}, nil
	}
	peek := func(want byte) bool {
		if l.pos < len(l.src) && l.src[l.pos] == want {
			l.pos++
			return true
		}
		return false
	}
	switch c {
	case '=':
		peek('=')
		return punct(tEQ)
	case '!':
		if peek('=') {
			return punct(tNEQ)
		}
	case '<':
		if peek('>') {
			return punct(tNEQ)
		}
		if peek('=') {
			return punct(tLE)
		}
		return punct(tLT)
	case '>':
		if peek('=') {
			return punct(tGE)
		}
		return punct(tGT)
	case ':':
		return punct(tColon)
	case '.':
		return punct(tDot)
	case ',':
		return punct(tComma)
	case '(':
		return punct(tLParen)
	case ')':
		return punct(tRParen)
	case '[':
		return punct(tLBrack)
	case ']':
		return punct(tRBrack)
	case '*':
		return punct(tAsterisk)
	case '+':
		return punct(tPlus)
	case '-':
		return punct(tMinus)
	case '^':
		return punct(tPower)
	case '/':
		return punct(tDivide)
	}
	l.pos = start
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	if r == utf8.RuneError {
		return token{}, l.errAt(start, "invalid UTF-8")
	}
	return token{}, l.errAt(start, "unexpected character %q", r)
}

// scanQuoted reads a quoted body starting at the quote at l.src[q] and
// returns the decoded content; only \' and \\ escapes are allowed.
func (l *lexer) scanQuoted(q int, what string) (string, error) {
	var b strings.Builder
	p := q + 1
	chunk := p
	for p < len(l.src) {
		switch l.src[p] {
		case '\'':
			if chunk == q+1 {
				l.pos = p + 1
				return l.src[q+1 : p], nil
			}
			b.WriteString(l.src[chunk:p])
			l.pos = p + 1
			return b.String(), nil
		case '\\':
			if p+1 >= len(l.src) || l.src[p+1] != '\'' && l.src[p+1] != '\\' {
				if p+1 < len(l.src) {
					r, _ := utf8.DecodeRuneInString(l.src[p+1:])
					return "", l.errAt(p, "invalid escape \\%c in %s: only \\' and \\\\ are allowed", r, what)
				}
				return "", l.errAt(q, "unterminated %s", what)
			}
			b.WriteString(l.src[chunk:p])
			b.WriteByte(l.src[p+1])
			p += 2
			chunk = p
		default:
			p++
		}
	}
	return "", l.errAt(q, "unterminated %s", what)
}

func (l *lexer) lexString() (token, error) {
	start := l.pos
	s, err := l.scanQuoted(start, "string")
	if err != nil {
		return token{}, err
	}
	if !utf8.ValidString(s) {
		return token{}, l.errAt(start, "invalid UTF-8 in string")
	}
	return token{kind: tString, pos: start, text: l.src[start:l.pos], str: s}, nil
}

// lexTyped lexes t'…', b'…' and h'…' constants. The grammar has no
// escapes in them, so the body ends at the next quote.
func (l *lexer) lexTyped(c byte) (token, error) {
	start := l.pos
	end := strings.IndexByte(l.src[start+2:], '\'')
	if end < 0 {
		return token{}, l.errAt(start, "unterminated %c'…' constant", c)
	}
	body := l.src[start+2 : start+2+end]
	l.pos = start + 2 + end + 1
	tok := token{pos: start, text: l.src[start:l.pos], str: body}
	switch c {
	case 't':
		t, err := parseTimestampLiteral(body)
		if err != nil {
			return token{}, l.errAt(start, "invalid timestamp %s: %v", tok.text, err)
		}
		tok.kind, tok.t = tTimestamp, t
	case 'b':
		if !validBase64(body) {
			return token{}, l.errAt(start, "invalid binary constant %s: want padded base64", tok.text)
		}
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return token{}, l.errAt(start, "invalid binary constant %s: %v", tok.text, err)
		}
		tok.kind, tok.bytes = tBinary, b
	case 'h':
		if len(body)%2 != 0 {
			return token{}, l.errAt(start, "invalid hex constant %s: odd number of digits", tok.text)
		}
		b, err := hex.DecodeString(body)
		if err != nil {
			return token{}, l.errAt(start, "invalid hex constant %s: not hex digits", tok.text)
		}
		tok.kind, tok.bytes = tHex, b
	}
	return tok, nil
}

// validBase64 checks the grammar's BinaryLiteral body: one or more groups
// of four base64 characters, the last of which may end in '=' or '=='.
func validBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
		if !ok {
			if c != '=' {
				return false
			}
			// '=' only in the last two positions, and "x=" then '=' only
			switch {
			case i == len(s)-1:
			case i == len(s)-2 && s[len(s)-1] == '=':
			default:
				return false
			}
		}
	}
	return true
}

// parseTimestampLiteral checks the grammar's TimestampLiteral body
// YYYY-MM-DDTHH:MM:SS[.frac]Z with its field ranges (not the calendar).
func parseTimestampLiteral(s string) (time.Time, error) {
	const form = "want YYYY-MM-DDTHH:MM:SS[.fraction]Z"
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("%s", form)
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for j := i; j < i+n; j++ {
			if !isDigit(s[j]) {
				return 0, false
			}
			v = v*10 + int(s[j]-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	h, ok4 := num(11, 2)
	mi, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, fmt.Errorf("%s", form)
	}
	nanos := 0
	rest := s[19 : len(s)-1]
	if rest != "" {
		if rest[0] != '.' || len(rest) == 1 {
			return time.Time{}, fmt.Errorf("%s", form)
		}
		for i := 1; i < len(rest); i++ {
			if !isDigit(rest[i]) {
				return time.Time{}, fmt.Errorf("%s", form)
			}
			if i <= 9 {
				nanos = nanos*10 + int(rest[i]-'0')
			}
		}
		for i := len(rest); i <= 9; i++ {
			nanos *= 10
		}
	}
	switch {
	case mo < 1 || mo > 12:
		return time.Time{}, fmt.Errorf("month %02d out of range", mo)
	case d < 1 || d > 31:
		return time.Time{}, fmt.Errorf("day %02d out of range", d)
	case h > 23:
		return time.Time{}, fmt.Errorf("hour %02d out of range", h)
	case mi > 59:
		return time.Time{}, fmt.Errorf("minute %02d out of range", mi)
	case sec > 60:
		return time.Time{}, fmt.Errorf("second %02d out of range", sec)
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, nanos, time.UTC), nil
}

// lexNumber lexes IntPosLiteral, IntNegLiteral, FloatPosLiteral and
// FloatNegLiteral.
func (l *lexer) lexNumber() (token, error) {
	start := l.pos
	p := start
	neg := false
	if l.src[p] == '+' || l.src[p] == '-' {
		neg = l.src[p] == '-'
		p++
	}
	ds := p
	for p < len(l.src) && isDigit(l.src[p]) {
		p++
	}
	digits := l.src[ds:p]
	if p+1 < len(l.src) && l.src[p] == '.' && isDigit(l.src[p+1]) {
		p++
		for p < len(l.src) && isDigit(l.src[p]) {
			p++
		}
		l.pos = p
		text := l.src[start:p]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, l.errAt(start, "float %s out of range", text)
		}
		return token{kind: tFloat, pos: start, text: text, f: f, neg: neg}, nil
	}
	l.pos = p
	text := l.src[start:p]
	if len(digits) > 1 && digits[0] == '0' {
		return token{}, l.errAt(start, "integer %s has a leading zero", text)
	}
	tok := token{kind: tInt, pos: start, text: text, neg: neg}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return token{}, l.errAt(start, "integer %s out of range (64-bit)", text)
	}
	tok.i = i
	tok.f = float64(i)
	return tok, nil
}
