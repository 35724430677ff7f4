package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/region/web"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

var cheap = auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}

// fakePower answers every power request at once.
type fakePower struct {
	mu  sync.Mutex
	ops []string
}

func (p *fakePower) Power(_ context.Context, id string, r jobs.PowerRequest) (jobs.PowerState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ops = append(p.ops, id+":"+string(r.Op))
	if r.Op == jobs.PowerOn {
		return jobs.StateOn, nil
	}
	return jobs.StateOff, nil
}

// startRegion runs a region on a SQLite file on loopback; pw nil drives
// BMCs through the power package.
func startRegion(t testing.TB, pw jobs.PowerExecutor, poll time.Duration) (*region.Service, string) {
	t.Helper()
	return startRegionOn(t, filepath.Join(t.TempDir(), "region.db"), pw, poll, true)
}

// startRegionOn starts a region on the database dsn (several may share
// one), creating the admin user when admin is set.
func startRegionOn(t testing.TB, dsn string, pw jobs.PowerExecutor, poll time.Duration, admin bool) (*region.Service, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Database = dsn
	cfg.Listen = "127.0.0.1:0"
	cfg.ImagesDir = t.TempDir()
	cfg.Jobs.SweepInterval = config.Duration(time.Second)
	cfg.Jobs.PowerPollInterval = config.Duration(time.Hour)
	ctx := context.Background()
	svc, err := region.Open(ctx, cfg, region.Options{Power: pw, Hasher: cheap, WebPollInterval: poll})
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
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		svc.Close()
	})
	if !admin {
		return svc, "http://" + ln.Addr().String()
	}
	if _, err := region.CreateAdmin(ctx, svc.Store(), cheap, "admin", "admin@example.com", "admin-password"); err != nil {
		t.Fatal(err)
	}
	return svc, "http://" + ln.Addr().String()
}

// browser is a cookie-keeping HTTP client that reads forms' CSRF tokens.
type browser struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &browser{t: t, base: base, hc: hc}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(data); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(data)
}

func (b *browser) get(path string) (int, string) { return b.do("GET", path, nil) }

// post submits a form with the last CSRF token seen.
func (b *browser) post(path string, form url.Values) (int, string) {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.do("POST", path, form)
}

func (b *browser) login(user, pass string) {
	b.t.Helper()
	b.get("/ui/login")
	code, body := b.post("/ui/login", url.Values{"username": {user}, "password": {pass}})
	if code != 200 || !strings.Contains(body, "Log out") {
		b.t.Fatalf("login as %s: HTTP %d\n%s", user, code, body)
	}
}

func createUser(t testing.TB, svc *region.Service, name string) {
	t.Helper()
	hash, err := cheap.Hash(name + "-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Backend().CreateUser(context.Background(), api.User{Username: name}, hash); err != nil {
		t.Fatal(err)
	}
}

func mkMachine(t testing.TB, st *store.Store, host string, status lifecycle.Status, owner string, i int) string {
	t.Helper()
	m, err := st.CreateMachine(context.Background(), store.Machine{Hostname: host, Architecture: "amd64/generic", Status: status, Owner: owner,
		Interfaces: []store.Interface{{MAC: net.HardwareAddr{0x52, 0x54, 0x02, byte(i >> 16), byte(i >> 8), byte(i)}}},
		Power:      store.Power{Type: "ipmi", Params: map[string]string{"power_address": "127.0.0.1", "power_user": "admin", "power_pass": "hunter2-secret"}}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return m.SystemID
}

func TestLoginLogout(t *testing.T) {
	_, base := startRegion(t, &fakePower{}, 0)
	b := newBrowser(t, base)
	if code, body := b.get("/ui/machines"); code != 200 || !strings.Contains(body, `<label for="password">`) {
		t.Fatalf("anonymous machines page is not the login form: %d %s", code, body)
	}
	code, body := b.post("/ui/login", url.Values{"username": {"admin"}, "password": {"wrong"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("bad password: %d %s", code, body)
	}
	b.login("admin", "admin-password")
	u, _ := url.Parse(base)
	var sess *http.Cookie
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == web.SessionCookie {
			sess = c
		}
	}
	if sess == nil {
		t.Fatal("no session cookie after login")
	}
	// The cookie's attributes, as the server set them.
	req, _ := http.NewRequest("GET", base+"/ui/login", nil)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	setc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(setc, "HttpOnly") || !strings.Contains(setc, "SameSite=Lax") {
		t.Fatalf("login CSRF cookie attributes: %q", setc)
	}
	if code, body := b.get("/ui/machines"); code != 200 || !strings.Contains(body, "admin (administrator)") {
		t.Fatalf("machines after login: %d", code)
	}
	if code, _ := b.post("/ui/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if code, body := b.get("/ui/machines"); code != 200 || !strings.Contains(body, `id="password"`) {
		t.Fatalf("after logout the machines page is not the login form: %d", code)
	}
	// The old cookie is dead on the server too.
	c2 := newBrowser(t, base)
	c2.hc.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: sess.Value, Path: "/"}})
	if _, body := c2.get("/ui/machines"); !strings.Contains(body, `id="password"`) {
		t.Fatal("a logged-out session cookie still works")
	}
}

