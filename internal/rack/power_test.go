package rack_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
	"github.com/ironkit/ironkit/store"
)

func newBMC(t *testing.T) *powersim.IPMIBMC {
	t.Helper()
	bmc, err := powersim.NewIPMI(powersim.WithIPMIAddr("127.0.0.1:0"), powersim.WithIPMICredentials("admin", "password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bmc.Close() })
	return bmc
}

func addMachine(t *testing.T, st *store.Store, host, mac string, bmc *powersim.IPMIBMC) string {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	m, err := st.CreateMachine(context.Background(), store.Machine{Hostname: host, Architecture: "amd64/generic",
		Interfaces: []store.Interface{{MAC: hw}}, Power: store.Power{Type: bmc.DriverName(), Params: bmc.DriverParams()}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return m.SystemID
}

func alive(t *testing.T, r *testRegion, ids ...int64) {
	t.Helper()
	eventually(t, 10*time.Second, "racks alive in the region's view", func() bool {
		rs, err := r.rpc.Racks(context.Background())
		if err != nil {
			return false
		}
		n := 0
		for _, x := range rs {
			if x.Alive && slices.Contains(ids, x.ID) {
				n++
			}
		}
		return n == len(ids)
	})
}

func lo(addrs ...string) rpc.Interface {
	ifc := rpc.Interface{Name: "eth0", MAC: "02:00:00:00:00:01"}
	for _, a := range addrs {
		ifc.Addresses = append(ifc.Addresses, netip.MustParsePrefix(a))
	}
	return ifc
}

// A power command goes region → rack → BMC and back; the rack's address
// changing does not matter (it is its token), and the region's view follows.
func TestPowerThroughRackAndAddressChange(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	bmc := newBMC(t)
	sys := addMachine(t, r.svc.Store(), "node1", "52:54:00:00:00:01", bmc)
	rk := startRack(t, []string{r.url}, r.secret, "rack-a", nil)
	rk.ifs.set(lo("127.0.0.1/8"))
	alive(t, r, rk.file.RackID)

	st, err := r.rpc.Power(ctx, sys, jobs.PowerRequest{Op: jobs.PowerOn, PXE: true})
	if err != nil || st != jobs.StateOn || !bmc.PoweredOn() {
		t.Fatalf("power on through the rack: %v %v (bmc on=%v)", st, err, bmc.PoweredOn())
	}

	// The rack moves to another address (a VPN reconnect): nothing restarts.
	rk.ifs.set(lo("10.77.0.9/24"))
	eventually(t, 10*time.Second, "the region's view of the rack's new address", func() bool {
		rs, _ := r.rpc.Racks(ctx)
		return len(rs) == 1 && slices.Contains(rs[0].Addresses, netip.MustParsePrefix("10.77.0.9/24"))
	})
	st, err = r.rpc.Power(ctx, sys, jobs.PowerRequest{Op: jobs.PowerOff})
	if err != nil || st != jobs.StateOff || bmc.PoweredOn() {
		t.Fatalf("power off after the address change: %v %v", st, err)
	}
	st, err = r.rpc.Power(ctx, sys, jobs.PowerRequest{Op: jobs.PowerQuery})
	if err != nil || st != jobs.StateOff {
		t.Fatalf("query: %v %v", st, err)
	}

	// Service health reaches the region.
	rs, _ := r.rpc.Racks(ctx)
	var names []string
	for _, h := range rs[0].Services {
		names = append(names, h.Name+"="+h.Status)
	}
	if !slices.Contains(names, "tftp=running") || !slices.Contains(names, "region=running") {
		t.Fatalf("services in the region's view: %v", names)
	}
	// The API's rack view shows the same (GET /api/v1/racks).
	api, err := r.svc.Backend().ListRacks(ctx)
	if err != nil || len(api) != 1 || !strings.Contains(string(api[0].Services), `"name":"tftp","status":"running"`) ||
		!strings.Contains(string(api[0].Interfaces), "10.77.0.9/24") || api[0].Address != "127.0.0.1" {
		t.Fatalf("API rack view: %+v %v", api, err)
	}
}

// A rack that cannot run the driver fails the command; the region retries
// on the next eligible rack. Layer-2 racks are tried before routed ones.
func TestPowerRetriesOnAnotherRack(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	bmc := newBMC(t)
	sys := addMachine(t, r.svc.Store(), "node1", "52:54:00:00:00:02", bmc)
	broken := startRack(t, []string{r.url}, r.secret, "rack-broken", func(c *rack.Config) {
		c.Power = power.NewRegistry(power.WithoutBuiltins()) // knows no driver
	})
	broken.ifs.set(lo("127.0.0.1/8")) // on the BMC's subnet: tried first
	good := startRack(t, []string{r.url}, r.secret, "rack-good", nil)
	good.ifs.set(lo("10.78.0.2/24")) // routed
	alive(t, r, broken.file.RackID, good.file.RackID)

	st, err := r.rpc.Power(ctx, sys, jobs.PowerRequest{Op: jobs.PowerOn})
	if err != nil || st != jobs.StateOn || !bmc.PoweredOn() {
		t.Fatalf("power on: %v %v", st, err)
	}
	if !strings.Contains(r.logs.String(), "power through rack failed; trying the next") {
		t.Fatalf("the broken layer-2 rack was not tried first:\n%s", r.logs)
	}
}

func TestRouteOrder(t *testing.T) {
	bmc := netip.MustParseAddr("10.0.0.50")
	rs := func(id int64, alive bool, mac string, addrs ...string) rackrpc.RackStatus {
		s := rackrpc.RackStatus{RackInfo: rpc.RackInfo{ID: id}, Alive: alive, Interfaces: []rpc.Interface{{MAC: mac}}}
		for _, a := range addrs {
			s.Addresses = append(s.Addresses, netip.MustParsePrefix(a))
		}
		return s
	}
	racks := []rackrpc.RackStatus{
		rs(1, true, "aa", "192.168.1.2/24"),
		rs(2, true, "bb", "10.0.0.2/24"),
		rs(3, false, "cc", "10.0.0.3/24"),
		rs(4, true, "dd", "10.0.0.4/24"),
		rs(5, true, "52:54:00:00:00:09", "10.0.0.5/24"),
	}
	cases := map[string]struct {
		spread uint64
		macs   []string
		want   []int64
	}{
		"layer 2 first, dead skipped":   {0, nil, []int64{2, 4, 5, 1}},
		"spread rotates within a group": {1, nil, []int64{4, 5, 2, 1}},
		"the machine's own rack last":   {0, []string{"52:54:00:00:00:09"}, []int64{2, 4, 1, 5}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := rackrpc.RouteOrder(racks, bmc, c.macs, c.spread); !slices.Equal(got, c.want) {
				t.Fatalf("RouteOrder = %v, want %v", got, c.want)
			}
		})
	}
	if a, ok := rackrpc.BMCAddr(map[string]string{"url": "https://10.0.0.50:8443/redfish"}); !ok || a != bmc {
		t.Fatalf("BMCAddr from a URL: %v %v", a, ok)
	}
}

// A deployment's address check runs on a rack: it pings the addresses and
// reports those that answer.
func TestProbeThroughRack(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	rk := startRack(t, []string{r.url}, r.secret, "rack-probe", nil)
	rk.ifs.set(lo("127.0.0.1/8"))
	alive(t, r, rk.file.RackID)
	inUse, err := r.rpc.Probe(ctx, "abc123", []netip.Addr{netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		if strings.Contains(err.Error(), "ICMP socket") {
			t.Skipf("no ICMP socket here: %v", err)
		}
		t.Fatal(err)
	}
	if !slices.Equal(inUse, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
		t.Fatalf("probe of 127.0.0.1 = %v, want it in use", inUse)
	}
}

// Other commands: reconfigure answers with the config revision the rack
// now serves; sync-images on a rack with the cache off fails with a reason;
// an unknown kind fails naming the fix.
func TestCommandsRoundTrip(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	rk := startRack(t, []string{r.url}, r.secret, "rack-cmd", nil)
	alive(t, r, rk.file.RackID)
	cases := []struct {
		kind   string
		ok     bool
		expect string
	}{
		{rpc.CmdReconfigure, true, `"revision":"`},
		{rpc.CmdSyncImages, false, "image cache is off"},
		{"defragment", false, "upgrade rackd"},
	}
	for _, c := range cases {
		id, err := r.rpc.Enqueue(ctx, rk.file.RackID, c.kind, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.rpc.Wait(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if res.OK != c.ok || !strings.Contains(string(res.Data)+res.Error, c.expect) {
			t.Errorf("%s: %+v, want ok=%v with %q", c.kind, res, c.ok, c.expect)
		}
	}
	// A command is handed out once: a second delivery attempt finds none.
	id, _ := r.rpc.Enqueue(ctx, rk.file.RackID, rpc.CmdReconfigure, nil)
	if res, err := r.rpc.Wait(ctx, id); err != nil || !res.OK {
		t.Fatalf("reconfigure: %+v %v", res, err)
	}
	var n int
	n, _ = r.svc.Store().DB().NewSelect().Table("rack_commands").Where("state IN ('pending', 'delivered')").Count(ctx)
	if n != 0 {
		t.Fatalf("%d commands left pending or delivered", n)
	}
}

// sync-images runs the image cache's SyncNow against the regions.
func TestSyncImagesCommand(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	reply, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-img", rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	rk := runRack(t, rack.File{Regions: []string{r.url}, Name: "rack-img", RackID: reply.RackID, Token: reply.Token,
		StateDir: t.TempDir(), TFTPAddr: "-", HTTPAddr: "-", HeartbeatInterval: "200ms"}, nil)
	alive(t, r, rk.file.RackID)
	id, err := r.rpc.Enqueue(ctx, rk.file.RackID, rpc.CmdSyncImages, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.rpc.Wait(ctx, id)
	if err != nil || !res.OK || !strings.Contains(string(res.Data), `"fetched":0`) {
		t.Fatalf("sync-images: %+v %v", res, err)
	}
}

// A boot server that cannot listen stops Run with an error naming it, and
// nothing is left running.
func TestRunFailsOnBusyPort(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := rack.File{Regions: []string{"http://127.0.0.1:1"}, Name: "r", RackID: 1, Token: "ikr_x", StateDir: t.TempDir(),
		TFTPAddr: ln.LocalAddr().String(), HTTPAddr: "-", Images: "off"}
	svc, err := rack.New(rack.Config{File: f})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := svc.Run(ctx); err == nil || !strings.Contains(err.Error(), "tftp on "+ln.LocalAddr().String()) {
		t.Fatalf("Run = %v, want the TFTP listen error", err)
	}
}
