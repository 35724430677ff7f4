package dhcpsrv

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestLoadBalanceHashTableIsPermutation(t *testing.T) {
	var seen [256]bool
	for _, v := range lbMix {
		if seen[v] {
			t.Fatalf("RFC 3074 mixing table repeats %d", v)
		}
		seen[v] = true
	}
	// Spread: 1000 MACs split roughly evenly.
	odd := 0
	for i := range 1000 {
		if LoadBalanceHash(net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)})%2 == 1 {
			odd++
		}
	}
	if odd < 400 || odd > 600 {
		t.Fatalf("%d of 1000 clients hash odd: the split is lopsided", odd)
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func pairConfig(dir string, role Role, mode FailoverMode, peerPort uint16) Config {
	c := loopbackConfig(dir)
	if role == Secondary {
		c.Subnets[0].ServerAddr = netip.MustParseAddr("127.0.0.2")
	}
	c.Failover = &Failover{
		Mode: mode, Role: role,
		Listen:    netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), peerPort),
		Peer:      netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), peerPort),
		Heartbeat: 200 * time.Millisecond, MaxResponseDelay: time.Second,
	}
	return c
}

// startPair runs a pair on loopback; the relay forwards to both.
func startPair(t *testing.T, mode FailoverMode, r *relay, pdir, sdir string, port uint16) (prim *Server, stopPrim func(), sec *Server) {
	t.Helper()
	sec, _ = runLoopback(t, pairConfig(sdir, Secondary, mode, port), r)
	secAddr := r.srv
	prim, stopPrim = runLoopback(t, pairConfig(pdir, Primary, mode, port), r)
	r.also = secAddr
	waitFor(t, 5*time.Second, "both servers in normal state", func() bool {
		return prim.FailoverState() == FailoverNormal && sec.FailoverState() == FailoverNormal
	})
	return prim, stopPrim, sec
}

func leaseMap(s *Server) map[string]string {
	m := map[string]string{}
	for _, l := range s.Leases() {
		if l.State == StateBound {
			m[l.MAC.String()] = l.Addr.String()
		}
	}
	return m
}

func TestHotStandbyPairFailsOverAndResyncs(t *testing.T) {
	r := newRelay(t)
	pdir, sdir := t.TempDir(), t.TempDir()
	port := freePort(t)
	_, stopPrim, sec := startPair(t, HotStandby, r, pdir, sdir, port)

	acked := map[string]string{}
	for i := range 30 {
		mac := net.HardwareAddr{2, 4, 0, 0, 0, byte(i)}
		ack, err := r.dora(mac, 2*time.Second)
		if err != nil {
			t.Fatalf("client %d with both up: %v", i, err)
		}
		if sid := ack.ServerIdentifier().String(); sid != "127.0.0.1" {
			t.Fatalf("client %d answered by %s; in hot-standby only the primary answers", i, sid)
		}
		acked[mac.String()] = ack.YourIPAddr.String()
		// The ACK left only after the standby had the lease.
		if got := leaseMap(sec)[mac.String()]; got != ack.YourIPAddr.String() {
			t.Fatalf("standby has %q for %s right after the ACK, want %s", got, mac, ack.YourIPAddr)
		}
	}

	stopPrim()
	stopped := time.Now()
	waitFor(t, 3*time.Second, "the standby to declare partner-down", func() bool { return sec.FailoverState() == FailoverPartnerDown })
	t.Logf("partner-down %v after the primary stopped", time.Since(stopped).Round(10*time.Millisecond))
	r.also = nil
	r.srv = sec.Addrs()[0].(*net.UDPAddr)
	used := map[string]string{}
	for mac, a := range acked {
		used[a] = mac
	}
	for i := range 30 {
		mac := net.HardwareAddr{2, 5, 0, 0, 0, byte(i)}
		ack, err := r.dora(mac, 2*time.Second)
		if err != nil {
			t.Fatalf("new client %d with the primary down: %v", i, err)
		}
		if other, dup := used[ack.YourIPAddr.String()]; dup {
			t.Fatalf("standby gave %s to %s; the primary had leased it to %s", ack.YourIPAddr, mac, other)
		}
		used[ack.YourIPAddr.String()] = mac.String()
		acked[mac.String()] = ack.YourIPAddr.String()
	}
	// A primary client renews with the standby.
	old := net.HardwareAddr{2, 4, 0, 0, 0, 3}
	ack, err := r.dora(old, 2*time.Second)
	if err != nil || ack.YourIPAddr.String() != acked[old.String()] {
		t.Fatalf("primary's client asked the standby again: %v, got %v want %s", err, ack, acked[old.String()])
	}

	// The primary comes back from its lease log and resyncs.
	prim2, _ := runLoopback(t, pairConfig(pdir, Primary, HotStandby, port), r)
	waitFor(t, 5*time.Second, "the pair back to normal", func() bool {
		return prim2.FailoverState() == FailoverNormal && sec.FailoverState() == FailoverNormal
	})
	got := leaseMap(prim2)
	for mac, a := range acked {
		if got[mac] != a {
			t.Errorf("after resync the primary has %q for %s, want %s", got[mac], mac, a)
		}
	}
}

func TestLoadBalancingPairSplitsClients(t *testing.T) {
	r := newRelay(t)
	_, _, _ = startPair(t, LoadBalancing, r, t.TempDir(), t.TempDir(), freePort(t))
	bySID := map[string]int{}
	for i := range 40 {
		mac := net.HardwareAddr{2, 6, 0, 0, 0, byte(i)}
		d, _ := dhcpv4.NewDiscovery(mac)
		if err := r.send(d); err != nil {
			t.Fatal(err)
		}
		offer, err := r.recv(d.TransactionID, 2*time.Second)
		if err != nil {
			t.Fatalf("client %d: no offer: %v", i, err)
		}
		if again, err := r.recv(d.TransactionID, 50*time.Millisecond); err == nil {
			t.Fatalf("client %d got two offers (%s and %s): both servers answered", i, offer.ServerIdentifier(), again.ServerIdentifier())
		}
		want := "127.0.0.1"
		if LoadBalanceHash(mac)%2 == 1 {
			want = "127.0.0.2"
		}
		if sid := offer.ServerIdentifier().String(); sid != want {
			t.Fatalf("client %d answered by %s, want %s by its RFC 3074 hash", i, sid, want)
		}
		bySID[offer.ServerIdentifier().String()]++
	}
	if bySID["127.0.0.1"] == 0 || bySID["127.0.0.2"] == 0 {
		t.Fatalf("one server answered everyone: %v", bySID)
	}
}

func TestFailoverDefaults(t *testing.T) {
	f := (&Failover{Mode: LoadBalancing, Role: Primary,
		Listen: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 0), Peer: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 0)}).withDefaults()
	if f.Peer.Port() != 647 || f.Listen.Port() != 647 || f.SecondaryShare != 128 || f.Heartbeat != time.Second || f.MaxResponseDelay != 3*time.Second {
		t.Fatalf("defaults %+v", f)
	}
	bad := Failover{Mode: 9, Role: Primary, Listen: f.Listen, Peer: f.Peer}
	if err := bad.validate(); err == nil {
		t.Fatal("mode 9 accepted")
	}
}
