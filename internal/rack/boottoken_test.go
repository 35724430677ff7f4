package rack_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

// machineIn creates a machine with one interface and puts it in status st.
func machineIn(t *testing.T, st *store.Store, host, mac string, status lifecycle.Status) string {
	t.Helper()
	ctx := context.Background()
	hw, _ := net.ParseMAC(mac)
	m, err := st.CreateMachine(ctx, store.Machine{Hostname: host, Architecture: "amd64/generic",
		Interfaces: []store.Interface{{MAC: hw}}}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().NewRaw("UPDATE machines SET status = ? WHERE system_id = ?", string(status), m.SystemID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return m.SystemID
}

// call sends one HTTP request with an optional bearer token.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bootLookup(t *testing.T, regionURL, rackToken, mac string) rpc.BootReply {
	t.Helper()
	code, body := call(t, "POST", regionURL+"/rpc/v1/boot", rackToken, `{"mac":"`+mac+`"}`)
	if code != http.StatusOK {
		t.Fatalf("boot lookup for %s: HTTP %d %s", mac, code, body)
	}
	var r rpc.BootReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("boot lookup reply %s: %v", body, err)
	}
	return r
}

func TestBootLookupMachineToken(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	reply, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-tok", rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := r.svc.Store()
	// Only a rack serving DHCP answers for machines (their VLAN unknown).
	dhcpNetwork(t, st, "10.99.1.0/24", reply.RackID, 0)
	cases := []struct {
		status  lifecycle.Status
		purpose string
		token   bool
	}{
		{lifecycle.Commissioning, "commission", true},
		{lifecycle.Testing, "commission", true},
		{lifecycle.DiskErasing, "commission", true},
		{lifecycle.Deploying, "deploy", true},
		{lifecycle.EnteringRescueMode, "rescue", true},
		{lifecycle.RescueMode, "rescue", true},
		{lifecycle.Ready, "poweroff", false},
		{lifecycle.New, "poweroff", false},
		{lifecycle.Deployed, "local", false},
		{lifecycle.Allocated, "local", false},
		{lifecycle.Broken, "local", false},
	}
	sids := map[lifecycle.Status]string{}
	tokens := map[lifecycle.Status]string{}
	for i, c := range cases {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0x10, byte(i + 1)}.String()
		sid := machineIn(t, st, "tok-"+string(c.status), mac, c.status)
		sids[c.status] = sid
		got := bootLookup(t, r.url, reply.Token, mac)
		if !got.Known || got.SystemID != sid || got.Purpose != c.purpose {
			t.Errorf("%s: lookup %+v, want known %s purpose %s", c.status, got.BootMachine, sid, c.purpose)
		}
		if hasTok := strings.HasPrefix(got.Token, "ikm_"); hasTok != c.token {
			t.Errorf("%s: token present %v, want %v", c.status, hasTok, c.token)
		}
		if c.token && got.MetadataPath != "/api/v1/metadata/"+sid {
			t.Errorf("%s: metadata path %q", c.status, got.MetadataPath)
		}
		if got.Token != "" {
			tokens[c.status] = got.Token
		}
	}

	// An unknown MAC enlists: no machine, no token.
	if got := bootLookup(t, r.url, reply.Token, "52:54:00:00:99:99"); got.Known || got.Token != "" {
		t.Errorf("unknown MAC: %+v", got)
	}

	// Only an authenticated rack gets boot data.
	if code, _ := call(t, "POST", r.url+"/rpc/v1/boot", "", `{"mac":"52:54:00:00:10:01"}`); code != http.StatusUnauthorized {
		t.Errorf("boot lookup without a rack token: HTTP %d, want 401", code)
	}
	if code, _ := call(t, "POST", r.url+"/rpc/v1/boot", tokens[lifecycle.Testing], `{"mac":"52:54:00:00:10:01"}`); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("boot lookup with a machine token: HTTP %d, want 401 or 403", code)
	}

	// The token reaches its own machine's metadata API and no other.
	com, dep := sids[lifecycle.Commissioning], sids[lifecycle.Deploying]
	tok := tokens[lifecycle.Commissioning]
	if code, body := call(t, "GET", r.url+"/api/v1/metadata/"+com+"/commissioning-scripts", tok, ""); code != http.StatusOK {
		t.Errorf("own metadata with the boot token: HTTP %d %s", code, body)
	}
	if code, _ := call(t, "GET", r.url+"/api/v1/metadata/"+dep+"/commissioning-scripts", tok, ""); code != http.StatusForbidden {
		t.Errorf("another machine's metadata with the boot token: HTTP %d, want 403", code)
	}

	// A new boot rotates the token: the old one stops working.
	again := bootLookup(t, r.url, reply.Token, "52:54:00:00:10:01")
	if again.Token == "" || again.Token == tok {
		t.Fatalf("second lookup did not mint a new token")
	}
	if code, _ := call(t, "GET", r.url+"/api/v1/metadata/"+com+"/commissioning-scripts", tok, ""); code != http.StatusUnauthorized {
		t.Errorf("rotated-out token: HTTP %d, want 401", code)
	}
	if code, _ := call(t, "GET", r.url+"/api/v1/metadata/"+com+"/commissioning-scripts", again.Token, ""); code != http.StatusOK {
		t.Errorf("rotated-in token: HTTP %d, want 200", code)
	}

	// The config pull carries no token, and no token is ever logged.
	code, cfg := call(t, "GET", r.url+"/rpc/v1/config", reply.Token, "")
	if code != http.StatusOK || strings.Contains(cfg, "ikm_") || !strings.Contains(cfg, com) {
		t.Errorf("config pull: HTTP %d, has token %v", code, strings.Contains(cfg, "ikm_"))
	}
	logs := r.logs.String()
	for st, tok := range tokens {
		if strings.Contains(logs, tok) {
			t.Errorf("%s machine's token is in the region's log", st)
		}
	}
	if strings.Contains(logs, again.Token) || strings.Contains(logs, "ikm_") {
		t.Errorf("a machine token is in the region's log")
	}
}

