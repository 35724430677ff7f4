// Package rackrpc is the region's side of the rack RPC (package rpc): the
// /rpc/v1 handlers (challenge, register, config, command long-poll,
// results, lease events, heartbeats with interfaces and service health),
// rack commands as database rows, and a jobs.PowerExecutor that routes
// power operations to a rack reaching the BMC.
//
// Every piece of state lives in the database (migration 20261121070001), so
// any number of regiond processes sharing one PostgreSQL serve any rack:
// a nonce issued by one region is consumed at another, a command inserted
// by one region's job worker is delivered by whichever region the rack's
// long-poll reaches (a conditional UPDATE hands it out exactly once) and
// its result is read back by the inserting worker. A killed region's job is
// retried by River on another region, which inserts a fresh command.
//
// Identity is the rack token: the address a request comes from is recorded
// as reported data (the API's rack view), never used to find the rack.
//
// Lease events become dhcp/discovered IP addresses (leases.go); a boot
// lookup is answered only to a rack serving the machine's VLAN and mints
// a machine token valid only in that boot's phase (boot.go); a
// heartbeat's config revision comes from a cache invalidated by store change
// notifications (revision.go); operators queue sync-images and reconfigure
// through the REST API (commands.go, api.RackCommands).
//
// It does not own the wire types (rpc), the rack's loop (internal/rack) or
// the REST API (internal/region/api), which authenticates rack tokens before
// handing requests here; this package checks the token again against the
// database, uncached, so a revoked token stops at once.
package rackrpc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/store"
)

// Registrar creates (or finds) a rack by name and issues it a token
// (backend.Backend.RegisterRack adapted).
type Registrar interface {
	RegisterRack(ctx context.Context, name, version string) (id int64, token string, err error)
}

// RegistrarFunc adapts a function to Registrar.
type RegistrarFunc func(ctx context.Context, name, version string) (int64, string, error)

// RegisterRack calls f.
func (f RegistrarFunc) RegisterRack(ctx context.Context, name, version string) (int64, string, error) {
	return f(ctx, name, version)
}

// Config configures a Server; zero durations take the defaults.
type Config struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Window is the allowed clock skew of a registration timestamp (2m).
	Window time.Duration
	// NonceTTL is how long a challenge nonce stays usable (1m).
	NonceTTL time.Duration
	// PollWait is the longest a command long-poll waits (25s); a rack may
	// ask for less with ?wait=.
	PollWait time.Duration
	// PollInterval is how often a waiting poll rereads the database
	// (100ms), and a result wait every 10 PollIntervals; commands enqueued
	// and results stored by this region wake them at once.
	PollInterval time.Duration
	// DeadAfter without a heartbeat marks a rack dead (30s).
	DeadAfter time.Duration
	// CommandTimeout bounds a command from insert to result (60s).
	CommandTimeout time.Duration
	// NoAddressProbe leaves the region OpenRegion builds without an
	// address-conflict prober (racks pinging the addresses a deployment
	// claims): for networks where every address answers, such as the
	// simulated datacenter's 127.0.0.0/8 (Linux answers for all of it).
	NoAddressProbe bool
	// RevisionTTL bounds how long a cached config revision is trusted
	// without a change notification (30s; see revision.go).
	RevisionTTL time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Window, 2*time.Minute)
	def(&c.NonceTTL, time.Minute)
	def(&c.PollWait, 25*time.Second)
	def(&c.PollInterval, 100*time.Millisecond)
	def(&c.DeadAfter, 30*time.Second)
	def(&c.CommandTimeout, 60*time.Second)
	def(&c.RevisionTTL, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server serves /rpc/v1 (with the prefix stripped) and routes power.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	rejected *prometheus.CounterVec
	commands *prometheus.CounterVec

	stopOnce   sync.Once
	stopped    chan struct{}
	stopCtx    context.Context
	stopCancel context.CancelFunc
	rev        revCache

	// wake lets long-polls and result waiters in this process reread
	// the database as soon as a command is enqueued or answered here.
	wake wakeup

	mu  sync.RWMutex
	st  *store.Store
	reg Registrar
	fb  fallback
}

// New returns a Server; Attach gives it the store before it serves.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), stopped: make(chan struct{}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ironkit_rackrpc_registrations_rejected_total",
			Help: "Rack registrations rejected, by reason."}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ironkit_rackrpc_commands_total",
			Help: "Rack commands finished, by kind and outcome."}, []string{"kind", "outcome"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.rejected, s.commands} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("rackrpc: register metrics: %w", err)
			}
		}
	}
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	s.mux.HandleFunc("POST "+rpc.PathChallenge, s.challenge)
	s.mux.HandleFunc("POST "+rpc.PathRegister, s.register)
	s.mux.HandleFunc("GET "+rpc.PathConfig, s.rack(s.config))
	s.mux.HandleFunc("GET "+rpc.PathCommands, s.rack(s.poll))
	s.mux.HandleFunc("POST "+rpc.PathResults, s.rack(s.results))
	s.mux.HandleFunc("POST "+rpc.PathLeases, s.rack(s.leases))
	s.mux.HandleFunc("POST "+rpc.PathHeartbeat, s.rack(s.heartbeat))
	s.mux.HandleFunc("POST "+rpc.PathBoot, s.rack(s.boot))
	return s, nil
}

// Attach gives the server its store and rack registrar (the region's
// backend); until then every call answers 503.
func (s *Server) Attach(st *store.Store, reg Registrar) {
	s.mu.Lock()
	s.st, s.reg = st, reg
	s.mu.Unlock()
}

func (s *Server) deps() (*store.Store, Registrar) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st, s.reg
}

