package region

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

var cheap = auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}

type recPower struct {
	mu  sync.Mutex
	ops map[string][]string
}

func (p *recPower) Power(_ context.Context, id string, r jobs.PowerRequest) (jobs.PowerState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	op := string(r.Op)
	if r.PXE {
		op += "+pxe"
	}
	p.ops[id] = append(p.ops[id], op)
	if r.Op == jobs.PowerOff {
		return jobs.StateOff, nil
	}
	if r.Op == jobs.PowerQuery {
		return jobs.StateOff, nil
	}
	return jobs.StateOn, nil
}

func (p *recPower) of(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.ops[id], ",")
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c client) as(key string) client { c.key = key; return c }

func (c client) do(method, path string, body, out any) int {
	c.t.Helper()
	// An *api.Error receives the error reply; anything else a 2xx reply.
	apiErr, isErr := out.(*api.Error)
	if isErr {
		out = nil
	}
	code, data := testenv.APIClient{T: c.t, Base: c.base, Key: c.key}.Do(method, path, body, out)
	if code >= 300 && isErr {
		_ = json.Unmarshal(data, apiErr)
	}
	return code
}

func (c client) must(method, path string, body, out any, want int) {
	c.t.Helper()
	var e api.Error
	if out == nil {
		out = &e
	}
	if got := c.do(method, path, body, out); got != want {
		c.t.Fatalf("%s %s: HTTP %d, want %d (%+v)", method, path, got, want, e)
	}
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func startRegion(t *testing.T, dsn string, pw jobs.PowerExecutor, tweak ...func(*config.Config)) (*Service, client) {
	t.Helper()
	return startRegionWith(t, dsn, Options{Power: pw, Hasher: cheap}, tweak...)
}

func startRegionWith(t *testing.T, dsn string, o Options, tweak ...func(*config.Config)) (*Service, client) {
	t.Helper()
	cfg := config.Default()
	for _, f := range tweak {
		f(&cfg)
	}
	cfg.Database = dsn
	cfg.Listen = "127.0.0.1:0"
	cfg.Jobs.SweepInterval = config.Duration(time.Second)
	if cfg.ImagesDir == config.Default().ImagesDir {
		cfg.ImagesDir = t.TempDir()
	}
	ctx := context.Background()
	svc, err := Open(ctx, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(rctx, ln) }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		svc.Close()
	})
	return svc, client{t: t, base: "http://" + ln.Addr().String()}
}

func backends(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "region.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, freshPostgres(t)) })
}

