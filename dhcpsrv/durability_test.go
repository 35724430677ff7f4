package dhcpsrv

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestKill9LosesNoAckedLease drives a server process with a stream of
// clients, kills it with SIGKILL mid-stream, and checks that every lease a
// client saw ACKed is in the lease log the server left behind.
func TestKill9LosesNoAckedLease(t *testing.T) {
	dir := t.TempDir()
	r := newRelay(t)
	cfg := loopbackConfig(dir)
	p, addr := startChild(t, nil, cfg, "127.0.0.1:0", fmt.Sprintf("%d,%d", r.port(), r.port()))
	srvAddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srvAddr

	var mu sync.Mutex
	acked := map[string]string{} // mac → addr
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // receiver: OFFER → REQUEST, ACK → record
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			_ = r.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _, err := r.conn.ReadFromUDP(buf)
			if err != nil {
				select {
				case <-stop:
					return
				default:
					continue
				}
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			switch m.MessageType() {
			case dhcpv4.MessageTypeOffer:
				req, _ := dhcpv4.NewRequestFromOffer(m)
				_ = r.send(req)
			case dhcpv4.MessageTypeAck:
				mu.Lock()
				acked[m.ClientHWAddr.String()] = m.YourIPAddr.String()
				mu.Unlock()
			}
		}
	}()
	// Sender: new clients at a steady clip until the kill.
	sent := 0
	start := time.Now()
	killAt := start.Add(1500 * time.Millisecond)
	for time.Now().Before(killAt) {
		for range 20 {
			sent++
			mac := net.HardwareAddr{2, 1, byte(sent >> 24), byte(sent >> 16), byte(sent >> 8), byte(sent)}
			d, _ := dhcpv4.NewDiscovery(mac)
			_ = r.send(d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.Kill() // SIGKILL to the process group
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(acked) < 200 {
		t.Fatalf("only %d ACKs before the kill (%d clients sent): the test did not load the server\n%s", len(acked), sent, p.Output())
	}
	_, leases, err := openLeaseLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]string{}
	for _, l := range leases {
		if l.State == StateBound {
			onDisk[l.MAC.String()] = l.Addr.String()
		}
	}
	lost := 0
	for mac, a := range acked {
		if onDisk[mac] != a {
			lost++
			if lost < 5 {
				t.Errorf("ACKed lease %s → %s missing after kill -9 (disk has %q)", mac, a, onDisk[mac])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d ACKed leases lost", lost, len(acked))
	}
	t.Logf("%d clients sent, %d ACKed, all %d on disk after kill -9 (%d records total)", sent, len(acked), len(acked), len(leases))
}

// TestAckWaitsForSync holds the lease log's fdatasync and checks that the
// ACK leaves only after it returns, while OFFERs (not durable) flow freely.
func TestAckWaitsForSync(t *testing.T) {
	r := newRelay(t)
	gate := make(chan struct{})
	var synced sync.WaitGroup
	synced.Add(1)
	var once sync.Once
	srv, err := New(loopbackConfig(t.TempDir()), WithListenAddr("127.0.0.1:0"), WithPorts(r.port(), r.port()))
	if err != nil {
		t.Fatal(err)
	}
	srv.store.beforeSync = func() { <-gate; once.Do(synced.Done) }
	_, _ = runLoopbackServer(t, srv, r)

	mac := net.HardwareAddr{2, 2, 0, 0, 0, 1}
	d, _ := dhcpv4.NewDiscovery(mac)
	if err := r.send(d); err != nil {
		t.Fatal(err)
	}
	offer, err := r.recv(d.TransactionID, 2*time.Second)
	if err != nil {
		t.Fatalf("OFFER must not wait for the log: %v", err)
	}
	req, _ := dhcpv4.NewRequestFromOffer(offer)
	if err := r.send(req); err != nil {
		t.Fatal(err)
	}
	if ack, err := r.recv(req.TransactionID, 300*time.Millisecond); err == nil {
		t.Fatalf("got %v while the lease record was not yet synced", ack.MessageType())
	}
	close(gate)
	if _, err := r.recv(req.TransactionID, 2*time.Second); err != nil {
		t.Fatalf("no ACK after the sync: %v", err)
	}
	synced.Wait()
}
