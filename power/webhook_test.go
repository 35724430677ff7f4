package power_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ironkit/ironkit/power"
)

// vmManager is a tiny HTTP power controller of the kind the webhook driver
// drives: POST /vms/NAME/start|stop|reset|boot, GET /vms/NAME answers JSON.
type vmManager struct {
	mu      sync.Mutex
	running bool
	boot    string
	calls   []string
}

func (v *vmManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, r.Method+" "+r.URL.Path+" "+string(body))
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/vms/node7":
		state := map[bool]string{true: "running", false: "stopped"}[v.running]
		fmt.Fprintf(w, `{"name": "node7", "status": "%s"}`, state)
	case strings.HasSuffix(r.URL.Path, "/start"):
		v.running = true
	case strings.HasSuffix(r.URL.Path, "/stop"):
		v.running = false
	case strings.HasSuffix(r.URL.Path, "/boot"):
		v.boot = string(body)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestWebhookDriver(t *testing.T) {
	vm := &vmManager{}
	srv := httptest.NewServer(vm)
	defer srv.Close()
	raw := map[string]string{
		"power_on_uri":    srv.URL + "/vms/node7/start",
		"power_off_uri":   srv.URL + "/vms/node7/stop",
		"power_query_uri": srv.URL + "/vms/node7",
		"boot_device_uri": srv.URL + "/vms/node7/boot",
		"body":            `{"action":"{{.Action}}","device":"{{.Device}}","persistent":{{.Persistent}}}`,
		"token":           "s3cret",
	}
	d, err := power.NewRegistry().Open("webhook", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e := fastEngine()
	res, err := e.Do(ctxT(t), power.Target{Name: "node7", Driver: d},
		power.Request{Action: power.ActionOn, Boot: &power.BootOverride{Device: power.BootPXE}})
	if err != nil || !res.Verified {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if vm.boot != `{"action":"boot","device":"pxe","persistent":false}` {
		t.Fatalf("boot body = %q", vm.boot)
	}
	// Cycle without a cycle URI: off then on.
	if _, err := e.Do(ctxT(t), power.Target{Driver: d}, power.Request{Action: power.ActionCycle}); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(vm.calls, "\n")
	if !strings.Contains(joined, "POST /vms/node7/stop") || !vm.running {
		t.Fatalf("cycle calls:\n%s", joined)
	}

	raw["token"] = "wrong"
	bad, _ := power.NewRegistry().Open("webhook", raw)
	defer bad.Close()
	if _, err := bad.PowerState(ctxT(t)); !errors.Is(err, power.ErrAuth) {
		t.Fatalf("wrong token: %v", err)
	}
}