func TestCSRFRejected(t *testing.T) {
	svc, base := startRegion(t, &fakePower{}, 0)
	id := mkMachine(t, svc.Store(), "node-a", lifecycle.New, "", 1)

	// Login without the double-submit cookie's token.
	b := newBrowser(t, base)
	b.get("/ui/login")
	code, body := b.do("POST", "/ui/login", url.Values{"username": {"admin"}, "password": {"admin-password"}, "csrf": {"forged"}})
	if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("login with a forged token: %d", code)
	}
	b.login("admin", "admin-password")
	for _, tc := range []struct{ name, token string }{{"missing", ""}, {"wrong", "not-the-token"}} {
		form := url.Values{"csrf": {tc.token}}
		code, body := b.do("POST", "/ui/machines/"+id+"/actions/commission", form)
		if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Fatalf("%s token: HTTP %d", tc.name, code)
		}
	}
	m, err := svc.Store().Machine(context.Background(), id)
	if err != nil || m.Status != lifecycle.New {
		t.Fatalf("a rejected form changed the machine: %v %v", m.Status, err)
	}
	if code, _ := b.do("POST", "/ui/logout", url.Values{}); code != http.StatusForbidden {
		t.Fatalf("logout without a token: %d", code)
	}
	// With the page's token it works.
	b.get("/ui/machines/" + id + "/confirm/commission")
	code, body = b.post("/ui/machines/"+id+"/actions/commission", nil)
	if code != 200 || !strings.Contains(body, "Commission: done") {
		t.Fatalf("commission with the token: %d %s", code, body)
	}
}

func TestActionsAndFailures(t *testing.T) {
	svc, base := startRegion(t, &fakePower{}, 0)
	id := mkMachine(t, svc.Store(), "node-b", lifecycle.New, "", 2)
	b := newBrowser(t, base)
	b.login("admin", "admin-password")
	code, body := b.get("/ui/machines/" + id)
	if code != 200 || !strings.Contains(body, "/confirm/commission") || strings.Contains(body, "/confirm/deploy") {
		t.Fatalf("actions of a New machine: %d", code)
	}
	if strings.Contains(body, "hunter2-secret") || !strings.Contains(body, "power_user") {
		t.Fatal("machine page shows the BMC password or hides the user")
	}
	code, body = b.get("/ui/machines/" + id + "/confirm/commission")
	if code != 200 || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("confirm page: %d", code)
	}
	// Deploy is not allowed for a New machine: the page names the status
	// and what is allowed.
	code, body = b.post("/ui/machines/"+id+"/actions/deploy", nil)
	if code != http.StatusConflict || !strings.Contains(body, "Deploy is not possible while the machine is New") ||
		!strings.Contains(body, "Allowed now: Commission") {
		t.Fatalf("invalid transition: %d\n%s", code, body)
	}
	code, body = b.post("/ui/machines/"+id+"/actions/power-on", nil)
	if code != 200 || !strings.Contains(body, "Power on: done") {
		t.Fatalf("power on: %d\n%s", code, body)
	}
	code, body = b.post("/ui/machines/"+id+"/actions/mark-broken", nil)
	if code != 200 || !strings.Contains(body, "is now Broken") {
		t.Fatalf("mark broken: %d\n%s", code, body)
	}
	code, body = b.post("/ui/machines/"+id+"/actions/mark-fixed", nil)
	if code != 200 || !strings.Contains(body, "Mark fixed: done") {
		t.Fatalf("mark fixed: %d\n%s", code, body)
	}
	var st web.MachineState
	code, body = b.get("/ui/machines/" + id + "/state.json")
	if code != 200 || !strings.Contains(body, `"system_id":"`+id+`"`) {
		t.Fatalf("state.json: %d %s %v", code, body, st)
	}
	if code, _ := b.get("/ui/machines/nosuch"); code != 404 {
		t.Fatalf("unknown machine: %d", code)
	}
	for _, p := range []string{"/ui/controllers", "/ui/networks", "/ui/boot-resources", "/ui/static/app.js", "/ui/static/style.css"} {
		if code, _ := b.get(p); code != 200 {
			t.Errorf("%s: HTTP %d", p, code)
		}
	}
	for _, p := range []string{"/api/v1/nosuch", "/rpc/v1/x", "/elsewhere"} {
		if code, body := b.get(p); code != 404 || !strings.Contains(body, "route_not_found") {
			t.Errorf("%s: not the API's JSON 404: %d %s", p, code, body)
		}
	}
	if code, body := b.get("/ui/nosuch"); code != 404 || !strings.Contains(body, "There is no page /ui/nosuch") {
		t.Errorf("/ui/nosuch: %d %s", code, body)
	}
	if code, body := b.get("/"); code != 200 || !strings.Contains(body, `id="machines"`) {
		t.Errorf("/ is not the machines list: %d", code)
	}
}

