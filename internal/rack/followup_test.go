package rack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// adminKey creates an admin (cheap password hash) and logs in for a key.
func adminKey(t *testing.T, r *testRegion) testenv.APIClient {
	t.Helper()
	cheap := auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}
	if _, err := region.CreateAdmin(context.Background(), r.svc.Store(), cheap, "admin", "admin@example.com", "admin-password"); err != nil {
		t.Fatal(err)
	}
	c := testenv.APIClient{T: t, Base: r.url + "/api/v1"}
	var lr api.LoginReply
	if code, body := c.Do("POST", "/login", api.Login{Username: "admin", Password: "admin-password"}, &lr); code != http.StatusCreated {
		t.Fatalf("login: %d %s", code, body)
	}
	c.Key = lr.APIKey.Key
	return c
}

// machineOn creates a machine whose one interface (mac) is on vlan (0:
// unknown).
func machineOn(t *testing.T, st *store.Store, host, mac string, vlan int64, status lifecycle.Status) string {
	t.Helper()
	ctx := context.Background()
	hw, _ := net.ParseMAC(mac)
	m, err := st.CreateMachine(ctx, store.Machine{Hostname: host, Architecture: "amd64/generic",
		Interfaces: []store.Interface{{MAC: hw, VLANID: vlan}}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if status != "" {
		if _, err := st.DB().NewRaw("UPDATE machines SET status = ? WHERE system_id = ?", string(status), m.SystemID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return m.SystemID
}

func sendLeases(t *testing.T, r *testRegion, token string, evs ...rpc.LeaseEvent) {
	t.Helper()
	b, _ := json.Marshal(rpc.LeaseBatch{Events: evs})
	if code, body := call(t, "POST", r.url+"/rpc/v1/leases", token, string(b)); code != http.StatusNoContent {
		t.Fatalf("lease batch: HTTP %d %s", code, body)
	}
}

// Lease events reach IPAM: a commit is a "dhcp" address (tied to the
// machine interface with the MAC when there is one), duplicates from a
// failover partner change nothing, a MAC's new lease replaces its old one,
// release and expiry remove them; the API's address list and the machine
// show them; the rack's config revision does not move.
func TestLeaseEventsBecomeAddresses(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	st := r.svc.Store()
	a, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-lease-a", rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-lease-b", rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, subnet := dhcpNetwork(t, st, "10.95.0.0/24", a.RackID, b.RackID)
	sid := machineOn(t, st, "leaser", "52:54:00:00:30:01", 0, "")
	adm := adminKey(t, r)
	revBefore, err := r.rpc.ConfigRevision(ctx, a.RackID)
	if err != nil {
		t.Fatal(err)
	}
	addrs := func() map[string]api.IPAddress {
		var list []api.IPAddress
		if code, body := adm.Do("GET", fmt.Sprintf("/ipaddresses?subnet_id=%d", subnet), nil, &list); code != 200 {
			t.Fatalf("list addresses: %d %s", code, body)
		}
		out := map[string]api.IPAddress{}
		for _, x := range list {
			out[x.IP] = x
		}
		return out
	}
	machineIPs := func() []string {
		var m api.Machine
		if code, body := adm.Do("GET", "/machines/"+sid, nil, &m); code != 200 {
			t.Fatalf("get machine: %d %s", code, body)
		}
		return m.IPAddresses
	}
	now := time.Now().UTC()
	ev := func(seq uint64, typ, addr, mac string) rpc.LeaseEvent {
		return rpc.LeaseEvent{Seq: seq, Type: typ, Addr: netip.MustParseAddr(addr), MAC: mac, Start: now, Expiry: now.Add(time.Hour)}
	}
	// Both racks of the pair report the same commits.
	sendLeases(t, r, a.Token, ev(1, "commit", "10.95.0.110", "52:54:00:00:30:01"), ev(2, "commit", "10.95.0.111", "02:00:00:00:99:01"))
	sendLeases(t, r, b.Token, ev(1, "commit", "10.95.0.110", "52:54:00:00:30:01"), ev(2, "commit", "10.95.0.111", "02:00:00:00:99:01"))
	got := addrs()
	if len(got) != 2 || got["10.95.0.110"].AllocType != "dhcp" || got["10.95.0.110"].SystemID != sid ||
		got["10.95.0.111"].AllocType != "dhcp" || got["10.95.0.111"].SystemID != "" || !strings.Contains(got["10.95.0.111"].Comment, "02:00:00:00:99:01") {
		t.Fatalf("addresses after the commits: %+v", got)
	}
	if ips := machineIPs(); len(ips) != 1 || ips[0] != "10.95.0.110" {
		t.Fatalf("machine's addresses: %v", ips)
	}
	// A resent batch (lost reply) and a renew change nothing.
	sendLeases(t, r, a.Token, ev(1, "commit", "10.95.0.110", "52:54:00:00:30:01"), ev(3, "renew", "10.95.0.110", "52:54:00:00:30:01"))
	if got := addrs(); len(got) != 2 {
		t.Fatalf("after a resend: %+v", got)
	}
	// The machine moves to another address; the unknown client releases.
	sendLeases(t, r, a.Token, ev(4, "commit", "10.95.0.112", "52:54:00:00:30:01"), ev(5, "release", "10.95.0.111", "02:00:00:00:99:01"))
	got = addrs()
	if len(got) != 1 || got["10.95.0.112"].SystemID != sid {
		t.Fatalf("after move and release: %+v", got)
	}
	if ips := machineIPs(); len(ips) != 1 || ips[0] != "10.95.0.112" {
		t.Fatalf("machine's addresses after the move: %v", ips)
	}
	// An expiry of another MAC's lease of the address does not remove it.
	sendLeases(t, r, b.Token, ev(6, "expire", "10.95.0.112", "02:00:00:00:99:02"))
	if got := addrs(); len(got) != 1 {
		t.Fatalf("a stranger's expiry removed the lease: %+v", got)
	}
	sendLeases(t, r, b.Token, ev(7, "expire", "10.95.0.112", "52:54:00:00:30:01"))
	if got := addrs(); len(got) != 0 {
		t.Fatalf("after expiry: %+v", got)
	}
	if ips := machineIPs(); len(ips) != 0 {
		t.Fatalf("machine's addresses after expiry: %v", ips)
	}
	// Leases are reports, not config.
	revAfter, err := r.rpc.ConfigRevision(ctx, a.RackID)
	if err != nil || revAfter != revBefore {
		t.Fatalf("config revision moved with leases: %s → %s (%v)", revBefore, revAfter, err)
	}
}

func TestServesVLAN(t *testing.T) {
	vlans := []netmodel.VLAN{
		{ID: 1, DHCPOn: true, PrimaryRack: 10, SecondaryRack: 11},
		{ID: 2, RelayVLANID: 1},
		{ID: 3, DHCPOn: true, PrimaryRack: 12},
		{ID: 4, DHCPOn: false, PrimaryRack: 13},
	}
	cases := []struct {
		rack, vlan int64
		want       bool
	}{
		{10, 1, true}, {11, 1, true}, {12, 1, false},
		{10, 2, true}, {11, 2, true}, {12, 2, false},
		{12, 3, true}, {10, 3, false},
		{13, 4, false}, // DHCP off: not served
		{10, 0, true}, {12, 0, true}, {13, 0, false}, {99, 0, false},
		{10, 77, false},
	}
	for _, c := range cases {
		if got := rackrpc.ServesVLAN(vlans, c.rack, c.vlan); got != c.want {
			t.Errorf("ServesVLAN(rack %d, VLAN %d) = %v, want %v", c.rack, c.vlan, got, c.want)
		}
	}
}

// /rpc/v1/boot answers only racks serving the VLAN the machine boots on
// (primary, secondary, or the VLAN a relayed VLAN points to); with the VLAN
// unknown, a rack serving DHCP somewhere or one that leased the MAC.
func TestBootLookupOnlyFromServingRack(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	st := r.svc.Store()
	reg := func(name string) rpc.RegisterReply {
		x, err := rack.Register(ctx, []string{r.url}, r.secret, name, rack.Version, nil)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	a, b, c := reg("rack-boot-a"), reg("rack-boot-b"), reg("rack-boot-c")
	v1, _ := dhcpNetwork(t, st, "10.96.1.0/24", a.RackID, 0)
	v3, _ := dhcpNetwork(t, st, "10.96.3.0/24", b.RackID, 0)
	// VLAN 2 is relayed to VLAN 1.
	f, err := st.CreateFabric(ctx, netmodel.Fabric{Name: "f-relayed"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := st.UntaggedVLAN(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	v2.RelayVLANID = v1
	if _, err := st.UpdateVLAN(ctx, v2); err != nil {
		t.Fatal(err)
	}
	m1 := machineOn(t, st, "on-v1", "52:54:00:00:40:01", v1, lifecycle.Commissioning)
	m2 := machineOn(t, st, "on-v2", "52:54:00:00:40:02", v2.ID, lifecycle.Commissioning)
	m3 := machineOn(t, st, "on-v3", "52:54:00:00:40:03", v3, lifecycle.Commissioning)
	m0 := machineOn(t, st, "unknown-vlan", "52:54:00:00:40:04", 0, lifecycle.Commissioning)
	cases := []struct {
		rack rpc.RegisterReply
		name string
		mac  string
		sid  string
		ok   bool
	}{
		{a, "a", "52:54:00:00:40:01", m1, true},
		{a, "a", "52:54:00:00:40:02", m2, true}, // relayed to A's VLAN
		{a, "a", "52:54:00:00:40:03", m3, false},
		{b, "b", "52:54:00:00:40:01", m1, false},
		{b, "b", "52:54:00:00:40:02", m2, false},
		{b, "b", "52:54:00:00:40:03", m3, true},
		{a, "a", "52:54:00:00:40:04", m0, true}, // unknown VLAN: a rack serving DHCP
		{c, "c", "52:54:00:00:40:01", m1, false},
		{c, "c", "52:54:00:00:40:04", m0, false}, // serves nothing, leased nothing
	}
	for _, x := range cases {
		code, body := call(t, "POST", r.url+"/rpc/v1/boot", x.rack.Token, `{"mac":"`+x.mac+`"}`)
		if x.ok {
			if code != 200 || !strings.Contains(body, x.sid) || !strings.Contains(body, "ikm_") {
				t.Errorf("rack %s, %s: HTTP %d %s, want its boot data with a token", x.name, x.mac, code, body)
			}
		} else if code != http.StatusForbidden || strings.Contains(body, "ikm_") || !strings.Contains(body, "primary") {
			t.Errorf("rack %s, %s: HTTP %d %s, want 403 naming the fix", x.name, x.mac, code, body)
		}
	}
	if !strings.Contains(r.logs.String(), "boot lookup refused") {
		t.Errorf("refusals are not logged")
	}
	// Unknown MACs (enlistment) are answered to any rack: nothing to leak.
	if got := bootLookup(t, r.url, c.Token, "52:54:00:00:40:99"); got.Known {
		t.Errorf("unknown MAC: %+v", got)
	}
	// The rack that leased the MAC may answer for it.
	sendLeases(t, r, c.Token, rpc.LeaseEvent{Seq: 1, Type: "commit", Addr: netip.MustParseAddr("10.96.9.5"), MAC: "52:54:00:00:40:04",
		Start: time.Now(), Expiry: time.Now().Add(time.Hour)})
	if got := bootLookup(t, r.url, c.Token, "52:54:00:00:40:04"); got.SystemID != m0 {
		t.Errorf("after its lease, rack c: %+v", got)
	}
}

// A machine token minted for a boot stops working when the machine's
// status leaves that boot's phase: commissioning → testing keeps it,
// commissioning done (Ready) ends it; a deployment's token ends when the
// machine is Deployed. Tried through the metadata API.
func TestMachineTokenEndsWithItsPhase(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	st := r.svc.Store()
	rk, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-phase", rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	dhcpNetwork(t, st, "10.97.0.0/24", rk.RackID, 0)
	com := machineOn(t, st, "phase-com", "52:54:00:00:50:01", 0, lifecycle.Commissioning)
	tok := bootLookup(t, r.url, rk.Token, "52:54:00:00:50:01").Token
	scripts := r.url + "/api/v1/metadata/" + com + "/commissioning-scripts"
	if code, body := call(t, "GET", scripts, tok, ""); code != 200 {
		t.Fatalf("token while commissioning: %d %s", code, body)
	}
	setStatus := func(sid string, s lifecycle.Status) {
		if _, err := st.DB().NewRaw("UPDATE machines SET status = ? WHERE system_id = ?", string(s), sid).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(com, lifecycle.Testing)
	if code, body := call(t, "GET", scripts, tok, ""); code != 200 {
		t.Fatalf("commissioning token while testing (same boot): %d %s", code, body)
	}
	setStatus(com, lifecycle.Commissioning)
	// The ephemeral environment posts its results: the machine is Ready and
	// the token is spent.
	if code, body := call(t, "POST", r.url+"/api/v1/metadata/"+com+"/commissioning-result", tok, `{"inventory":{}}`); code != http.StatusNoContent {
		t.Fatalf("commissioning result: %d %s", code, body)
	}
	m, err := st.Machine(ctx, com)
	if err != nil || m.Status != lifecycle.Ready {
		t.Fatalf("after the result the machine is %v (%v), want ready", m.Status, err)
	}
	for _, u := range []string{scripts, r.url + "/api/v1/metadata/" + com + "/deploy"} {
		if code, body := call(t, "GET", u, tok, ""); code != http.StatusUnauthorized {
			t.Errorf("commissioning token on a Ready machine (%s): %d %s, want 401", u, code, body)
		}
	}
	// A deployment's token: works while deploying, not once deployed, and
	// not again if the machine were sent back to deploying (a new boot mints
	// a new token; the old one is gone).
	dep := machineOn(t, st, "phase-dep", "52:54:00:00:50:02", 0, lifecycle.Deploying)
	dtok := bootLookup(t, r.url, rk.Token, "52:54:00:00:50:02").Token
	heartbeat := r.url + "/api/v1/metadata/" + dep + "/heartbeat"
	if code, body := call(t, "POST", heartbeat, dtok, ""); code != http.StatusNoContent {
		t.Fatalf("deploy token while deploying: %d %s", code, body)
	}
	setStatus(dep, lifecycle.Deployed)
	if code, _ := call(t, "POST", heartbeat, dtok, ""); code != http.StatusUnauthorized {
		t.Errorf("deploy token on a Deployed machine: %d, want 401", code)
	}
	// Aborted back to Allocated: still refused.
	setStatus(dep, lifecycle.Allocated)
	if code, _ := call(t, "POST", heartbeat, dtok, ""); code != http.StatusUnauthorized {
		t.Errorf("deploy token on an Allocated machine: %d, want 401", code)
	}
}

// Heartbeats do not rebuild the config when nothing changed; a change
// made through the store (notified) or with plain SQL on the network tables
// (fingerprinted) moves the revision, and the rack pulls the new config.
func TestConfigRevisionCachedAndBumped(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	st := r.svc.Store()
	rk := startRack(t, []string{r.url}, r.secret, "rack-rev", nil)
	rk.ifs.set(lo("10.98.0.2/24"))
	_, subnet := dhcpNetwork(t, st, "10.98.0.0/24", rk.file.RackID, 0)
	served := func(what string, ok func(rpc.Config) bool) {
		t.Helper()
		eventually(t, 10*time.Second, what, func() bool {
			c, has := rk.svc.Config()
			return has && ok(c)
		})
	}
	served("the rack's config with its subnet", func(c rpc.Config) bool { return len(c.Subnets) == 1 })
	// Quiet: ten heartbeats (200 ms) without a rebuild.
	time.Sleep(500 * time.Millisecond)
	before := r.rpc.ConfigBuilds()
	time.Sleep(2 * time.Second)
	if n := r.rpc.ConfigBuilds() - before; n > 1 {
		t.Errorf("%d config builds during 2 s of heartbeats with nothing changed, want at most 1", n)
	}
	c0, _ := rk.svc.Config()
	if rev, err := r.rpc.ConfigRevision(ctx, rk.file.RackID); err != nil || rev != c0.Revision {
		t.Fatalf("cached revision %s (%v) differs from the served config's %s", rev, err, c0.Revision)
	}
	// A machine created through the store: announced, pulled.
	machineOn(t, st, "rev-new", "52:54:00:00:60:01", 0, "")
	served("the new machine in the rack's config", func(c rpc.Config) bool {
		for _, m := range c.Machines {
			if m.Hostname == "rev-new" {
				return c.Revision != c0.Revision
			}
		}
		return false
	})
	// A subnet edited with plain SQL (as the API backend's update does):
	// the network fingerprint moves.
	if _, err := st.DB().NewRaw("UPDATE subnets SET description = ?, updated_at = ? WHERE id = ?", "edited", time.Now().UTC().Add(time.Second), subnet).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	served("the edited subnet in the rack's config", func(c rpc.Config) bool {
		return len(c.Subnets) == 1 && c.Subnets[0].Description == "edited"
	})
	// A boot purpose change (a status transition) moves it too.
	cur, _ := rk.svc.Config()
	sid := machineOn(t, st, "rev-com", "52:54:00:00:60:02", 0, "")
	if _, err := st.Transition(ctx, sid, store.TransitionRequest{Action: lifecycle.ActionCommission, User: "admin",
		Options: lifecycle.Options{Admin: true}}); err != nil {
		t.Fatal(err)
	}
	served("the commissioning purpose in the rack's config", func(c rpc.Config) bool {
		for _, m := range c.Machines {
			if m.SystemID == sid {
				return m.Purpose == "commission" && c.Revision != cur.Revision
			}
		}
		return false
	})
}

// Operators queue sync-images and reconfigure through the REST API (admin
// only); the rack runs them; unknown racks are 404; OpenAPI lists them.
func TestRackCommandsREST(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	rk := startRack(t, []string{r.url}, r.secret, "rack-rest", nil)
	alive(t, r, rk.file.RackID)
	adm := adminKey(t, r)
	for _, c := range []struct {
		kind string
		ok   bool
		want string
	}{{"reconfigure", true, `"revision":"`}, {"sync-images", false, "image cache is off"}} {
		var cmd api.RackCommand
		code, body := adm.Do("POST", fmt.Sprintf("/racks/%d/%s", rk.file.RackID, c.kind), nil, &cmd)
		if code != http.StatusAccepted || cmd.ID == 0 || cmd.Kind != c.kind || cmd.State != "pending" {
			t.Fatalf("POST %s: %d %s", c.kind, code, body)
		}
		res, err := r.rpc.Wait(ctx, cmd.ID)
		if err != nil || res.OK != c.ok || !strings.Contains(string(res.Data)+res.Error, c.want) {
			t.Errorf("%s ran as %+v %v, want ok=%v with %q", c.kind, res, err, c.ok, c.want)
		}
	}
	if code, body := adm.Do("POST", "/racks/999/reconfigure", nil, nil); code != http.StatusNotFound || !strings.Contains(string(body), "rack 999") {
		t.Errorf("unknown rack: %d %s", code, body)
	}
	var doc map[string]any
	if code, _ := adm.Do("GET", "/openapi.json", nil, &doc); code != 200 {
		t.Fatal("openapi.json")
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range []string{"/api/v1/racks/{id}/sync-images", "/api/v1/racks/{id}/reconfigure"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("OpenAPI lacks %s", p)
		}
	}
}
