package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names.
const (
	SessionCookie = "ironkit_session"
	// LoginCSRFCookie carries the double-submit token of the login form.
	LoginCSRFCookie = "ironkit_login_csrf"
)

// Config configures the web page.
type Config struct {
	// API is the region's API handler (api.Server.Handler); every page
	// calls it in-process with the session's API key. Required.
	API http.Handler
	// Logger; nil discards.
	Logger *slog.Logger
	// SessionTTL ends a session idle for this long (default 12h).
	SessionTTL time.Duration
	// PageSize is the number of machines on a list page (default 50).
	PageSize int
	// PollInterval is how often pages poll for changes (default 2s).
	PollInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Handler serves the web page.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session
}

type session struct {
	id       string
	csrf     string
	key      string
	keyID    int64
	user     api.User
	lastSeen time.Time
	flash    string
}

// ErrNoAPI is returned by New without Config.API.
var ErrNoAPI = errors.New("web: Config.API is nil: pass the region's API handler (api.Server.Handler)")

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.API == nil {
		return nil, ErrNoAPI
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), sessions: map[string]*session{}, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		h.pages[base] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	fileServer := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	h.mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fileServer.ServeHTTP(w, r)
	}))
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /ui/login", h.loginPage)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("POST /ui/logout", h.authed(h.logout))
	h.mux.HandleFunc("GET /ui/machines", h.authed(h.machines))
	h.mux.HandleFunc("GET /ui/machines.json", h.authed(h.machinesJSON))
	h.mux.HandleFunc("GET /ui/machines/{system_id}", h.authed(h.machine))
	h.mux.HandleFunc("GET /ui/machines/{system_id}/state.json", h.authed(h.machineJSON))
	h.mux.HandleFunc("GET /ui/machines/{system_id}/confirm/{action}", h.authed(h.confirm))
	h.mux.HandleFunc("POST /ui/machines/{system_id}/actions/{action}", h.authed(h.act))
	h.mux.HandleFunc("GET /ui/controllers", h.authed(h.controllers))
	h.mux.HandleFunc("GET /ui/networks", h.authed(h.networks))
	h.mux.HandleFunc("GET /ui/networks/vlans/{id}/dhcp", h.authed(h.vlanDHCPEdit))
	h.mux.HandleFunc("POST /ui/networks/vlans/{id}/dhcp", h.authed(h.vlanDHCPSave))
	h.mux.HandleFunc("GET /ui/boot-resources", h.authed(h.bootResources))
	h.mux.HandleFunc("GET /ui/boot-resources/import.json", h.authed(h.importJSON))
	h.mux.HandleFunc("POST /ui/boot-resources/import", h.authed(h.startImport))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, nil, http.StatusNotFound, "error", map[string]any{"Title": "Not found",
			"Error": fmt.Sprintf("There is no page %s. The machines list is at /ui/machines.", r.URL.Path)})
	})
	return h, nil
}

// ServeHTTP serves the web page, setting headers every page shares.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.mux.ServeHTTP(w, r)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionOf returns the request's live session, or nil.
func (h *Handler) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastSeen) > h.cfg.SessionTTL {
		delete(h.sessions, c.Value)
		return nil
	}
	s.lastSeen = now
	return s
}

func (h *Handler) newSession(key string, keyID int64, u api.User) *session {
	now := h.cfg.Now()
	s := &session{id: randomToken(), csrf: randomToken(), key: key, keyID: keyID, user: u, lastSeen: now}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, old := range h.sessions { // sweep expired sessions
		if now.Sub(old.lastSeen) > h.cfg.SessionTTL {
			delete(h.sessions, id)
		}
	}
	h.sessions[s.id] = s
	return s
}

func (h *Handler) dropSession(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, s.id)
}

func (h *Handler) setFlash(s *session, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.flash = msg
}

func (h *Handler) takeFlash(s *session) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

// Sessions is the number of live sessions (tests, metrics).
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: secure(r), MaxAge: maxAge})
}

type authedFunc func(w http.ResponseWriter, r *http.Request, s *session)

// authed requires a session (else redirects to the login page, or answers
// 401 to JSON requests) and, for every state-changing method, the session's
// CSRF token in the form field "csrf" or the X-CSRF-Token header.
func (h *Handler) authed(f authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.sessionOf(r)
		if s == nil {
			if strings.HasSuffix(r.URL.Path, ".json") {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "session expired: log in again at /ui/login"})
				return
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+template.URLQueryEscaper(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.render(w, r, nil, http.StatusUnauthorized, "error", map[string]any{"Title": "Not logged in",
				"Error": "Your session has ended; log in again and repeat the action."})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) != 1 {
				h.render(w, r, s, http.StatusForbidden, "error", map[string]any{"Title": "Form expired",
					"Error": "The form's security token is missing or does not match your session (CSRF protection). Reload the page and try again."})
				return
			}
		}
		f(w, r, s)
	}
}

// bufWriter is an in-memory http.ResponseWriter for in-process API calls.
type bufWriter struct {
	hdr  http.Header
	code int
	buf  bytes.Buffer
}

func (b *bufWriter) Header() http.Header { return b.hdr }
func (b *bufWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.buf.Write(p)
}
func (b *bufWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

// call runs one API request in-process as key ("" anonymous), decoding a
// success into out and an error reply into *api.Error.
func (h *Handler) call(ctx context.Context, key, method, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return err
	}
	req.RemoteAddr = "web"
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	bw := &bufWriter{hdr: http.Header{}}
	h.cfg.API.ServeHTTP(bw, req)
	if bw.code == 0 {
		bw.code = http.StatusOK
	}
	if bw.code >= 300 {
		e := &api.Error{Status: bw.code}
		if err := json.Unmarshal(bw.buf.Bytes(), e); err != nil || e.Message == "" {
			e.Message = strings.TrimSpace(bw.buf.String())
		}
		e.Status = bw.code
		return e
	}
	if out != nil && bw.buf.Len() > 0 {
		if err := json.Unmarshal(bw.buf.Bytes(), out); err != nil {
			return fmt.Errorf("web: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
