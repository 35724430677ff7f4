package pxe

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func startHTTP(t *testing.T, files Files, opts ...Option) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := NewHTTPServer(files, append([]Option{WithAddr("127.0.0.1:0")}, opts...)...)
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}

// curl runs curl and returns stdout; it fails t on a curl error.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return string(out)
}

func TestHTTPCurl(t *testing.T) {
	testenv.RequireBinaries(t, "curl")
	dir, sums := bootRoot(t, map[string]int{"small.bin": 1000, "big.bin": 8<<20 + 3, "sub/k.efi": 4096})
	var log logBuffer
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	base := startHTTP(t, dirFiles(t, dir), WithLogger(log.logger()), WithMetrics(m))
	out := t.TempDir()

	for name, sum := range sums {
		local := filepath.Join(out, strings.ReplaceAll(name, "/", "_"))
		curl(t, "-f", "-o", local, base+"/"+name)
		b, _ := os.ReadFile(local)
		if sha256.Sum256(b) != sum {
			t.Fatalf("curl %s: content differs (%d bytes)", name, len(b))
		}
	}
	code := func(args ...string) string {
		return curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
	}
	head := curl(t, "-I", base+"/small.bin")
	if !strings.Contains(head, "Content-Length: 1000") || !strings.Contains(head, "Accept-Ranges: bytes") || !strings.Contains(head, "Etag: \"") {
		t.Fatalf("HEAD headers:\n%s", head)
	}
	etag := ""
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Etag: "); ok {
			etag = v
		}
	}
	lastMod := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"range":              {[]string{"-r", "10-19"}, "206"},
		"suffix range":       {[]string{"-r", "-100"}, "206"},
		"multi range":        {[]string{"-r", "0-9,20-29"}, "206"},
		"unsatisfiable":      {[]string{"-r", "5000-6000"}, "416"},
		"invalid range":      {[]string{"-H", "Range: bytes=9-1"}, "416"},
		"garbage range":      {[]string{"-H", "Range: bytes=x-y"}, "416"},
		"if-none-match":      {[]string{"-H", "If-None-Match: " + etag}, "304"},
		"if-none-match *":    {[]string{"-H", "If-None-Match: *"}, "304"},
		"if-none-match miss": {[]string{"-H", `If-None-Match: "other"`}, "200"},
		"if-modified-since":  {[]string{"-H", "If-Modified-Since: " + lastMod}, "304"},
		"post":               {[]string{"-X", "POST", "-d", "x"}, "405"},
	} {
		if got := code(append(tc.args, base+"/small.bin")...); got != tc.want {
			t.Errorf("%s: status %s, want %s", name, got, tc.want)
		}
	}
	if body := curl(t, "-r", "10-19", base+"/sub/k.efi"); len(body) != 10 {
		t.Errorf("range body %d bytes, want 10", len(body))
	}
	multi := curl(t, "-i", "-r", "0-9,20-29", base+"/small.bin")
	if !strings.Contains(multi, "multipart/byteranges") {
		t.Errorf("multi-range response is not multipart:\n%.300s", multi)
	}
	// No redirects anywhere: UEFI firmware does not follow them.
	for _, p := range []string{"/dir", "/dir/", "//small.bin", "/sub/./k.efi", "/sub/../small.bin", "/", "/index.html"} {
		if got := code("--path-as-is", base+p); got[0] == '3' || got == "200" {
			t.Errorf("GET %s: status %s, want a 4xx and never a redirect", p, got)
		}
	}
	log.waitLog(t, "file=/big.bin", fmt.Sprintf("bytes=%d", 8<<20+3), "status=206", "status=304")
	if n := testutil.ToFloat64(m.bytes.WithLabelValues("http")); n < 8<<20 {
		t.Errorf("sent_bytes_total{proto=http} = %v, want ≥ 8 MiB", n)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("http", "ok")); n < 10 {
		t.Errorf("requests_total{ok} = %v", n)
	}
}

