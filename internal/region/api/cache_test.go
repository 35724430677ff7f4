package api

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ironkit/ironkit/internal/region/auth"
)

type feed struct {
	epoch atomic.Uint64
	live  atomic.Bool
}

func (f *feed) state() (uint64, bool) { return f.epoch.Load(), f.live.Load() }

// The cache serves only what was filled within the current live epoch and
// after the last invalidation that covers it.
func TestCacheTrustRules(t *testing.T) {
	f := &feed{}
	f.live.Store(true)
	c := NewCache(f.state)
	m := Machine{SystemID: "abc123", Hostname: "old"}
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("hit in an empty cache")
	}
	// Disabled: nothing kept.
	c.putMachine(c.machineTicket("abc123"), m)
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("a disabled cache kept a machine")
	}
	c.Enable(true)
	c.putMachine(c.machineTicket("abc123"), m)
	if e, ok := c.machine("abc123"); !ok || e.m.Hostname != "old" {
		t.Fatal("an enabled cache lost a machine")
	}
	// A read that started before an invalidation never installs its result.
	tk := c.machineTicket("abc123")
	c.Machine("abc123")
	c.putMachine(tk, m)
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("a fill that raced an invalidation was kept")
	}
	list := c.machineTicket("")
	c.Machine("other1")
	c.putMachine(list, m)
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("a list fill that raced an invalidation was kept")
	}
	// The feed lost: nothing served, nothing kept; back in a new epoch: the
	// old entries are dead.
	c.putMachine(c.machineTicket("abc123"), m)
	f.live.Store(false)
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("served while the change feed is down")
	}
	c.putMachine(c.machineTicket("abc123"), Machine{SystemID: "abc123", Hostname: "during"})
	f.epoch.Add(1)
	f.live.Store(true)
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("served an entry from before the feed was lost")
	}
	// Reset and Enable(false) empty it.
	c.putMachine(c.machineTicket("abc123"), m)
	c.Reset()
	if _, ok := c.machine("abc123"); ok {
		t.Fatal("Reset kept a machine")
	}
}

type countTokens struct{ n int }

func (c *countTokens) LookupToken(_ context.Context, kind auth.TokenKind, hash string) (auth.Principal, error) {
	c.n++
	if hash == "revoked" {
		return auth.Principal{}, auth.ErrUnknownToken
	}
	return auth.Principal{Kind: auth.User, Username: "u-" + hash}, nil
}

// API keys are cached until Keys; unknown keys and other token kinds never.
func TestCachedTokens(t *testing.T) {
	f := &feed{}
	f.live.Store(true)
	c := NewCache(f.state)
	c.Enable(true)
	inner := &countTokens{}
	ct := cachedTokens{c: c, inner: inner}
	ctx := context.Background()
	for range 3 {
		if p, err := ct.LookupToken(ctx, auth.APIKey, "k1"); err != nil || p.Username != "u-k1" {
			t.Fatal(p, err)
		}
	}
	if inner.n != 1 {
		t.Fatalf("3 lookups of one key asked the backend %d times, want 1", inner.n)
	}
	c.Keys()
	_, _ = ct.LookupToken(ctx, auth.APIKey, "k1")
	for range 2 {
		_, _ = ct.LookupToken(ctx, auth.APIKey, "revoked")
		_, _ = ct.LookupToken(ctx, auth.MachineToken, "m1")
	}
	if inner.n != 6 {
		t.Fatalf("backend asked %d times, want 6 (after Keys, unknown keys and machine tokens uncached)", inner.n)
	}
}
