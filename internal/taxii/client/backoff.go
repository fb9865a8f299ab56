package client

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry is the retry policy of a Client. A request is tried at most
// Attempts times; between tries the client waits a random duration in
// [d/2, d] (jitter, so that many clients do not come back together),
// where d = BaseDelay·2^(try-1) capped at MaxDelay. A Retry-After header
// on a 429 or 503 answer replaces the computed wait when it is longer;
// a Retry-After longer than MaxRetryAfter ends the retries instead of
// sleeping for it.
type Retry struct {
	Attempts      int
	BaseDelay     time.Duration
	MaxDelay      time.Duration
	MaxRetryAfter time.Duration
}

// DefaultRetry is used for every zero field of Options.Retry.
var DefaultRetry = Retry{
	Attempts:      6,
	BaseDelay:     500 * time.Millisecond,
	MaxDelay:      30 * time.Second,
	MaxRetryAfter: 5 * time.Minute,
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = DefaultRetry.BaseDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultRetry.MaxDelay
	}
	if r.MaxDelay < r.BaseDelay {
		r.MaxDelay = r.BaseDelay
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultRetry.MaxRetryAfter
	}
	return r
}

// delay returns the wait before try number next (2 for the first retry).
// rnd returns a float in [0, 1).
func (r Retry) delay(next int, rnd func() float64) time.Duration {
	d := r.BaseDelay
	for i := 2; i < next && d < r.MaxDelay; i++ {
		d *= 2
	}
	if d > r.MaxDelay {
		d = r.MaxDelay
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}

func jitter() float64 { return rand.Float64() }

// parseRetryAfter reads a Retry-After header (RFC 9110 section 10.2.3):
// delay-seconds or an HTTP-date. It returns 0 for an absent, malformed
// or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		if d > 24*time.Hour {
			d = 24 * time.Hour
		}
		return d
	}
	return 0
}

// retryableStatus reports whether an answer with this status may succeed
// when the same request is sent again: the server was busy, overloaded,
// or a gateway in front of it failed.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