// TestVisibility: a non-admin sees what the API shows them, the Ready pool
// and their own machines, and cannot act on others'.
func TestVisibility(t *testing.T) {
	svc, base := startRegion(t, &fakePower{}, 0)
	createUser(t, svc, "alice")
	createUser(t, svc, "bob")
	st := svc.Store()
	ready := mkMachine(t, st, "ready-1", lifecycle.Ready, "", 1)
	newM := mkMachine(t, st, "new-1", lifecycle.New, "", 2)
	alices := mkMachine(t, st, "alice-1", lifecycle.Allocated, "alice", 3)
	bobs := mkMachine(t, st, "bob-1", lifecycle.Deployed, "bob", 4)

	a := newBrowser(t, base)
	a.login("alice", "alice-password")
	_, body := a.get("/ui/machines")
	for id, want := range map[string]bool{ready: true, alices: true, newM: false, bobs: false} {
		if got := strings.Contains(body, `data-system-id="`+id+`"`); got != want {
			t.Errorf("alice sees %s: %v, want %v", id, got, want)
		}
	}
	if code, _ := a.get("/ui/machines/" + bobs); code != 404 {
		t.Errorf("alice opens bob's machine: HTTP %d", code)
	}
	a.get("/ui/machines/" + alices)
	if code, _ := a.post("/ui/machines/"+bobs+"/actions/release", nil); code != 404 {
		t.Errorf("alice releases bob's machine: HTTP %d", code)
	}
	code, body := a.get("/ui/machines/" + ready)
	if code != 200 || !strings.Contains(body, "/confirm/allocate") || strings.Contains(body, "/confirm/power-on") {
		t.Errorf("alice's actions on a Ready machine: %d", code)
	}
	code, body = a.post("/ui/machines/"+ready+"/actions/allocate", nil)
	if code != 200 || !strings.Contains(body, "is now Allocated") {
		t.Fatalf("alice allocates: %d\n%s", code, body)
	}
	if m, _ := st.Machine(context.Background(), ready); m.Owner != "alice" {
		t.Fatalf("owner after allocate: %q", m.Owner)
	}
	if _, body := a.get("/ui/boot-resources"); strings.Contains(body, "Start import") {
		t.Error("a non-admin is offered the boot resource import")
	}
}