func TestMachineLifeOverHTTP(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		pw := &recPower{ops: map[string][]string{}}
		svc, c := startRegion(t, dsn, pw)
		created, err := Init(ctx, svc.Store())
		secret, _ := RackSecret(ctx, svc.Store())
		if err != nil || !created || len(secret) != 32 {
			t.Fatalf("init secret %q %v %v", secret, created, err)
		}
		again, _ := Init(ctx, svc.Store())
		if s2, _ := RackSecret(ctx, svc.Store()); again || s2 != secret {
			t.Fatal("init replaced an existing secret")
		}
		if _, err := CreateAdmin(ctx, svc.Store(), cheap, "admin", "admin@example.com", "admin-password"); err != nil {
			t.Fatal(err)
		}
		if _, err := CreateAdmin(ctx, svc.Store(), cheap, "admin", "", "admin-password"); err == nil {
			t.Fatal("duplicate admin accepted")
		}
		var login api.LoginReply
		c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
		admin := c.as(login.APIKey.Key)
		for _, u := range []string{"alice", "bob"} {
			admin.must("POST", "/api/v1/users", api.UserCreate{Username: u, Password: u + "-password"}, nil, 201)
		}
		c.must("POST", "/api/v1/login", api.Login{Username: "alice", Password: "alice-password"}, &login, 201)
		alice := c.as(login.APIKey.Key)
		c.must("POST", "/api/v1/login", api.Login{Username: "bob", Password: "bob-password"}, &login, 201)
		bob := c.as(login.APIKey.Key)

		// Enlist (anonymous), then give it a BMC.
		var m api.Machine
		c.must("POST", "/api/v1/metadata/enlist", api.Enlist{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:aa:00:01"},
			PowerType: "ipmi", PowerParameters: map[string]string{"power_address": "10.0.0.9", "power_user": "root", "power_pass": "hunter2"}}, &m, 201)
		id := m.SystemID
		admin.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
		if m.Status != lifecycle.New || m.PowerParameters["power_address"] != "10.0.0.9" {
			t.Fatalf("enlisted: %+v", m)
		}
		var raw json.RawMessage
		admin.must("GET", "/api/v1/machines/"+id, nil, &raw, 200)
		if bytes.Contains(raw, []byte("hunter2")) {
			t.Fatalf("BMC password in API response: %s", raw)
		}
		if bob.do("GET", "/api/v1/machines/"+id, nil, nil) != 404 {
			t.Fatal("a user sees a New machine")
		}

		// Commission: power on with PXE, then results through a machine token.
		admin.must("POST", "/api/v1/machines/"+id+"/actions/commission", nil, &m, 200)
		if m.Status != lifecycle.Commissioning || m.Deadline == nil {
			t.Fatalf("commission: %+v", m)
		}
		eventually(t, "commissioning PXE boot", func() bool { return strings.Contains(pw.of(id), "on+pxe") })
		var tok api.MachineToken
		admin.must("POST", "/api/v1/machines/"+id+"/token", nil, &tok, 201)
		mc := c.as(tok.Token)
		var scripts []api.Script
		mc.must("GET", "/api/v1/metadata/"+id+"/commissioning-scripts", nil, &scripts, 200)
		if len(scripts) == 0 {
			t.Fatal("no commissioning scripts")
		}
		mc.must("POST", "/api/v1/metadata/"+id+"/heartbeat", nil, nil, 204)
		if mc.do("GET", "/api/v1/machines/"+id, nil, nil) != 403 {
			t.Fatal("machine token reached the user API")
		}
		mc.must("POST", "/api/v1/metadata/"+id+"/commissioning-result", api.CommissioningResult{Inventory: api.Inventory{
			CPU: api.InventoryCPU{Count: 8, Model: "Xeon"}, MemoryMiB: 16384,
			Disks:    []api.InventoryDisk{{Name: "nvme0n1", Size: 1 << 40}},
			NICs:     []api.InventoryNIC{{Name: "eno1", MAC: "52:54:00:aa:00:01"}, {Name: "eno2", MAC: "52:54:00:aa:00:02"}},
			Firmware: map[string]string{"system_uuid": "4c4c4544-0032"}}}, nil, 204)
		admin.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
		if m.Status != lifecycle.Ready || m.CPUCount != 8 || m.MemoryMiB != 16384 || len(m.MACAddresses) != 2 || !bytes.Contains(m.Inventory, []byte("4c4c4544")) {
			t.Fatalf("after commissioning: %+v", m)
		}

		// Allocate by constraints, deploy, signal.
		var e api.Error
		if alice.do("POST", "/api/v1/machines/allocate", api.AllocateRequest{MinCPUCount: 16}, &e) != 409 {
			t.Fatalf("impossible constraint allocated: %+v", e)
		}
		alice.must("POST", "/api/v1/machines/allocate", api.AllocateRequest{MinCPUCount: 4, MinMemoryMiB: 8192, Architecture: "amd64/generic"}, &m, 200)
		if m.SystemID != id || m.Owner != "alice" || m.Status != lifecycle.Allocated {
			t.Fatalf("allocate: %+v", m)
		}
		if bob.do("GET", "/api/v1/machines/"+id, nil, nil) != 404 || bob.do("POST", "/api/v1/machines/"+id+"/actions/release", nil, nil) != 404 {
			t.Fatal("another user sees alice's machine")
		}
		// The image the deployment installs: a custom upload.
		req, _ := http.NewRequest("PUT", c.base+"/api/v1/boot-resources/ubuntu/amd64/generic/noble/generic/20261121/root.tar.xz?complete=true",
			strings.NewReader("not really a root filesystem"))
		req.Header.Set("Authorization", "Bearer "+admin.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("upload: %v %v", resp, err)
		}
		resp.Body.Close()
		alice.must("POST", "/api/v1/machines/"+id+"/actions/deploy", api.ActionRequest{OSystem: "ubuntu", DistroSeries: "noble", UserData: "#cloud-config\npackages: [htop]\n"}, &m, 200)
		if m.Status != lifecycle.Deploying {
			t.Fatalf("deploy: %+v", m)
		}
		eventually(t, "deploy PXE boot", func() bool { return strings.Count(pw.of(id), "+pxe") == 2 })
		var di api.DeployInstructions
		mc.must("GET", "/api/v1/metadata/"+id+"/deploy", nil, &di, 200)
		if !strings.Contains(di.UserData, "htop") || !strings.Contains(di.MetaData, id) || di.DiskLayout.BootDisk != "nvme0n1" ||
			di.ImageSHA256 == "" || !bytes.Contains(di.NetworkConfig, []byte("52:54:00:aa:00:02")) {
			t.Fatalf("deploy instructions: %+v %s", di, di.NetworkConfig)
		}
		// The path of the image in a rack's image cache (what the rack's
		// HTTP boot server serves once synced): the set's key and the file.
		if di.ImagePath != "ubuntu/amd64/generic/noble/generic/root.tar.xz" {
			t.Fatalf("deploy instructions: image_path %q, want ubuntu/amd64/generic/noble/generic/root.tar.xz", di.ImagePath)
		}
		// The fallback when the rack lacks it: the machine downloads the
		// image anonymously from the region.
		resp, err = http.Get(di.ImageURL)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(img) != "not really a root filesystem" {
			t.Fatalf("image download %s: %d %q", di.ImageURL, resp.StatusCode, img)
		}
		mc.must("POST", "/api/v1/metadata/"+id+"/signal", api.Signal{Status: "installed"}, nil, 204)
		mc.must("POST", "/api/v1/metadata/"+id+"/signal", api.Signal{Status: "booted"}, nil, 204)
		alice.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
		if m.Status != lifecycle.Deployed {
			t.Fatalf("after booted: %s", m.Status)
		}
		// 409 with status, action and allowed actions.
		if code := alice.do("POST", "/api/v1/machines/"+id+"/actions/commission", nil, &e); code != 403 && code != 409 {
			t.Fatalf("commission deployed: %d %+v", code, e)
		}
		if admin.do("POST", "/api/v1/machines/"+id+"/actions/mark-fixed", nil, &e) != 409 || e.MachineStatus != lifecycle.Deployed || len(e.AllowedActions) == 0 {
			t.Fatalf("invalid transition: %+v", e)
		}

		// Release: the job powers off and the machine is Ready again.
		alice.must("POST", "/api/v1/machines/"+id+"/actions/release", nil, &m, 200)
		eventually(t, "release to Ready", func() bool {
			admin.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
			return m.Status == lifecycle.Ready
		})
		var evs []api.Event
		admin.must("GET", "/api/v1/events?system_id="+id+"&limit=100", nil, &evs, 200)
		types := map[string]bool{}
		for _, ev := range evs {
			types[ev.Type] = true
		}
		for _, want := range []string{"created", "commission", "commissioning-done", "allocate", "deploy", "installed", "deployment-done", "release", "release-done"} {
			if !types[want] {
				t.Errorf("event %q missing from %v", want, types)
			}
		}

		// Rescue mode and back.
		admin.must("POST", "/api/v1/machines/"+id+"/actions/rescue-mode", nil, &m, 200)
		if m.Status != lifecycle.EnteringRescueMode {
			t.Fatalf("rescue-mode: %s", m.Status)
		}
		mc.must("POST", "/api/v1/metadata/"+id+"/signal", api.Signal{Status: "booted"}, nil, 204)
		admin.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
		if m.Status != lifecycle.RescueMode {
			t.Fatalf("after rescue booted: %s", m.Status)
		}
		admin.must("POST", "/api/v1/machines/"+id+"/actions/exit-rescue-mode", nil, &m, 200)
		eventually(t, "rescue exited", func() bool {
			admin.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
			return m.Status == lifecycle.Ready
		})
		if !strings.HasSuffix(pw.of(id), "cycle") {
			t.Errorf("exit rescue did not power cycle: %s", pw.of(id))
		}

		// Deadline: a commissioning machine that never reports fails.
		admin.must("POST", "/api/v1/machines/"+id+"/actions/commission", nil, &m, 200)
		if err := svc.Store().SetDeadline(ctx, id, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deadline sweep", func() bool {
			admin.must("GET", "/api/v1/machines/"+id, nil, &m, 200)
			return m.Status == lifecycle.FailedCommissioning
		})
	})
}

