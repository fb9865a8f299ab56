// Package server wires Fusion's HTTP server: authentication (API tokens
// by Bearer or HTTP Basic, RFC 6750 and RFC 7617), per-token rate limits,
// body limits and timeouts, structured request logs, Prometheus metrics,
// /healthz, the admin API under /api/v1/ and the TAXII 2.1 API of package
// taxii. It also bootstraps an empty store (a hub organisation and its
// admin token) and seeds the demo.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"fusion/internal/audit"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/taxii"
)

// Config is the server's configuration; zero values take the defaults
// noted.
type Config struct {
	Addr string // listen address, default 127.0.0.1:8080

	MaxPageSize      int   // TAXII limit cap, default 1000
	MaxContentLength int64 // largest TAXII POST body, default 100 MiB
	// Rate is each token's sustained request rate per second and Burst
	// its bucket size; Rate 0 means the default of 50/s with burst 100,
	// a negative Rate disables rate limiting.
	Rate  float64
	Burst int

	TLSCert, TLSKey string // both set: serve HTTPS (TLS 1.2 or later)

	ReadHeaderTimeout time.Duration // default 10 s
	ReadTimeout       time.Duration // whole request including body, default 5 min
	WriteTimeout      time.Duration // default 5 min
	IdleTimeout       time.Duration // default 2 min

	// TrustedProxies are the addresses of reverse proxies in front of the
	// server; for requests from them, the client address (used to limit
	// failed authentications and in logs) is taken from X-Forwarded-For.
	TrustedProxies []netip.Prefix

	// PublicURL is the base URL clients use, for TAXII discovery; empty:
	// taken from each request.
	PublicURL string
	// MetricsAddr, when set, serves /metrics without authentication on a
	// second listener (bind it to loopback or a monitoring network). On
	// the main listener /metrics always needs a hub admin token.
	MetricsAddr string

	Validate func(*stix.Object) error // STIX validation of posted objects; nil: parse only
	// Audit, when set, is the audit log over the store: TAXII read
	// responses are recorded in it and its API is served under
	// /api/v1/audit/ to any authenticated organisation. The caller runs
	// its integration (audit.Log.Run). Store changes are recorded by the
	// store's Recorder, installed by whoever opened the store.
	Audit  *audit.Log
	Logger *slog.Logger
	Now    func() time.Time // clock; default time.Now
}

// Server is Fusion's HTTP server.
type Server struct {
	st      store.Store
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	lim     *limiters
	fails   *failures
	mux     *http.ServeMux
	handler http.Handler
	reg     *prometheus.Registry
	m       metrics
	guard   *Guard
	feed    *matchFeed
}

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	authFailed  prometheus.Counter
	rateLimited prometheus.Counter
}

// New builds a server over st.
func New(st store.Store, cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 1000
	}
	if cfg.MaxContentLength <= 0 {
		cfg.MaxContentLength = 100 << 20
	}
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 50, 100
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(cfg.Rate*2))
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{st: st, cfg: cfg, log: cfg.Logger, now: cfg.Now,
		lim:   &limiters{rate: rate.Limit(cfg.Rate), burst: cfg.Burst, m: map[string]*rate.Limiter{}},
		fails: &failures{m: map[string]*rate.Limiter{}}}
	s.reg = prometheus.NewRegistry()
	s.m = metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fusion_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fusion_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"route"}),
		authFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "fusion_http_auth_failures_total",
			Help: "Requests refused for missing or bad credentials."}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Name: "fusion_http_rate_limited_total",
			Help: "Requests refused by the per-token rate limit."}),
	}
	s.reg.MustRegister(s.m.requests, s.m.duration, s.m.authFailed, s.m.rateLimited,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if lg := cfg.Audit; lg != nil {
		spool := func(name, help string, v func(audit.SpoolStats) float64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
				func() float64 { return v(lg.SpoolStats()) })
		}
		s.reg.MustRegister(
			spool("fusion_audit_spool_pending_entries", "Served and denied entries written to the audit spool and not yet stored in the log.",
				func(st audit.SpoolStats) float64 { return float64(st.Entries) }),
			spool("fusion_audit_spool_pending_bytes", "Bytes of those entries (refused beyond 256 MiB).",
				func(st audit.SpoolStats) float64 { return float64(st.Bytes) }),
			spool("fusion_audit_spool_failing", "1 while storing the audit spool's entries in the log fails.",
				func(st audit.SpoolStats) float64 {
					if st.Failing {
						return 1
					}
					return 0
				}))
	}

	s.guard = NewGuard(st, cfg.Logger, cfg.Now)
	s.feed = newMatchFeed(st, cfg.Logger, cfg.Now)
	s.mux = http.NewServeMux()
	s.routes()
	s.handler = s.observe(s.authn(s.mux))
	return s
}

