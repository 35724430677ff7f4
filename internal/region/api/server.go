package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ironkit/ironkit/internal/region/auth"
)

// APIVersion is the version of the REST API's path prefix.
const APIVersion = "1.0"

// Config configures the HTTP server.
type Config struct {
	// Listen is the address to serve on (regiond: ":5240").
	Listen string
	// Version is the region's software version, shown by /api/v1/version.
	Version string
	// Backend implements the resources; every field must be set.
	Backend Backend
	// RPC, when set, is mounted at /rpc/v1/ for rack tokens only.
	RPC http.Handler
	// Logger receives request logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the server's collectors; Gatherer is served at
	// /metrics. Both nil: no metrics (tests); regiond passes one private
	// *prometheus.Registry as both.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Hasher hashes new passwords; zero means auth.DefaultHasher().
	Hasher auth.Hasher
	// SecretParam reports whether a power parameter is secret (write-only)
	// for a power type; nil uses only the name heuristic of IsSecretParam.
	SecretParam func(powerType, name string) bool
	// MaxBodyBytes bounds JSON request bodies (default 4 MiB).
	MaxBodyBytes int64
	// ShutdownTimeout bounds the drain of requests on shutdown (default 10s).
	ShutdownTimeout time.Duration
	// Cache, when set, answers machine GETs, machine lists and API keys
	// from memory while its owner keeps it enabled and invalidated (see
	// Cache); nil reads the database on every request.
	Cache *Cache
	// UI, when set, builds the operator web page from the API's own
	// handler; it serves / and /ui/... Every other unknown path answers a
	// JSON 404.
	UI func(api http.Handler) (http.Handler, error)
}

// Server is the region's HTTP service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	routes  []Route
	mux     *http.ServeMux
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	openapi []byte
	tokens  auth.TokenLookup
	// dummy is a password hash checked when a login names no user, so
	// timing does not reveal which usernames exist.
	dummy string
}

// New builds the server: routes, mux, OpenAPI document and metrics.
func New(cfg Config) (*Server, error) {
	if m := cfg.Backend.missing(); m != "" {
		return nil, fmt.Errorf("api: Backend.%s is nil: wire every backend before starting the server", m)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hasher == (auth.Hasher{}) {
		cfg.Hasher = auth.DefaultHasher()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Listen == "" {
		cfg.Listen = ":5240"
	}
	var err error
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ironkit", Subsystem: "region", Name: "http_requests_total",
		Help: "HTTP requests by operation and status code.",
	}, []string{"op", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ironkit", Subsystem: "region", Name: "http_request_duration_seconds",
		Help:    "HTTP request latency by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"op"})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reqs, s.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("api: register metrics: %w", err)
			}
		}
	}
	if s.dummy, err = cfg.Hasher.Hash("not a password"); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s.tokens = cfg.Backend.Tokens
	if cfg.Cache != nil {
		s.tokens = cachedTokens{c: cfg.Cache, inner: cfg.Backend.Tokens}
	}
	s.routes = s.table()
	doc, err := json.Marshal(OpenAPI(s.routes, cfg.Version))
	if err != nil {
		return nil, fmt.Errorf("api: openapi document: %w", err)
	}
	s.openapi = doc
	seen := map[string]bool{}
	for i := range s.routes {
		rt := &s.routes[i]
		if seen[rt.Op] {
			return nil, fmt.Errorf("api: duplicate operation id %q", rt.Op)
		}
		seen[rt.Op] = true
		s.mux.Handle(rt.Pattern(), s.wrap(rt))
	}
	var ui http.Handler
	if cfg.UI != nil {
		if ui, err = cfg.UI(s.mux); err != nil {
			return nil, fmt.Errorf("api: web page: %w", err)
		}
	}
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ui != nil && (r.URL.Path == "/" || r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, "/ui/")) {
			ui.ServeHTTP(w, r)
			return
		}
		writeError(w, &Error{Status: http.StatusNotFound, Code: "route_not_found",
			Message: fmt.Sprintf("no route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path)})
	}))
	return s, nil
}

