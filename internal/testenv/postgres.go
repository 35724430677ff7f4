package testenv

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, as the store uses
)

// FreshPostgres creates a database of its own (random name starting with
// prefix) on the test PostgreSQL server and returns its DSN; the database is
// dropped when the test ends. It skips t when no server is configured, as
// PostgresDSN does. Tests on one server stay independent and can run in
// parallel.
func FreshPostgres(t testing.TB, prefix string) string {
	t.Helper()
	admin := PostgresDSN(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	name := strings.ToLower(RandomName(prefix + "_"))
	exec := func(stmt string) error {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = db.ExecContext(ctx, stmt)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