func TestNetworksImportAndPagination(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		svc, c := startRegion(t, dsn, &recPower{ops: map[string][]string{}})
		if _, err := CreateAdmin(ctx, svc.Store(), cheap, "admin", "", "admin-password"); err != nil {
			t.Fatal(err)
		}
		var login api.LoginReply
		c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
		admin := c.as(login.APIKey.Key)

		var f api.Fabric
		admin.must("POST", "/api/v1/fabrics", api.Fabric{Name: "lab"}, &f, 201)
		var v api.VLAN
		admin.must("POST", "/api/v1/vlans", api.VLAN{FabricID: f.ID, VID: 10, Name: "prov"}, &v, 201)
		var e api.Error
		if admin.do("PATCH", fmt.Sprintf("/api/v1/vlans/%d", v.ID), map[string]any{"dhcp_on": true, "primary_rack": 99}, &e) != 400 || e.Field != "primary_rack" {
			t.Fatalf("vlan with unknown rack: %+v", e)
		}
		rack, _, err := svc.Backend().RegisterRack(ctx, "rack-1", "0.1.0")
		if err != nil {
			t.Fatal(err)
		}
		admin.must("PATCH", fmt.Sprintf("/api/v1/vlans/%d", v.ID), map[string]any{"dhcp_on": true, "primary_rack": rack.ID}, &v, 200)
		if !v.DHCPOn || v.PrimaryRack != rack.ID || v.VID != 10 {
			t.Fatalf("vlan update: %+v", v)
		}
		var sn api.Subnet
		admin.must("POST", "/api/v1/subnets", api.Subnet{VLANID: v.ID, CIDR: "10.55.0.0/24", GatewayIP: "10.55.0.1", DNSServers: []string{"10.55.0.1"}}, &sn, 201)
		if admin.do("POST", "/api/v1/subnets", api.Subnet{VLANID: v.ID, CIDR: "10.55.0.0/33"}, &e) != 400 || e.Field != "cidr" {
			t.Fatalf("bad cidr: %+v", e)
		}
		admin.must("POST", "/api/v1/ipranges", api.IPRange{SubnetID: sn.ID, Type: "dynamic", StartIP: "10.55.0.100", EndIP: "10.55.0.199"}, nil, 201)
		var ip api.IPAddress
		admin.must("POST", "/api/v1/ipaddresses", api.IPReserve{SubnetID: sn.ID}, &ip, 201)
		if a := netip.MustParseAddr(ip.IP); !netip.MustParsePrefix("10.55.0.0/24").Contains(a) {
			t.Fatalf("reserved %s", ip.IP)
		}
		admin.must("DELETE", fmt.Sprintf("/api/v1/ipaddresses/%d", ip.ID), nil, nil, 204)

		// Import an already-deployed machine: Deployed at once, never powered.
		var m api.Machine
		if admin.do("POST", "/api/v1/machines", api.MachineCreate{Hostname: "legacy", Architecture: "amd64/generic",
			MACAddresses: []string{"52:54:00:bb:00:01"}, Status: lifecycle.Deployed, Owner: "admin",
			IPAddresses: []string{"10.55.0.20"}, PowerType: "ipmi", PowerParameters: map[string]string{"power_address": "10.0.0.20"}}, &e) != 400 ||
			e.Field != "power_parameters" || !strings.Contains(e.Message, "power_address") {
			t.Fatalf("bad power parameters: %+v", e)
		}
		if admin.do("POST", "/api/v1/machines", api.MachineCreate{Hostname: "legacy", Architecture: "amd64/generic",
			MACAddresses: []string{"52:54:00:bb:00:01"}, PowerType: "teleport"}, &e) != 400 || e.Field != "power_type" {
			t.Fatalf("bad power type: %+v", e)
		}
		admin.must("POST", "/api/v1/machines", api.MachineCreate{Hostname: "legacy", Architecture: "amd64/generic",
			MACAddresses: []string{"52:54:00:bb:00:01"}, Status: lifecycle.Deployed, Owner: "admin",
			IPAddresses: []string{"10.55.0.20"}, PowerType: "ipmi",
			PowerParameters: map[string]string{"host": "10.0.0.20", "username": "root", "password": "hunter2"}}, &m, 201)
		if _, leaked := m.PowerParameters["password"]; leaked || m.PowerParameters["host"] != "10.0.0.20" {
			t.Fatalf("power parameters shown: %v", m.PowerParameters)
		}
		if m.Status != lifecycle.Deployed || len(m.IPAddresses) != 1 || m.IPAddresses[0] != "10.55.0.20" {
			t.Fatalf("import: %+v", m)
		}

		// Tags and a page walk.
		admin.must("POST", "/api/v1/tags", api.Tag{Name: "gpu"}, nil, 201)
		for i := range 5 {
			admin.must("POST", "/api/v1/machines", api.MachineCreate{Architecture: "amd64/generic",
				MACAddresses: []string{fmt.Sprintf("52:54:00:cc:00:%02x", i)}}, &m, 201)
		}
		tags := []string{"gpu"}
		var tagged api.Machine
		admin.must("PATCH", "/api/v1/machines/"+m.SystemID, api.MachineUpdate{Tags: &tags}, &tagged, 200)
		if len(tagged.Tags) != 1 || tagged.Tags[0] != "gpu" {
			t.Fatalf("tags after update: %v", tagged.Tags)
		}
		var page api.MachinePage
		admin.must("GET", "/api/v1/machines?tag=gpu", nil, &page, 200)
		if len(page.Machines) != 1 || page.Machines[0].SystemID != m.SystemID {
			t.Fatalf("tag filter: %+v", page)
		}
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			page = api.MachinePage{}
			admin.must("GET", "/api/v1/machines?limit=2&cursor="+cursor, nil, &page, 200)
			for _, pm := range page.Machines {
				if seen[pm.SystemID] {
					t.Fatalf("machine %s on two pages", pm.SystemID)
				}
				seen[pm.SystemID] = true
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != 6 {
			t.Fatalf("pages held %d machines, want 6", len(seen))
		}
		admin.must("GET", "/api/v1/machines?mac=52:54:00:bb:00:01", nil, &page, 200)
		if len(page.Machines) != 1 || page.Machines[0].Hostname != "legacy" {
			t.Fatalf("mac filter: %+v", page)
		}
		// Secrets.
		if err := SetRackSecret(ctx, svc.Store(), "abc"); err == nil {
			t.Fatal("short secret accepted")
		}
		if err := SetRackSecret(ctx, svc.Store(), strings.Repeat("ab", 16)); err != nil {
			t.Fatal(err)
		}
		if s, _ := RackSecret(ctx, svc.Store()); s != strings.Repeat("ab", 16) {
			t.Fatalf("secret %q", s)
		}
	})
}

