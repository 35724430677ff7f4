package store_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

func TestAllocateIP(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		_, _, sn := seedNetwork(t, s, "10.50.0.0/29") // hosts .1-.6, gateway .1
		// .2 is discovered on the wire: avoided, but it does not block a
		// managed row for the same address later.
		disc, err := s.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, AllocType: netmodel.AllocDiscovered, Addr: netip.MustParseAddr("10.50.0.2")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, AllocType: netmodel.AllocDiscovered, Addr: disc.Addr}); err != nil {
			t.Fatalf("a second discovery of the same address: %v", err)
		}
		m := newMachine(t, s, "ipam", "52:54:00:10:50:01")
		var got []string
		for {
			a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{InterfaceID: m.Interfaces[0].ID})
			if errors.Is(err, netmodel.ErrExhausted) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.AllocType != netmodel.AllocAuto || a.InterfaceID != m.Interfaces[0].ID || a.ID == 0 {
				t.Fatalf("allocated %+v", a)
			}
			got = append(got, a.Addr.String())
		}
		want := []string{"10.50.0.3", "10.50.0.4", "10.50.0.5", "10.50.0.6"}
		if len(got) != len(want) {
			t.Fatalf("allocated %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("allocated %v, want %v", got, want)
			}
		}
		// A user reserving an allocated address gets a clear duplicate error.
		_, err = s.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, AllocType: netmodel.AllocUserReserved, Addr: netip.MustParseAddr("10.50.0.4")})
		var de *store.DuplicateError
		if !errors.As(err, &de) || de.Field != "ip" || de.Value != "10.50.0.4" {
			t.Fatalf("reserve taken address: err = %v", err)
		}
		// Releasing one frees it for the next allocation.
		addrs, _ := s.InterfaceAddresses(ctx, m.Interfaces[0].ID)
		if len(addrs) != 4 {
			t.Fatalf("interface holds %d addresses, want 4", len(addrs))
		}
		if err := s.ReleaseIP(ctx, addrs[1].ID); err != nil {
			t.Fatal(err)
		}
		a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{Type: netmodel.AllocSticky})
		if err != nil || a.Addr != addrs[1].Addr {
			t.Fatalf("after release: %+v, %v; want %s", a, err, addrs[1].Addr)
		}
		// The discovered address may still become a managed one.
		if _, err := s.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, AllocType: netmodel.AllocUserReserved, Addr: disc.Addr, Owner: "ops"}); err != nil {
			t.Fatalf("reserve a discovered address: %v", err)
		}
		// Deleting the machine frees its auto addresses.
		if err := s.DeleteMachine(ctx, m.SystemID, "admin"); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.InterfaceAddresses(ctx, m.Interfaces[0].ID); len(left) != 0 {
			t.Fatalf("addresses of a deleted machine: %v", left)
		}
	})
}

// TestConcurrentAllocation: allocators in goroutines, spread over several
// Stores (separate connection pools) on one database, never hand out the
// same address twice, and together they fill the subnet exactly.
func TestConcurrentAllocation(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		stores := []*store.Store{b.open(t), b.open(t), b.open(t)}
		_, _, sn := seedNetwork(t, stores[0], "10.60.0.0/26") // 62 hosts, minus the gateway
		if _, err := stores[0].CreateIPRange(ctx, netmodel.IPRange{SubnetID: sn.ID, Type: netmodel.RangeReserved,
			Start: netip.MustParseAddr("10.60.0.50"), End: netip.MustParseAddr("10.60.0.62")}); err != nil {
			t.Fatal(err)
		}
		const free = 61 - 13 // .2-.49
		const workers = 12
		var mu sync.Mutex
		seen := map[netip.Addr]int{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := stores[w%len(stores)]
				for {
					a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{Comment: "worker"})
					if errors.Is(err, netmodel.ErrExhausted) {
						return
					}
					if err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
					mu.Lock()
					seen[a.Addr]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for a, n := range seen {
			if n != 1 {
				t.Errorf("address %s handed out %d times", a, n)
			}
		}
		if len(seen) != free {
			t.Fatalf("handed out %d distinct addresses, want %d", len(seen), free)
		}
		stored, _ := stores[1].Addresses(ctx, sn.ID)
		if len(stored) != free {
			t.Fatalf("%d rows stored, want %d", len(stored), free)
		}
	})
}

// TestUniqueIndexIsTheGuard inserts behind the Store's back: the database
// itself refuses a second managed row for an address, but accepts
// repeated discovered rows.
func TestUniqueIndexIsTheGuard(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.open(t)
		_, _, sn := seedNetwork(t, s, "10.70.0.0/24")
		ins := func(allocType string) error {
			_, err := s.DB().ExecContext(ctx, `INSERT INTO ip_addresses
				(subnet_id, ip, alloc_type, created_at, updated_at)
				VALUES (?, '10.70.0.9', ?, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, sn.ID, allocType)
			return err
		}
		for _, at := range []string{"discovered", "discovered", "sticky"} {
			if err := ins(at); err != nil {
				t.Fatalf("insert %s: %v", at, err)
			}
		}
		if err := ins("auto"); err == nil {
			t.Fatal("database accepted a second managed row for 10.70.0.9")
		}
	})
}

// TestAllocateRetriesOnLostRace makes AllocateIP lose a race for certain:
// another transaction has inserted the lowest free address but not yet
// committed. On PostgreSQL the allocator's insert waits for it, finds the
// address taken, and retries with the next one; on SQLite the other
// transaction holds the write lock, so the allocator starts after it.
func TestAllocateRetriesOnLostRace(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		_, _, sn := seedNetwork(t, s, "10.80.0.0/24")
		other := b.open(t)
		tx, err := other.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ip_addresses (subnet_id, ip, alloc_type, created_at, updated_at)
			VALUES (?, '10.80.0.2', 'sticky', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, sn.ID); err != nil {
			t.Fatal(err)
		}
		type result struct {
			a   netmodel.StaticAddress
			err error
		}
		done := make(chan result, 1)
		go func() {
			a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{})
			done <- result{a, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("AllocateIP returned %v, %v while the other insert was uncommitted", r.a.Addr, r.err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || r.a.Addr != netip.MustParseAddr("10.80.0.3") {
			t.Fatalf("AllocateIP = %v, %v; want 10.80.0.3", r.a.Addr, r.err)
		}
		st := s.AllocationStats()
		if st.Allocations != 1 {
			t.Fatalf("stats %+v", st)
		}
		if b.name == store.Postgres && st.LostRaces != 1 {
			t.Fatalf("PostgreSQL: %d lost races, want 1 (the retry path did not run)", st.LostRaces)
		}
	})
}
