package pxe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"sync"
	"time"
)

// HTTPServer is the HTTP boot server: iPXE scripts per MAC, kernels,
// initrds and root images, with Range, ETag/If-None-Match and
// If-Modified-Since (http.ServeContent). It never redirects: UEFI HTTP boot
// does not follow redirects, so directories and unclean paths are errors,
// not 301s.
type HTTPServer struct {
	cfg   config
	files Files

	mu sync.Mutex
	ln net.Listener
}

// NewHTTPServer returns a server for files (nil: only what the resolver
// generates).
func NewHTTPServer(files Files, opts ...Option) *HTTPServer {
	return &HTTPServer{cfg: newConfig(DefaultHTTPAddr, opts), files: files}
}

// Listen opens the TCP listener.
func (s *HTTPServer) Listen(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("pxe: http listen on %q: %w", s.cfg.addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr is the address Listen bound, or nil before Listen.
func (s *HTTPServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run listens and serves until ctx ends.
func (s *HTTPServer) Run(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve serves on the listener Listen opened until ctx ends; transfers in
// flight get 5 s to finish.
func (s *HTTPServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("pxe: HTTPServer.Serve called before Listen")
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	}()
	err := hs.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Handler returns the boot handler, for mounting in another server.
func (s *HTTPServer) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *HTTPServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := s.cfg.metrics
	m.inFlight.WithLabelValues("http").Inc()
	defer m.inFlight.WithLabelValues("http").Dec()
	cw := &countingWriter{ResponseWriter: w}
	var remote netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = ap.Addr().Unmap()
	}
	name, err := s.serve(cw, r, remote)
	d := time.Since(start)
	res := classify(err)
	m.observe("http", res, cw.n, d)
	mac := macFromName(name)
	if q := r.URL.Query().Get("mac"); mac == nil && q != "" {
		mac, _ = parseMAC(q)
	}
	if mac == nil && s.cfg.macLookup != nil && remote.IsValid() {
		mac = s.cfg.macLookup(remote)
	}
	attrs := []any{"proto", "http", "remote", remote.String(), "mac", macString(mac), "method", r.Method,
		"file", truncate(r.URL.Path, 300), "status", cw.status(), "bytes", cw.n, "duration", d, "result", string(res)}
	switch res {
	case resultOK, resultNotFound:
		s.cfg.log.Info("pxe request", attrs...)
	default:
		s.cfg.log.Warn("pxe request refused", append(attrs, "err", err)...)
	}
}

func (s *HTTPServer) serve(w http.ResponseWriter, r *http.Request, remote netip.Addr) (string, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the boot server is read-only", http.StatusMethodNotAllowed)
		return "", fmt.Errorf("%w: method %s", ErrInvalidName, r.Method)
	}
	name, err := CleanName(r.URL.Path)
	if err != nil {
		http.Error(w, "invalid file name", http.StatusBadRequest)
		return "", err
	}
	f, generated, err := open(r.Context(), s.files, s.cfg.resolver, Request{Proto: "http", Name: name, Remote: remote, Query: r.URL.Query()})
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
		return name, err
	case errors.Is(err, ErrInvalidName):
		http.Error(w, "invalid file name", http.StatusBadRequest)
		return name, err
	case err != nil:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return name, err
	}
	defer f.Body.Close()
	h := w.Header()
	etag := f.ETag
	if etag == "" {
		// nginx's form: strong, from modification time and size.
		etag = `"` + strconv.FormatInt(f.ModTime.Unix(), 16) + "-" + strconv.FormatInt(f.Size, 16) + `"`
	}
	h.Set("ETag", etag)
	if generated {
		h.Set("Cache-Control", "no-store")
	}
	ct := contentTypes[path.Ext(name)]
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct) // set, so ServeContent does not sniff
	// ServeContent does HEAD, Range (multi-range, 416 on unsatisfiable),
	// If-None-Match, If-Modified-Since, If-Range and Content-Length; with an
	// *os.File body and countingWriter.ReadFrom the copy is sendfile.
	http.ServeContent(w, r, name, f.ModTime, f.Body)
	return name, nil
}

// contentTypes for the boot files whose type matters to a client.
var contentTypes = map[string]string{
	".ipxe": "text/plain; charset=utf-8",
	".cfg":  "text/plain; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".efi":  "application/efi",
}

// countingWriter counts body bytes and keeps ReadFrom (sendfile) available.
type countingWriter struct {
	http.ResponseWriter
	n    int64
	code int
}

func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(c.ResponseWriter, r)
	}
	c.n += n
	return n, err
}

func (c *countingWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
