package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/power/powersim"
	"github.com/ironkit/ironkit/store"
)

// wd is a minimal W3C WebDriver client over net/http (chromedriver).
type wd struct {
	t       *testing.T
	base    string
	session string
	hc      *http.Client
	shots   string
	n       int
}

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

func (d *wd) cmd(method, path string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	url := d.base + path
	if d.session != "" && !strings.HasPrefix(path, "/session") {
		url = d.base + "/session/" + d.session + path
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("webdriver %s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("webdriver %s %s: HTTP %d: %s", method, path, resp.StatusCode, out.Value)
	}
	return out.Value, nil
}

func (d *wd) must(method, path string, body any) json.RawMessage {
	d.t.Helper()
	v, err := d.cmd(method, path, body)
	if err != nil {
		d.shot("failure")
		d.t.Fatal(err)
	}
	return v
}

func (d *wd) open(path string) { d.t.Helper(); d.must("POST", "/url", map[string]string{"url": path}) }

func (d *wd) find(css string) (string, error) {
	v, err := d.cmd("POST", "/element", map[string]string{"using": "css selector", "value": css})
	if err != nil {
		return "", err
	}
	var el map[string]string
	if err := json.Unmarshal(v, &el); err != nil {
		return "", fmt.Errorf("find %q: %s", css, v)
	}
	if id := el[elementKey]; id != "" {
		return id, nil
	}
	return el["ELEMENT"], nil // chromedriver's legacy (JSON wire) mode
}

// wait finds the element, retrying until it appears.
func (d *wd) wait(css string, timeout time.Duration) string {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		id, err := d.find(css)
		if err == nil && id != "" {
			return id
		}
		if time.Now().After(deadline) {
			d.shot("failure")
			v, err2 := d.cmd("POST", "/element", map[string]string{"using": "css selector", "value": css})
			d.t.Logf("last answer: %s %v", v, err2)
			d.t.Fatalf("no element %q after %v: %v", css, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *wd) click(css string) {
	d.t.Helper()
	d.must("POST", "/element/"+d.wait(css, 10*time.Second)+"/click", map[string]any{})
}

func (d *wd) typeInto(css, text string) {
	d.t.Helper()
	id := d.wait(css, 10*time.Second)
	d.must("POST", "/element/"+id+"/clear", map[string]any{})
	d.must("POST", "/element/"+id+"/value", map[string]string{"text": text})
}

func (d *wd) text(css string) string {
	d.t.Helper()
	var s string
	_ = json.Unmarshal(d.must("GET", "/element/"+d.wait(css, 10*time.Second)+"/text", nil), &s)
	return s
}

func (d *wd) exec(script string, out any) {
	d.t.Helper()
	v := d.must("POST", "/execute/sync", map[string]any{"script": script, "args": []any{}})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			d.t.Fatalf("script result %s: %v", v, err)
		}
	}
}

func (d *wd) shot(name string) {
	v, err := d.cmd("GET", "/screenshot", nil)
	if err != nil {
		d.t.Logf("screenshot %s: %v", name, err)
		return
	}
	var b64 string
	_ = json.Unmarshal(v, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		d.t.Logf("screenshot %s: %v", name, err)
		return
	}
	d.n++
	p := filepath.Join(d.shots, fmt.Sprintf("%02d-%s.png", d.n, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		d.t.Logf("screenshot %s: %v", name, err)
	}
}

// unlabelled counts visible form controls without a label.
const unlabelled = `return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.name);`

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startBrowser(t *testing.T) *wd {
	testenv.RequireBinaries(t, "chromium", "chromedriver")
	shots := os.Getenv("IRONKIT_TEST_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	} else {
		shots = filepath.Join(shots, "web-e2e")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", shots)
	port := freePort(t)
	testenv.Start(t, exec.Command("chromedriver", "--port="+strconv.Itoa(port)))
	d := &wd{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Timeout: 60 * time.Second}, shots: shots}
	t.Cleanup(d.hc.CloseIdleConnections)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if v, err := d.cmd("GET", "/status", nil); err == nil && bytes.Contains(v, []byte(`"ready":true`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("chromedriver did not become ready in 15s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	bin, _ := exec.LookPath("chromium")
	v := d.must("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{"binary": bin, "args": []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage", "--window-size=1280,1000", "--user-data-dir=" + t.TempDir()}},
	}}})
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(v, &s); err != nil || s.SessionID == "" {
		t.Fatalf("new session: %s %v", v, err)
	}
	d.session = s.SessionID
	t.Cleanup(func() { _, _ = d.cmd("DELETE", "/session/"+d.session, nil) })
	return d
}

