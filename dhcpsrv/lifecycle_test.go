package dhcpsrv

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestExpiryReclaimsAndReportsLeases(t *testing.T) {
	r := newRelay(t)
	clk := &fakeClock{}
	clk.ns.Store(t0.UnixNano())
	var mu sync.Mutex
	var events []LeaseEvent
	cfg := loopbackConfig(t.TempDir())
	cfg.Subnets[0].LeaseTime = time.Minute
	srv, _ := runLoopback(t, cfg, r, WithClock(clk.now), WithLeaseHook(func(e LeaseEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	mac := net.HardwareAddr{2, 7, 0, 0, 0, 1}
	ack, err := r.dora(mac, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	waitFor(t, 5*time.Second, "the expire event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 2 && events[1].Type == EventExpire
	})
	if events[0].Type != EventCommit || events[1].Lease.Addr.String() != ack.YourIPAddr.String() {
		t.Fatalf("events %+v", events)
	}
	if st := srv.Stats(); st[0].Active != 0 || st[0].PoolHeld != 0 {
		t.Fatalf("after expiry: %+v, want nothing active or held", st)
	}
	// The client comes back and gets its old address again.
	again, err := r.dora(mac, 2*time.Second)
	if err != nil || again.YourIPAddr.String() != ack.YourIPAddr.String() {
		t.Fatalf("returning client got %v (%v), want %s", again, err, ack.YourIPAddr)
	}
}

func TestCompactionKeepsLeases(t *testing.T) {
	dir := t.TempDir()
	r := newRelay(t)
	srv, stop := runLoopback(t, loopbackConfig(dir), r)
	want := map[string]string{}
	for i := range 40 {
		mac := net.HardwareAddr{2, 8, 0, 0, 0, byte(i)}
		ack, err := r.dora(mac, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want[mac.String()] = ack.YourIPAddr.String()
		if i == 20 {
			if err := srv.compact(context.Background(), true); err != nil {
				t.Fatalf("compact: %v", err)
			}
		}
	}
	stop()
	segs, _ := segments(dir)
	if len(segs) > 2 {
		t.Errorf("segments %v left after compaction; the old ones should be gone", segs)
	}
	srv2, err := New(loopbackConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := leaseMap(srv2)
	for mac, a := range want {
		if got[mac] != a {
			t.Errorf("after compaction and restart %s has %q, want %s", mac, got[mac], a)
		}
	}
}