func TestHTTPTraversal(t *testing.T) {
	testenv.RequireBinaries(t, "curl")
	dir, _ := bootRoot(t, map[string]int{"small.bin": 10})
	var log logBuffer
	base := startHTTP(t, dirFiles(t, dir), WithLogger(log.logger()))
	paths := []string{"/../secret", "/../../../../etc/passwd", "/%2e%2e/secret", "/%2E%2E%2Fsecret", "/..%2fsecret",
		"/%252e%252e/secret", "/escape", "/abs-escape", "/dir/deep-escape", "/dir/../../secret", "/small.bin%00",
		"/" + strings.Repeat("a/", 200) + "x", "/" + strings.Repeat("b", 400), "/..%5csecret", "/etc/passwd"}
	for _, p := range paths {
		got := curl(t, "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base+p)
		if got != "400" && got != "404" {
			t.Errorf("GET %s: status %s, want 400 or 404", p, got)
		}
	}
	log.waitLog(t, "pxe request refused", "file=/escape", "file=/dir/deep-escape", "bbbbbbbb")
	if strings.Contains(log.String(), "result=ok") {
		t.Fatalf("a traversal request was served:\n%s", log.String())
	}
	// And the raw socket view: a NUL byte in the request line itself.
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET /small.bin\x00/../secret HTTP/1.1\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(io.LimitReader(c, 200))
	if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Fatalf("NUL in request line: %q", b)
	}
}

// TestHTTPBootConfigs serves rendered iPXE scripts per MAC through ConfigResolver.
func TestHTTPBootConfigs(t *testing.T) {
	dir, _ := bootRoot(t, map[string]int{"small.bin": 10})
	r, _ := NewRenderer(nil)
	known := "52:54:00:aa:bb:cc"
	src := BootSourceFunc(func(_ context.Context, q BootQuery) (BootParams, error) {
		p := testParams(Enlist, q.Platform, nil)
		if q.MAC.String() == known {
			p = testParams(Deploy, q.Platform, nil)
		}
		return p, nil
	})
	var log logBuffer
	base := startHTTP(t, dirFiles(t, dir), WithLogger(log.logger()),
		WithResolver(&ConfigResolver{Source: src, Renderer: r, ServerURL: "http://10.77.0.1:5248"}))
	get := func(p string) (int, string, http.Header) {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := get("/ipxe/x86_64-efi/52-54-00-aa-bb-cc.ipxe")
	if code != 200 || !strings.Contains(body, "ironkit.purpose=deploy") || !strings.Contains(body, "BOOTIF=01-52-54-00-aa-bb-cc") {
		t.Fatalf("known MAC script: %d\n%s", code, body)
	}
	if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("generated script headers: %v", h)
	}
	if _, body, _ = get("/ipxe/boot.ipxe?mac=52:54:00:00:00:01&buildarch=x86_64&platform=pcbios"); !strings.Contains(body, "ironkit.purpose=enlist") {
		t.Fatalf("unknown MAC via query: %s", body)
	}
	if _, body, _ = get("/boot.ipxe"); !strings.Contains(body, "chain http://10.77.0.1:5248/ipxe/${buildarch}-${platform}/${net0/mac:hexhyp}.ipxe") {
		t.Fatalf("chain script: %s", body)
	}
	if code, body, _ = get("/pxelinux.cfg/01-52-54-00-aa-bb-cc"); code != 200 || !strings.Contains(body, "APPEND") {
		t.Fatalf("pxelinux: %d %s", code, body)
	}
	if code, body, _ = get("/grub/x86_64/grub.cfg-52:54:00:aa:bb:cc"); code != 200 || !strings.Contains(body, "linux /images") {
		t.Fatalf("grub: %d %s", code, body)
	}
	if code, _, _ = get("/ipxe/sparc-efi/52-54-00-aa-bb-cc.ipxe"); code != 404 {
		t.Fatalf("unknown platform: %d, want 404", code)
	}
	log.waitLog(t, "mac=52:54:00:aa:bb:cc", "mac=52:54:00:00:00:01")
}
