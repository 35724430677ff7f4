package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testHasher keeps argon2id cheap in tests; production uses DefaultHasher.
var testHasher = auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}

// world is a server over a fresh memBackend with three users (admin, alice,
// bob), a rack, and three machines: aaa111 Ready, bbb222 Allocated to alice,
// ccc333 Deployed to bob. tokens holds a bearer token per principal name.
type world struct {
	srv    *Server
	be     *memBackend
	tokens map[string]string
}

const alicePassword = "alice-password"

func newWorld(t testing.TB) *world {
	t.Helper()
	be := &memBackend{hashes: map[int64]string{}, tokens: map[string]auth.Principal{}, machines: map[string]Machine{},
		results: map[string]CommissioningResult{},
		fabrics: newColl(Fabric{Name: "fabric-0"}), vlans: newColl(VLAN{FabricID: 1, Name: "untagged", MTU: 1500}),
		subnets: newColl(Subnet{VLANID: 1, CIDR: "10.20.0.0/24"}), ranges: newColl(IPRange{SubnetID: 1, Type: "dynamic", StartIP: "10.20.0.100", EndIP: "10.20.0.200"}),
		zones: newColl(Zone{Name: "default"}), pools: newColl(Pool{Name: "default"}), tags: newColl(Tag{Name: "gpu"}),
		racks:  []Rack{{ID: 1, Name: "rack-1"}},
		events: []Event{{ID: 1, SystemID: "bbb222", Type: "transition", Created: time.Now()}},
		ips:    []IPAddress{{ID: 1, SubnetID: 1, IP: "10.20.0.5", AllocType: "user-reserved", Owner: "alice"}},
	}
	ctx := context.Background()
	w := &world{be: be, tokens: map[string]string{}}
	for _, u := range []UserCreate{{Username: "admin", Admin: true, Password: "admin-password"}, {Username: "alice", Password: alicePassword}, {Username: "bob", Password: "bob-password"}} {
		h, _ := testHasher.Hash(u.Password)
		nu, _ := be.CreateUser(ctx, User{Username: u.Username, Admin: u.Admin}, h)
		tok, hash, _ := auth.NewToken(auth.APIKey)
		if _, err := be.CreateAPIKey(ctx, nu.ID, "test", hash); err != nil {
			t.Fatal(err)
		}
		w.tokens[u.Username] = tok
	}
	tok, hash, _ := auth.NewToken(auth.RackToken)
	be.tokens[string(auth.RackToken)+hash] = auth.Principal{Kind: auth.Rack, RackID: 1}
	w.tokens["rack"] = tok
	be.machines["aaa111"] = Machine{SystemID: "aaa111", Hostname: "ready-one", Status: lifecycle.Ready, Architecture: "amd64/generic"}
	be.machines["bbb222"] = Machine{SystemID: "bbb222", Hostname: "alices", Status: lifecycle.Allocated, Owner: "alice", Architecture: "amd64/generic",
		PowerType: "ipmi", PowerParameters: map[string]string{"power_address": "10.0.0.9", "power_user": "root", "power_pass": "hunter2"}}
	be.machines["ccc333"] = Machine{SystemID: "ccc333", Hostname: "bobs", Status: lifecycle.Deployed, Owner: "bob", Architecture: "amd64/generic"}
	mt, err := be.IssueMachineToken(ctx, "bbb222")
	if err != nil {
		t.Fatal(err)
	}
	w.tokens["machine"] = mt
	rpc := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"path":"`+r.URL.Path+`"}`)
	})
	srv, err := New(Config{Backend: be.backend(), Version: "test", Hasher: testHasher, RPC: rpc,
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	return w
}

// do sends a request as principal (a key of w.tokens, or "anonymous").
func (w *world) do(t testing.TB, principal, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if tok := w.tokens[principal]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	w.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// matrixPrincipals are the columns of the authorization matrix.
var matrixPrincipals = []string{"anonymous", "alice", "bob", "admin", "rack", "machine"}

// The authorization matrix: every route × {anonymous, user (alice), other
// user (bob), admin, rack token, machine token of bbb222} → status. The
// path's {system_id} is bbb222, alice's machine. Each cell runs on a fresh
// world, so deletes do not affect other cells.
var matrix = []struct {
	method, path string
	body         any
	want         string
}{
	{"GET", "/api/v1/version", nil, "200 200 200 200 200 200"},
	{"GET", "/api/v1/openapi.json", nil, "200 200 200 200 200 200"},
	{"GET", "/metrics", nil, "200 200 200 200 200 200"},
	{"POST", "/api/v1/login", Login{Username: "alice", Password: alicePassword}, "201 201 201 201 201 201"},
	{"GET", "/api/v1/users", nil, "401 403 403 200 403 403"},
	{"POST", "/api/v1/users", UserCreate{Username: "carol", Password: "carol-password"}, "401 403 403 201 403 403"},
	{"GET", "/api/v1/users/me", nil, "401 200 200 200 403 403"},
	{"GET", "/api/v1/users/2", nil, "401 403 403 200 403 403"},
	{"DELETE", "/api/v1/users/3", nil, "401 403 403 204 403 403"},
	{"GET", "/api/v1/users/me/api-keys", nil, "401 200 200 200 403 403"},
	{"POST", "/api/v1/users/me/api-keys", APIKeyCreate{Name: "ci"}, "401 201 201 201 403 403"},
	{"DELETE", "/api/v1/users/me/api-keys/2", nil, "401 204 404 404 403 403"},
	{"GET", "/api/v1/machines", nil, "401 200 200 200 403 403"},
	{"POST", "/api/v1/machines", MachineCreate{Hostname: "n1", Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:00:00:01"}}, "401 403 403 201 403 403"},
	{"POST", "/api/v1/machines/allocate", AllocateRequest{}, "401 200 200 200 403 403"},
	{"GET", "/api/v1/machines/bbb222", nil, "401 200 404 200 403 403"},
	{"PATCH", "/api/v1/machines/bbb222", MachineUpdate{}, "401 403 403 200 403 403"},
	{"DELETE", "/api/v1/machines/bbb222", nil, "401 403 403 204 403 403"},
	{"POST", "/api/v1/machines/bbb222/actions/release", ActionRequest{}, "401 200 404 200 403 403"},
	{"GET", "/api/v1/machines/bbb222/timeline", nil, "401 200 404 200 403 403"},
	{"POST", "/api/v1/machines/bbb222/token", nil, "401 403 403 201 403 403"},
	{"GET", "/api/v1/ipaddresses", nil, "401 200 200 200 403 403"},
	{"POST", "/api/v1/ipaddresses", IPReserve{SubnetID: 1, IP: "10.20.0.7"}, "401 201 201 201 403 403"},
	{"DELETE", "/api/v1/ipaddresses/1", nil, "401 204 403 204 403 403"},
	{"GET", "/api/v1/regions", nil, "401 200 200 200 403 403"},
	{"GET", "/api/v1/racks", nil, "401 200 200 200 403 403"},
	{"GET", "/api/v1/racks/1", nil, "401 200 200 200 403 403"},
	{"DELETE", "/api/v1/racks/1", nil, "401 403 403 204 403 403"},
	{"POST", "/api/v1/racks/1/sync-images", nil, "401 403 403 202 403 403"},
	{"POST", "/api/v1/racks/1/reconfigure", nil, "401 403 403 202 403 403"},
	{"GET", "/api/v1/events", nil, "401 200 200 200 403 403"},
	{"POST", "/api/v1/metadata/enlist", Enlist{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:00:00:02"}}, "201 201 201 201 201 201"},
	{"GET", "/api/v1/metadata/bbb222/commissioning-scripts", nil, "401 403 403 200 403 200"},
	{"POST", "/api/v1/metadata/bbb222/commissioning-result", CommissioningResult{}, "401 403 403 204 403 204"},
	{"POST", "/api/v1/metadata/bbb222/heartbeat", nil, "401 403 403 204 403 204"},
	{"GET", "/api/v1/metadata/bbb222/deploy", nil, "401 403 403 200 403 200"},
	{"GET", "/api/v1/metadata/bbb222/nocloud/user-data", nil, "401 403 403 200 403 200"},
	{"GET", "/api/v1/metadata/bbb222/nocloud/meta-data", nil, "401 403 403 200 403 200"},
	{"POST", "/api/v1/metadata/bbb222/signal", Signal{Status: "booted"}, "401 403 403 204 403 204"},
	{"GET", "/api/v1/boot-resources", nil, "401 200 200 200 403 403"},
	{"PUT", "/api/v1/boot-resources/ubuntu/amd64/generic/noble/generic/1/root.tar.xz", nil, "401 403 403 201 403 403"},
	{"POST", "/api/v1/boot-resources/import", ImportRequest{Source: "/srv/mirror"}, "401 403 403 202 403 403"},
	{"GET", "/api/v1/boot-resources/import", nil, "401 403 403 200 403 403"},
	{"GET", "/images/v1/manifest", nil, "200 200 200 200 200 200"},
	{"POST", "/images/v1/inventory", nil, "401 403 403 403 200 403"},
	{"GET", "/rpc/v1/ping", nil, "401 403 403 403 200 403"},
	{"POST", "/rpc/v1/ping", nil, "401 403 403 403 200 403"},
	{"PUT", "/rpc/v1/ping", nil, "401 403 403 403 200 403"},
	{"DELETE", "/rpc/v1/ping", nil, "401 403 403 403 200 403"},
	// Registration: the HMAC proof is the credential, checked by the RPC.
	{"POST", "/rpc/v1/challenge", map[string]any{}, "200 200 200 200 200 200"},
	{"POST", "/rpc/v1/register", map[string]any{}, "200 200 200 200 200 200"},
}

func init() {
	// The seven plain collections share one row pattern.
	for _, c := range []struct {
		plural string
		body   any
	}{
		{"fabrics", Fabric{Name: "f2"}}, {"vlans", VLAN{FabricID: 1, VID: 5, MTU: 1500}},
		{"subnets", Subnet{VLANID: 1, CIDR: "10.21.0.0/24"}}, {"ipranges", IPRange{SubnetID: 1, Type: "reserved", StartIP: "10.20.0.1", EndIP: "10.20.0.9"}},
		{"zones", Zone{Name: "z2"}}, {"pools", Pool{Name: "p2"}}, {"tags", Tag{Name: "t2"}},
	} {
		base := "/api/v1/" + c.plural
		matrix = append(matrix,
			struct {
				method, path string
				body         any
				want         string
			}{"GET", base, nil, "401 200 200 200 403 403"},
			struct {
				method, path string
				body         any
				want         string
			}{"POST", base, c.body, "401 403 403 201 403 403"},
			struct {
				method, path string
				body         any
				want         string
			}{"GET", base + "/1", nil, "401 200 200 200 403 403"},
			struct {
				method, path string
				body         any
				want         string
			}{"PATCH", base + "/1", map[string]any{}, "401 403 403 200 403 403"},
			struct {
				method, path string
				body         any
				want         string
			}{"DELETE", base + "/1", nil, "401 403 403 204 403 403"},
		)
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	w0 := newWorld(t)
	covered := map[string]bool{}
	for _, row := range matrix {
		want := strings.Fields(row.want)
		if len(want) != len(matrixPrincipals) {
			t.Fatalf("%s %s: want %d statuses", row.method, row.path, len(matrixPrincipals))
		}
		covered[routeOf(t, w0.srv, row.method, row.path)] = true
		for i, p := range matrixPrincipals {
			w := newWorld(t)
			rec := w.do(t, p, row.method, row.path, row.body)
			if got := strconv.Itoa(rec.Code); got != want[i] {
				t.Errorf("%s %s as %s: got %s, want %s: %s", row.method, row.path, p, got, want[i], rec.Body.String())
			}
		}
	}
	for _, rt := range w0.srv.Routes() {
		if !covered[rt.Pattern()] {
			t.Errorf("route %s (%s) has no row in the authorization matrix", rt.Pattern(), rt.Op)
		}
	}
}

// routeOf returns the pattern of the route that serves method path.
func routeOf(t *testing.T, s *Server, method, path string) string {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	_, pattern := s.mux.Handler(req)
	if pattern == "" || pattern == "/" {
		t.Fatalf("%s %s: no route", method, path)
	}
	return pattern
}

func TestOtherMachineTokenForbidden(t *testing.T) {
	w := newWorld(t)
	for _, path := range []string{"/api/v1/metadata/ccc333/deploy", "/api/v1/metadata/aaa111/commissioning-scripts"} {
		if rec := w.do(t, "machine", "GET", path, nil); rec.Code != http.StatusForbidden {
			t.Errorf("machine token of bbb222 on %s: %d", path, rec.Code)
		}
	}
}

func TestOpenAPIMatchesServedRoutes(t *testing.T) {
	w := newWorld(t)
	rec := w.do(t, "anonymous", "GET", "/api/v1/openapi.json", nil)
	if rec.Code != 200 {
		t.Fatalf("openapi.json: %d", rec.Code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
		Comps   struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, rt := range w.srv.Routes() {
		served[rt.Pattern()] = true
	}
	param := regexp.MustCompile(`\{[a-z_]+(\.\.\.)?\}`)
	documented := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			documented++
			m := strings.ToUpper(method)
			if !served[m+" "+path] {
				t.Errorf("documented %s %s is not in the route table", m, path)
			}
			// The documented operation must reach a handler: fill the
			// parameters and check the mux answers with the same pattern.
			concrete := param.ReplaceAllStringFunc(path, func(p string) string {
				if p == "{system_id}" {
					return "bbb222"
				}
				return "1"
			})
			if got := routeOf(t, w.srv, m, concrete); got != m+" "+path {
				t.Errorf("%s %s is served by %q", m, concrete, got)
			}
			rec := w.do(t, "admin", m, concrete, nil)
			if strings.Contains(rec.Body.String(), "route_not_found") || rec.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %s", m, concrete, rec.Code, rec.Body.String())
			}
		}
	}
	if documented != len(served) {
		t.Errorf("document has %d operations, server %d routes", documented, len(served))
	}
	for _, name := range []string{"Machine", "Error", "VLAN", "DeployInstructions"} {
		if _, ok := doc.Comps.Schemas[name]; !ok {
			t.Errorf("schema %s missing", name)
		}
	}
	if !bytes.Contains(doc.Comps.Schemas["MachineCreate"], []byte(`"writeOnly":true`)) {
		t.Errorf("MachineCreate.power_parameters not marked writeOnly: %s", doc.Comps.Schemas["MachineCreate"])
	}
	if rec := w.do(t, "admin", "GET", "/api/v1/nothing-here", nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), "route_not_found") {
		t.Errorf("undocumented path: %d %s", rec.Code, rec.Body.String())
	}
}

func decodeErr(t *testing.T, rec *httptest.ResponseRecorder) Error {
	t.Helper()
	var e Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	if e.Status != rec.Code || e.Code == "" || e.Message == "" {
		t.Fatalf("error body incomplete: %+v (HTTP %d)", e, rec.Code)
	}
	return e
}

func TestErrorModel(t *testing.T) {
	w := newWorld(t)
	// 400 names the field and the value.
	rec := w.do(t, "admin", "PATCH", "/api/v1/vlans/1", map[string]any{"mtu": "big"})
	if e := decodeErr(t, rec); rec.Code != 400 || e.Field != "mtu" || e.Value != "string" {
		t.Errorf("type mismatch: %d %+v", rec.Code, e)
	}
	rec = w.do(t, "admin", "POST", "/api/v1/machines", MachineCreate{Hostname: "n1", Architecture: "amd64/generic", MACAddresses: []string{"zz:00"}})
	if e := decodeErr(t, rec); rec.Code != 400 || e.Field != "mac_addresses[0]" || e.Value != "zz:00" {
		t.Errorf("bad mac: %d %+v", rec.Code, e)
	}
	rec = w.do(t, "admin", "POST", "/api/v1/fabrics", map[string]any{"nme": "x"})
	if e := decodeErr(t, rec); rec.Code != 400 || e.Field != "nme" {
		t.Errorf("unknown field: %d %+v", rec.Code, e)
	}
	rec = w.do(t, "admin", "GET", "/api/v1/machines?status=sleeping", nil)
	if e := decodeErr(t, rec); rec.Code != 400 || e.Field != "status" || e.Value != "sleeping" {
		t.Errorf("bad status filter: %d %+v", rec.Code, e)
	}
	rec = w.do(t, "admin", "POST", "/api/v1/machines/bbb222/actions/fly", nil)
	if e := decodeErr(t, rec); rec.Code != 400 || e.Field != "action" {
		t.Errorf("bad action: %d %+v", rec.Code, e)
	}
	// 404.
	rec = w.do(t, "admin", "GET", "/api/v1/machines/zzz999", nil)
	if e := decodeErr(t, rec); rec.Code != 404 || e.Code != "not_found" {
		t.Errorf("missing machine: %d %+v", rec.Code, e)
	}
	// 409: invalid transition names status, action and allowed actions.
	rec = w.do(t, "admin", "POST", "/api/v1/machines/ccc333/actions/commission", nil)
	e := decodeErr(t, rec)
	if rec.Code != 409 || e.Code != "invalid_transition" || e.MachineStatus != lifecycle.Deployed || e.Action != lifecycle.ActionCommission || len(e.AllowedActions) == 0 {
		t.Errorf("invalid transition: %d %+v", rec.Code, e)
	}
	// 401 with a bad token, and the WWW-Authenticate header.
	w.tokens["forged"] = "ikk_" + strings.Repeat("A", 43)
	rec = w.do(t, "forged", "GET", "/api/v1/machines", nil)
	if e := decodeErr(t, rec); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("forged key: %d %+v", rec.Code, e)
	}
}

func TestPowerSecretsWriteOnly(t *testing.T) {
	w := newWorld(t)
	for _, rec := range []*httptest.ResponseRecorder{
		w.do(t, "admin", "GET", "/api/v1/machines/bbb222", nil),
		w.do(t, "admin", "GET", "/api/v1/machines", nil),
		w.do(t, "admin", "POST", "/api/v1/machines", MachineCreate{Hostname: "n9", Architecture: "amd64/generic",
			MACAddresses: []string{"52:54:00:00:00:09"}, PowerType: "redfish",
			PowerParameters: map[string]string{"power_address": "10.0.0.10", "power_pass": "hunter2", "api_token": "hunter2"}}),
		w.do(t, "admin", "PATCH", "/api/v1/machines/bbb222", MachineUpdate{PowerParameters: map[string]string{"power_pass": "hunter2"}}),
	} {
		if rec.Code >= 300 {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		if strings.Contains(rec.Body.String(), "hunter2") {
			t.Errorf("BMC secret in response: %s", rec.Body.String())
		}
		if !strings.Contains(rec.Body.String(), "power_address") {
			t.Errorf("non-secret parameter missing: %s", rec.Body.String())
		}
	}
}

func TestVisibilityAndPagination(t *testing.T) {
	w := newWorld(t)
	list := func(who, query string) MachinePage {
		rec := w.do(t, who, "GET", "/api/v1/machines"+query, nil)
		if rec.Code != 200 {
			t.Fatalf("list %s: %d %s", query, rec.Code, rec.Body.String())
		}
		var p MachinePage
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ids := func(p MachinePage) string {
		var out []string
		for _, m := range p.Machines {
			out = append(out, m.SystemID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(list("alice", "")); got != "aaa111,bbb222" {
		t.Errorf("alice sees %s", got)
	}
	if got := ids(list("bob", "")); got != "aaa111,ccc333" {
		t.Errorf("bob sees %s", got)
	}
	p1 := list("admin", "?limit=2")
	if ids(p1) != "aaa111,bbb222" || p1.Next == "" {
		t.Fatalf("page 1: %s next %q", ids(p1), p1.Next)
	}
	p2 := list("admin", "?limit=2&cursor="+p1.Next)
	if ids(p2) != "ccc333" || p2.Next != "" {
		t.Fatalf("page 2: %s next %q", ids(p2), p2.Next)
	}
	if got := ids(list("admin", "?owner=bob")); got != "ccc333" {
		t.Errorf("owner filter: %s", got)
	}
	m := list("alice", "").Machines[1]
	if m.StatusTitle != "Allocated" || len(m.AllowedActions) == 0 {
		t.Errorf("presented machine: %+v", m)
	}
	if rec := w.do(t, "admin", "GET", "/api/v1/machines?cursor=bogus", nil); rec.Code != 400 {
		t.Errorf("bad cursor: %d", rec.Code)
	}
	// A user may not act on a Ready machine they do not own.
	if rec := w.do(t, "alice", "POST", "/api/v1/machines/aaa111/actions/deploy", nil); rec.Code != 403 {
		t.Errorf("deploy unowned ready: %d %s", rec.Code, rec.Body.String())
	}
}

func TestLoginIssuesWorkingKey(t *testing.T) {
	w := newWorld(t)
	if rec := w.do(t, "anonymous", "POST", "/api/v1/login", Login{Username: "alice", Password: "wrong"}); rec.Code != 401 {
		t.Fatalf("wrong password: %d", rec.Code)
	}
	if rec := w.do(t, "anonymous", "POST", "/api/v1/login", Login{Username: "nobody", Password: "x"}); rec.Code != 401 {
		t.Fatalf("unknown user: %d", rec.Code)
	}
	rec := w.do(t, "anonymous", "POST", "/api/v1/login", Login{Username: "alice", Password: alicePassword, KeyName: "cli"})
	var lr LoginReply
	if err := json.Unmarshal(rec.Body.Bytes(), &lr); err != nil || lr.APIKey.Key == "" {
		t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	w.tokens["new"] = lr.APIKey.Key
	rec = w.do(t, "new", "GET", "/api/v1/users/me", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"alice"`) {
		t.Fatalf("whoami with new key: %d %s", rec.Code, rec.Body.String())
	}
	// The key list never shows keys themselves.
	rec = w.do(t, "new", "GET", "/api/v1/users/me/api-keys", nil)
	if strings.Contains(rec.Body.String(), lr.APIKey.Key) || strings.Contains(rec.Body.String(), `"key"`) {
		t.Fatalf("key list shows a key: %s", rec.Body.String())
	}
}

