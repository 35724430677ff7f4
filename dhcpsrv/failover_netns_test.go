package dhcpsrv

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
)

// TestFailoverKill9UnderPerfdhcp runs a pair as two processes on one
// segment, drives it with perfdhcp (broadcast, as relay), kills the primary
// with SIGKILL mid-run and checks that the secondary serves the primary's
// clients within 5 s and that no address was ever bound to two MACs.
func TestFailoverKill9UnderPerfdhcp(t *testing.T) {
	testenv.RequireRoot(t, "a failover pair in network namespaces under perfdhcp")
	testenv.RequireBinaries(t, "perfdhcp", "ip")
	for _, mode := range []FailoverMode{HotStandby, LoadBalancing} {
		t.Run(mode.String(), func(t *testing.T) { failoverKill9(t, mode) })
	}
}

func failoverKill9(t *testing.T, mode FailoverMode) {
	seg := testenv.NewSegment(t)
	hostA := seg.AddHost(t, "10.68.0.1/16")
	hostB := seg.AddHost(t, "10.68.0.2/16")
	cli := seg.AddHost(t, "10.68.0.10/16")
	dirA, dirB := t.TempDir(), t.TempDir()
	cfg := func(dir string, role Role, self string) Config {
		return Config{
			Interfaces: []string{"eth0"},
			LeaseDir:   dir,
			Subnets: []Subnet{{
				Name: "seg", Prefix: netip.MustParsePrefix("10.68.0.0/16"), Interface: "eth0",
				ServerAddr: netip.MustParseAddr(self),
				Pools:      []Pool{{Start: netip.MustParseAddr("10.68.1.0"), End: netip.MustParseAddr("10.68.255.250")}},
				LeaseTime:  time.Hour,
			}},
			Failover: &Failover{
				Mode: mode, Role: role,
				Listen:    netip.MustParseAddrPort("10.68.0.2:647"),
				Peer:      netip.MustParseAddrPort("10.68.0.2:647"),
				Heartbeat: 500 * time.Millisecond, MaxResponseDelay: 2 * time.Second,
			},
		}
	}
	sec, _ := startChild(t, hostB.Netns, cfg(dirB, Secondary, "10.68.0.2"), "", "")
	prim, _ := startChild(t, hostA.Netns, cfg(dirA, Primary, "10.68.0.1"), "", "")
	waitFor(t, 10*time.Second, "the pair to reach normal", func() bool {
		return strings.Contains(prim.Output(), "to=normal") && strings.Contains(sec.Output(), "to=normal")
	})

	perf := testenv.Start(t, cli.Command(context.Background(), "perfdhcp", "-4", "-r", "250", "-R", "100000", "-p", "10", "-l", "eth0", "all"))
	time.Sleep(3 * time.Second)
	prim.Kill()
	killed := time.Now()
	if err := perf.Wait(20 * time.Second); err != nil && !strings.Contains(perf.Output(), "Rate:") {
		t.Fatalf("perfdhcp: %v\n%s", err, perf.Output())
	}

	// Every bound record either server ever wrote.
	byAddr := map[netip.Addr]map[string]bool{}
	var firstAfterKill time.Time
	clients := map[string]bool{}
	for _, dir := range []string{dirA, dirB} {
		files, _ := filepath.Glob(filepath.Join(dir, "wal.*"))
		for _, fn := range files {
			f, err := os.Open(fn)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = readRecords(f, func(l Lease) {
				if l.State != StateBound {
					return
				}
				if byAddr[l.Addr] == nil {
					byAddr[l.Addr] = map[string]bool{}
				}
				byAddr[l.Addr][l.MAC.String()] = true
				clients[l.MAC.String()] = true
				// A client the primary would have answered, served by the
				// secondary after the kill. perfdhcp sends client id
				// 01+MAC, which the RFC 3074 hash prefers to the MAC.
				primarys := mode == HotStandby || LoadBalanceHash(append([]byte{1}, l.MAC...))%2 == 0
				if dir == dirB && primarys && l.Start.After(killed) && (firstAfterKill.IsZero() || l.Start.Before(firstAfterKill)) {
					firstAfterKill = l.Start
				}
			})
			f.Close()
		}
	}
	for a, macs := range byAddr {
		if len(macs) > 1 {
			t.Errorf("address %v bound to %d MACs: %v", a, len(macs), macs)
		}
	}
	if len(clients) < 1000 {
		t.Fatalf("only %d clients got leases; want 1000+\nperfdhcp:\n%s", len(clients), perf.Output())
	}
	if firstAfterKill.IsZero() {
		t.Fatalf("the standby committed nothing after the primary died\nstandby:\n%s\nperfdhcp:\n%s", sec.Output(), perf.Output())
	}
	if gap := firstAfterKill.Sub(killed); gap > 5*time.Second {
		t.Fatalf("the standby served %v after the kill; want within 5s", gap)
	} else {
		t.Logf("%d clients, %d addresses, no duplicates; standby served %v after kill -9 of the primary", len(clients), len(byAddr), gap.Round(10*time.Millisecond))
	}
}