// TestBrowserCommission logs in through headless Chromium, finds a machine
// whose BMC is a simulated IPMI BMC on loopback, commissions it and watches
// its status change on the page without a reload.
func TestBrowserCommission(t *testing.T) {
	d := startBrowser(t)
	svc, base := startRegion(t, nil, 300*time.Millisecond)
	ctx := context.Background()
	if _, err := region.Init(ctx, svc.Store()); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	apiCall := func(method, path, key string, body, out any) error {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
		}
		if out != nil {
			return json.Unmarshal(data, out)
		}
		return nil
	}
	var lr api.LoginReply
	if err := apiCall("POST", "/api/v1/login", "", api.Login{Username: "admin", Password: "admin-password"}, &lr); err != nil {
		t.Fatal(err)
	}

	// Three machines with simulated BMCs; the first one, when it PXE
	// boots, runs a simulated ephemeral environment that reports its
	// inventory through a machine token after a moment.
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs before the region stops (cleanups are LIFO)
	var ids []string
	var bmcs []*powersim.IPMIBMC
	for i := range 3 {
		bmc, err := powersim.NewIPMI(powersim.WithIPMICredentials("admin", "bmc-secret-pw"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bmc.Close() })
		m, err := svc.Store().CreateMachine(ctx, store.Machine{Hostname: fmt.Sprintf("e2e-node-%d", i+1), Architecture: "amd64/generic",
			Interfaces: []store.Interface{{MAC: net.HardwareAddr{0x52, 0x54, 0x04, 0, 0, byte(i + 1)}}},
			Power:      store.Power{Type: bmc.DriverName(), Params: bmc.DriverParams()}}, "e2e")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.SystemID)
		bmcs = append(bmcs, bmc)
	}
	id := ids[0]
	booted := make(chan powersim.Boot, 4)
	bmcs[0].OnPowerOn(func(b powersim.Boot) {
		booted <- b
		if b.Device != powersim.DevicePXE {
			return
		}
		wg.Go(func() {
			time.Sleep(1500 * time.Millisecond) // the page shows Commissioning meanwhile
			var tok api.MachineToken
			if err := apiCall("POST", "/api/v1/machines/"+id+"/token", lr.APIKey.Key, nil, &tok); err != nil {
				t.Error(err)
				return
			}
			if err := apiCall("POST", "/api/v1/metadata/"+id+"/commissioning-result", tok.Token, api.CommissioningResult{Inventory: api.Inventory{
				CPU: api.InventoryCPU{Count: 16, Model: "Simulated Xeon"}, MemoryMiB: 65536,
				Disks: []api.InventoryDisk{{Name: "nvme0n1", Size: 960 << 30, Model: "SIM NVMe"}},
				NICs:  []api.InventoryNIC{{Name: "eno1", MAC: "52:54:04:00:00:01", Speed: 25000}},
			}}, nil); err != nil {
				t.Error(err)
			}
		})
	})

	// Log in.
	d.open(base + "/ui/machines")
	d.wait("#username", 15*time.Second)
	var bad []string
	d.exec(unlabelled, &bad)
	if len(bad) > 0 {
		t.Errorf("login page: inputs without a label: %v", bad)
	}
	d.shot("login")
	d.typeInto("#username", "admin")
	d.typeInto("#password", "admin-password\uE007") // Enter submits: keyboard only
	d.wait("table#machines", 15*time.Second)
	// Keyboard: the first Tab reaches the skip link, which is visible
	// when focused.
	d.must("POST", "/actions", map[string]any{"actions": []any{map[string]any{"type": "key", "id": "kb", "actions": []any{
		map[string]any{"type": "keyDown", "value": "\uE004"}, map[string]any{"type": "keyUp", "value": "\uE004"}}}}})
	var focus struct {
		Class string  `json:"class"`
		Left  float64 `json:"left"`
	}
	d.exec(`var e = document.activeElement; return {class: e.className, left: e.getBoundingClientRect().left};`, &focus)
	if focus.Class != "skip" || focus.Left < 0 {
		t.Errorf("first Tab focuses %+v, want the visible skip link", focus)
	}
	d.shot("machines")
	d.exec(unlabelled, &bad)
	if len(bad) > 0 {
		t.Errorf("machines page: inputs without a label: %v", bad)
	}

	// Find the machine.
	d.typeInto("#q", "e2e-node-1")
	d.click("form.filters button[type=submit]")
	// The page before the search lists the machine too: wait for the
	// navigation to the search's own page, then count its rows.
	var rows int
	for deadline := time.Now().Add(10 * time.Second); ; {
		var onResults bool
		d.exec(`return new URLSearchParams(location.search).get('q') === 'e2e-node-1' && document.readyState === 'complete';`, &onResults)
		if onResults {
			d.wait(`tr[data-system-id="`+id+`"]`, 10*time.Second)
			d.exec(`return document.querySelectorAll('#machines tbody tr[data-system-id]').length;`, &rows)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the search for e2e-node-1 never loaded its results page")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rows != 1 {
		t.Fatalf("search for e2e-node-1 shows %d rows", rows)
	}
	d.click(`tr[data-system-id="` + id + `"] a`)
	d.wait("#machine", 10*time.Second)
	if st := d.text("#status"); !strings.Contains(st, "New") {
		t.Fatalf("status before commissioning: %q", st)
	}
	var pageText string
	d.exec(`return document.body.innerText;`, &pageText)
	if strings.Contains(pageText, "bmc-secret-pw") {
		t.Fatal("the machine page shows the BMC password")
	}
	d.shot("machine-new")

	// Commission, confirming.
	d.click(`a[href$="/confirm/commission"]`)
	d.wait("#confirm", 10*time.Second)
	d.shot("confirm")
	d.click("#confirm")
	d.wait(`#status[data-status="commissioning"]`, 10*time.Second)
	d.exec(`window.ironkitNoReload = 42; return null;`, nil)
	d.shot("commissioning")
	select {
	case b := <-booted:
		if b.Device != powersim.DevicePXE {
			t.Fatalf("the BMC booted from %q, want pxe", b.Device)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the simulated BMC was not powered on within 30s")
	}

	// The page polls: the status becomes Ready without a reload.
	d.wait(`#status[data-status="ready"]`, 30*time.Second)
	var marker int
	d.exec(`return window.ironkitNoReload || 0;`, &marker)
	if marker != 42 {
		t.Fatal("the page reloaded instead of updating in place")
	}
	if st := d.text("#status"); !strings.Contains(st, "Ready") {
		t.Fatalf("status text after commissioning: %q", st)
	}
	// Commissioning ends with the machine powered off, as in MAAS; the page
	// shows what the BMC says.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		p := d.text("#power")
		if p == "off" && !bmcs[0].PoweredOn() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("power shown %q, BMC powered on %v; want off and off", p, bmcs[0].PoweredOn())
		}
	}
	// The actions and the inventory followed, still without a reload.
	d.wait(`a[href$="/confirm/deploy"], a[href$="/confirm/allocate"]`, 10*time.Second)
	d.exec(`return document.body.innerText;`, &pageText)
	if !strings.Contains(pageText, "Simulated Xeon") || !strings.Contains(pageText, "eno1") {
		t.Errorf("inventory not shown after commissioning")
	}
	d.exec(`return window.ironkitNoReload || 0;`, &marker)
	if marker != 42 {
		t.Fatal("the page reloaded instead of updating in place")
	}
	d.shot("ready")
	if m, err := svc.Store().Machine(ctx, id); err != nil || m.Status != lifecycle.Ready {
		t.Fatalf("store: %v %v", m, err)
	}
	if bmcs[1].PoweredOn() || bmcs[2].PoweredOn() {
		t.Error("commissioning one machine powered on another's BMC")
	}
	// The list shows it Ready too, and updates when it changes.
	d.open(base + "/ui/machines")
	d.wait(`tr[data-system-id="`+id+`"] td[data-status="ready"]`, 10*time.Second)
	d.exec(`window.ironkitNoReload = 7; return null;`, nil)
	if err := apiCall("POST", "/api/v1/machines/"+id+"/actions/mark-broken", lr.APIKey.Key, api.ActionRequest{Comment: "e2e"}, nil); err != nil {
		t.Fatal(err)
	}
	d.wait(`tr[data-system-id="`+id+`"] td[data-status="broken"]`, 10*time.Second)
	d.exec(`return window.ironkitNoReload || 0;`, &marker)
	if marker != 7 {
		t.Fatal("the list reloaded instead of updating in place")
	}
	d.shot("list-broken")

	// A failing action says why, in an alert.
	d.open(base + "/ui/machines/" + ids[1] + "/confirm/deploy")
	d.click("#confirm")
	msg := d.text("#error")
	if !strings.Contains(msg, "Deploy is not possible while the machine is New") || !strings.Contains(msg, "Allowed now: Commission") {
		t.Errorf("failed action message: %q", msg)
	}
	d.shot("action-failed")

	// Controllers: a rack's reported services and a rogue DHCP server.
	rk, rtok, err := svc.Backend().RegisterRack(ctx, "e2e-rack", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	heartbeat(t, svc, rtok, "10.78.0.2:41000", rpc.Heartbeat{Version: "0.1.0",
		Services:  []rpc.ServiceHealth{{Name: "dhcpd", Status: rpc.ServiceDegraded, Info: "no subnet on eth1"}},
		RogueDHCP: []netip.Addr{netip.MustParseAddr("10.78.0.66")}})
	d.open(base + "/ui/controllers")
	d.wait("#racks", 10*time.Second)
	if msg := d.text("#rogue-dhcp"); !strings.Contains(msg, "rogue DHCP server detected") || !strings.Contains(msg, "10.78.0.66") {
		t.Errorf("rogue DHCP alert: %q", msg)
	}
	if row := d.text(`tr[data-rack-id="` + fmt.Sprint(rk.ID) + `"]`); !strings.Contains(row, "dhcpd: degraded — no subnet on eth1") {
		t.Errorf("rack row: %q", row)
	}
	d.shot("controllers")

	// Subnets/VLANs: turn DHCP on for a VLAN, through the confirmation.
	var f api.Fabric
	var v api.VLAN
	if err := apiCall("POST", "/api/v1/fabrics", lr.APIKey.Key, api.Fabric{Name: "e2e-fabric"}, &f); err != nil {
		t.Fatal(err)
	}
	if err := apiCall("POST", "/api/v1/vlans", lr.APIKey.Key, api.VLAN{FabricID: f.ID, VID: 7, Name: "e2e-vlan", MTU: 1500}, &v); err != nil {
		t.Fatal(err)
	}
	d.open(base + "/ui/networks")
	d.click(`a[href="/ui/networks/vlans/` + fmt.Sprint(v.ID) + `/dhcp"]`)
	d.wait("form#vlan-dhcp", 10*time.Second)
	d.exec(unlabelled, &bad)
	if len(bad) > 0 {
		t.Errorf("VLAN DHCP form: inputs without a label: %v", bad)
	}
	d.shot("vlan-dhcp")
	d.click("#dhcp_on")
	d.exec(`document.getElementById('primary_rack').value = '`+fmt.Sprint(rk.ID)+`'; return null;`, nil)
	d.click("#review")
	d.wait("#vlan-dhcp-confirm", 10*time.Second)
	d.shot("vlan-dhcp-confirm")
	d.click("#confirm")
	d.wait("p.flash", 10*time.Second)
	if msg := d.text("p.flash"); !strings.Contains(msg, "VLAN 7: DHCP is now on; primary rack e2e-rack") {
		t.Errorf("after applying: %q", msg)
	}
}
