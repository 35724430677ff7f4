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

func TestDhclientLeaseRenewRebootRelease(t *testing.T) {
	testenv.RequireRoot(t, "dhclient against the server in network namespaces")
	testenv.RequireBinaries(t, "dhclient", "ip")
	seg := testenv.NewSegment(t)
	srvHost := seg.AddHost(t, "10.65.0.1/24")
	cli := seg.AddHost(t, "")
	evc := make(chan LeaseEvent, 64)
	cfg := segmentConfig("10.65.0.0/24")
	cfg.LeaseDir = t.TempDir()
	// Short leases so dhclient renews (T1 = 3 s) within the test.
	cfg.Subnets[0].LeaseTime, cfg.Subnets[0].PXELeaseTime = 6*time.Second, 6*time.Second
	srv, err := New(cfg, WithLeaseHook(func(e LeaseEvent) { evc <- e }))
	if err != nil {
		t.Fatal(err)
	}
	startIn(t, srvHost.Netns, srv)
	script, out := writeHook(t)
	dir := t.TempDir()
	conf := dir + "/dhclient.conf"
	// A UEFI x64 PXE client: option 60 and option 93 = 7.
	if err := os.WriteFile(conf, []byte(`option pxe-arch code 93 = unsigned integer 16;
send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003016";
send pxe-arch 7;
request subnet-mask, routers, domain-name-servers, dhcp-lease-time, tftp-server-name, bootfile-name;
`), 0o644); err != nil {
		t.Fatal(err)
	}
	lf, pf := dir+"/leases", dir+"/pid"
	args := []string{"-4", "-d", "-v", "-cf", conf, "-sf", script, "-lf", lf, "-pf", pf, "eth0"}
	p := testenv.Start(t, cli.Command(context.Background(), "dhclient", args...))
	waitFor(t, 20*time.Second, "dhclient to bind:\n"+p.Output(), func() bool { return strings.Contains(readFile(out), "=== BOUND") })
	if e := nextEvent(t, evc, EventCommit); e.Lease.Addr.String() != "10.65.0.100" {
		t.Fatalf("event %+v, want commit of 10.65.0.100", e)
	}
	waitFor(t, 5*time.Second, "dhclient to write its lease file", func() bool { return strings.Contains(readFile(lf), "}") })
	leases := readFile(lf)
	for _, want := range []string{"fixed-address 10.65.0.100;", `filename "bootx64.efi";`, `option tftp-server-name "10.65.0.1";`, `option bootfile-name "bootx64.efi";`} {
		if !strings.Contains(leases, want) {
			t.Errorf("dhclient lease file lacks %q:\n%s", want, leases)
		}
	}
	// RENEWING at T1: unicast REQUEST with ciaddr.
	waitFor(t, 10*time.Second, "dhclient to renew at T1:\n"+p.Output(), func() bool { return strings.Contains(readFile(out), "=== RENEW") })
	if e := nextEvent(t, evc, EventRenew); e.Lease.Addr.String() != "10.65.0.100" {
		t.Fatalf("event %+v, want renew of 10.65.0.100", e)
	}
	// Stop it without releasing, start again: INIT-REBOOT of the same
	// address is ACKed as a renewal.
	p.Kill()
	p2 := testenv.Start(t, cli.Command(context.Background(), "dhclient", args...))
	waitFor(t, 20*time.Second, "dhclient to reboot:\n"+p2.Output(), func() bool { return strings.Contains(readFile(out), "=== REBOOT") })
	if e := nextEvent(t, evc, EventRenew); e.Lease.Addr.String() != "10.65.0.100" {
		t.Fatalf("event %+v, want renew of 10.65.0.100", e)
	}
	rel := cli.Command(context.Background(), "dhclient", append([]string{"-r"}, args[1:]...)...)
	if b, err := rel.CombinedOutput(); err != nil {
		t.Fatalf("dhclient -r: %v\n%s", err, b)
	}
	nextEvent(t, evc, EventRelease)
}

// nextEvent waits for the next event of type want, skipping renewals
// (clients renew on their own schedule).
func nextEvent(t *testing.T, evc <-chan LeaseEvent, want EventType) LeaseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-evc:
			if e.Type == want {
				return e
			}
			if e.Type != EventRenew {
				t.Fatalf("event %v for %v while waiting for %v", e.Type, e.Lease.Addr, want)
			}
		case <-timeout:
			t.Fatalf("no %v event within 10s", want)
		}
	}
}

