package client

import (
	"fmt"
	"mime"
	"strings"
)

// Media types of TAXII 2.1 section 1.6.8. The client sends exactly these
// strings: Accept on every request and Content-Type on POST.
const (
	MediaTypeTAXII = "application/taxii+json;version=2.1"
	MediaTypeSTIX  = "application/stix+json;version=2.1"
)

// mediaType is a parsed Content-Type.
type mediaType struct {
	Type    string // lowercased type/subtype, e.g. "application/taxii+json"
	Version string // the version parameter, "" when absent
}

// parseMediaType parses a Content-Type header value. It accepts the
// parameter syntax of RFC 9110 section 8.3.1 (spaces around ';', quoted
// values, case-insensitive names).
func parseMediaType(s string) (mediaType, error) {
	if strings.TrimSpace(s) == "" {
		return mediaType{}, fmt.Errorf("no Content-Type")
	}
	t, params, err := mime.ParseMediaType(s)
	if err != nil {
		return mediaType{}, fmt.Errorf("malformed Content-Type %q: %v", truncate(s, 100), err)
	}
	return mediaType{Type: t, Version: params["version"]}, nil
}

// checkTAXIIResponse checks that a successful response carries a TAXII
// 2.1 body. A missing version parameter is tolerated (some servers omit
// it); another TAXII version, or another type altogether (an HTML login
// page of a proxy, say), is an error that names what came back.
func checkTAXIIResponse(contentType string) error {
	mt, err := parseMediaType(contentType)
	if err != nil {
		return err
	}
	if mt.Type != "application/taxii+json" {
		return fmt.Errorf("server answered with Content-Type %q, want %s", truncate(contentType, 100), MediaTypeTAXII)
	}
	if mt.Version != "" && mt.Version != "2.1" {
		return fmt.Errorf("server answered with TAXII version %q, this client speaks 2.1", truncate(mt.Version, 20))
	}
	return nil
}

// truncate shortens s for use in messages, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
