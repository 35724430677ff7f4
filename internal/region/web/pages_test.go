package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
	"github.com/ironkit/ironkit/internal/rpc"
)

// apiAs calls the region's API handler in-process (setup for page tests).
func apiAs(t *testing.T, h http.Handler, key, method, path string, body, out any) {
	t.Helper()
	if err := callAPI(h, key, method, path, body, out); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// callAPI runs one API request through h as key.
func callAPI(h http.Handler, key, method, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, rec.Code, rec.Body)
	}
	if out != nil {
		return json.Unmarshal(rec.Body.Bytes(), out)
	}
	return nil
}

func TestControllersNetworksBoot(t *testing.T) {
	svc, base := startRegion(t, &fakePower{}, 0)
	ctx := context.Background()
	rack1, tok1, err := svc.Backend().RegisterRack(ctx, "rack-one", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	rack2, _, err := svc.Backend().RegisterRack(ctx, "rack-two", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	var lr api.LoginReply
	h := svc.Handler()
	apiAs(t, h, "", "POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &lr)
	key := lr.APIKey.Key
	var f api.Fabric
	apiAs(t, h, key, "POST", "/api/v1/fabrics", api.Fabric{Name: "fabric-lab"}, &f)
	var v api.VLAN
	apiAs(t, h, key, "POST", "/api/v1/vlans", api.VLAN{FabricID: f.ID, VID: 42, Name: "provisioning", MTU: 1500}, &v)
	apiAs(t, h, key, "POST", "/api/v1/subnets", api.Subnet{Name: "prov", VLANID: v.ID, CIDR: "10.42.0.0/24", GatewayIP: "10.42.0.1"}, nil)
	v.DHCPOn, v.PrimaryRack, v.SecondaryRack = true, rack1.ID, rack2.ID
	apiAs(t, h, key, "PATCH", "/api/v1/vlans/"+itoa(v.ID), v, &v)

	// rack-one sends a heartbeat through the rack RPC: its services'
	// health and a rogue DHCP server it saw.
	heartbeat(t, svc, tok1, "10.77.0.2:41000", rpc.Heartbeat{Version: "0.2.0", ConfigRevision: "rev-abc123",
		Services: []rpc.ServiceHealth{
			{Name: "dhcpd", Status: rpc.ServiceRunning, Info: "serving 1 VLAN"},
			{Name: "tftp", Status: rpc.ServiceDead, Info: "bind :69: address in use"},
		},
		RogueDHCP: []netip.Addr{netip.MustParseAddr("10.77.0.66")}})

	b := newBrowser(t, base)
	b.login("admin", "admin-password")
	code, body := b.get("/ui/networks")
	for _, want := range []string{"fabric-lab", "provisioning", "10.42.0.0/24", "DHCP on", "rack-one", "rack-two"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("networks page lacks %q (HTTP %d)", want, code)
		}
	}
	code, body = b.get("/ui/controllers")
	for _, want := range []string{"rack-one", "rack-two", "Never connected", "(this region)", "0.1.0", "0.2.0",
		// rack-one's reported address, last contact and services as text.
		"<code>10.77.0.2</code>", "last contact", "rev-abc123",
		// A dead service makes a rack in contact Degraded, not Healthy.
		`<span class="badge bad">Degraded</span>`, "1 service(s) dead or degraded",
		`<span class="svc-name">dhcpd</span>: <span class="badge ok">running</span> — serving 1 VLAN`,
		`<span class="svc-name">tftp</span>: <span class="badge bad">dead</span> — bind :69: address in use`,
		// The rogue DHCP server is flagged in an alert and in the row.
		`role="alert" id="rogue-dhcp"`, "Warning: rogue DHCP server detected", "Rack rack-one saw: <code>10.77.0.66</code>",
		`<strong class="rogue-flag">Warning: rogue DHCP</strong> <code>10.77.0.66</code>`,
		// rack-two has not reported.
		"no heartbeat with service health yet"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("controllers page lacks %q (HTTP %d)", want, code)
		}
	}
	if !regexp.MustCompile(`<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<br>last contact`).MatchString(body) {
		t.Error("controllers page does not show when rack-one was last seen")
	}
	if t.Failed() {
		t.Logf("controllers page:\n%s", body)
	}

	// Import from a mirror directory that is not one: the failure shows.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a mirror"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.get("/ui/boot-resources")
	code, body = b.post("/ui/boot-resources/import", map[string][]string{"source": {dir}})
	if code != 200 || !strings.Contains(body, "Import") {
		t.Fatalf("import: %d", code)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body = b.get("/ui/boot-resources/import.json")
		if code == 200 && strings.Contains(body, `"running":false`) && strings.Contains(body, dir) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("import did not finish: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body = b.get("/ui/boot-resources")
	if code != 200 || !strings.Contains(body, `<progress id="import-progress"`) || !strings.Contains(body, dir) {
		t.Fatalf("boot resources page after the import: %d\n%s", code, body)
	}
}

// heartbeat records a rack heartbeat the way rackd sends it: through the
// rack RPC's handler (in-process, from the given reported address).
func heartbeat(t *testing.T, svc *region.Service, token, from string, hb rpc.Heartbeat) {
	t.Helper()
	srv, err := rackrpc.New(rackrpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Attach(svc.Store(), nil)
	defer srv.Stop()
	data, _ := json.Marshal(hb)
	req := httptest.NewRequest("POST", rpc.PathHeartbeat, bytes.NewReader(data))
	req.RemoteAddr = from
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("heartbeat: HTTP %d: %s", rec.Code, rec.Body)
	}
}

// TestVLANDHCPForm: an administrator turns DHCP on for a VLAN and picks
// its racks through a confirmation step; the API's validation errors show
// on the form; forged and non-admin posts change nothing.
func TestVLANDHCPForm(t *testing.T) {
	svc, base := startRegion(t, &fakePower{}, 0)
	createUser(t, svc, "alice")
	ctx := context.Background()
	rack1, _, err := svc.Backend().RegisterRack(ctx, "rack-one", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	rack2, _, err := svc.Backend().RegisterRack(ctx, "rack-two", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	var lr api.LoginReply
	h := svc.Handler()
	apiAs(t, h, "", "POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &lr)
	key := lr.APIKey.Key
	var f api.Fabric
	apiAs(t, h, key, "POST", "/api/v1/fabrics", api.Fabric{Name: "fabric-lab"}, &f)
	var v api.VLAN
	apiAs(t, h, key, "POST", "/api/v1/vlans", api.VLAN{FabricID: f.ID, VID: 42, Name: "provisioning", MTU: 1500}, &v)
	vlan := func() api.VLAN {
		t.Helper()
		var cur api.VLAN
		apiAs(t, h, key, "GET", "/api/v1/vlans/"+itoa(v.ID), nil, &cur)
		return cur
	}
	page := "/ui/networks/vlans/" + itoa(v.ID) + "/dhcp"
	r1, r2 := itoa(rack1.ID), itoa(rack2.ID)

	b := newBrowser(t, base)
	b.login("admin", "admin-password")
	if code, body := b.get("/ui/networks"); code != 200 || !strings.Contains(body, `href="`+page+`"`) {
		t.Fatalf("networks page has no DHCP link for the admin: %d", code)
	}
	code, body := b.get(page)
	for _, want := range []string{`<label for="dhcp_on">`, `<label for="primary_rack">`, `<label for="secondary_rack">`,
		`<option value="` + r1 + `">rack-one (id ` + r1 + `)</option>`, `<option value="` + r2 + `">rack-two (id ` + r2 + `)</option>`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("DHCP form lacks %q (HTTP %d)", want, code)
		}
	}

	// Forged tokens are refused before anything happens.
	for _, tok := range []string{"", "not-the-token"} {
		code, body := b.do("POST", page, url.Values{"csrf": {tok}, "confirm": {"yes"}, "dhcp_on": {"on"}, "primary_rack": {r1}})
		if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("token %q: HTTP %d", tok, code)
		}
	}
	if cur := vlan(); cur.DHCPOn || cur.PrimaryRack != 0 {
		t.Fatalf("a forged form changed the VLAN: %+v", cur)
	}

	// The API's validation errors show on the form, with what was entered.
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"dhcp without a primary", url.Values{"dhcp_on": {"on"}, "primary_rack": {""}, "secondary_rack": {""}},
			"DHCP needs a rack to serve it: set primary_rack, or turn dhcp_on off"},
		{"primary = secondary", url.Values{"dhcp_on": {"on"}, "primary_rack": {r1}, "secondary_rack": {r1}},
			"same rack as primary_rack: choose a different rack or clear secondary_rack"},
	} {
		b.get(page)
		tc.form.Set("confirm", "yes")
		code, body := b.post(page, tc.form)
		if code != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "DHCP not changed") ||
			!strings.Contains(body, tc.want) || !strings.Contains(body, `id="vlan-dhcp"`) {
			t.Errorf("%s: HTTP %d\n%s", tc.name, code, body)
		}
	}
	if cur := vlan(); cur.DHCPOn || cur.PrimaryRack != 0 || cur.SecondaryRack != 0 {
		t.Fatalf("an invalid form changed the VLAN: %+v", cur)
	}

	// Review first: the confirmation page changes nothing.
	b.get(page)
	code, body = b.post(page, url.Values{"dhcp_on": {"on"}, "primary_rack": {r1}, "secondary_rack": {r2}})
	if code != 200 || !strings.Contains(body, `id="vlan-dhcp-confirm"`) ||
		!strings.Contains(body, "Change VLAN 42 to: DHCP <strong>on</strong>") || !strings.Contains(body, "rack-two (id "+r2+")") {
		t.Fatalf("confirmation page: %d\n%s", code, body)
	}
	if cur := vlan(); cur.DHCPOn {
		t.Fatal("the confirmation page already changed the VLAN")
	}
	code, body = b.post(page, url.Values{"confirm": {"yes"}, "dhcp_on": {"on"}, "primary_rack": {r1}, "secondary_rack": {r2}})
	if code != 200 || !strings.Contains(body, "VLAN 42: DHCP is now on; primary rack rack-one") || !strings.Contains(body, `id="vlans"`) {
		t.Fatalf("apply: %d\n%s", code, body)
	}
	if cur := vlan(); !cur.DHCPOn || cur.PrimaryRack != rack1.ID || cur.SecondaryRack != rack2.ID {
		t.Fatalf("VLAN after apply: %+v", cur)
	}
	// And off again, clearing the secondary.
	b.get(page)
	b.post(page, url.Values{"primary_rack": {r1}, "secondary_rack": {""}})
	if code, body := b.post(page, url.Values{"confirm": {"yes"}, "primary_rack": {r1}, "secondary_rack": {""}}); code != 200 ||
		!strings.Contains(body, "DHCP is now off") {
		t.Fatalf("turn off: %d\n%s", code, body)
	}
	if cur := vlan(); cur.DHCPOn || cur.PrimaryRack != rack1.ID || cur.SecondaryRack != 0 {
		t.Fatalf("VLAN after turning DHCP off: %+v", cur)
	}

	// A non-admin sees no form and cannot post one.
	a := newBrowser(t, base)
	a.login("alice", "alice-password")
	if code, body := a.get("/ui/networks"); code != 200 || strings.Contains(body, "Change DHCP") || !strings.Contains(body, "provisioning") {
		t.Errorf("alice's networks page: %d, offers the change: %v", code, strings.Contains(body, "Change DHCP"))
	}
	if code, body := a.get(page); code != http.StatusForbidden || strings.Contains(body, `id="vlan-dhcp"`) {
		t.Errorf("alice opens the DHCP form: HTTP %d", code)
	}
	if code, body := a.post(page, url.Values{"confirm": {"yes"}, "dhcp_on": {"on"}, "primary_rack": {r2}}); code != http.StatusForbidden ||
		!strings.Contains(body, "Only an administrator") {
		t.Errorf("alice posts the DHCP form: HTTP %d\n%s", code, body)
	}
	if cur := vlan(); cur.DHCPOn || cur.PrimaryRack != rack1.ID {
		t.Fatalf("a non-admin changed the VLAN: %+v", cur)
	}
}

// Two regions on one database: the controllers page of either lists both
// with hostname, address, version, last seen and health as text.
func TestControllersListRegions(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "shared.db")
	_, base := startRegionOn(t, dsn, &fakePower{}, 0, true)
	_, base2 := startRegionOn(t, dsn, &fakePower{}, 0, false)
	b := newBrowser(t, base2)
	b.login("admin", "admin-password")
	host, _ := os.Hostname()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var code int
		code, body = b.get("/ui/controllers")
		if code == 200 && strings.Count(body, "data-region-id=") == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	a1, a2 := strings.TrimPrefix(base, "http://"), strings.TrimPrefix(base2, "http://")
	for _, want := range []string{"<td>" + host + "</td><td><code>" + a1 + "</code></td><td>0.1.0</td>",
		"<td>" + host + " (this region)</td><td><code>" + a2 + "</code></td><td>0.1.0</td>",
		`<span class="badge ok">Alive</span>`, " ago</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("controllers page lacks %q", want)
		}
	}
	if n := strings.Count(body, `<span class="badge ok">Alive</span>`); n != 2 {
		t.Errorf("controllers page shows %d alive regions, want 2", n)
	}
	if !regexp.MustCompile(`<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<br>\d+s ago</td>`).MatchString(body) {
		t.Error("controllers page does not show when a region was last seen")
	}
	if t.Failed() {
		t.Logf("controllers page:\n%s", body)
	}
}
