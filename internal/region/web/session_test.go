package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/web"
)

// fakeAPI answers login for ann/pw and lists no machines; it records
// revoked keys.
type fakeAPI struct {
	mu      sync.Mutex
	revoked []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/login":
		var l api.Login
		_ = json.NewDecoder(r.Body).Decode(&l)
		if l.Username != "ann" || l.Password != "pw" {
			w.WriteHeader(401)
			_ = json.NewEncoder(w).Encode(api.Error{Status: 401, Code: "unauthorized", Message: "bad password"})
			return
		}
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(api.LoginReply{User: api.User{ID: 1, Username: "ann"}, APIKey: api.APIKey{ID: 7, Key: "ikk_test"}})
	case r.Header.Get("Authorization") != "Bearer ikk_test":
		w.WriteHeader(401)
		_ = json.NewEncoder(w).Encode(api.Error{Status: 401, Code: "unauthorized", Message: "who?"})
	case r.Method == "DELETE":
		f.mu.Lock()
		f.revoked = append(f.revoked, r.URL.Path)
		f.mu.Unlock()
		w.WriteHeader(204)
	case r.URL.Path == "/api/v1/machines":
		_ = json.NewEncoder(w).Encode(api.MachinePage{Machines: []api.Machine{}})
	default:
		_, _ = w.Write([]byte("[]"))
	}
}

func cookieOf(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSessionCookieAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fa := &fakeAPI{}
	h, err := web.New(web.Config{API: fa, SessionTTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// The login form over TLS (here: behind a TLS-terminating proxy).
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/ui/login", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	h.ServeHTTP(rec, req)
	lc := cookieOf(rec, web.LoginCSRFCookie)
	if lc == nil || !lc.Secure || !lc.HttpOnly || lc.SameSite != http.SameSiteLaxMode {
		t.Fatalf("login CSRF cookie: %+v", lc)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP: %q", csp)
	}
	form := url.Values{"username": {"ann"}, "password": {"pw"}, "csrf": {lc.Value}, "next": {"//evil.example/"}}
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("POST", "/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.AddCookie(lc)
	h.ServeHTTP(rec, req)
	sc := cookieOf(rec, web.SessionCookie)
	if rec.Code != http.StatusSeeOther || sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode {
		t.Fatalf("login: %d %+v", rec.Code, sc)
	}
	if loc := rec.Header().Get("Location"); loc != "/ui/machines" {
		t.Fatalf("login redirected off-site: %q", loc)
	}
	get := func() int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/ui/machines", nil)
		req.AddCookie(sc)
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := get(); c != 200 {
		t.Fatalf("machines with the session: %d", c)
	}
	mu.Lock()
	now = now.Add(59 * time.Minute) // still within the idle TTL
	mu.Unlock()
	if c := get(); c != 200 {
		t.Fatalf("machines after 59 idle minutes: %d", c)
	}
	mu.Lock()
	now = now.Add(61 * time.Minute)
	mu.Unlock()
	if c := get(); c != http.StatusSeeOther {
		t.Fatalf("machines after 61 idle minutes: %d, want a redirect to log in", c)
	}
	if n := h.Sessions(); n != 0 {
		t.Fatalf("%d sessions after expiry", n)
	}
	// JSON polls answer 401 instead of a redirect.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("GET", "/ui/machines.json", nil)
	req.AddCookie(sc)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired JSON poll: %d", rec.Code)
	}
}

func TestLogoutRevokesKey(t *testing.T) {
	fa := &fakeAPI{}
	h, err := web.New(web.Config{API: fa})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := newBrowser(t, srv.URL)
	b.login("ann", "pw")
	if code, _ := b.post("/ui/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if len(fa.revoked) != 1 || fa.revoked[0] != "/api/v1/users/me/api-keys/7" {
		t.Fatalf("revoked: %v", fa.revoked)
	}
}

func TestNewNeedsAPI(t *testing.T) {
	if _, err := web.New(web.Config{}); err != web.ErrNoAPI {
		t.Fatalf("New without API: %v", err)
	}
}