// TestRelayedUdhcpc puts ISC dhcrelay between the client's segment and the
// server: the server picks the subnet by giaddr and answers the relay.
func TestRelayedUdhcpc(t *testing.T) {
	testenv.RequireRoot(t, "dhcrelay between udhcpc and the server in network namespaces")
	testenv.RequireBinaries(t, "dhcrelay", "udhcpc", "ip")
	seg := testenv.NewSegment(t)
	rel := seg.AddHost(t, "10.66.0.1/24") // relay's leg on the client segment (eth0)
	cli := seg.AddHost(t, "")
	srvNS := testenv.NewNetns(t)
	testenv.Veth(t, rel.Netns, "up0", srvNS, "eth0")
	rel.AddAddr(t, "up0", "10.67.0.1/24")
	srvNS.AddAddr(t, "eth0", "10.67.0.2/24")
	srvNS.MustRun(t, "ip", "route", "add", "10.66.0.0/24", "via", "10.67.0.1")

	srv, err := New(Config{
		Interfaces: []string{"eth0"},
		Subnets: []Subnet{{
			Name: "remote", Prefix: netip.MustParsePrefix("10.66.0.0/24"), ServerAddr: netip.MustParseAddr("10.67.0.2"),
			Pools:   []Pool{{Start: netip.MustParseAddr("10.66.0.50"), End: netip.MustParseAddr("10.66.0.60")}},
			Routers: []netip.Addr{netip.MustParseAddr("10.66.0.1")},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	startIn(t, srvNS, srv)
	relay := testenv.Start(t, rel.Command(context.Background(), "dhcrelay", "-4", "-d", "-id", "eth0", "-iu", "up0", "10.67.0.2"))
	time.Sleep(300 * time.Millisecond) // dhcrelay opens its sockets
	script, out := writeHook(t)
	p := testenv.Start(t, cli.Command(context.Background(), "udhcpc", "-f", "-i", "eth0", "-s", script, "-t", "8", "-T", "1"))
	waitFor(t, 20*time.Second, "udhcpc to bind through the relay:\nudhcpc: "+p.Output()+"\ndhcrelay: "+relay.Output(),
		func() bool { return strings.Contains(readFile(out), "=== bound") })
	env := readFile(out)
	for _, want := range []string{"ip=10.66.0.50", "router=10.66.0.1", "serverid=10.67.0.2"} {
		if !strings.Contains(env, want) {
			t.Errorf("client behind the relay saw no %q:\n%s", want, env)
		}
	}
	ls := srv.Leases()
	if len(ls) != 1 || ls[0].State != StateBound || ls[0].Subnet != "remote" {
		t.Fatalf("server leases %+v, want one bound lease in subnet remote", ls)
	}
}

// TestPingCheckSkipsAddressInUse puts a squatter on the first pool address;
// with PingCheck on, the client is offered the next one.
func TestPingCheckSkipsAddressInUse(t *testing.T) {
	testenv.RequireRoot(t, "ping check in network namespaces")
	testenv.RequireBinaries(t, "udhcpc", "ip")
	seg := testenv.NewSegment(t)
	srvHost := seg.AddHost(t, "10.69.0.1/24")
	seg.AddHost(t, "10.69.0.100/24") // squatter, unknown to the server
	cli := seg.AddHost(t, "")
	cfg := segmentConfig("10.69.0.0/24")
	cfg.PingCheck = 300 * time.Millisecond
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	startIn(t, srvHost.Netns, srv)
	script, out := writeHook(t)
	p := testenv.Start(t, cli.Command(context.Background(), "udhcpc", "-f", "-q", "-i", "eth0", "-s", script, "-t", "5", "-T", "2"))
	waitFor(t, 15*time.Second, "udhcpc to bind:\n"+p.Output(), func() bool { return strings.Contains(readFile(out), "=== bound") })
	if env := readFile(out); !strings.Contains(env, "ip=10.69.0.101\n") {
		t.Fatalf("client was not offered 10.69.0.101 past the squatter:\n%s", env)
	}
	quarantined := false
	for _, l := range srv.Leases() {
		quarantined = quarantined || (l.Addr.String() == "10.69.0.100" && l.State == StateDeclined)
	}
	if !quarantined {
		t.Fatalf("squatted address not quarantined: %+v", srv.Leases())
	}
}
