package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
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
	apiAs(t, h, key, "POST", "/api/v1/subnets", api.Subnet{Name: "prov", VLANID: v.ID, CIDR: "10.42.0.0/24", GatewayIP: "10.42.0.1"}, nil)
	v.DHCPOn, v.PrimaryRack, v.SecondaryRack = true, rack1.ID, rack2.ID
	apiAs(t, h, key, "PATCH", "/api/v1/vlans/"+itoa(v.ID), v, &v)

	b := newBrowser(t, base)
	b.login("admin", "admin-password")
	code, body := b.get("/ui/networks")
	for _, want := range []string{"fabric-lab", "provisioning", "10.42.0.0/24", "DHCP on", "rack-one", "rack-two"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("networks page lacks %q (HTTP %d)", want, code)
		}
	}
	code, body = b.get("/ui/controllers")
	for _, want := range []string{"rack-one", "Never connected", "(this region)", "0.1.0"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("controllers page lacks %q (HTTP %d)", want, code)
		}
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
