package client

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; they hold answers
// captured from the Fusion server and hand-written hostile ones.

// FuzzDecodeEnvelope: any body either fails to decode or yields objects
// that are each one valid JSON object and that survive a round trip
// through EnvelopeBuilder.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"more":false,"objects":[{"type":"indicator","id":"indicator--1"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeEnvelope(bytes.NewReader(body))
		if err != nil {
			if env != nil {
				t.Fatal("envelope returned with an error")
			}
			return
		}
		size := EnvelopeOverhead
		for _, o := range env.Objects {
			if !jsontext.Value(o).IsValid() || jsontext.Value(o).Kind() != '{' {
				t.Fatalf("object %q is not a valid JSON object", o)
			}
			size += len(o) + 1
		}
		b := NewEnvelopeBuilder(size)
		for _, o := range env.Objects {
			if ok, err := b.Add(o); !ok || err != nil {
				t.Fatalf("rebuild: %v %v", ok, err)
			}
		}
		if b.Size() > size || len(b.Bytes()) != b.Size() {
			t.Fatalf("rebuilt envelope %d bytes, Size %d, limit %d", len(b.Bytes()), b.Size(), size)
		}
		again, err := decodeEnvelope(bytes.NewReader(b.Bytes()))
		if err != nil || len(again.Objects) != len(env.Objects) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range env.Objects {
			if !bytes.Equal(again.Objects[i], env.Objects[i]) {
				t.Fatalf("object %d changed in the round trip", i)
			}
		}
	})
}

// FuzzDecodeStatus: a status resource either fails to decode or passes
// check, with one of the two status values and no negative count.
func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte(`{"id":"s1","status":"complete","total_count":1,"success_count":1,"failure_count":0,"pending_count":0}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var st Status
		err := decodeJSON(bytes.NewReader(body), "status", &st)
		if err == nil {
			err = st.check()
		}
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.Valid(body) {
				t.Fatalf("error text not UTF-8: %q", err.Error())
			}
			return
		}
		if st.ID == "" || (st.Status != StatusComplete && st.Status != StatusPending) {
			t.Fatalf("accepted %+v", st)
		}
		if st.TotalCount < 0 || st.SuccessCount < 0 || st.FailureCount < 0 || st.PendingCount < 0 {
			t.Fatalf("accepted negative count %+v", st)
		}
	})
}

// FuzzDecodeError: any error answer becomes an *Error whose text is
// printable (no control characters, valid UTF-8) and bounded.
func FuzzDecodeError(f *testing.F) {
	f.Add(MediaTypeTAXII, []byte(`{"title":"Not Found","http_status":"404"}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		e := decodeError("GET", "http://h/", 400, contentType, body)
		for _, s := range []string{e.Title, e.Description, e.ErrorID, e.ErrorCode, e.HTTPStatus, e.ExternalDetails} {
			if !utf8.ValidString(s) {
				t.Fatalf("field %q is not UTF-8", s)
			}
			if len(s) > maxErrorText+len("…") {
				t.Fatalf("field of %d bytes", len(s))
			}
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("control character in %q", s)
			}
		}
		if len(e.Details) > 0 && !e.Details.IsValid() {
			t.Fatalf("details %q not valid JSON", e.Details)
		}
		_ = e.Error()
	})
}

// FuzzHeaders: Content-Type, Retry-After and X-TAXII-Date-Added-* parsing
// never panics and stays in range.
func FuzzHeaders(f *testing.F) {
	f.Add("application/taxii+json;version=2.1", "120", "2024-01-02T03:04:05.123456Z")
	f.Fuzz(func(t *testing.T, ct, retryAfter, dateAdded string) {
		_ = checkTAXIIResponse(ct)
		d := parseRetryAfter(retryAfter, time.Unix(1700000000, 0))
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("Retry-After %q gave %v", retryAfter, d)
		}
		tm, err := parseDateAdded("X", dateAdded)
		if err == nil && !tm.IsZero() {
			if tm.Location() != time.UTC {
				t.Fatalf("date %q not in UTC", dateAdded)
			}
			back, err := parseDateAdded("X", formatTimestamp(tm))
			if err != nil || !back.Equal(tm) {
				t.Fatalf("date %q: round trip %v %v", dateAdded, back, err)
			}
		}
	})
}