// routes registers everything the server answers besides the TAXII API:
// health, metrics, the admin API, and a TAXII-shaped 404 for the rest.
func (s *Server) routes() {
	taxii.New(s.st, taxii.Config{
		MaxPageSize: s.cfg.MaxPageSize, MaxContentLength: s.cfg.MaxContentLength,
		Validate: s.cfg.Validate, PublicURL: s.cfg.PublicURL, Logger: s.log, Now: s.now,
		Guard: s.guard.TAXII(), Audit: s.cfg.Audit,
	}).Routes(s.mux)
	if s.cfg.Audit != nil {
		audit.NewHandler(s.cfg.Audit, audit.HandlerOptions{Caller: taxii.CallerFrom, Logger: s.log}).Routes(s.mux)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", s.wrap(s.metricsAuthed))
	s.adminRoutes(s.mux)
	s.matchRoutes(s.mux)
	s.disseminateRoutes(s.mux)
	s.mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return taxii.Errorf(http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
	}))
}

// Handler is the server's full HTTP handler (for httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// wrap adapts an error-returning handler.
func (s *Server) wrap(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			taxii.WriteError(w, r, s.log, err)
		}
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.st.GetRecord(ctx, "healthz"); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("health check: store unreachable", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) metricsAuthed(w http.ResponseWriter, r *http.Request) error {
	c, ok := taxii.CallerFrom(r.Context())
	if !ok || !c.IsHubAdmin() {
		return taxii.Errorf(http.StatusForbidden, "metrics need a hub admin token")
	}
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// authn authenticates every request except /healthz, applies the
// per-address limit on failed authentications and the per-token rate
// limit, and caps request bodies. The request context it passes on
// carries the caller (taxii.ContextWithCaller) and its organisation as
// the audit actor (audit.WithActor).
func (s *Server) authn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		addr, now := clientAddr(r, s.cfg.TrustedProxies), s.now()
		if blocked, wait := s.fails.blocked(addr, now); blocked {
			s.m.rateLimited.Inc()
			taxii.WriteError(w, r, s.log, tooManyRequests(wait))
			return
		}
		c, err := s.authenticate(r)
		if err != nil {
			var te *taxii.Error
			if errors.As(err, &te) && te.Status == http.StatusUnauthorized {
				s.m.authFailed.Inc()
				s.fails.failed(addr, now)
			}
			taxii.WriteError(w, r, s.log, err)
			return
		}
		if ok, wait := s.lim.allow(c.TokenID, s.now()); !ok {
			s.m.rateLimited.Inc()
			taxii.WriteError(w, r, s.log, tooManyRequests(wait))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxContentLength)
		}
		if rec, ok := w.(*recorder); ok {
			rec.org, rec.token, rec.client = c.Org.Name, c.TokenID, addr
		}
		// The caller for the handlers, and the acting organisation for
		// the audit entries of the store changes they make.
		ctx := audit.WithActor(taxii.ContextWithCaller(r.Context(), c), c.Org.ID)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recorder captures what the logs and metrics need of a response.
type recorder struct {
	http.ResponseWriter
	code               int
	bytes              int64
	org, token, client string
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe logs each request (never its credentials: the token is named
// by its id) and counts it in the metrics by route pattern.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		_, route := s.mux.Handler(r)
		if route == "" || route == "/" {
			route = "other"
		}
		d := time.Since(start)
		s.m.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.code)).Inc()
		s.m.duration.WithLabelValues(route).Observe(d.Seconds())
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("query", r.URL.RawQuery),
			slog.Int("status", rec.code), slog.Int64("bytes", rec.bytes), slog.Duration("duration", d),
			slog.String("org", rec.org), slog.String("token_id", rec.token), slog.String("remote", r.RemoteAddr),
			slog.String("client", rec.client))
	})
}

// httpServer builds the net/http server with the configured timeouts.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// Run listens on cfg.Addr (and cfg.MetricsAddr) and serves until ctx is
// done, then shuts down gracefully, giving requests in flight up to 30 s.
// ready, if not nil, is called with the bound address once listening.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	srv := s.httpServer(s.handler)
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	tlsOn := s.cfg.TLSCert != "" || s.cfg.TLSKey != ""
	if tlsOn && (s.cfg.TLSCert == "" || s.cfg.TLSKey == "") {
		ln.Close()
		return fmt.Errorf("TLS needs both a certificate and a key")
	}
	go func() {
		if tlsOn {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if s.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
		msrv := s.httpServer(mmux)
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
	}
	s.StartMatching(ctx)
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		for _, x := range servers {
			x.Close()
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var firstErr error
	for _, x := range servers {
		if err := x.Shutdown(sctx); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
