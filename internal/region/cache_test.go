package region

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// notifyDelay bounds how long a change made on one region may take to show
// on another (a PostgreSQL NOTIFY, on a loaded 2-core test machine).
const notifyDelay = 3 * time.Second

// within is eventually with a tight bound; it logs how long it took.
func within(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	start := time.Now()
	for {
		if f() {
			t.Logf("%s: after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawGet returns the status and body of a GET.
func rawGet(t *testing.T, c client, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Two regions with caches and one without on one PostgreSQL. Every kind of
// write on region A that changes what a machine shows is seen at once on A
// (its own write) and on B within the notification delay; B's replies are
// byte for byte those of the uncached region C; visibility per user stays
// exact.
func TestCacheFollowsOtherRegion(t *testing.T) {
	dsn := freshPostgres(t)
	ctx := context.Background()
	noJobs := func(c *config.Config) { c.Jobs.Disabled = true }
	svcA, a := startRegion(t, dsn, nil, noJobs)
	svcB, b := startRegion(t, dsn, nil, noJobs)
	_, c := startRegionWith(t, dsn, Options{Hasher: cheap, NoCache: true}, noJobs)
	if svcA.Cache() == nil || svcB.Cache() == nil {
		t.Fatal("regions without a cache")
	}
	st := svcA.Store()
	if _, err := CreateAdmin(ctx, st, cheap, "admin", "", "admin-password"); err != nil {
		t.Fatal(err)
	}
	var login api.LoginReply
	a.must("POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &login, 201)
	a, b, c = a.as(login.APIKey.Key), b.as(login.APIKey.Key), c.as(login.APIKey.Key)
	eventually(t, "both caches on", func() bool {
		_, liveA := svcA.Store().ChangesState()
		_, liveB := svcB.Store().ChangesState()
		return liveA && liveB
	})

	f, err := st.CreateFabric(ctx, netmodel.Fabric{Name: "fab-cache"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.UntaggedVLAN(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := st.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: netip.MustParsePrefix("10.66.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	var tag api.Tag
	a.must("POST", "/api/v1/tags", api.Tag{Name: "gpu"}, &tag, 201)
	a.must("POST", "/api/v1/zones", api.Zone{Name: "z2"}, nil, 201)

	var m api.Machine
	a.must("POST", "/api/v1/machines", api.MachineCreate{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:ca:00:01"}}, &m, 201)
	id := m.SystemID
	path := "/api/v1/machines/" + id
	get := func(cl client) api.Machine {
		var out api.Machine
		cl.must("GET", path, nil, &out, 200)
		return out
	}
	get(b)
	h0, _ := svcB.Cache().Stats()
	get(b)
	if h1, _ := svcB.Cache().Stats(); h1 <= h0 {
		t.Fatalf("region B answered a repeated GET from the database (cache hits %d → %d)", h0, h1)
	}
	// step makes a change on A, checks A shows it at once and B within the
	// notification delay, and that B's bytes are C's.
	step := func(what string, change func(), shows func(api.Machine) bool) {
		t.Helper()
		get(b) // cached on B before the change
		change()
		if !shows(get(a)) {
			t.Fatalf("%s: region A does not show its own write at once: %+v", what, get(a))
		}
		within(t, notifyDelay, what+" seen on region B", func() bool { return shows(get(b)) })
		if _, bb := rawGet(t, b, path); func() string { _, cb := rawGet(t, c, path); return cb }() != bb {
			t.Fatalf("%s: region B's bytes differ from the uncached region's", what)
		}
	}
	step("hostname", func() {
		a.must("PATCH", path, map[string]any{"hostname": "cached-1"}, nil, 200)
	}, func(m api.Machine) bool { return m.Hostname == "cached-1" })
	step("tags", func() {
		a.must("PATCH", path, map[string]any{"tags": []string{"gpu"}}, nil, 200)
	}, func(m api.Machine) bool { return slices.Equal(m.Tags, []string{"gpu"}) })
	step("details", func() {
		a.must("PATCH", path, map[string]any{"cpu_count": 64, "memory_mib": 4096}, nil, 200)
	}, func(m api.Machine) bool { return m.CPUCount == 64 && m.MemoryMiB == 4096 })
	step("power parameters", func() {
		a.must("PATCH", path, map[string]any{"power_type": "ipmi", "power_parameters": map[string]string{
			"host": "127.0.0.1", "username": "admin", "password": "secret"}}, nil, 200)
	}, func(m api.Machine) bool {
		_, leaked := m.PowerParameters["password"]
		return m.PowerType == "ipmi" && m.PowerParameters["host"] == "127.0.0.1" && !leaked
	})
	step("zone", func() {
		a.must("PATCH", path, map[string]any{"zone": "z2"}, nil, 200)
	}, func(m api.Machine) bool { return m.Zone == "z2" })
	step("mark-broken (a transition)", func() {
		a.must("POST", path+"/actions/mark-broken", nil, nil, 200)
	}, func(m api.Machine) bool { return m.Status == lifecycle.Broken })
	var addr netmodel.StaticAddress
	step("address claimed", func() {
		var err error
		addr, err = st.AllocateIP(ctx, sn.ID, store.AllocRequest{Type: netmodel.AllocSticky, InterfaceID: mustMachine(t, st, id).Interfaces[0].ID})
		if err != nil {
			t.Fatal(err)
		}
	}, func(m api.Machine) bool { return slices.Contains(m.IPAddresses, addr.Addr.String()) })
	step("address released", func() {
		if err := st.ReleaseIP(ctx, addr.ID); err != nil {
			t.Fatal(err)
		}
	}, func(m api.Machine) bool { return len(m.IPAddresses) == 0 })
	step("tag renamed", func() {
		a.must("PATCH", fmt.Sprintf("/api/v1/tags/%d", tag.ID), api.Tag{Name: "gpu2"}, nil, 200)
	}, func(m api.Machine) bool { return slices.Equal(m.Tags, []string{"gpu2"}) })
	step("power state", func() {
		if err := svcA.Backend().RecordPowerState(ctx, id, jobs.StateOn); err != nil {
			t.Fatal(err)
		}
	}, func(m api.Machine) bool { return m.PowerState == string(jobs.StateOn) })

	// The list on B follows too, and is C's bytes.
	var page api.MachinePage
	b.must("GET", "/api/v1/machines", nil, &page, 200)
	if len(page.Machines) != 1 || page.Machines[0].Hostname != "cached-1" || page.Machines[0].Status != lifecycle.Broken {
		t.Fatalf("list on B: %+v", page.Machines)
	}
	if _, lb := rawGet(t, b, "/api/v1/machines?limit=1"); func() string { _, lc := rawGet(t, c, "/api/v1/machines?limit=1"); return lc }() != lb {
		t.Fatal("region B's list bytes differ from the uncached region's")
	}

	// Visibility per user: alice owns an imported machine, bob does not.
	for _, u := range []string{"alice", "bob"} {
		a.must("POST", "/api/v1/users", api.UserCreate{Username: u, Password: u + "-password-1"}, nil, 201)
	}
	var own api.Machine
	a.must("POST", "/api/v1/machines", api.MachineCreate{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:ca:00:02"},
		Status: lifecycle.Deployed, Owner: "alice"}, &own, 201)
	keyOf := func(u string) string {
		var lr api.LoginReply
		b.must("POST", "/api/v1/login", api.Login{Username: u, Password: u + "-password-1"}, &lr, 201)
		return lr.APIKey.Key
	}
	alice, bob := b.as(keyOf("alice")), b.as(keyOf("bob"))
	for range 2 { // the second time from the cache
		alice.must("GET", "/api/v1/machines/"+own.SystemID, nil, nil, 200)
		bob.must("GET", "/api/v1/machines/"+own.SystemID, nil, nil, 404)
		bob.must("GET", path, nil, nil, 404) // New, not bob's
		var pa, pb api.MachinePage
		alice.must("GET", "/api/v1/machines", nil, &pa, 200)
		bob.must("GET", "/api/v1/machines", nil, &pb, 200)
		if len(pa.Machines) != 1 || pa.Machines[0].SystemID != own.SystemID || len(pb.Machines) != 0 {
			t.Fatalf("alice sees %d machines, bob %d", len(pa.Machines), len(pb.Machines))
		}
		_, ab := rawGet(t, alice, "/api/v1/machines/"+own.SystemID)
		_, ac := rawGet(t, c.as(alice.key), "/api/v1/machines/"+own.SystemID)
		if ab != ac {
			t.Fatalf("alice's view differs from the uncached region's:\n%s\n%s", ab, ac)
		}
	}
	// A deleted machine is gone on B within the delay.
	a.must("DELETE", path, nil, nil, 204)
	within(t, notifyDelay, "deleted machine gone on B", func() bool { return b.do("GET", path, nil, nil) == 404 })
	// A user deleted on A loses every key on B.
	var users []api.User
	a.must("GET", "/api/v1/users", nil, &users, 200)
	for _, u := range users {
		if u.Username == "bob" {
			a.must("DELETE", fmt.Sprintf("/api/v1/users/%d", u.ID), nil, nil, 204)
		}
	}
	within(t, notifyDelay, "deleted user's key fails on B", func() bool { return bob.do("GET", "/api/v1/machines", nil, nil) == 401 })
}

func mustMachine(t *testing.T, st *store.Store, id string) *store.Machine {
	t.Helper()
	m, err := st.Machine(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// On deploy, an interface with no VLAN gets an address on the subnet it is
// seen on (an address row it holds, or a DHCP lease a rack reported for its
// MAC); one seen nowhere gets none.
func TestClaimIPsWithoutVLAN(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		svc, _ := startRegion(t, dsn, nil, func(c *config.Config) { c.Jobs.Disabled = true })
		st := svc.Store()
		f, err := st.CreateFabric(ctx, netmodel.Fabric{Name: "fab-claim"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := st.UntaggedVLAN(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		sn, err := st.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: netip.MustParsePrefix("10.67.0.0/24")})
		if err != nil {
			t.Fatal(err)
		}
		sn2, err := st.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: netip.MustParsePrefix("10.68.0.0/24")})
		if err != nil {
			t.Fatal(err)
		}
		mk := func(mac string) *store.Machine {
			m, err := st.CreateMachine(ctx, store.Machine{Architecture: "amd64/generic",
				Interfaces: []store.Interface{{MAC: mustMAC(t, mac)}}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		claim := func(m *store.Machine) []netip.Addr {
			addrs, err := svc.Backend().JobMachines().ClaimIPs(ctx, m.SystemID)
			if err != nil {
				t.Fatal(err)
			}
			return addrs
		}
		// Seen through a discovered address on the second subnet.
		m1 := mk("52:54:00:c1:00:01")
		if _, err := st.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn2.ID, Addr: netip.MustParseAddr("10.68.0.200"),
			AllocType: netmodel.AllocDiscovered, InterfaceID: m1.Interfaces[0].ID}); err != nil {
			t.Fatal(err)
		}
		if got := claim(m1); len(got) != 1 || !sn2.CIDR.Contains(got[0]) {
			t.Fatalf("interface seen on %s claimed %v", sn2.CIDR, got)
		}
		if again := claim(m1); len(again) != 1 {
			t.Fatalf("a second claim gave %v: the first one is the claim", again)
		}
		// Seen through a DHCP lease reported by a rack.
		m2 := mk("52:54:00:c1:00:02")
		_, _, err = svc.Backend().RegisterRack(ctx, "rack-claim", "0.1.0")
		if err != nil {
			t.Fatal(err)
		}
		var rackID int64
		if err := st.DB().NewSelect().Table("racks").Column("id").Where("name = ?", "rack-claim").Scan(ctx, &rackID); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if _, err := st.DB().NewRaw(`INSERT INTO rack_lease_events (rack_id, seq, type, addr, mac, hostname, subnet, start_at, expiry)
			VALUES (?, 1, 'commit', '10.67.0.150', '52:54:00:c1:00:02', '', '10.67.0.0/24', ?, ?)`, rackID, now, now.Add(time.Hour)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if got := claim(m2); len(got) != 1 || !sn.CIDR.Contains(got[0]) {
			t.Fatalf("interface leased in %s claimed %v", sn.CIDR, got)
		}
		// Seen nowhere: nothing to claim in.
		if got := claim(mk("52:54:00:c1:00:03")); len(got) != 0 {
			t.Fatalf("interface on no known subnet claimed %v", got)
		}
	})
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}
