package taxii

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Media types of TAXII 2.1 (section 1.6.8). Every TAXII resource,
// including the envelope that carries STIX objects, is
// application/taxii+json; STIX objects themselves are
// application/stix+json, which appears only inside resources (a
// collection's media_types, a manifest record's media_type).
const (
	MediaTypeTAXII = "application/taxii+json;version=2.1"
	MediaTypeSTIX  = "application/stix+json;version=2.1"
)

// checkAccept applies section 1.6.8.1: the client must accept
// application/taxii+json in version 2.1. A missing Accept header, */*,
// application/* and application/taxii+json without a version are taken to
// mean the latest version, which is 2.1. Anything else — other versions,
// other media types — is a 406. Ranges with q=0 are refused ranges.
func checkAccept(r *http.Request) error {
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return nil
	}
	var offered []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			offered = append(offered, part)
			if acceptable(part) {
				return nil
			}
		}
	}
	if len(offered) == 0 {
		return nil
	}
	return Errorf(http.StatusNotAcceptable, "this server serves only %s; the request accepts %s", MediaTypeTAXII, strings.Join(offered, ", "))
}

func acceptable(mediaRange string) bool {
	typ, params, err := mime.ParseMediaType(mediaRange)
	if err != nil {
		return false
	}
	if q, ok := params["q"]; ok && isZeroQ(q) {
		return false
	}
	switch typ {
	case "*/*", "application/*":
		return true
	case "application/taxii+json":
		v, ok := params["version"]
		return !ok || v == "2.1"
	}
	return false
}

func isZeroQ(q string) bool {
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f == 0
}

// checkContentType applies the request side of section 1.6.8: a body
// posted to a TAXII endpoint must be application/taxii+json, version 2.1
// or unversioned; anything else is a 415.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return Errorf(http.StatusUnsupportedMediaType, "the request has no Content-Type; send %s", MediaTypeTAXII)
	}
	typ, params, err := mime.ParseMediaType(ct)
	if err != nil || typ != "application/taxii+json" {
		return Errorf(http.StatusUnsupportedMediaType, "Content-Type %q is not supported; send %s", ct, MediaTypeTAXII)
	}
	if v, ok := params["version"]; ok && v != "2.1" {
		return Errorf(http.StatusUnsupportedMediaType, "TAXII version %q is not supported; send %s", v, MediaTypeTAXII)
	}
	return nil
}
