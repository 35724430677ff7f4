package simdc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/simdc"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// client is a public-API client, as ironctl is.
type client struct {
	t    testing.TB
	base string
	key  string
	http *http.Client
}

func (c client) do(method, path string, body, out any) (int, []byte) {
	c.t.Helper()
	return testenv.APIClient{T: c.t, Base: c.base, Key: c.key, HTTP: c.http}.Do(method, path, body, out)
}

func (c client) must(method, path string, body, out any, want int) {
	c.t.Helper()
	if got, data := c.do(method, path, body, out); got != want {
		c.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, got, want, data)
	}
}

func (c client) machines(status lifecycle.Status) []api.Machine {
	c.t.Helper()
	var page api.MachinePage
	q := "/api/v1/machines?limit=10000"
	if status != "" {
		q += "&status=" + string(status)
	}
	c.must("GET", q, nil, &page, 200)
	return page.Machines
}

// waitAll waits until n machines are in status, failing with what the
// simulation says otherwise.
func waitAll(t *testing.T, c client, dc *simdc.Datacenter, n int, status lifecycle.Status, d time.Duration) []api.Machine {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ms := c.machines(status)
		if len(ms) == n {
			return ms
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, m := range c.machines("") {
				fmt.Fprintf(&b, "  region %s %s %s\n", m.Hostname, m.SystemID, m.Status)
			}
			for _, m := range dc.Machines() {
				st := m.Status()
				fmt.Fprintf(&b, "  sim %s phase=%s on=%v boots=%d err=%v\n", st.Hostname, st.Phase, st.PoweredOn, st.Boots, st.Err)
			}
			t.Fatalf("%d of %d machines %s after %s:\n%s", len(ms), n, status, d, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tlog writes a handler's lines to the test log.
type tlog struct{ t testing.TB }

func (w tlog) Write(b []byte) (int, error) { w.t.Log(strings.TrimSpace(string(b))); return len(b), nil }

// startRegion runs a region on SQLite on a loopback port and returns an
// administrator's client.
func startRegion(t *testing.T) client {
	t.Helper()
	cfg := config.Default()
	cfg.Database = filepath.Join(t.TempDir(), "region.db")
	cfg.ImagesDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Jobs.SweepInterval = config.Duration(time.Second)
	ctx := context.Background()
	hasher := auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}
	svc, err := region.Open(ctx, cfg, region.Options{Hasher: hasher, Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := region.CreateAdmin(ctx, svc.Store(), hasher, "admin", "admin@example.com", "admin-password"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(rctx, ln) }()
	hc := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("region Serve: %v", err)
		}
		svc.Close()
	})
	c := client{t: t, base: "http://" + ln.Addr().String(), http: hc}
	var login api.LoginReply
	c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
	c.key = login.APIKey.Key
	return c
}

// loopbackNetwork gives the region the subnet the in-process rack serves.
func loopbackNetwork(t *testing.T, c client) {
	var f api.Fabric
	c.must("POST", "/api/v1/fabrics", api.Fabric{Name: "sim"}, &f, 201)
	var vlans []api.VLAN
	c.must("GET", "/api/v1/vlans", nil, &vlans, 200)
	var v api.VLAN
	for _, x := range vlans {
		if x.FabricID == f.ID {
			v = x
		}
	}
	var s api.Subnet
	c.must("POST", "/api/v1/subnets", api.Subnet{Name: "sim-loopback", VLANID: v.ID, CIDR: "127.0.0.0/8"}, &s, 201)
	c.must("POST", "/api/v1/ipranges", api.IPRange{SubnetID: s.ID, Type: "dynamic", StartIP: "127.10.0.1", EndIP: "127.10.3.254"}, nil, 201)
}

// uploadImage gives the region a deployable image.
func uploadImage(t *testing.T, c client, body string) {
	req, _ := http.NewRequest("PUT", c.base+"/api/v1/boot-resources/ubuntu/amd64/generic/noble/generic/20261121/root.tar.xz?complete=true",
		strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload image: HTTP %d", resp.StatusCode)
	}
}

// harness runs a region, the in-process rack and n simulated machines.
func harness(t *testing.T, n int) (client, *simdc.Datacenter, *simdc.InProcessRack, *prometheus.Registry) {
	c := startRegion(t)
	loopbackNetwork(t, c)
	dc, err := simdc.New(simdc.Config{Machines: n, WorkTime: 100 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	rack, err := simdc.NewInProcessRack(ctx, simdc.RackConfig{RegionURL: c.base, APIKey: c.key, RelayPort: dc.RelayPort(), Registerer: reg})
	if err != nil {
		cancel()
		dc.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := rack.Run(ctx); err != nil {
			t.Errorf("rack: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := dc.Run(ctx, rack.Rack()); err != nil {
			t.Errorf("datacenter: %v", err)
		}
	}()
	// Registered after startRegion's cleanup, so it runs first: machines
	// and rack stop before the region does.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := dc.Close(); err != nil {
			t.Errorf("close datacenter: %v", err)
		}
	})
	return c, dc, rack, reg
}

// counter sums the samples of a counter family with label proto=proto.
func counter(t *testing.T, reg *prometheus.Registry, name, proto string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "proto" && l.GetValue() == proto {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func TestEnlistCommissionDeploy(t *testing.T) {
	const n = 20
	c, dc, rack, reg := harness(t, n)
	uploadImage(t, c, "a root filesystem, simulated")
	start := time.Now()

	// Unknown machines switched on: they enlist and switch themselves off.
	for _, m := range dc.Machines() {
		m.PowerOn()
	}
	enlisted := waitAll(t, c, dc, n, lifecycle.New, 30*time.Second)
	t.Logf("%d machines enlisted in %s", n, time.Since(start).Round(time.Millisecond))
	for _, m := range enlisted {
		if m.PowerType != "ipmi" && m.PowerType != "redfish" {
			t.Errorf("%s enlisted with power type %q", m.Hostname, m.PowerType)
		}
	}

	// Commission through the API: the region powers them on over IPMI or
	// Redfish, they PXE-boot into commissioning and report inventory.
	for _, m := range enlisted {
		c.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/commission", nil, nil, 200)
	}
	ready := waitAll(t, c, dc, n, lifecycle.Ready, 40*time.Second)
	t.Logf("%d machines Ready at %s", n, time.Since(start).Round(time.Millisecond))
	specs := map[string]simdc.Spec{}
	for _, m := range dc.Machines() {
		specs[m.Spec().Hostname] = m.Spec()
	}
	for _, m := range ready {
		s := specs[m.Hostname]
		var inv api.Inventory
		if err := json.Unmarshal(m.Inventory, &inv); err != nil {
			t.Fatalf("%s inventory: %v", m.Hostname, err)
		}
		if m.CPUCount != s.Cores || m.MemoryMiB != s.MemoryMiB || len(m.MACAddresses) != len(s.MACs) ||
			len(inv.Disks) != len(s.Disks) || inv.Disks[0].Size != s.Disks[0].Size || inv.Firmware["system_uuid"] != s.SystemUUID {
			t.Errorf("%s: region has cpu %d mem %d macs %v disks %+v fw %v; machine has %+v", m.Hostname, m.CPUCount, m.MemoryMiB,
				m.MACAddresses, inv.Disks, inv.Firmware, s)
		}
	}

	// Allocate and deploy every machine.
	for range n {
		var m api.Machine
		c.must("POST", "/api/v1/machines/allocate", api.AllocateRequest{Architecture: "amd64/generic"}, &m, 200)
		c.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/deploy", api.ActionRequest{OSystem: "ubuntu", DistroSeries: "noble"}, nil, 200)
	}
	deployed := waitAll(t, c, dc, n, lifecycle.Deployed, 40*time.Second)
	t.Logf("%d machines Deployed at %s", n, time.Since(start).Round(time.Millisecond))
	for _, m := range deployed {
		var evs []api.Event
		c.must("GET", "/api/v1/events?limit=100&system_id="+m.SystemID, nil, &evs, 200)
		types := map[string]bool{}
		for _, e := range evs {
			types[e.Type] = true
		}
		for _, want := range []string{"created", "commission", "commissioning-done", "allocate", "deploy", "installed", "deployment-done"} {
			if !types[want] {
				t.Errorf("%s: event %q missing (have %v)", m.Hostname, want, types)
			}
		}
	}
	// The provisioning timeline of every machine walks the whole flow.
	for i, m := range deployed {
		var tl api.Timeline
		c.must("GET", "/api/v1/machines/"+m.SystemID+"/timeline", nil, &tl, 200)
		var phases []string
		for _, p := range tl.Phases {
			phases = append(phases, string(p.Status))
		}
		got := strings.Join(phases, " → ")
		if want := "new → commissioning → ready → allocated → deploying → deployed"; got != want {
			t.Errorf("%s timeline %s, want %s", m.Hostname, got, want)
		}
		if i == 0 {
			for _, p := range tl.Phases {
				t.Logf("%s %-14s %8.3fs", m.Hostname, p.Status, p.DurationSeconds)
			}
		}
	}
	for _, m := range dc.Machines() {
		st := m.Status()
		if st.Phase != simdc.PhaseRunning || !st.PoweredOn || st.Err != nil {
			t.Errorf("%s: phase %s on %v err %v, want running from disk", st.Hostname, st.Phase, st.PoweredOn, st.Err)
		}
	}
	// Half the machines boot with iPXE over HTTP, half with PXELINUX over
	// TFTP: both servers carried real transfers (loader, config, kernel,
	// initrd on every network boot).
	for _, proto := range []string{"tftp", "http"} {
		if got := counter(t, reg, "ironkit_pxe_sent_bytes_total", proto); got < float64(n/2*3*(5<<20)) {
			t.Errorf("%s sent %.0f bytes, want at least three boots of kernel and initrd for %d machines", proto, got, n/2)
		}
	}
	if leases := rack.DHCP().Leases(); len(leases) < n {
		t.Errorf("%d DHCP leases, want at least %d", len(leases), n)
	}

	// Release two with disk erasure: the ephemeral environment erases and
	// they return to Ready.
	for _, m := range deployed[:2] {
		c.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/release", api.ActionRequest{Erase: true}, nil, 200)
	}
	waitAll(t, c, dc, 2, lifecycle.Ready, 30*time.Second)
}
