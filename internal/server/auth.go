package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"fusion/internal/policy"
	"fusion/internal/store"
	"fusion/internal/taxii"
)

// tokenPrefix marks Fusion API tokens so that they are recognisable in a
// leaked file or a secret scanner.
const tokenPrefix = "fsn_"

// NewToken returns a new API token secret (32 random bytes from
// crypto/rand) and the SHA-256 hash that is the only thing stored.
func NewToken() (secret string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret)
}

// HashToken is how a token secret is stored and looked up.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// credentials reads a token (and, for Basic, the organisation name) from
// the Authorization header.
func credentials(r *http.Request) (user, secret string, basic bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, taxii.Unauthorized("authentication required: send Authorization: Bearer TOKEN, or HTTP Basic with the organisation name and a token")
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		secret = strings.TrimSpace(rest)
		if secret == "" {
			return "", "", false, taxii.Unauthorized("empty bearer token")
		}
		return "", secret, false, nil
	case "basic":
		u, p, ok := r.BasicAuth()
		if !ok || u == "" || p == "" {
			return "", "", false, taxii.Unauthorized("malformed Basic credentials")
		}
		return u, p, true, nil
	}
	return "", "", false, taxii.Unauthorized("unsupported authorization scheme; use Bearer or Basic")
}

// authenticate resolves the request's credentials to a caller. Unknown,
// revoked and expired tokens, and Basic credentials whose user is not
// the token's organisation, are all 401s.
func (s *Server) authenticate(r *http.Request) (policy.Caller, error) {
	user, secret, basic, err := credentials(r)
	if err != nil {
		return policy.Caller{}, err
	}
	if len(secret) > 512 {
		return policy.Caller{}, taxii.Unauthorized("invalid token")
	}
	hash := HashToken(secret)
	t, err := s.st.TokenByHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Caller{}, taxii.Unauthorized("invalid token")
	}
	if err != nil {
		return policy.Caller{}, err
	}
	if subtle.ConstantTimeCompare(t.Hash, hash) != 1 {
		return policy.Caller{}, taxii.Unauthorized("invalid token")
	}
	now := s.now()
	if !t.Revoked.IsZero() && !now.Before(t.Revoked) {
		return policy.Caller{}, taxii.Unauthorized("token revoked")
	}
	if !t.Expires.IsZero() && !now.Before(t.Expires) {
		return policy.Caller{}, taxii.Unauthorized("token expired")
	}
	org, err := s.st.GetOrg(r.Context(), t.OrgID)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Caller{}, taxii.Unauthorized("invalid token")
	}
	if err != nil {
		return policy.Caller{}, err
	}
	if basic && subtle.ConstantTimeCompare([]byte(user), []byte(org.Name)) != 1 {
		return policy.Caller{}, taxii.Unauthorized("the Basic user name must be the token's organisation name")
	}
	return policy.Caller{Org: org, Role: t.Role, TokenID: t.ID}, nil
}

// limiters holds one token bucket per API token (in this node's memory:
// with several nodes, each enforces the rate on its own).
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

// allow takes one request from the token's bucket, or says how long to
// wait.
func (l *limiters) allow(tokenID string, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 || math.IsInf(float64(l.rate), 1) {
		return true, 0
	}
	l.mu.Lock()
	lim, ok := l.m[tokenID]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[tokenID] = lim
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func tooManyRequests(wait time.Duration) *taxii.Error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	e := taxii.Errorf(http.StatusTooManyRequests, "rate limit exceeded for this token; retry after %d s", secs)
	e.Header = http.Header{"Retry-After": []string{strconv.Itoa(secs)}}
	return e
}

// failures limits failed authentications per client address, so that
// guessing tokens costs the guesser time and the store nothing: once an
// address has used its burst, its requests are refused with 429 before
// any lookup until the bucket refills. Kept in this node's memory; the
// table is emptied when it grows past maxFailureAddrs.
type failures struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const (
	failureRate     = rate.Limit(2) // failed attempts per second, sustained
	failureBurst    = 30
	maxFailureAddrs = 100000
)

func (f *failures) limiter(addr string) *rate.Limiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	lim, ok := f.m[addr]
	if !ok {
		if len(f.m) >= maxFailureAddrs {
			f.m = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(failureRate, failureBurst)
		f.m[addr] = lim
	}
	return lim
}

// blocked reports whether addr has no failed attempts left, and for how
// long.
func (f *failures) blocked(addr string, now time.Time) (bool, time.Duration) {
	lim := f.limiter(addr)
	if lim.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, time.Duration(float64(time.Second) / float64(failureRate))
}

// failed records one failed attempt from addr.
func (f *failures) failed(addr string, now time.Time) { f.limiter(addr).AllowN(now, 1) }

// clientAddr is the address failed authentications are counted against:
// the peer's IP, or, when the peer is a trusted proxy, the last address
// in X-Forwarded-For that is not itself a trusted proxy.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(ip, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host // a garbled header: count it against the proxy
		}
		if !inPrefixes(h, trusted) {
			return h.String()
		}
	}
	return host
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