// Routes returns the route table the server serves.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handler is the server's http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// Run serves on Config.Listen until ctx ends, then drains requests for at
// most Config.ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("region API listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// wrap is the middleware chain of one route: authenticate, authorize by the
// decision table, run the handler, encode the reply or error, record
// metrics and log.
func (s *Server) wrap(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		req := &Request{Request: hr, route: rt, maxBody: s.cfg.MaxBodyBytes}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "op", rt.Op, "panic", v)
				if sw.code == 0 {
					writeError(sw, &Error{Status: 500, Code: "internal", Message: "internal error; the region's log has the details"})
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.reqs.WithLabelValues(rt.Op, strconv.Itoa(code)).Inc()
			s.latency.WithLabelValues(rt.Op).Observe(time.Since(start).Seconds())
			if s.log.Enabled(hr.Context(), slog.LevelDebug) { // the arguments cost even when not logged
				s.log.Debug("request", "op", rt.Op, "method", hr.Method, "path", hr.URL.Path, "status", code,
					"principal", req.Principal.String(), "duration", time.Since(start))
			}
		}()
		p, err := auth.Authenticate(hr.Context(), s.tokens, hr.Header.Get("Authorization"))
		if err != nil {
			if errors.Is(err, auth.ErrUnknownToken) {
				// Unknown, revoked or malformed credentials are worth an
				// operator's attention (a decommissioned rack still calling,
				// a leaked key being tried); the token itself is never logged.
				tok, _ := strings.CutPrefix(hr.Header.Get("Authorization"), "Bearer ")
				kind, _ := auth.ParseTokenKind(tok)
				s.log.Warn("token rejected", "kind", tokenKindName[kind], "op", rt.Op,
					"path", hr.URL.Path, "remote", hr.RemoteAddr)
			}
			s.fail(sw, req, err)
			return
		}
		req.Principal = p
		var pathMachine string
		if rt.Access == auth.MachineSelf {
			pathMachine = hr.PathValue("system_id")
		}
		switch auth.Decide(rt.Access, p, pathMachine) {
		case auth.Unauthenticated:
			writeError(sw, unauthorized("this route needs credentials: send Authorization: Bearer <api key>"))
			return
		case auth.Forbidden:
			writeError(sw, forbidden(fmt.Sprintf("%s may not call %s", p.Kind, rt.Op)))
			return
		}
		if rt.raw != nil {
			if err := rt.raw(sw, req); err != nil {
				s.fail(sw, req, err)
			}
			return
		}
		v, err := rt.handle(req)
		if err != nil {
			s.fail(sw, req, err)
			return
		}
		status := rt.success()
		if raw, ok := v.(rawJSON); ok {
			// Already encoded (cached machines): written as is, with the
			// newline json.Encoder ends a value with.
			sw.Header().Set("Content-Type", "application/json")
			sw.Header().Set("Content-Length", strconv.Itoa(len(raw)+1))
			sw.WriteHeader(status)
			_, _ = sw.Write(raw)
			_, _ = sw.Write(newline)
			return
		}
		if status == http.StatusNoContent || v == nil {
			sw.WriteHeader(status)
			return
		}
		writeJSON(sw, status, v)
	})
}

// rawJSON is a reply already encoded as one JSON value (shared: never
// written to).
type rawJSON []byte

var newline = []byte{'\n'}

// tokenKindName names token kinds in logs; a token of no known kind is
// "malformed".
var tokenKindName = map[auth.TokenKind]string{
	auth.APIKey: "api-key", auth.MachineToken: "machine", auth.RackToken: "rack", "": "malformed",
}

func (s *Server) fail(w http.ResponseWriter, r *Request, err error) {
	e, shown := toError(err)
	if !shown || e.Status >= 500 {
		s.log.Error("request failed", "op", r.route.Op, "path", r.URL.Path, "principal", r.Principal.String(), "err", err)
	}
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ironkit"`)
	}
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) metricsHandler() http.Handler {
	if s.cfg.Gatherer == nil {
		return promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	}
	return promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})
}
