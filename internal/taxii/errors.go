package taxii

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json"

	"fusion/internal/store"
)

// Error is a failed request, written as a TAXII error message (TAXII 2.1
// section 3.6.1). Handlers return it (or any error: see WriteError).
type Error struct {
	Status      int    // HTTP status code
	Title       string // short, human-readable
	Description string // what was wrong, for the client
	Details     map[string]any
	// Header holds extra response headers (WWW-Authenticate, Retry-After).
	Header http.Header
	// Err is the cause, logged for 5xx and never shown to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Title, e.Description, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Description)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted description.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Title: http.StatusText(status), Description: fmt.Sprintf(format, args...)}
}

// Unauthorized is the 401 every unauthenticated request gets: the
// challenge names both schemes Fusion accepts.
func Unauthorized(description string) *Error {
	e := Errorf(http.StatusUnauthorized, "%s", description)
	e.Header = http.Header{}
	e.Header.Add("WWW-Authenticate", `Bearer realm="fusion"`)
	e.Header.Add("WWW-Authenticate", `Basic realm="fusion", charset="UTF-8"`)
	return e
}

// errorMessage is the TAXII 2.1 error message resource (section 3.6.1).
type errorMessage struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	ErrorID     string         `json:"error_id,omitempty"`
	ErrorCode   string         `json:"error_code,omitempty"`
	HTTPStatus  string         `json:"http_status,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
}

// WriteError is the one place where errors become HTTP responses. An
// *Error is written as it says; store.ErrNotFound becomes 404; a body over
// its limit becomes 413; a cancelled request is logged quietly; anything
// else is a 500 whose cause is logged with slog and not shown.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var te *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &te):
	case errors.As(err, &mbe):
		te = Errorf(http.StatusRequestEntityTooLarge, "the request body is over the %d byte limit", mbe.Limit)
	case errors.Is(err, store.ErrNotFound):
		te = Errorf(http.StatusNotFound, "not found")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody will read a response.
		te = &Error{Status: 499, Title: "Client Closed Request", Err: err}
	default:
		te = &Error{Status: http.StatusInternalServerError, Err: err}
	}
	if te.Title == "" {
		te.Title = http.StatusText(te.Status)
	}
	if te.Status >= 500 || te.Status == 499 {
		if log == nil {
			log = slog.Default()
		}
		lvl := slog.LevelError
		if te.Status == 499 {
			lvl = slog.LevelInfo
		}
		log.Log(r.Context(), lvl, "request failed", "method", r.Method, "path", r.URL.Path, "status", te.Status, "err", te.Err)
		if te.Status >= 500 {
			te = &Error{Status: te.Status, Title: http.StatusText(te.Status),
				Description: "the server could not complete the request; it has been logged", Header: te.Header}
		}
	}
	for k, vs := range te.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	msg := errorMessage{Title: te.Title, Description: te.Description, HTTPStatus: strconv.Itoa(te.Status), Details: te.Details}
	body, jerr := json.Marshal(msg)
	if jerr != nil { // only possible with unencodable Details
		body = []byte(`{"title":"Internal Server Error","http_status":"500"}`)
	}
	w.Header().Set("Content-Type", MediaTypeTAXII)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if te.Status == 499 {
		return
	}
	w.WriteHeader(te.Status)
	w.Write(body)
}