func TestRunServesAndStops(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.srv.Serve(ctx, ln) }()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/api/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	var v Version
	_ = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if v.Version != "test" || v.APIVersion != APIVersion {
		t.Fatalf("version %+v", v)
	}
	resp, err = client.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	_ = body
	client.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestMetricsCountRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	be := newWorld(t).be
	srv, err := New(Config{Backend: be.backend(), Hasher: testHasher, Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		srv.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/version", nil))
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `ironkit_region_http_requests_total{code="200",op="getVersion"} 3`) {
		t.Fatalf("metrics:\n%s", rec.Body.String())
	}
	if _, err := New(Config{Backend: Backend{}}); err == nil || !strings.Contains(err.Error(), "Backend.Tokens") {
		t.Fatalf("New with no backend: %v", err)
	}
}

// Every $ref of the OpenAPI document resolves, every operation has a
// unique operationId and a success response.
func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := OpenAPI(newWorld(t).srv.Routes(), "test")
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	schemas := generic["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	refs := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				refs++
				name := strings.TrimPrefix(r, "#/components/schemas/")
				if _, ok := schemas[name]; !ok {
					t.Errorf("dangling $ref %s", r)
				}
			}
			for _, vv := range x {
				walk(vv)
			}
		case []any:
			for _, vv := range x {
				walk(vv)
			}
		}
	}
	walk(generic)
	if refs == 0 {
		t.Fatal("no $ref at all")
	}
	ops := map[string]bool{}
	for path, item := range generic["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o := op.(map[string]any)
			id, _ := o["operationId"].(string)
			if id == "" || ops[id] {
				t.Errorf("%s %s: operationId %q missing or repeated", method, path, id)
			}
			ops[id] = true
			hasSuccess := false
			for code := range o["responses"].(map[string]any) {
				hasSuccess = hasSuccess || strings.HasPrefix(code, "2")
			}
			if !hasSuccess {
				t.Errorf("%s %s: no 2xx response", method, path)
			}
		}
	}
}
