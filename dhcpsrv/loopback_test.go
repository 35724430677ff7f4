package dhcpsrv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// relay is a test client that speaks to a server on loopback the way a
// relay agent does: giaddr 127.0.0.1, replies come back to its own port.
type relay struct {
	conn *net.UDPConn
	srv  *net.UDPAddr
	also *net.UDPAddr // a second server (failover pair), as dhcrelay forwards to both
}

func newRelay(t testing.TB) *relay {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &relay{conn: c}
}

func (r *relay) port() uint16 { return uint16(r.conn.LocalAddr().(*net.UDPAddr).Port) }

func (r *relay) send(p *dhcpv4.DHCPv4) error {
	p.GatewayIPAddr = net.IPv4(127, 0, 0, 1).To4()
	b := p.ToBytes()
	if r.also != nil {
		if _, err := r.conn.WriteToUDP(b, r.also); err != nil {
			return err
		}
	}
	_, err := r.conn.WriteToUDP(b, r.srv)
	return err
}

// recv waits up to d for a reply with transaction id xid.
func (r *relay) recv(xid dhcpv4.TransactionID, d time.Duration) (*dhcpv4.DHCPv4, error) {
	buf := make([]byte, 1500)
	deadline := time.Now().Add(d)
	for {
		_ = r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return nil, err
		}
		p, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && p.TransactionID == xid {
			return p, nil
		}
	}
}

// dora runs DISCOVER/OFFER/REQUEST/ACK for mac and returns the ACK.
func (r *relay) dora(mac net.HardwareAddr, d time.Duration) (*dhcpv4.DHCPv4, error) {
	disc, _ := dhcpv4.NewDiscovery(mac)
	if err := r.send(disc); err != nil {
		return nil, err
	}
	offer, err := r.recv(disc.TransactionID, d)
	if err != nil {
		return nil, fmt.Errorf("no offer: %w", err)
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	if err := r.send(req); err != nil {
		return nil, err
	}
	ack, err := r.recv(req.TransactionID, d)
	if err != nil {
		return nil, fmt.Errorf("no ack: %w", err)
	}
	if ack.MessageType() != dhcpv4.MessageTypeAck {
		return nil, fmt.Errorf("got %v, want ACK", ack.MessageType())
	}
	return ack, nil
}

func loopbackConfig(dir string) Config {
	return Config{
		LeaseDir: dir,
		Subnets: []Subnet{{
			Name: "lo", Prefix: netip.MustParsePrefix("127.0.0.0/8"), ServerAddr: netip.MustParseAddr("127.0.0.1"),
			Pools:     []Pool{{Start: netip.MustParseAddr("127.1.0.0"), End: netip.MustParseAddr("127.1.255.255")}},
			LeaseTime: time.Hour,
		}},
	}
}

// runLoopback starts a server on a loopback port answering r, and returns a
// stop function that waits for Run to return.
func runLoopback(t testing.TB, cfg Config, r *relay, opts ...Opt) (*Server, func()) {
	t.Helper()
	srv, err := New(cfg, append([]Opt{WithListenAddr("127.0.0.1:0"), WithPorts(r.port(), r.port())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return runLoopbackServer(t, srv, r)
}

// runLoopbackServer runs srv (built with WithListenAddr) for relay r.
func runLoopbackServer(t testing.TB, srv *Server, r *relay) (*Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Listen(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	r.srv = srv.Addrs()[0].(*net.UDPAddr)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return srv, stop
}

func TestLoopbackLeasesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	r := newRelay(t)
	reg := prometheus.NewRegistry()
	srv, stop := runLoopback(t, loopbackConfig(dir), r, WithRegisterer(reg))
	want := map[string]string{}
	for i := range 20 {
		mac := net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}
		ack, err := r.dora(mac, 2*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		want[mac.String()] = ack.YourIPAddr.String()
	}
	// A malformed packet is dropped and counted, and the server keeps going.
	if _, err := r.conn.WriteToUDP([]byte{1, 2, 3}, r.srv); err != nil {
		t.Fatal(err)
	}
	if _, err := r.dora(net.HardwareAddr{2, 0, 0, 0, 1, 0}, 2*time.Second); err != nil {
		t.Fatalf("after a malformed packet: %v", err)
	}
	if got := testutil.ToFloat64(srv.met.drops.WithLabelValues(DropMalformed)); got != 1 {
		t.Errorf("malformed drops = %v, want 1", got)
	}
	// The counter moves just after the send: give it a moment.
	waitFor(t, 2*time.Second, "21 ACKs counted", func() bool { return testutil.ToFloat64(srv.met.out[dhcpv4.MessageTypeAck]) == 21 })
	if st := srv.Stats(); st[0].Active != 21 {
		t.Errorf("active leases %d, want 21", st[0].Active)
	}
	gauges := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetGauge() != nil {
				gauges[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	if gauges["ironkit_dhcp_active_leases"] != 21 || gauges["ironkit_dhcp_pool_utilisation_ratio"] != 21.0/65536 {
		t.Errorf("scraped gauges %v, want 21 active leases and 21/65536 pool utilisation", gauges)
	}
	stop()

	srv2, err := New(loopbackConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range srv2.Leases() {
		if l.State == StateBound {
			got[l.MAC.String()] = l.Addr.String()
		}
	}
	for mac, a := range want {
		if got[mac] != a {
			t.Errorf("after restart %s has %q, want %s", mac, got[mac], a)
		}
	}
}