func (s *Server) db() *bun.DB {
	st, _ := s.deps()
	if st == nil {
		return nil
	}
	return st.DB()
}

// Stop ends every waiting long-poll (with no commands) so the HTTP server
// can shut down at once; call it when the region stops.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.stopped)
		s.stopCancel()
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if st, _ := s.deps(); st == nil {
		writeErr(w, http.StatusServiceUnavailable, "starting", "the region is starting; retry")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, rpc.Error{Code: kind, Message: msg})
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// remoteIP is the request's source address (reported data only).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	exp := time.Now().Add(s.cfg.NonceTTL).UTC()
	db := s.db()
	// Expired nonces are swept on the way.
	if _, err := db.NewDelete().Table("rack_nonces").Where("expires < ?", time.Now().UTC()).Exec(r.Context()); err != nil {
		s.log.Warn("sweep nonces", "err", err)
	}
	if _, err := db.NewRaw("INSERT INTO rack_nonces (nonce, expires) VALUES (?, ?)", nonce, exp).Exec(r.Context()); err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", "store the nonce: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rpc.Challenge{Nonce: nonce, Expires: exp})
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, reason string, code int, name string, err error) {
	s.rejected.WithLabelValues(reason).Inc()
	s.log.Warn("rack registration rejected", "reason", reason, "rack", name, "remote", remoteIP(r), "err", err)
	writeErr(w, code, reason, err.Error())
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var req rpc.RegisterRequest
	if err := readJSON(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	st, reg := s.deps()
	ctx := r.Context()
	if req.Name == "" {
		writeErr(w, http.StatusBadRequest, "bad-request", "register: name is empty: give the rack a name (rackd register --name, default the hostname)")
		return
	}
	secret, err := st.Secret(ctx, store.SecretRackShared)
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "no-secret", "the region has no rack secret yet: run `regiond init`")
		return
	}
	// Consume the nonce first: whatever happens next, it is spent, so a
	// captured request cannot be replayed nor a proof brute-forced on it.
	res, err := st.DB().NewDelete().Table("rack_nonces").Where("nonce = ?", req.Nonce).Where("expires >= ?", time.Now().UTC()).Exec(ctx)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if n, _ := res.RowsAffected(); n != 1 {
		s.reject(w, r, "replay", http.StatusUnauthorized, req.Name,
			fmt.Errorf("nonce %.12s… is unknown, expired or already used (a replayed registration?): ask for a fresh challenge", req.Nonce))
		return
	}
	if err := rpc.Verify(secret, req, time.Now(), s.cfg.Window); err != nil {
		switch {
		case errors.Is(err, rpc.ErrIncompatible):
			s.reject(w, r, "incompatible", http.StatusConflict, req.Name, err)
		case errors.Is(err, rpc.ErrStale):
			s.reject(w, r, "stale", http.StatusUnauthorized, req.Name, err)
		default:
			s.reject(w, r, "bad-proof", http.StatusUnauthorized, req.Name, err)
		}
		return
	}
	id, tok, err := reg.RegisterRack(ctx, req.Name, req.Version)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	s.log.Info("rack registered", "rack", req.Name, "rack_id", id, "version", req.Version, "remote", remoteIP(r))
	writeJSON(w, http.StatusOK, rpc.RegisterReply{RackID: id, Token: tok})
}

// rack authenticates the bearer rack token against the database (no
// cache) and passes the rack id on.
func (s *Server) rack(h func(w http.ResponseWriter, r *http.Request, rack int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if k, err := auth.ParseTokenKind(tok); !ok || err != nil || k != auth.RackToken {
			writeErr(w, http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <rack token> (from `rackd register`)")
			return
		}
		var rackID int64
		err := s.db().NewSelect().Table("rack_tokens").Column("rack_id").Where("token_hash = ?", auth.HashToken(tok)).Scan(r.Context(), &rackID)
		if errors.Is(err, sql.ErrNoRows) {
			s.log.Warn("rack token rejected", "remote", remoteIP(r), "path", r.URL.Path)
			writeErr(w, http.StatusUnauthorized, "revoked", "this rack token is unknown or revoked: run `rackd register` again")
			return
		}
		if err != nil {
			writeErr(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		h(w, r, rackID)
	}
}

// digest is a short content hash used as a config revision.
func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

type bunTx = bun.Tx

func bunIn(v any) any { return bun.In(v) }

// wakeup wakes this process's command long-polls (per rack) and result
// waiters (per command) when this process enqueues a command or stores a
// result, instead of at their next PollInterval tick. Other regions'
// pollers still find the rows on their own ticks: the database stays the
// only shared state.
type wakeup struct {
	racks   signals // by rack id: a command was enqueued
	results signals // by command id: its result was stored
}

func (w *wakeup) commands(rack int64) <-chan struct{} { return w.racks.wait(rack) }
func (w *wakeup) enqueued(rack int64)                 { w.racks.fire(rack) }
func (w *wakeup) waitResult(id int64) <-chan struct{} { return w.results.wait(id) }
func (w *wakeup) result(id int64)                     { w.results.fire(id) }
func (w *wakeup) forget(id int64)                     { w.results.forget(id) }

// signals are one-shot channels by key: wait returns a channel that the
// next fire of its key closes.
type signals struct {
	mu sync.Mutex
	ch map[int64]chan struct{}
}

func (s *signals) wait(k int64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = map[int64]chan struct{}{}
	}
	ch, ok := s.ch[k]
	if !ok {
		ch = make(chan struct{})
		s.ch[k] = ch
	}
	return ch
}

func (s *signals) fire(k int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.ch[k]; ok {
		close(ch)
		delete(s.ch, k)
	}
}

func (s *signals) forget(k int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ch, k)
}
