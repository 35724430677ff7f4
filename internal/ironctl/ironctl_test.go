package ironctl

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
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRegion records requests and answers like the region API.
type fakeRegion struct {
	mu    sync.Mutex
	reqs  []string
	polls int
}

func (f *fakeRegion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI()+" "+strings.TrimSpace(string(body)))
	f.mu.Unlock()
	if r.URL.Path != "/api/v1/login" && r.Header.Get("Authorization") != "Bearer ikk_good" {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"status":401,"code":"unauthorized","message":"bad key"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/login":
		_, _ = io.WriteString(w, `{"user":{"username":"alice"},"api_key":{"key":"ikk_good"}}`)
	case r.URL.Path == "/api/v1/users/me":
		_, _ = io.WriteString(w, `{"id":2,"username":"alice"}`)
	case r.URL.Path == "/api/v1/machines" && r.URL.Query().Get("cursor") == "":
		_, _ = io.WriteString(w, `{"machines":[{"system_id":"aaa111","hostname":"one","status":"ready","cpu_count":4}],"next":"c1"}`)
	case r.URL.Path == "/api/v1/machines":
		_, _ = io.WriteString(w, `{"machines":[{"system_id":"bbb222","hostname":"two","status":"deployed","owner":"alice"}]}`)
	case strings.HasSuffix(r.URL.Path, "/actions/commission"):
		w.WriteHeader(409)
		_, _ = io.WriteString(w, `{"status":409,"code":"invalid_transition","message":"cannot commission a machine in status Deployed","machine_status":"deployed","action":"commission","allowed_actions":["release"]}`)
	case r.URL.Path == "/api/v1/boot-resources/import" && r.Method == "POST":
		_, _ = io.WriteString(w, `{"running":true,"source":"/srv/mirror"}`)
	case r.URL.Path == "/api/v1/boot-resources/import":
		f.mu.Lock()
		f.polls++
		n := f.polls
		f.mu.Unlock()
		if n < 3 {
			fmt.Fprintf(w, `{"running":true,"done_bytes":%d,"total_bytes":300}`, n*100)
		} else {
			_, _ = io.WriteString(w, `{"running":false,"done_bytes":300,"total_bytes":300,"sets":1,"files":3}`)
		}
	case strings.HasSuffix(r.URL.Path, "/timeline"):
		_, _ = io.WriteString(w, `{"system_id":"bbb222","hostname":"two","status":"deployed","total_seconds":12.5,"phases":[`+
			`{"status":"new","start":"2026-11-21T10:00:00Z","end":"2026-11-21T10:00:02Z","duration_seconds":2,"steps":[{"type":"created","offset_seconds":0}]},`+
			`{"status":"deploying","start":"2026-11-21T10:00:02Z","end":"2026-11-21T10:00:10Z","duration_seconds":8,"steps":[{"type":"deploy","offset_seconds":0},{"type":"installed","offset_seconds":6.25}]},`+
			`{"status":"deployed","start":"2026-11-21T10:00:10Z","duration_seconds":2.5,"steps":[{"type":"deployment-done","offset_seconds":0}]}]}`)
	case r.Method == "PATCH":
		_, _ = w.Write(body)
	default:
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

func runCLI(t *testing.T, cfg string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Args: args, Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "IRONCTL_CONFIG" {
				return cfg
			}
			return ""
		}}
	code := Main(context.Background(), env)
	return out.String(), errb.String(), code
}