func TestBootResourceImportWithProgress(t *testing.T) {
	ctx := context.Background()
	mirror := t.TempDir()
	dir := filepath.Join(mirror, "ubuntu", "amd64", "generic", "noble", "generic", "20261121")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"boot-kernel": 1 << 16, "boot-initrd": 1 << 17, "root.tar.xz": 1 << 18} {
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{byte(size)}, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := images.BuildMirror(ctx, mirror, time.Now()); err != nil {
		t.Fatal(err)
	}
	svc, c := startRegion(t, filepath.Join(t.TempDir(), "region.db"), &recPower{ops: map[string][]string{}})
	if _, err := CreateAdmin(ctx, svc.Store(), cheap, "admin", "", "admin-password"); err != nil {
		t.Fatal(err)
	}
	var login api.LoginReply
	c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
	admin := c.as(login.APIKey.Key)
	var st api.ImportStatus
	admin.must("POST", "/api/v1/boot-resources/import", api.ImportRequest{Source: mirror}, &st, 202)
	if !st.Running {
		t.Fatalf("import status %+v", st)
	}
	eventually(t, "import done", func() bool {
		st = api.ImportStatus{}
		admin.must("GET", "/api/v1/boot-resources/import", nil, &st, 200)
		return !st.Running
	})
	if st.Error != "" || st.Sets != 1 || st.Files != 3 || st.Done != st.Total || st.Total != 1<<16+1<<17+1<<18 || len(st.Progress) != 3 {
		t.Fatalf("import result %+v", st)
	}
	var rs []api.BootResource
	admin.must("GET", "/api/v1/boot-resources", nil, &rs, 200)
	if len(rs) != 1 || !rs[0].Complete || rs[0].Release != "noble" || len(rs[0].Files) != 3 {
		t.Fatalf("resources %+v", rs)
	}
}

