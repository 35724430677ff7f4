package images_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/internal/testenv"
)

// The test binary doubles as the region and rack processes of the
// two-process tests: with IRONKIT_IMAGES_CHILD set, TestMain runs a child
// main instead of the tests, so kill -9 hits a real, separate process.
const childEnv = "IRONKIT_IMAGES_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "region":
		os.Exit(childRegion())
	case "rack":
		os.Exit(childRack())
	}
	goleak.VerifyTestMain(m)
}

// childRegion serves a Store over HTTP on 127.0.0.1 and prints
// "LISTEN <url>", then one "GET <sha256> range=<Range header>" line per blob
// request. IRONKIT_IMAGES_FAULT injects one fault into the first GET of a
// blob: "corrupt:<sha256>" flips a byte of the body, "cut:<sha256>:<n>"
// drops the connection after n bytes.
func childRegion() int {
	st, err := images.NewStore(images.StoreConfig{Dir: os.Getenv("IRONKIT_IMAGES_DIR"),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush()
		mu.Unlock()
	}
	fault := strings.Split(os.Getenv("IRONKIT_IMAGES_FAULT"), ":")
	var faulted sync.Once
	h := st.Handler()
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum, isBlob := strings.CutPrefix(r.URL.Path, "/images/v1/blobs/")
		if isBlob && r.Method == http.MethodGet {
			say("GET %s range=%s", sum, r.Header.Get("Range"))
			if len(fault) >= 2 && fault[1] == sum {
				hit := false
				faulted.Do(func() { hit = true })
				if hit {
					switch fault[0] {
					case "corrupt":
						w = &flipWriter{ResponseWriter: w, at: 1000}
					case "cut":
						n, _ := strconv.ParseInt(fault[2], 10, 64)
						w = &cutWriter{ResponseWriter: w, left: n}
					}
				}
			}
		}
		h.ServeHTTP(w, r)
	})}
	say("LISTEN http://%s", ln.Addr())
	_ = srv.Serve(ln)
	return 0
}

type flipWriter struct {
	http.ResponseWriter
	at int64
}

func (f *flipWriter) Write(p []byte) (int, error) {
	if f.at >= 0 && f.at < int64(len(p)) {
		q := append([]byte(nil), p...)
		q[f.at] ^= 0x01
		p = q
	}
	f.at -= int64(len(p))
	return f.ResponseWriter.Write(p)
}

type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		c.left = 0
		_ = n
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// childRack syncs once (SyncNow) into IRONKIT_IMAGES_DIR from the regions in
// IRONKIT_IMAGES_REGIONS (comma-separated), with an optional cap in bytes/s
// IRONKIT_IMAGES_CAP, and prints "SYNCED fetched=<n> err=<err>".
func childRack() int {
	capBps, _ := strconv.ParseInt(os.Getenv("IRONKIT_IMAGES_CAP"), 10, 64)
	c, err := images.NewCache(images.CacheConfig{
		Dir: os.Getenv("IRONKIT_IMAGES_DIR"), Regions: strings.Split(os.Getenv("IRONKIT_IMAGES_REGIONS"), ","),
		RackID: "rack-child", BandwidthLimit: capBps,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		fmt.Println("SYNCED fetched=0 err=" + err.Error())
		return 1
	}
	res := c.SyncNow(context.Background())
	fmt.Printf("SYNCED fetched=%d err=%v\n", res.Fetched, res.Err)
	return 0
}

// startChild starts the test binary as a child process in the given role.
func startChild(t *testing.T, role string, env ...string) *testenv.Process {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + role}, env...)...)
	return testenv.Start(t, cmd)
}

// waitOutput waits until the process printed a line starting with prefix
// and returns the rest of that line.
func waitOutput(t *testing.T, p *testenv.Process, prefix string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	find := func() (string, bool) {
		for _, l := range strings.Split(p.Output(), "\n") {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return rest, true
			}
		}
		return "", false
	}
	for time.Now().Before(deadline) {
		if rest, ok := find(); ok {
			return rest
		}
		select {
		case <-p.Done():
			// It may have printed and exited since the look above (a
			// fast resume does); its output is complete now.
			if rest, ok := find(); ok {
				return rest
			}
			t.Fatalf("child exited (%v) before printing %q:\n%s", p.Wait(0), prefix, p.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("child did not print %q within %v:\n%s", prefix, d, p.Output())
	return ""
}

// startRegion starts a region process on dir and returns its base URL.
func startRegion(t *testing.T, dir string, env ...string) (string, *testenv.Process) {
	t.Helper()
	p := startChild(t, "region", append([]string{"IRONKIT_IMAGES_DIR=" + dir}, env...)...)
	return waitOutput(t, p, "LISTEN ", 20*time.Second), p
}

func testClient(t *testing.T) *http.Client {
	tr := &http.Transport{ResponseHeaderTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func randData(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// upload PUTs one file of an uploaded set and returns its File.
func upload(t *testing.T, c *http.Client, base string, k images.Key, version, name string, body io.Reader, size int64) images.File {
	t.Helper()
	u := base + images.UploadPrefix + k.Path() + "/" + version + "/" + name
	req, _ := http.NewRequest(http.MethodPut, u, body)
	req.ContentLength = size
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s: %s: %s", u, resp.Status, b)
	}
	var f images.File
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func post(t *testing.T, c *http.Client, method, u string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, u, resp.Status, b)
	}
}

// publish uploads files (name → content) as a set and completes it.
func publish(t *testing.T, c *http.Client, base string, k images.Key, version string, files map[string][]byte) map[string]images.File {
	t.Helper()
	out := map[string]images.File{}
	for name, data := range files {
		out[name] = upload(t, c, base, k, version, name, bytes.NewReader(data), int64(len(data)))
	}
	post(t, c, http.MethodPost, base+images.CompletePrefix+k.Path()+"/"+version)
	return out
}

func newCache(t *testing.T, dir string, regions []string, mod func(*images.CacheConfig)) *images.Cache {
	t.Helper()
	cfg := images.CacheConfig{Dir: dir, Regions: regions, RackID: "rack-1", HTTPClient: testClient(t),
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if mod != nil {
		mod(&cfg)
	}
	c, err := images.NewCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func readAll(t *testing.T, c *images.Cache, name string) []byte {
	t.Helper()
	f, err := c.Open(name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func blobCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// vmHWM returns a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