func TestCLI(t *testing.T) {
	f := &fakeRegion{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "ironctl.yaml")

	if _, e, code := runCLI(t, cfg, "machines", "list"); code != 1 || !strings.Contains(e, "ironctl login") {
		t.Fatalf("no profile: %d %s", code, e)
	}
	if _, e, code := runCLI(t, cfg, "login", "lab", srv.URL, "--api-key", "ikk_bad"); code != 1 || !strings.Contains(e, "refused") {
		t.Fatalf("bad key login: %d %s", code, e)
	}
	out, e, code := runCLI(t, cfg, "login", "lab", srv.URL, "--username", "alice", "--password", "pw")
	if code != 0 || !strings.Contains(out, "as alice") {
		t.Fatalf("login: %d %s %s", code, out, e)
	}
	if st, err := os.Stat(cfg); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("profile file mode: %v %v", st, err)
	}

	out, e, code = runCLI(t, cfg, "machines", "list", "--status", "ready")
	if code != 0 {
		t.Fatalf("list: %s", e)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SYSTEM_ID") || !strings.Contains(lines[1], "aaa111") || !strings.Contains(lines[2], "alice") {
		t.Fatalf("table (both pages expected):\n%s", out)
	}
	out, _, _ = runCLI(t, cfg, "-o", "json", "machines", "list", "--limit", "1")
	var ms []map[string]any
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 1 {
		t.Fatalf("json list with limit: %v %s", err, out)
	}

	_, e, code = runCLI(t, cfg, "machines", "commission", "bbb222")
	if code != 1 || !strings.Contains(e, "409 invalid_transition") {
		t.Fatalf("conflict: %d %s", code, e)
	}
	out, _, code = runCLI(t, cfg, "-o", "json", "vlan", "update", "5", "dhcp_on=true", "primary_rack=3", "name=42")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["dhcp_on"] != true || v["primary_rack"] != float64(3) || v["name"] != "42" {
		t.Fatalf("vlan update: %d %s", code, out)
	}
	runCLI(t, cfg, "machines", "create", "hostname=n1", "architecture=amd64/generic", "mac_addresses=52:54:00:00:00:01,52:54:00:00:00:02",
		"power_type=ipmi", "power_parameters.power_address=10.0.0.5")
	runCLI(t, cfg, "machines", "power", "bbb222", "off")
	runCLI(t, cfg, "machines", "release", "bbb222", "erase=true")
	runCLI(t, cfg, "events", "system_id=bbb222")
	runCLI(t, cfg, "racks", "sync-images", "3")
	runCLI(t, cfg, "racks", "reconfigure", "3")
	if _, _, code := runCLI(t, cfg, "racks", "reconfigure"); code != 2 {
		t.Errorf("racks reconfigure without id: exit %d, want 2", code)
	}
	if _, _, code := runCLI(t, cfg, "machines", "power", "bbb222", "explode"); code != 2 {
		t.Fatalf("bad power op exit %d", code)
	}
	out, e, code = runCLI(t, cfg, "machines", "timeline", "bbb222")
	for _, want := range []string{"two (bbb222): deployed, 12.5s", "deploying", "8s", "+6.25s installed", "2.5s (current)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("timeline: %d %s: %q missing from\n%s", code, e, want, out)
		}
	}
	if _, _, code := runCLI(t, cfg, "machines", "timeline"); code != 2 {
		t.Errorf("timeline without id: exit %d, want 2", code)
	}
	f.mu.Lock()
	all := strings.Join(f.reqs, "\n")
	f.mu.Unlock()
	for _, want := range []string{
		"GET /api/v1/machines?limit=1000&status=ready ",
		"GET /api/v1/machines?cursor=c1&limit=1000&status=ready ",
		"PATCH /api/v1/vlans/5 {\"dhcp_on\":true,\"name\":\"42\",\"primary_rack\":3}",
		`POST /api/v1/machines {"architecture":"amd64/generic","hostname":"n1","mac_addresses":["52:54:00:00:00:01","52:54:00:00:00:02"],"power_parameters":{"power_address":"10.0.0.5"},"power_type":"ipmi"}`,
		"POST /api/v1/machines/bbb222/actions/power-off",
		`POST /api/v1/machines/bbb222/actions/release {"erase":true}`,
		"GET /api/v1/events?system_id=bbb222",
		"GET /api/v1/machines/bbb222/timeline",
		"POST /api/v1/racks/3/sync-images",
		"POST /api/v1/racks/3/reconfigure",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("request %q not sent; got:\n%s", want, all)
		}
	}
}

func TestImportProgress(t *testing.T) {
	f := &fakeRegion{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	var out, errb bytes.Buffer
	c := &cli{env: Env{Stdout: &out, Stderr: &errb}, format: "table", client: &Client{URL: srv.URL, APIKey: "ikk_good"}}
	if err := c.importWithProgress(context.Background(), "/srv/mirror", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "[##########....................]  33.3% 100B/300B") || !strings.Contains(errb.String(), "100.0%") {
		t.Fatalf("progress bar output %q", errb.String())
	}
	if !strings.Contains(out.String(), "imported 1 set(s), 3 file(s)") {
		t.Fatalf("stdout %q", out.String())
	}
	if got := progressBar(5<<30, 10<<30); !strings.HasSuffix(got, " 50.0% 5.0GiB/10.0GiB") {
		t.Fatalf("progressBar = %q", got)
	}
}
