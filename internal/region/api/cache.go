package api

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/ironkit/ironkit/internal/region/auth"
)

// Cache holds what the server may answer without the database: machines
// already presented as JSON (one encoding for admins, one for other users:
// only allowed_actions differ) and the principals of API keys. It is exact
// only while every committed change reaches it, so it trusts itself only
// under three conditions, all checked on every read:
//
//   - the owner enabled it (the region does while it follows the store's
//     change feed, and invalidates from it: Machine, Keys, Reset);
//   - the feed is live and in the same epoch as when the entry was filled
//     (state, the store's ChangesState: on PostgreSQL the LISTEN
//     connection; a lost connection moves the epoch, so everything filled
//     before is dropped and nothing is served until it is back);
//   - no invalidation of the entry (or of everything) happened between the
//     start of the database read that filled it and the fill: a read that
//     raced a write never installs the old state.
//
// A write on this region invalidates synchronously (the store's OnCommit
// hook) before its reply, so its caller reads its own write; a write on
// another region is seen when its notification arrives. Machine tokens and
// rack tokens are never cached (the rack RPC rotates machine tokens
// without announcing it).
type Cache struct {
	state func() (epoch uint64, live bool)
	seed  maphash.Seed

	mu       sync.RWMutex
	enabled  bool
	machines map[string]*cachedMachine
	keys     map[string]cachedKey
	// Generations, bumped by invalidations: one per stripe of system ids,
	// one for any machine (list fills), one for keys.
	stripes [256]uint64
	anyGen  uint64
	keyGen  uint64

	hits, misses atomic.Uint64
}

// maxCachedMachines bounds the machine cache (about 1.5 KB per machine
// with both encodings); past it, misses are served but not kept.
const maxCachedMachines = 200_000

type cachedMachine struct {
	epoch uint64
	m     Machine // as the backend returned it, before present
	view  auth.MachineView
	enc   [2]atomic.Pointer[[]byte] // presented JSON: [0] user, [1] admin
}

type cachedKey struct {
	epoch uint64
	p     auth.Principal
}

// NewCache returns a disabled cache; state is the change feed's state
// (store.Store.ChangesState).
func NewCache(state func() (epoch uint64, live bool)) *Cache {
	return &Cache{state: state, seed: maphash.MakeSeed(),
		machines: map[string]*cachedMachine{}, keys: map[string]cachedKey{}}
}

// Enable turns the cache on or off; both empty it. The region enables it
// once it follows the change feed and disables it when it stops.
func (c *Cache) Enable(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enabled = on
	c.resetLocked()
}

// Machine drops a machine (it changed, or was created or deleted).
func (c *Cache) Machine(systemID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stripes[c.stripe(systemID)]++
	c.anyGen++
	delete(c.machines, systemID)
}

// Keys drops every cached API key (a key was revoked, a user deleted or
// changed).
func (c *Cache) Keys() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keyGen++
	clear(c.keys)
}

// Reset drops everything (changes may have been missed, or something
// shown in many machines changed: a tag, zone or pool renamed, a subnet
// deleted).
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *Cache) resetLocked() {
	for i := range c.stripes {
		c.stripes[i]++
	}
	c.anyGen++
	c.keyGen++
	clear(c.machines)
	clear(c.keys)
}

// Stats returns the machine lookups answered from the cache and not.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

func (c *Cache) stripe(id string) int {
	return int(maphash.String(c.seed, id) % uint64(len(c.stripes)))
}

// ticket is the cache's generation when a database read started; a fill
// carrying it is kept only if nothing it covers was invalidated since.
type ticket struct {
	ok     bool
	epoch  uint64
	stripe int // -1: a list fill, checked against anyGen
	gen    uint64
}

func (c *Cache) usable() (uint64, bool) {
	if c == nil {
		return 0, false
	}
	epoch, live := c.state()
	return epoch, live
}

