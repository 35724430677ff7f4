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

	"go.uber.org/goleak"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
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
	// secret is the region's rack shared secret.
	secret string
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
func startRegion(t *testing.T) client { return newRegion(t, false) }

// newRegion runs a region on SQLite on a loopback port, with the rack RPC
// (/rpc/v1, power through racks) when withRacks, and returns an
// administrator's client.
func newRegion(t *testing.T, withRacks bool) client {
	t.Helper()
	cfg := config.Default()
	cfg.Database = filepath.Join(t.TempDir(), "region.db")
	cfg.ImagesDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Jobs.SweepInterval = config.Duration(time.Second)
	ctx := context.Background()
	hasher := auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}
	opts := region.Options{Hasher: hasher, Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelError}))}
	var svc *region.Service
	var rpcSrv *rackrpc.Server
	var err error
	if withRacks {
		svc, rpcSrv, err = rackrpc.OpenRegion(ctx, cfg, opts, rackrpc.Config{PollInterval: 20 * time.Millisecond, NoAddressProbe: true})
	} else {
		svc, err = region.Open(ctx, cfg, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	var secret string
	if withRacks {
		if _, err := region.Init(ctx, svc.Store()); err != nil {
			t.Fatal(err)
		}
		if secret, err = region.RackSecret(ctx, svc.Store()); err != nil {
			t.Fatal(err)
		}
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
		if rpcSrv != nil {
			rpcSrv.Stop()
		}
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
	c.secret = secret
	return c
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

// harness runs a region, a registered rack (rack.Service in-process,
// talking to the region over HTTP only) and n simulated machines.
func harness(t *testing.T, n int) (client, *simdc.Datacenter, *rack.Service) {
	c := newRegion(t, true)
	dc, err := simdc.New(simdc.Config{Machines: n, WorkTime: 100 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fail := func(err error) {
		cancel()
		dc.Close()
		t.Fatal(err)
	}
	f, err := simdc.RegisterRack(ctx, simdc.RackConfig{Regions: []string{c.base}, Secret: c.secret, StateDir: t.TempDir(), RelayPort: dc.RelayPort()})
	if err != nil {
		fail(err)
	}
	f.HeartbeatInterval = "200ms"
	if err := simdc.SetupRegion(ctx, c.base, c.key, simdc.RegionSetup{RackID: f.RackID, ImageSize: 1 << 20}); err != nil {
		fail(err)
	}
	svc, err := rack.New(rack.Config{File: f, Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelError})),
		PollWait: 2 * time.Second})
	if err != nil {
		fail(err)
	}
	sim, err := simdc.RackOf(f)
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := svc.Run(ctx); err != nil {
			t.Errorf("rack: %v", err)
		}
	}()
	if err := simdc.WaitRack(ctx, c.base, c.key, f, 30*time.Second); err != nil {
		cancel()
		wg.Wait()
		dc.Close()
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := dc.Run(ctx, sim); err != nil {
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
	return c, dc, svc
}

func TestEnlistCommissionDeploy(t *testing.T) {
	const n = 20
	c, dc, rk := harness(t, n)
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
	// Half the machines boot with iPXE, half with PXELINUX: every network
	// boot fetched its loader or script, its config, the kernel and the
	// initrd from the rack (enlist, commission, deploy: at least three).
	fetched := map[simdc.Firmware]int64{}
	for _, m := range dc.Machines() {
		fetched[m.Spec().Firmware] += m.Status().Fetched
	}
	for _, fw := range []simdc.Firmware{simdc.FirmwareIPXE, simdc.FirmwarePXELINUX} {
		if got := fetched[fw]; got < int64(n/2*3*(5<<20)) {
			t.Errorf("%s machines fetched %d bytes, want at least three boots of kernel and initrd for %d machines", fw, got, n/2)
		}
	}
	leases := 0
	for _, srv := range rk.DHCPServers() {
		leases += len(srv.Leases())
	}
	if leases < n {
		t.Errorf("%d DHCP leases on the rack, want at least %d", leases, n)
	}

	// Release two with disk erasure: the ephemeral environment erases and
	// they return to Ready.
	for _, m := range deployed[:2] {
		c.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/release", api.ActionRequest{Erase: true}, nil, 200)
	}
	waitAll(t, c, dc, 2, lifecycle.Ready, 30*time.Second)
}
