package dhcpsrv

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
)

// hookScript is the udhcpc/dhclient hook the tests pass instead of the stock
// scripts (which would rewrite the host's /etc/resolv.conf): it configures
// the address and appends the environment it was called with to OUT.
const hookScript = `#!/bin/sh
out=%s
# The marker goes last: a reader that sees it sees the whole block.
{ env | sort; echo "=== ${1:-$reason}"; } >> "$out"
case "${1:-$reason}" in
bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface" ;;
BOUND|RENEW|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/24" dev "$interface" ;;
deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
`

func writeHook(t *testing.T) (script, out string) {
	t.Helper()
	dir := t.TempDir()
	out = filepath.Join(dir, "events")
	script = filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte(strings.Replace(hookScript, "%s", out, 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, out
}

// startIn opens srv's sockets inside ns and runs it until the test ends.
func startIn(t *testing.T, ns *testenv.Netns, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := ns.Do(func() error { return srv.Listen(ctx) }); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func readFile(path string) string { b, _ := os.ReadFile(path); return string(b) }

func segmentConfig(prefix string) Config {
	p := netip.MustParsePrefix(prefix)
	base := p.Addr().As4()
	at := func(last byte) netip.Addr { b := base; b[3] = last; return netip.AddrFrom4(b) }
	return Config{
		Interfaces: []string{"eth0"},
		Subnets: []Subnet{{
			Name: "seg", Prefix: p, Interface: "eth0", ServerAddr: at(1),
			Pools:     []Pool{{Start: at(100), End: at(199)}},
			Routers:   []netip.Addr{at(1)},
			DNS:       []netip.Addr{at(1)},
			LeaseTime: time.Hour,
		}},
		Boot: Boot{IPXEScript: "http://" + at(1).String() + ":5248/ipxe/boot.ipxe"},
	}
}

func TestUdhcpcLeaseRenewRelease(t *testing.T) {
	testenv.RequireRoot(t, "udhcpc against the server in network namespaces")
	testenv.RequireBinaries(t, "udhcpc", "ip")
	seg := testenv.NewSegment(t)
	srvHost := seg.AddHost(t, "10.61.0.1/24")
	cli := seg.AddHost(t, "")
	var events []LeaseEvent
	evc := make(chan LeaseEvent, 16)
	srv, err := New(segmentConfig("10.61.0.0/24"), WithLeaseHook(func(e LeaseEvent) { evc <- e }))
	if err != nil {
		t.Fatal(err)
	}
	startIn(t, srvHost.Netns, srv)
	script, out := writeHook(t)
	// PXE BIOS client: option 60 and option 93 (arch 0), asking for 66/67.
	p := testenv.Start(t, cli.Command(context.Background(), "udhcpc", "-f", "-i", "eth0", "-s", script, "-t", "5", "-T", "1",
		"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-O", "bootfile", "-O", "tftp"))
	waitFor(t, 15*time.Second, "udhcpc to bind:\n"+p.Output(), func() bool { return strings.Contains(readFile(out), "=== bound") })
	env := readFile(out)
	for _, want := range []string{"ip=10.61.0.100", "siaddr=10.61.0.1", "boot_file=lpxelinux.0", "bootfile=lpxelinux.0", "tftp=10.61.0.1", "router=10.61.0.1"} {
		if !strings.Contains(env, want) {
			t.Errorf("client saw no %q in its bound event:\n%s", want, env)
		}
	}
	events = append(events, <-evc)
	if events[0].Type != EventCommit || events[0].Lease.Addr.String() != "10.61.0.100" {
		t.Fatalf("first event %+v, want commit of 10.61.0.100", events[0])
	}
	// SIGUSR1: renew (unicast REQUEST with ciaddr).
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "udhcpc to renew", func() bool { return strings.Contains(readFile(out), "=== renew") })
	if e := <-evc; e.Type != EventRenew {
		t.Fatalf("event %+v, want renew", e)
	}
	// SIGUSR2: release.
	if err := p.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	for released := false; !released; {
		select {
		case e := <-evc:
			// udhcpc may retransmit its renewal before the release.
			if e.Type == EventRenew {
				continue
			}
			if e.Type != EventRelease || e.Lease.Addr.String() != "10.61.0.100" {
				t.Fatalf("event %+v, want release of 10.61.0.100", e)
			}
			released = true
		case <-time.After(10 * time.Second):
			t.Fatalf("no release event; udhcpc:\n%s", p.Output())
		}
	}
	for _, l := range srv.Leases() {
		if l.Addr.String() == "10.61.0.100" && l.State != StateReleased {
			t.Fatalf("lease after release: %+v", l)
		}
	}
}
