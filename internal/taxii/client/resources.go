package client

import (
	"fmt"
	"time"
)

// Discovery is the server discovery resource (TAXII 2.1 section 4.1.1).
// APIRoots and Default are absolute URLs: relative ones in the response
// are resolved against the discovery URL.
type Discovery struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

// APIRoot is the API root resource (section 4.2.1).
type APIRoot struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Versions    []string `json:"versions"`
	// MaxContentLength is the largest request body, in octets, the API
	// root accepts (section 4.2.1): push sizes its envelopes to it.
	MaxContentLength int64 `json:"max_content_length"`
}

// Collection is the collection resource (section 5.2.1).
type Collection struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

// Envelope is one page of objects (section 3.7) with the pagination
// headers of section 3.4.3.
type Envelope struct {
	More bool
	Next string
	// Objects are the envelope's objects as the server sent them, one JSON
	// object each, in the server's date_added order. Each slice is owned by
	// the caller.
	Objects [][]byte
	// DateAddedFirst and DateAddedLast come from the X-TAXII-Date-Added-First
	// and X-TAXII-Date-Added-Last headers; zero when the server sent none.
	DateAddedFirst time.Time
	DateAddedLast  time.Time
}

// ManifestRecord describes one object version (section 5.6.1).
type ManifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type,omitempty"`
}

// Manifest is one page of the manifest resource (section 5.6.1).
type Manifest struct {
	More    bool             `json:"more,omitempty"`
	Next    string           `json:"next,omitempty"`
	Objects []ManifestRecord `json:"objects,omitempty"`

	DateAddedFirst time.Time `json:"-"`
	DateAddedLast  time.Time `json:"-"`
}

// Versions is one page of the versions resource (section 5.8.1).
type Versions struct {
	More     bool     `json:"more,omitempty"`
	Next     string   `json:"next,omitempty"`
	Versions []string `json:"versions,omitempty"`

	DateAddedFirst time.Time `json:"-"`
	DateAddedLast  time.Time `json:"-"`
}

// Status values (section 4.3.1).
const (
	StatusComplete = "complete"
	StatusPending  = "pending"
)

// Status is the status resource of an add-objects request (section 4.3.1).
type Status struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []StatusDetail `json:"successes,omitempty"`
	FailureCount     int            `json:"failure_count"`
	Failures         []StatusDetail `json:"failures,omitempty"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []StatusDetail `json:"pendings,omitempty"`
}

// Complete reports whether the server has finished with every object of
// the request.
func (s *Status) Complete() bool { return s.Status == StatusComplete }

// check applies the MUSTs of section 4.3.1 that a client depends on.
func (s *Status) check() error {
	if s.ID == "" {
		return fmt.Errorf("status resource without an id")
	}
	if s.Status != StatusComplete && s.Status != StatusPending {
		return fmt.Errorf("status resource %s: status is %q, want %q or %q", truncate(s.ID, 80), truncate(s.Status, 40), StatusComplete, StatusPending)
	}
	if s.TotalCount < 0 || s.SuccessCount < 0 || s.FailureCount < 0 || s.PendingCount < 0 {
		return fmt.Errorf("status resource %s: negative count", truncate(s.ID, 80))
	}
	return nil
}

// StatusDetail names one object of an add-objects request and what
// became of it (section 4.3.1.1).
type StatusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}