// TestPaging10000: the list stays quick with 10,000 machines, pages by
// cursor and filters server-side.
func TestPaging10000(t *testing.T) {
	svc, base := startRegion(t, &fakePower{}, 0)
	n := 10000
	if testing.Short() {
		n = 1000
	}
	seed(t, svc.Store(), n)
	b := newBrowser(t, base)
	b.login("admin", "admin-password")
	rowRE := regexp.MustCompile(`<tr data-system-id="([a-z0-9-]+)">`)
	nextRE := regexp.MustCompile(`href="(/ui/machines\?[^"]*cursor=[^"]+)" rel="next"`)
	start := time.Now()
	code, body := b.get("/ui/machines")
	first := time.Since(start)
	rows := rowRE.FindAllStringSubmatch(body, -1)
	if code != 200 || len(rows) != 50 {
		t.Fatalf("first page: HTTP %d, %d rows", code, len(rows))
	}
	// Generous bound: the shared 2-core machine under -race.
	if first > 2*time.Second {
		t.Errorf("first page of %d machines took %v", n, first)
	}
	t.Logf("first page of %d machines: %v", n, first)
	m := nextRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no next-page link")
	}
	code, body = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	rows2 := rowRE.FindAllStringSubmatch(body, -1)
	if code != 200 || len(rows2) != 50 || rows2[0][1] <= rows[49][1] || !strings.Contains(body, "First page") {
		t.Fatalf("second page: HTTP %d, %d rows", code, len(rows2))
	}
	// Filters and search.
	_, body = b.get("/ui/machines?status=ready")
	if got := len(rowRE.FindAllString(body, -1)); got != 50 {
		t.Fatalf("ready filter: %d rows", got)
	}
	if strings.Contains(body, `data-status="new"`) {
		t.Fatal("status filter let a New machine through")
	}
	_, body = b.get("/ui/machines?q=seed-00042")
	if got := rowRE.FindAllStringSubmatch(body, -1); len(got) != 1 || !strings.Contains(body, ">seed-00042<") {
		t.Fatalf("hostname search: %d rows", len(got))
	}
	_, body = b.get("/ui/machines?q=52:54:03:00:00:2a")
	if !strings.Contains(body, ">seed-00042<") {
		t.Fatal("MAC search did not find seed-00042")
	}
	code, body = b.get("/ui/machines.json?status=ready")
	if code != 200 || strings.Count(body, `"system_id"`) != 50 {
		t.Fatalf("machines.json: %d", code)
	}
}

// seed creates n machines: one through the store (the template, so every
// column has the store's own encoding), the rest copied from it by two SQL
// statements (10,000 CreateMachine calls take minutes under -race).
func seed(t testing.TB, st *store.Store, n int) {
	t.Helper()
	start := time.Now()
	ctx := context.Background()
	tmpl := mkMachine(t, st, "seed-template", lifecycle.New, "", 0xfffff)
	db := st.SQLDB()
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM seq WHERE i+1 < ?)
		INSERT INTO machines (system_id, hostname, architecture, status, previous_status, owner,
			zone_id, pool_id, power_type, power_params, power_secrets, inventory, status_deadline, locked, version, created_at, updated_at)
		SELECT printf('w%05d', i), printf('seed-%05d', i), m.architecture, CASE WHEN i % 2 = 0 THEN 'ready' ELSE 'new' END,
			m.previous_status, m.owner, m.zone_id, m.pool_id, '', '{}', NULL, m.inventory, NULL, m.locked, m.version, m.created_at, m.updated_at
		FROM seq, machines m WHERE m.system_id = ?`, n, tmpl); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM seq WHERE i+1 < ?)
		INSERT INTO interfaces (system_id, name, mac, vlan_id, created_at, updated_at)
		SELECT printf('w%05d', i), f.name, printf('52:54:03:%02x:%02x:%02x', (i >> 16) & 255, (i >> 8) & 255, i & 255),
			f.vlan_id, f.created_at, f.updated_at
		FROM seq, interfaces f WHERE f.system_id = ?`, n, tmpl); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d machines in %v", n, time.Since(start))
}

// BenchmarkMachinesPage renders the first list page (50 rows) and a page
// deep in the list of 10,000 machines on SQLite, through HTTP with a
// session, as a browser would.
func BenchmarkMachinesPage(b *testing.B) {
	svc, base := startRegion(b, &fakePower{}, 0)
	seed(b, svc.Store(), 10000)
	br := newBrowser(b, base)
	br.login("admin", "admin-password")
	for _, bc := range []struct{ name, path string }{
		{"first", "/ui/machines"},
		{"deep", "/ui/machines?cursor=bTp3MDkwMDA"}, // after w09000
		{"filtered", "/ui/machines?status=ready&q=seed-04242"},
		{"poll-json", "/ui/machines.json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if code, _ := br.get(bc.path); code != 200 {
					b.Fatalf("%s: HTTP %d", bc.path, code)
				}
			}
		})
	}
	// The reference: the API's own JSON page of 50 machines, which the
	// first page wraps.
	var lr api.LoginReply
	if err := callAPI(svc.Handler(), "", "POST", "/api/v1/login", api.Login{Username: "admin", Password: "admin-password"}, &lr); err != nil {
		b.Fatal(err)
	}
	b.Run("api-json-50", func(b *testing.B) {
		for b.Loop() {
			req, _ := http.NewRequest("GET", base+"/api/v1/machines?limit=50", nil)
			req.Header.Set("Authorization", "Bearer "+lr.APIKey.Key)
			resp, err := br.hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("HTTP %d", resp.StatusCode)
			}
		}
	})
}
