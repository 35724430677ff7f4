package store_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/store"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenAppliesMigrations(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		if s.Backend() != b.name {
			t.Fatalf("Backend() = %q, want %q", s.Backend(), b.name)
		}
		ms, err := s.Migrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			t.Fatal("no embedded migrations")
		}
		for _, m := range ms {
			if !m.IsApplied() {
				t.Errorf("migration %s not applied after Open", m)
			}
		}
		// The schema is there: the default zone and pool exist.
		var n int
		if err := s.DB().NewSelect().Table("zones").ColumnExpr("count(*)").Where("name = 'default'").Scan(ctx, &n); err != nil || n != 1 {
			t.Fatalf("default zone: n=%d err=%v", n, err)
		}
		// Reopening (and opening concurrently) is a no-op for migrations.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s2, err := store.Open(ctx, b.dsn)
				if err != nil {
					t.Errorf("concurrent Open: %v", err)
					return
				}
				_ = s2.Close()
			}()
		}
		wg.Wait()
		ms2, err := s.Migrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ms2 {
			if ms2[i].ID != ms[i].ID {
				t.Errorf("migration %s re-applied: id %d -> %d", ms2[i].Name, ms[i].ID, ms2[i].ID)
			}
		}
	})
}

func TestOpenBadDSN(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	for name, dsn := range map[string]string{
		"empty":        "",
		"mysql":        "mysql://root@localhost/ironkit",
		"no path":      "file:?_pragma=foreign_keys(1)",
		"bad pg":       "postgres://[::1",
		"missing dir":  "file:/nonexistent-dir-ironkit/x.db",
		"refused pg":   "postgres://postgres@127.0.0.1:1/x?sslmode=disable",
		"bad sqlite q": "file:/tmp/x.db?%zz",
		"weird scheme": "http://example.invalid/db",
	} {
		s, err := store.Open(ctx, dsn)
		if err == nil {
			_ = s.Close()
			t.Errorf("%s: Open(%q) succeeded", name, dsn)
		}
	}
	for _, dsn := range []string{"mysql://x/y", "postgres://[::1", "file:?x=1", ""} {
		if _, err := store.Open(ctx, dsn); !errors.Is(err, store.ErrBadDSN) {
			t.Errorf("Open(%q): err = %v, want ErrBadDSN", dsn, err)
		}
	}
}

func TestOpenInMemory(t *testing.T) {
	t.Parallel()
	s, err := store.Open(ctxT(t), "file::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.RackSharedSecret(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s1 := b.open(t)
		rack1, err := s1.RackSharedSecret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rack1) != 64 {
			t.Fatalf("rack secret %q: want 64 hex characters", rack1)
		}
		key1, err := s1.Secret(ctx, store.SecretRegionKey)
		if err != nil || len(key1) != 32 {
			t.Fatalf("region key: %x %v", key1, err)
		}
		// A second Store on the same database sees the same secrets.
		s2 := b.open(t)
		rack2, err := s2.RackSharedSecret(ctx)
		if err != nil || rack2 != rack1 {
			t.Fatalf("second store rack secret = %q, %v; want %q", rack2, err, rack1)
		}
		key2, _ := s2.Secret(ctx, store.SecretRegionKey)
		if !bytes.Equal(key1, key2) {
			t.Fatal("second store generated another region key")
		}
		if err := s1.SetSecret(ctx, "x", []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := s1.SetSecret(ctx, "x", []byte("two")); err != nil {
			t.Fatal(err)
		}
		if v, err := s2.Secret(ctx, "x"); err != nil || string(v) != "two" {
			t.Fatalf("Secret(x) = %q, %v", v, err)
		}
		if err := s2.SetSecret(ctx, store.SecretRegionKey, make([]byte, 32)); err == nil {
			t.Fatal("SetSecret replaced the region key")
		}
		if _, err := s2.Secret(ctx, "absent"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Secret(absent) err = %v, want ErrNotFound", err)
		}
	})
}

func TestRegionKeyGivenIsNotStored(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		key := bytes.Repeat([]byte{7}, 32)
		s := b.open(t, store.WithRegionKey(key))
		if _, err := s.Secret(ctx, store.SecretRegionKey); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a given region key was stored (err=%v)", err)
		}
		if _, err := store.Open(ctx, b.dsn, store.WithRegionKey([]byte("short"))); err == nil {
			t.Fatal("Open accepted a 5-byte region key")
		}
	})
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}