func TestRackRendersMachineToken(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	st := r.svc.Store()
	sid := machineIn(t, st, "node-c", "52:54:00:00:20:01", lifecycle.Commissioning)
	machineIn(t, st, "node-r", "52:54:00:00:20:02", lifecycle.Ready)
	machineIn(t, st, "node-c2", "52:54:00:00:20:03", lifecycle.Commissioning)
	rk := startRack(t, []string{r.url}, r.secret, "rack-render", func(c *rack.Config) { c.File.HTTPURL = "http://127.0.0.1:5248" })
	dhcpNetwork(t, st, "10.99.2.0/24", rk.file.RackID, 0)
	var addr string
	eventually(t, 10*time.Second, "the rack's HTTP boot server", func() bool {
		for _, h := range rk.svc.Health() {
			if h.Name == "http-boot" && h.Status == "running" {
				addr = h.Info
				return true
			}
		}
		return false
	})
	script := func(mac string) string {
		code, body := call(t, "GET", "http://"+addr+"/ipxe/boot.ipxe?mac="+mac+"&buildarch=x86_64&platform=pcbios", "", "")
		if code != http.StatusOK {
			t.Fatalf("iPXE script for %s: HTTP %d %s\nrack log:\n%s", mac, code, body, rk.logs)
		}
		return body
	}
	com := script("52:54:00:00:20:01")
	if !strings.Contains(com, "ironkit.token=ikm_") || !strings.Contains(com, "ironkit.metadata_url="+r.url+"/api/v1/metadata/"+sid) {
		t.Fatalf("commissioning machine's iPXE script lacks its token or metadata URL:\n%s", com)
	}
	// A second fetch within one boot sees the same token.
	if again := script("52:54:00:00:20:01"); again != com {
		t.Errorf("re-fetched script differs (token not reused within a boot):\n%s\n---\n%s", com, again)
	}
	tok := com[strings.Index(com, "ironkit.token=")+len("ironkit.token="):]
	tok = strings.Fields(tok)[0]
	if code, body := call(t, "GET", r.url+"/api/v1/metadata/"+sid+"/commissioning-scripts", tok, ""); code != http.StatusOK {
		t.Errorf("the rendered token on the metadata API: HTTP %d %s", code, body)
	}
	if rdy := script("52:54:00:00:20:02"); strings.Contains(rdy, "ironkit.token") {
		t.Errorf("ready machine's script carries a token:\n%s", rdy)
	}
	if strings.Contains(rk.logs.String(), tok) || strings.Contains(r.logs.String(), tok) {
		t.Errorf("the machine token is in a log")
	}

	// With no region the rack still boots a known machine as its cached
	// config says, without a token.
	eventually(t, 10*time.Second, "the rack's config with the machines", func() bool {
		c, ok := rk.svc.Config()
		return ok && len(c.Machines) == 3
	})
	r.stop()
	off := script("52:54:00:00:20:03")
	if !strings.Contains(off, "ironkit.purpose=commission") || strings.Contains(off, "ironkit.token") {
		t.Errorf("regionless render for a commissioning machine:\n%s\nrack log:\n%s", off, rk.logs)
	}
	if !strings.Contains(rk.logs.String(), "boot lookup failed") {
		t.Errorf("regionless boot lookup not logged")
	}
}
