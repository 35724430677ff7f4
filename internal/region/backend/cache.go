package backend

import (
	"sync"
	"time"

	"github.com/ironkit/ironkit/internal/region/auth"
)

// ttlCache is a small map whose entries expire; when full it is cleared
// (simple and bounded; the working set of tokens is small).
type ttlCache[K comparable, V any] struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v   V
	exp time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, max int) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: max, m: map[K]ttlEntry[V]{}}
}

func (c *ttlCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.exp) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = ttlEntry[V]{v: v, exp: time.Now().Add(c.ttl)}
}

func (c *ttlCache[K, V]) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

type principalOrErr struct {
	p   auth.Principal
	err error
}

type placementNames struct {
	zones, pools map[int64]string
}
