package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/store"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// backend is one database engine a store test runs on: a fresh, empty
// database per test, removed at cleanup.
type backend struct {
	name store.Backend
	dsn  string
}

// open opens a Store on the backend's database, closed at cleanup.
func (b backend) open(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, b.dsn, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", b.name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s: %v", b.name, err)
		}
	})
	return s
}

// reported remembers which backends this test binary already appended to
// the report file (one line per backend per process is enough).
var reported sync.Map

// reportBackend appends the backend's name to $IRONKIT_BACKENDS_REPORT, from
// which `make test` prints which backends actually ran.
func reportBackend(t testing.TB, name store.Backend) {
	path := os.Getenv("IRONKIT_BACKENDS_REPORT")
	if path == "" {
		return
	}
	if _, done := reported.LoadOrStore(name, true); done {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Errorf("backend report %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, name); err != nil {
		t.Errorf("backend report %s: %v", path, err)
	}
}

// eachBackend runs fn as parallel subtests "sqlite" and "postgres", each on
// its own fresh database. The PostgreSQL subtest skips (with the reason)
// when testenv has no server.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	t.Run(string(store.SQLite), func(t *testing.T) {
		t.Parallel()
		b := sqliteBackend(t)
		reportBackend(t, store.SQLite)
		fn(t, b)
	})
	t.Run(string(store.Postgres), func(t *testing.T) {
		t.Parallel()
		b := postgresBackend(t)
		reportBackend(t, store.Postgres)
		fn(t, b)
	})
}

func sqliteBackend(t testing.TB) backend {
	path := filepath.Join(t.TempDir(), "ironkit.db")
	return backend{name: store.SQLite, dsn: "file:" + path}
}

// postgresBackend gives the test a database of its own on the test server.
func postgresBackend(t testing.TB) backend {
	t.Helper()
	return backend{name: store.Postgres, dsn: testenv.FreshPostgres(t, "ironkit_test")}
}

func sqlOpenPG(dsn string) *sql.DB {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		panic(err)
	}
	return db
}
