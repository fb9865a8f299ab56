package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a TAXII error message (TAXII 2.1 section 3.6.1) or, when the
// server sent no such message, an HTTP error status with a short excerpt
// of whatever body came back.
type Error struct {
	Method     string // request method
	URL        string // request URL
	StatusCode int    // HTTP status code of the response

	// From the error message when the server sent one.
	Title           string
	Description     string
	ErrorID         string
	ErrorCode       string
	HTTPStatus      string // the message's own http_status, as sent
	ExternalDetails string
	Details         jsontext.Value // the message's details, as sent; nil when absent

	// RetryAfter is the parsed Retry-After header; zero when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Title != "" && !strings.EqualFold(e.Title, http.StatusText(e.StatusCode)) {
		b.WriteString(": ")
		b.WriteString(e.Title)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// StatusOf returns the HTTP status code of err when it is (or wraps) an
// *Error, and 0 otherwise.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// errorMessage is the wire form of section 3.6.1. http_status is a string
// in the specification; some servers send a number, which is accepted.
type errorMessage struct {
	Title           string         `json:"title"`
	Description     string         `json:"description"`
	ErrorID         string         `json:"error_id"`
	ErrorCode       string         `json:"error_code"`
	HTTPStatus      jsontext.Value `json:"http_status"`
	ExternalDetails string         `json:"external_details"`
	Details         jsontext.Value `json:"details"`
}

// maxErrorBody is how much of an error response is read.
const maxErrorBody = 64 << 10

// maxErrorText bounds each text field kept from an error response, so
// that a hostile server cannot fill a terminal or a log.
const maxErrorText = 2000

// decodeError builds an *Error from an error response's status, content
// type and (already size-limited) body. It never fails: a body that is
// not a TAXII error message becomes a short, printable excerpt.
func decodeError(method, url string, status int, contentType string, body []byte) *Error {
	e := &Error{Method: method, URL: url, StatusCode: status}
	mt, _ := parseMediaType(contentType)
	if mt.Type == "application/taxii+json" || mt.Type == "application/json" {
		var m errorMessage
		if err := json.Unmarshal(body, &m); err == nil && m.Title != "" {
			e.Title = clean(m.Title)
			e.Description = clean(m.Description)
			e.ErrorID = clean(m.ErrorID)
			e.ErrorCode = clean(m.ErrorCode)
			e.ExternalDetails = clean(m.ExternalDetails)
			e.HTTPStatus = httpStatusText(m.HTTPStatus)
			if len(m.Details) > 0 && len(m.Details) <= maxErrorText {
				e.Details = m.Details
			}
			return e
		}
	}
	if excerpt := clean(string(body)); excerpt != "" {
		e.Description = truncate(excerpt, 200)
	}
	return e
}

// httpStatusText returns a message's http_status, given as a string or a
// number, as text.
func httpStatusText(v jsontext.Value) string {
	switch v.Kind() {
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return clean(s)
		}
	case '0':
		if n, err := strconv.ParseInt(string(v), 10, 32); err == nil {
			return strconv.FormatInt(n, 10)
		}
	}
	return ""
}

// clean makes server-supplied text safe to print: invalid UTF-8 and
// control characters (terminal escapes among them) become spaces, runs
// of white space collapse, and the result is bounded.
func clean(s string) string {
	if len(s) > 4*maxErrorText {
		s = s[:4*maxErrorText]
	}
	var b strings.Builder
	space := false
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r == utf8.RuneError || r < 0x20 || (r >= 0x7f && r < 0xa0) || r == ' ' || r == 0x2028 || r == 0x2029 {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
		if b.Len() >= maxErrorText {
			break
		}
	}
	return truncate(b.String(), maxErrorText)
}