// enabledNow reports whether the cache is on and its feed live (a nil
// Cache is off).
func (c *Cache) enabledNow() bool {
	if _, live := c.usable(); !live {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.enabled
}

func (c *Cache) machineTicket(id string) ticket {
	epoch, live := c.usable()
	if !live {
		return ticket{}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.enabled {
		return ticket{}
	}
	if id == "" {
		return ticket{ok: true, epoch: epoch, stripe: -1, gen: c.anyGen}
	}
	s := c.stripe(id)
	return ticket{ok: true, epoch: epoch, stripe: s, gen: c.stripes[s]}
}

// machine returns the cached machine, if it may be served.
func (c *Cache) machine(id string) (*cachedMachine, bool) {
	epoch, live := c.usable()
	if !live {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.machines[id]
	ok = ok && c.enabled && e.epoch == epoch
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return e, ok
}

// machinesOf looks up a page's machines under one lock: entries[i] is
// ids[i]'s entry, nil (and i in missing) when it may not be served.
func (c *Cache) machinesOf(ids []string) (entries []*cachedMachine, missing []int) {
	entries = make([]*cachedMachine, len(ids))
	epoch, live := c.usable()
	if live {
		c.mu.RLock()
		if c.enabled {
			for i, id := range ids {
				if e, ok := c.machines[id]; ok && e.epoch == epoch {
					entries[i] = e
				}
			}
		}
		c.mu.RUnlock()
	}
	for i, e := range entries {
		if e == nil {
			missing = append(missing, i)
		}
	}
	c.hits.Add(uint64(len(ids) - len(missing)))
	c.misses.Add(uint64(len(missing)))
	return entries, missing
}

// putMachine wraps m as an entry and keeps it if t is still current.
func (c *Cache) putMachine(t ticket, m Machine) *cachedMachine {
	e := &cachedMachine{epoch: t.epoch, m: m, view: machineView(m)}
	if !t.ok {
		return e
	}
	epoch, live := c.state()
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.anyGen
	if t.stripe >= 0 {
		cur = c.stripes[t.stripe]
	}
	if c.enabled && live && epoch == t.epoch && cur == t.gen && len(c.machines) < maxCachedMachines {
		c.machines[m.SystemID] = e
	}
	return e
}

// encoded is the machine presented to an admin or another user, as JSON.
func (e *cachedMachine) encoded(s *Server, admin bool) ([]byte, error) {
	i := 0
	if admin {
		i = 1
	}
	if b := e.enc[i].Load(); b != nil {
		return *b, nil
	}
	m := e.m
	p := auth.Principal{Kind: auth.User}
	if admin {
		p.Kind = auth.Admin
	}
	s.present(p, &m)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	e.enc[i].Store(&b)
	return b, nil
}

// cachedTokens is an auth.TokenLookup that answers API keys from the cache.
type cachedTokens struct {
	c     *Cache
	inner auth.TokenLookup
}

func (t cachedTokens) LookupToken(ctx context.Context, kind auth.TokenKind, hash string) (auth.Principal, error) {
	if kind != auth.APIKey {
		return t.inner.LookupToken(ctx, kind, hash)
	}
	c := t.c
	epoch, live := c.usable()
	if !live {
		return t.inner.LookupToken(ctx, kind, hash)
	}
	c.mu.RLock()
	k, ok := c.keys[hash]
	enabled, gen := c.enabled, c.keyGen
	c.mu.RUnlock()
	if ok && enabled && k.epoch == epoch {
		return k.p, nil
	}
	p, err := t.inner.LookupToken(ctx, kind, hash)
	if err != nil || !enabled {
		// Unknown and revoked keys are not cached: they always ask the
		// database.
		return p, err
	}
	epoch2, live2 := c.state()
	c.mu.Lock()
	if c.enabled && live2 && epoch2 == epoch && c.keyGen == gen && len(c.keys) < maxCachedMachines {
		c.keys[hash] = cachedKey{epoch: epoch, p: p}
	}
	c.mu.Unlock()
	return p, nil
}
