package dhcpsrv

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkDORA measures the packet path (parse, decide, apply, encode) of
// one relayed DISCOVER and its REQUEST, without sockets or the lease log:
// the CPU cost per DORA that the socket loop adds syscalls to.
func BenchmarkDORA(b *testing.B) {
	const clients = 50000
	pool := loopbackConfig("").Subnets[0].Pools[0]
	disc, req := make([][]byte, clients), make([][]byte, clients)
	for i := range clients {
		mac := net.HardwareAddr{2, 9, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		relay := dhcpv4.WithGatewayIP(net.IP{127, 0, 0, 1})
		d, _ := dhcpv4.NewDiscovery(mac, relay)
		disc[i] = d.ToBytes()
		// A fresh table hands out the pool in order.
		want := addrFromU32(addrU32(pool.Start) + uint32(i)).AsSlice()
		r, _ := dhcpv4.New(dhcpv4.WithHwAddr(mac), relay, dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{127, 0, 0, 1})), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(want)))
		req[i] = r.ToBytes()
	}
	var srv *Server
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%clients == 0 {
			var err error
			if srv, err = New(loopbackConfig("")); err != nil {
				b.Fatal(err)
			}
		}
		k := i % clients
		srv.mu.Lock()
		if _, ok := srv.handle(disc[k], "", 0, now, nil, 0); !ok {
			b.Fatal("no offer")
		}
		srv.handle(req[k], "", 0, now, nil, 0)
		clear(srv.outbox)
		srv.mu.Unlock()
	}
	if got := srv.Stats()[0].Active; got == 0 {
		b.Fatal("no lease was committed")
	}
}
