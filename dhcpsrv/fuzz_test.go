package dhcpsrv

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// FuzzHandle feeds arbitrary bytes through the server's packet path
// (parse, decide, apply, encode): it must drop or answer, never panic.
//
//	go test -run '^$' -fuzz FuzzHandle -fuzztime 10s ./dhcpsrv
func FuzzHandle(f *testing.F) {
	mac := net.HardwareAddr{2, 3, 4, 5, 6, 7}
	seed := func(mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) {
		p, _ := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt)}, mods...)...)
		f.Add(p.ToBytes())
	}
	seed(dhcpv4.MessageTypeDiscover)
	seed(dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IP{10, 8, 0, 1}), pxeMod(iana.EFI_X86_64_HTTP, "HTTPClient"))
	seed(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{10, 9, 0, 100})))
	seed(dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.IP{10, 9, 0, 100}))
	seed(dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.IP{10, 9, 0, 100}))
	seed(dhcpv4.MessageTypeDecline, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{10, 9, 0, 100})))
	seed(dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(net.IP{10, 9, 0, 7}), dhcpv4.WithUserClass("iPXE", false))
	f.Add([]byte{})
	f.Add([]byte{1, 1, 6, 0})

	srv, err := New(testConfig())
	if err != nil {
		f.Fatal(err)
	}
	now := t0
	f.Fuzz(func(t *testing.T, b []byte) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		before := dropCount(srv, dropPanic)
		o, ok := srv.handle(b, "eth0", 1, now, nil, 0)
		if dropCount(srv, dropPanic) != before {
			t.Fatalf("the packet path panicked on %x", b)
		}
		if ok {
			if _, err := dhcpv4.FromBytes(o.b); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
		}
		srv.outMu.Lock()
		clear(srv.outbox) // memory-only commits queue their ACKs here
		srv.outMu.Unlock()
		now = now.Add(time.Second)
		srv.table.sweep(now, func(Lease) {})
	})
}

func pxeMod(arch iana.Arch, class string) dhcpv4.Modifier { return pxe(arch, class) }

func dropCount(s *Server, reason string) float64 {
	return testutil.ToFloat64(s.met.dropRes[reason])
}
