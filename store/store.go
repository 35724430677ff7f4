package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/ironkit/ironkit/lifecycle"
)

// Backend names the database engine behind a Store.
type Backend string

// The two backends; their names are also what `make test` reports.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Store is ironkit's persistent state on SQLite or PostgreSQL. It is safe
// for concurrent use; any number of Stores (in one process or many) may share
// one PostgreSQL database.
type Store struct {
	db      *bun.DB
	backend Backend
	cfg     config

	regionKey []byte // AES-256 key for secrets at rest

	changes *broadcaster  // fan-out of Change to subscribers
	writers chan struct{} // SQLite: one write transaction at a time

	pgConfig *pgx.ConnConfig // for the LISTEN connection
	pgMu     sync.Mutex      // guards pgListen and pgClosed
	pgListen *pgListener
	pgClosed bool

	hooksMu     sync.RWMutex   // guards hooks
	hooks       []func(Change) // OnCommit
	listenEpoch atomic.Uint64  // ChangesState: bumped when the LISTEN connection is lost
	listenLive  atomic.Bool    // ChangesState: the LISTEN connection is up

	allocations atomic.Uint64 // addresses handed out by AllocateIP
	lostRaces   atomic.Uint64 // inserts that lost an address to another allocator

	closeOnce sync.Once
	closeErr  error
}

type config struct {
	logger       *slog.Logger
	regionKey    []byte
	now          func() time.Time
	secretParam  func(name string) bool
	maxOpenConns int
	allocRetries int
	table        lifecycle.Table
	deadlines    lifecycle.Deadlines
	newSystemID  func() string
}

// Option configures Open.
type Option func(*config)

// WithSystemIDGenerator replaces how CreateMachine makes system ids for
// machines created without one (default: six random lower-case letters and
// digits). Sites with their own scheme (asset tags, say) plug it in here; a
// generated id that collides is retried with the next one.
func WithSystemIDGenerator(gen func() string) Option {
	return func(c *config) { c.newSystemID = gen }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithRegionKey supplies the 32-byte region key that encrypts secrets at rest
// (power passwords). Without it, Open reads the key from the secrets table,
// creating a random one on first use. A given key is never written to the
// database.
func WithRegionKey(key []byte) Option {
	return func(c *config) { c.regionKey = append([]byte(nil), key...) }
}

// WithClock replaces time.Now for timestamps and deadlines (tests).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSecretPowerParams decides which power parameter names hold secrets and
// are therefore encrypted at rest; the default is DefaultSecretPowerParam.
func WithSecretPowerParams(isSecret func(name string) bool) Option {
	return func(c *config) {
		if isSecret != nil {
			c.secretParam = isSecret
		}
	}
}

// WithMaxOpenConns limits the connection pool (default: 20 for PostgreSQL,
// unlimited for a SQLite file, 1 for in-memory SQLite).
func WithMaxOpenConns(n int) Option {
	return func(c *config) { c.maxOpenConns = n }
}

// WithAllocRetries sets how many times an IP allocation is retried after
// losing a race for an address to another allocator (default 100).
func WithAllocRetries(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.allocRetries = n
		}
	}
}

// ErrBadDSN reports a DSN that names no backend Open understands.
var ErrBadDSN = errors.New("bad DSN")

