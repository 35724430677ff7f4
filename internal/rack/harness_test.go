package rack_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
	"github.com/ironkit/ironkit/internal/rpc"
)

// logBuf is a concurrency-safe log sink tests read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testRegion struct {
	svc    *region.Service
	rpc    *rackrpc.Server
	url    string
	secret string
	logs   *logBuf
	stop   func()
	// served is closed when the region's Serve returned (it must not
	// while the test runs).
	served chan struct{}
}

func startRegion(t testing.TB, dsn string) *testRegion {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRegionOn(t, dsn, ln)
}

// startRegionOn serves a region on ln (which may be inside a namespace).
func startRegionOn(t testing.TB, dsn string, ln net.Listener) *testRegion {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.Database = dsn
	cfg.Listen = "127.0.0.1:0"
	cfg.ImagesDir = t.TempDir()
	cfg.Jobs.SweepInterval = config.Duration(time.Second)
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, srv, err := rackrpc.OpenRegion(ctx, cfg, region.Options{Logger: log},
		rackrpc.Config{PollInterval: 20 * time.Millisecond, DeadAfter: 3 * time.Second, CommandTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := region.Init(ctx, svc.Store()); err != nil {
		t.Fatal(err)
	}
	secret, err := region.RackSecret(ctx, svc.Store())
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	served := make(chan struct{})
	go func() { done <- svc.Serve(rctx, ln); close(served) }()
	r := &testRegion{svc: svc, rpc: srv, url: "http://" + ln.Addr().String(), secret: secret, logs: logs, served: served}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			srv.Stop()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("region Serve: %v", err)
			}
			svc.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

func sqliteDSN(t testing.TB) string { return filepath.Join(t.TempDir(), "region.db") }

// ifaces is a settable interface inventory for an in-process rack.
type ifaces struct {
	mu  sync.Mutex
	ifs []rpc.Interface
}

func (f *ifaces) set(ifs ...rpc.Interface) {
	f.mu.Lock()
	f.ifs = ifs
	f.mu.Unlock()
}

func (f *ifaces) get() ([]rpc.Interface, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rpc.Interface(nil), f.ifs...), nil
}

type testRack struct {
	svc  *rack.Service
	file rack.File
	ifs  *ifaces
	logs *logBuf
	stop func()
}

// startRack registers a rack named name and runs it in-process with boot
// servers on loopback ports and the image cache off.
func startRack(t *testing.T, urls []string, secret, name string, tweak func(*rack.Config)) *testRack {
	t.Helper()
	ctx := context.Background()
	reply, err := rack.Register(ctx, urls, secret, name, rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := rack.File{Regions: urls, Name: name, RackID: reply.RackID, Token: reply.Token, StateDir: t.TempDir(),
		TFTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Images: "off", HeartbeatInterval: "200ms"}
	return runRack(t, f, tweak)
}

func runRack(t *testing.T, f rack.File, tweak func(*rack.Config)) *testRack {
	t.Helper()
	logs := &logBuf{}
	ifs := &ifaces{}
	ifs.set(rpc.Interface{Name: "lo", MAC: "", Addresses: nil})
	cfg := rack.Config{File: f, Logger: slog.New(slog.NewTextHandler(logs, nil)), Interfaces: ifs.get, PollWait: 2 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	svc, err := rack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	r := &testRack{svc: svc, file: f, ifs: ifs, logs: logs}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("rack Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("rack Run did not return 20s after cancel")
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func postJSON(t *testing.T, url string, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
