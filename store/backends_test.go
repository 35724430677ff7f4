package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/store"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
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

// postgresBackend creates a database with a random name on the test server
// and drops it at cleanup.
func postgresBackend(t testing.TB) backend {
	t.Helper()
	admin := testenv.PostgresDSN(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", testenv.PostgresEnv, err)
	}
	name := strings.ToLower(testenv.RandomName("ironkit_test_"))
	db := bun.NewDB(sqlOpenPG(admin), pgdialect.New())
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		db := bun.NewDB(sqlOpenPG(admin), pgdialect.New())
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return backend{name: store.Postgres, dsn: u.String()}
}

func sqlOpenPG(dsn string) *sql.DB {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		panic(err)
	}
	return db
}