// Open connects to the database named by dsn and applies every pending
// migration. A dsn beginning with postgres:// or postgresql:// selects
// PostgreSQL; file:PATH?... or a plain file path selects SQLite (WAL,
// foreign keys and a busy timeout are switched on unless the DSN sets them).
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{
		logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:          time.Now,
		secretParam:  DefaultSecretPowerParam,
		allocRetries: 100,
		table:        lifecycle.DefaultTable(),
		deadlines:    lifecycle.DefaultDeadlines(),
		newSystemID:  newSystemID,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.regionKey != nil && len(cfg.regionKey) != regionKeySize {
		return nil, fmt.Errorf("store: region key is %d bytes, want %d (AES-256)", len(cfg.regionKey), regionKeySize)
	}

	db, backend, err := openDB(dsn, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, backend: backend, cfg: cfg, changes: newBroadcaster()}
	if backend == Postgres {
		s.pgConfig, _ = pgConnConfig(dsn) // parsed once already by openDB
	}
	if backend == SQLite {
		s.writers = make(chan struct{}, 1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", backend, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadRegionKey(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func openDB(dsn string, cfg config) (*bun.DB, Backend, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		connCfg, err := pgConnConfig(dsn)
		if err != nil {
			return nil, "", err
		}
		sqldb := stdlib.OpenDB(*connCfg)
		n := cfg.maxOpenConns
		if n <= 0 {
			n = defaultPGConns
		}
		sqldb.SetMaxOpenConns(n)
		return bun.NewDB(sqldb, pgdialect.New()), Postgres, nil
	case dsn == "":
		return nil, "", fmt.Errorf("%w: empty; give a SQLite path (file:/var/lib/ironkit/region.db) or postgres://user@host/db", ErrBadDSN)
	case strings.Contains(dsn, "://"):
		return nil, "", fmt.Errorf("%w: %q: scheme not supported; use postgres://... or a SQLite file path", ErrBadDSN, redact(dsn))
	default:
		sqliteDSN, memory, err := sqliteDSN(dsn)
		if err != nil {
			return nil, "", err
		}
		sqldb, err := sql.Open(sqliteshim.ShimName, sqliteDSN)
		if err != nil {
			return nil, "", err
		}
		switch {
		case memory:
			// Every connection to :memory: is its own database.
			sqldb.SetMaxOpenConns(1)
		case cfg.maxOpenConns > 0:
			sqldb.SetMaxOpenConns(cfg.maxOpenConns)
		}
		return bun.NewDB(sqldb, sqlitedialect.New()), SQLite, nil
	}
}

// defaultPGConns bounds each Store's PostgreSQL pool so that many regions
// (and their job queues) fit under the server's max_connections.
const defaultPGConns = 20

// pgConnConfig parses a PostgreSQL DSN for pgx. Unless the DSN chooses
// otherwise, queries run in pgx's "exec" mode: bun sends every query with
// its values inlined, so the default statement cache would prepare (and
// evict) each one, an extra round trip per query.
func pgConnConfig(dsn string) (*pgx.ConnConfig, error) {
	if u, err := url.Parse(dsn); err == nil && !u.Query().Has("default_query_exec_mode") {
		q := u.Query()
		q.Set("default_query_exec_mode", "exec")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDSN, err)
	}
	return cfg, nil
}

// sqliteDefaults are applied unless the DSN sets them. _txlock=immediate makes
// every transaction take the write lock up front, so concurrent writers queue
// on busy_timeout instead of failing with SQLITE_BUSY on lock upgrade.
var sqliteDefaults = []struct{ key, name, value string }{
	{"_pragma", "busy_timeout", "busy_timeout(5000)"},
	{"_pragma", "journal_mode", "journal_mode(WAL)"},
	{"_pragma", "foreign_keys", "foreign_keys(1)"},
	{"_txlock", "", "immediate"},
}

func sqliteDSN(dsn string) (string, bool, error) {
	path, rawQuery, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, fmt.Errorf("%w: SQLite DSN %q: %v", ErrBadDSN, dsn, err)
	}
	if path == "" {
		return "", false, fmt.Errorf("%w: SQLite DSN %q has no file path", ErrBadDSN, dsn)
	}
	memory := path == ":memory:" || q.Get("mode") == "memory"
	for _, d := range sqliteDefaults {
		if d.key == "_txlock" {
			if q.Get("_txlock") == "" {
				q.Set("_txlock", d.value)
			}
			continue
		}
		set := false
		for _, p := range q["_pragma"] {
			if strings.HasPrefix(strings.ToLower(p), d.name) {
				set = true
			}
		}
		if !set && !(memory && d.name == "journal_mode") {
			q.Add("_pragma", d.value)
		}
	}
	return "file:" + path + "?" + q.Encode(), memory, nil
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// Backend reports which database engine the Store uses.
func (s *Store) Backend() Backend { return s.backend }

// DB returns the underlying bun database, for callers that need queries the
// Store does not offer. Writes through it bypass change notifications.
func (s *Store) DB() *bun.DB { return s.db }

// SQLDB returns the underlying *sql.DB, to share the pool with other
// libraries (a job queue, for example).
func (s *Store) SQLDB() *sql.DB { return s.db.DB }

// Close stops change notifications and closes the database. It is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.pgMu.Lock()
		s.pgClosed = true
		if s.pgListen != nil {
			s.pgListen.close()
			s.pgListen = nil
		}
		s.pgMu.Unlock()
		s.changes.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// now is the Store's clock in UTC, truncated to the microseconds both
// databases keep, so values returned without a re-read equal stored ones.
func (s *Store) now() time.Time { return s.cfg.now().UTC().Truncate(time.Microsecond) }

// AllocationStats counts AllocateIP's work since Open.
type AllocationStats struct {
	// Allocations is how many addresses AllocateIP handed out.
	Allocations uint64
	// LostRaces is how many times an insert found its address taken by a
	// concurrent allocator and chose again.
	LostRaces uint64
}

// AllocationStats returns the allocation counters.
func (s *Store) AllocationStats() AllocationStats {
	return AllocationStats{Allocations: s.allocations.Load(), LostRaces: s.lostRaces.Load()}
}
