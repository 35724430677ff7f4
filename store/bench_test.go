package store_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// benchBackends runs fn on SQLite and, when available, PostgreSQL.
func benchBackends(b *testing.B, fn func(b *testing.B, be backend)) {
	b.Run(string(store.SQLite), func(b *testing.B) { fn(b, sqliteBackend(b)) })
	b.Run(string(store.Postgres), func(b *testing.B) { fn(b, postgresBackend(b)) })
}

// benchSubnet creates a fresh /16 (65k addresses) so that every benchmark
// round starts from an empty subnet.
var benchSubnetSeq atomic.Int64

func benchSubnet(b *testing.B, s *store.Store) netmodel.Subnet {
	b.Helper()
	ctx := context.Background()
	n := benchSubnetSeq.Add(1)
	f, err := s.CreateFabric(ctx, netmodel.Fabric{Name: fmt.Sprintf("bench-%d", n)})
	if err != nil {
		b.Fatal(err)
	}
	v, _ := s.UntaggedVLAN(ctx, f.ID)
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n), 0, 0}), 16)
	sn, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: p, Gateway: p.Addr().Next()})
	if err != nil {
		b.Fatal(err)
	}
	return sn
}

// BenchmarkAllocateIP: one allocator, one address per transaction, in a
// subnet filling up from empty.
func BenchmarkAllocateIP(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend) {
		s := be.open(b)
		sn := benchSubnet(b, s)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
	})
}

// BenchmarkAllocateIPParallel: 8 allocators on two Stores (two pools, as
// two regions) racing for the same subnet; reports lost races per
// allocation.
func BenchmarkAllocateIPParallel(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend) {
		stores := []*store.Store{be.open(b), be.open(b)}
		sn := benchSubnet(b, stores[0])
		ctx := context.Background()
		var worker atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			s := stores[worker.Add(1)%2]
			for pb.Next() {
				if _, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		lost := stores[0].AllocationStats().LostRaces + stores[1].AllocationStats().LostRaces
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
		b.ReportMetric(float64(lost)/float64(b.N), "lostraces/op")
	})
}

// BenchmarkBareInsertTx is the reference for the two above: the cost of
// the smallest committed write transaction on the same database (one
// INSERT of an address row, no choice, no checks).
func BenchmarkBareInsertTx(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend) {
		s := be.open(b)
		sn := benchSubnet(b, s)
		ctx := context.Background()
		i := 0
		b.ResetTimer()
		for b.Loop() {
			i++
			ip := netip.AddrFrom4([4]byte{10, byte(sn.CIDR.Addr().As4()[1]), byte(i >> 8), byte(i)})
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ip_addresses (subnet_id, ip, alloc_type, created_at, updated_at)
				VALUES (?, ?, 'auto', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, sn.ID, ip.String()); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
}

// BenchmarkTransition: one lifecycle transition (status, deadline, event)
// per transaction, commission and abort alternating.
func BenchmarkTransition(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend) {
		s := be.open(b)
		ctx := context.Background()
		m, err := s.CreateMachine(ctx, store.Machine{Hostname: fmt.Sprintf("bench-%d", benchSubnetSeq.Add(1)), Architecture: "amd64/generic"}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		actions := []string{"commission", "abort"}
		i := 0
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{
				Action: lifecycleAction(actions[i%2]), User: "bench", Options: adminOpts,
			}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
	})
}

var adminOpts = lifecycle.Options{Admin: true}

func lifecycleAction(s string) lifecycle.Action { return lifecycle.Action(s) }