func TestKeysRevokeAndTokenScopes(t *testing.T) {
	ctx := context.Background()
	svc, c := startRegion(t, filepath.Join(t.TempDir(), "region.db"), &recPower{ops: map[string][]string{}})
	if _, err := CreateAdmin(ctx, svc.Store(), cheap, "admin", "", "admin-password"); err != nil {
		t.Fatal(err)
	}
	var login api.LoginReply
	c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
	admin := c.as(login.APIKey.Key)
	var k api.APIKey
	admin.must("POST", "/api/v1/users/me/api-keys", api.APIKeyCreate{Name: "ci"}, &k, 201)
	ci := c.as(k.Key)
	ci.must("GET", "/api/v1/users/me", nil, nil, 200)
	admin.must("DELETE", fmt.Sprintf("/api/v1/users/me/api-keys/%d", k.ID), nil, nil, 204)
	if code := ci.do("GET", "/api/v1/users/me", nil, nil); code != 401 {
		t.Fatalf("revoked key still works on this region: %d", code)
	}
	var keys []api.APIKey
	admin.must("GET", "/api/v1/users/me/api-keys", nil, &keys, 200)
	if len(keys) != 2 || keys[1].Revoked == nil {
		t.Fatalf("keys %+v", keys)
	}
	_, rackTok, err := svc.Backend().RegisterRack(ctx, "rack-a", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if code := c.as(rackTok).do("GET", "/api/v1/machines", nil, nil); code != 403 {
		t.Fatalf("rack token on the user API: %d", code)
	}
	if code := c.do("GET", "/api/v1/machines", nil, nil); code != 401 {
		t.Fatalf("anonymous list: %d", code)
	}
	var m api.Machine
	admin.must("POST", "/api/v1/machines", api.MachineCreate{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:dd:00:01"}}, &m, 201)
	var other api.Machine
	admin.must("POST", "/api/v1/machines", api.MachineCreate{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:dd:00:02"}}, &other, 201)
	var tok api.MachineToken
	admin.must("POST", "/api/v1/machines/"+m.SystemID+"/token", nil, &tok, 201)
	if code := c.as(tok.Token).do("POST", "/api/v1/metadata/"+other.SystemID+"/heartbeat", nil, nil); code != 403 {
		t.Fatalf("machine token on another machine: %d", code)
	}
	c.as(tok.Token).must("POST", "/api/v1/metadata/"+m.SystemID+"/heartbeat", nil, nil, 204)
	// Deleting the machine kills its token.
	admin.must("DELETE", "/api/v1/machines/"+m.SystemID, nil, nil, 204)
	var n int
	if err := svc.Store().DB().NewSelect().Table("machine_tokens").ColumnExpr("count(*)").Scan(ctx, &n); err != nil || n != 0 {
		t.Fatalf("machine tokens left after delete: %d %v", n, err)
	}
}

// Two regions share one database: the API-only one takes the action, the
// other one works the job. Jobs are rows, not one process's memory.
func TestTwoRegionsShareJobs(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		pw := &recPower{ops: map[string][]string{}}
		apiOnly, c := startRegion(t, dsn, pw, func(c *config.Config) { c.Jobs.Disabled = true })
		_, c2 := startRegion(t, dsn, pw)
		if _, err := CreateAdmin(ctx, apiOnly.Store(), cheap, "admin", "", "admin-password"); err != nil {
			t.Fatal(err)
		}
		var login api.LoginReply
		c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
		admin := c.as(login.APIKey.Key)
		var m api.Machine
		admin.must("POST", "/api/v1/machines", api.MachineCreate{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:ee:00:01"}}, &m, 201)
		admin.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/commission", nil, &m, 200)
		eventually(t, "the other region boots the machine", func() bool { return strings.Contains(pw.of(m.SystemID), "+pxe") })

		// A key revoked on one region stops working on the other as soon
		// as the change notification arrives (PostgreSQL caches keys and
		// drops them on the notification; SQLite caches nothing).
		var k api.APIKey
		admin.must("POST", "/api/v1/users/me/api-keys", api.APIKeyCreate{Name: "ci"}, &k, 201)
		c2.as(k.Key).must("GET", "/api/v1/machines/"+m.SystemID, nil, nil, 200)
		c2.as(k.Key).must("GET", "/api/v1/machines/"+m.SystemID, nil, nil, 200)
		admin.must("DELETE", fmt.Sprintf("/api/v1/users/me/api-keys/%d", k.ID), nil, nil, 204)
		within(t, notifyDelay, "the key revoked on one region fails on the other", func() bool {
			return c2.as(k.Key).do("GET", "/api/v1/machines/"+m.SystemID, nil, nil) == 401
		})
	})
}

// Two regions on one PostgreSQL share boot-resource metadata through the
// store; the bytes stay in each region's images_dir. An upload to one region
// is listed by the other at once, and its change notification makes the
// other copy the bytes from its peer well before the periodic check (one
// minute) would.
func TestTwoRegionsShareBootResources(t *testing.T) {
	ctx := context.Background()
	dsn := freshPostgres(t)
	pw := &recPower{ops: map[string][]string{}}
	a, c := startRegion(t, dsn, pw, func(c *config.Config) { c.Jobs.Disabled = true })
	dirB := t.TempDir()
	_, cb := startRegionWith(t, dsn, Options{Power: pw, Hasher: cheap, ImagePeers: []string{c.base}},
		func(c *config.Config) { c.ImagesDir = dirB })
	if _, err := CreateAdmin(ctx, a.Store(), cheap, "admin", "", "admin-password"); err != nil {
		t.Fatal(err)
	}
	var login api.LoginReply
	c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
	adminA, adminB := c.as(login.APIKey.Key), cb.as(login.APIKey.Key)

	content := "a custom root image uploaded to region A"
	req, _ := http.NewRequest("PUT", c.base+"/api/v1/boot-resources/custom/amd64/generic/mine/generic/1/root.img?complete=true",
		strings.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+adminA.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("upload to region A: %v %v", resp, err)
	}
	resp.Body.Close()

	var rs []api.BootResource
	adminB.must("GET", "/api/v1/boot-resources", nil, &rs, 200)
	if len(rs) != 1 || !rs[0].Complete || rs[0].Name != "custom/amd64/generic/mine/generic" || len(rs[0].Files) != 1 {
		t.Fatalf("region B lists %+v; want the complete set uploaded to region A", rs)
	}
	sum := rs[0].Files[0].SHA256
	blob := filepath.Join(dirB, "blobs", "sha256", sum[:2], sum)
	eventually(t, "region B copies the bytes from region A", func() bool {
		b, err := os.ReadFile(blob)
		return err == nil && string(b) == content
	})
}

// A region that kept boot-resource metadata in images_dir/catalog.json moves
// it into the database on Open, once.
func TestAdoptFileCatalog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fc, err := images.OpenFileCatalog(filepath.Join(dir, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	key := images.Key{OS: "ubuntu", Release: "noble", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	set := images.Set{Key: key, Version: "20261121", Type: images.Synced, Complete: true, CompletedAt: time.Unix(1000, 0).UTC(),
		Files: []images.File{{Name: "boot-kernel", SHA256: strings.Repeat("ab", 32), Size: 5}}}
	if err := fc.PutSet(ctx, set); err != nil {
		t.Fatal(err)
	}
	svc, _ := startRegion(t, filepath.Join(t.TempDir(), "region.db"), &recPower{ops: map[string][]string{}},
		func(c *config.Config) { c.ImagesDir = dir })
	got, err := svc.Store().BootResources().GetSet(ctx, key, "20261121")
	if err != nil || !got.Complete || !got.CompletedAt.Equal(set.CompletedAt) || len(got.Files) != 1 || got.Files[0] != set.Files[0] {
		t.Fatalf("store has %+v, %v; want %+v", got, err, set)
	}
	if _, err := os.Stat(filepath.Join(dir, "catalog.json")); !os.IsNotExist(err) {
		t.Fatalf("catalog.json still there (%v); want it renamed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "catalog.json.imported")); err != nil {
		t.Fatal(err)
	}
}

// Two regions on one database both register themselves and both are listed
// by either; a region whose last_seen is old is listed as not alive.
func TestTwoRegionsListed(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		pw := &recPower{ops: map[string][]string{}}
		a, c := startRegion(t, dsn, pw, func(c *config.Config) { c.Jobs.Disabled = true })
		_, c2 := startRegion(t, dsn, pw)
		if _, err := CreateAdmin(ctx, a.Store(), cheap, "admin", "", "admin-password"); err != nil {
			t.Fatal(err)
		}
		var login api.LoginReply
		c.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
		admin := c2.as(login.APIKey.Key)
		var regions []api.Region
		eventually(t, "both regions registered", func() bool {
			regions = nil
			admin.must("GET", "/api/v1/regions", nil, &regions, 200)
			return len(regions) == 2
		})
		host, _ := os.Hostname()
		addrs := map[string]bool{}
		for _, r := range regions {
			if r.Hostname != host || r.Version != Version || !r.Alive || r.LastSeen.IsZero() || r.StartedAt.IsZero() {
				t.Errorf("region listed wrongly: %+v (want hostname %q, version %s, alive)", r, host, Version)
			}
			addrs[r.Address] = true
		}
		if !addrs[strings.TrimPrefix(c.base, "http://")] || !addrs[strings.TrimPrefix(c2.base, "http://")] {
			t.Errorf("regions list addresses %v, want both listen addresses %s and %s", addrs, c.base, c2.base)
		}
		// A user (not only admins) may read the list.
		var user api.User
		c.as(login.APIKey.Key).must("POST", "/api/v1/users", api.UserCreate{Username: "alice", Password: "alice-password"}, &user, 201)
		var ul api.LoginReply
		c.must("POST", "/api/v1/login", api.Login{Username: "alice", Password: "alice-password"}, &ul, 201)
		c.as(ul.APIKey.Key).must("GET", "/api/v1/regions", nil, nil, 200)

		// A region not seen for 3 minutes is not alive.
		if _, err := a.Store().DB().NewUpdate().Table("regions").Set("last_seen = ?", time.Now().UTC().Add(-3*time.Minute)).
			Where("id = ?", regions[0].ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		regions = nil
		admin.must("GET", "/api/v1/regions", nil, &regions, 200)
		if len(regions) != 2 || regions[0].Alive || !regions[1].Alive {
			t.Errorf("after region %d went quiet: %+v, want it not alive and the other alive", regions[0].ID, regions)
		}
	})
}
