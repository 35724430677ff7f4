package pxe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
)

// The comparisons below are what `make bench-tftp` and `make bench-http`
// run (mk/pxe.mk). They are tests gated by IRONKIT_BENCH=1 rather than Go
// benchmarks because they time external clients against external reference
// servers in the same run.

const benchEnv = "IRONKIT_BENCH"

func requireBench(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skipf("skipping: comparison benchmark; run `make bench-tftp` / `make bench-http` (sets %s=1)", benchEnv)
	}
	testenv.RequireRoot(t, "the TFTP/HTTP comparison benchmark (network namespaces)")
}

// benchNet is a server namespace and a client namespace joined by a veth.
type benchNet struct {
	srv, cli *testenv.Netns
	srvIP    string
}

func newBenchNet(t *testing.T) benchNet {
	srv, cli := testenv.NewNetns(t), testenv.NewNetns(t)
	testenv.Veth(t, srv, "eth0", cli, "eth0")
	srv.AddAddr(t, "eth0", "10.94.0.1/24")
	cli.AddAddr(t, "eth0", "10.94.0.2/24")
	return benchNet{srv: srv, cli: cli, srvIP: "10.94.0.1"}
}

func benchFile(t *testing.T, dir, name string, size int64) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			t.Fatal(err)
		}
	}
}

// startIronkitTFTP serves dir on addr inside ns.
func startIronkitTFTP(t *testing.T, ns *testenv.Netns, dir, addr string, opts ...Option) {
	ctx, cancel := context.WithCancel(context.Background())
	s := NewTFTPServer(dirFiles(t, dir), append([]Option{WithAddr(addr)}, opts...)...)
	if err := ns.Do(func() error { return s.Listen(ctx) }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	// pin opens each transfer's socket on Serve's thread: keep it in ns.
	go func() { done <- ns.Do(func() error { return s.Serve(ctx) }) }()
	t.Cleanup(func() { cancel(); <-done })
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// atftpGet downloads name from host:port in ns and returns MB/s.
func atftpGet(t *testing.T, ns *testenv.Netns, host, port, name string, size int64, opts ...string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	args := []string{"--get", "-r", name, "-l", "/dev/null", "--option", "blksize 1468"}
	for _, o := range opts {
		args = append(args, "--option", o)
	}
	out, err := ns.Command(ctx, "atftp", append(args, host, port)...).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("atftp get %s from %s:%s: %v\n%s", name, host, port, err, out)
	}
	return float64(size) / 1e6 / d.Seconds()
}

// concurrent runs n atftp clients at once and returns aggregate MB/s.
func concurrent(t *testing.T, ns *testenv.Netns, host, port, name string, size int64, n int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atftpGet(t, ns, host, port, name, size)
		}()
	}
	wg.Wait()
	return float64(size) * float64(n) / 1e6 / time.Since(start).Seconds()
}

func TestBenchTFTP(t *testing.T) {
	requireBench(t)
	testenv.RequireBinaries(t, "atftp", "in.tftpd")
	n := newBenchNet(t)
	dir := t.TempDir()
	const big, small = 64 << 20, 16 << 20
	benchFile(t, dir, "big.bin", big)
	benchFile(t, dir, "small.bin", small)
	runs, concRuns := 7, 3

	// Send-ahead window sweep: one server per window, same veth, runs
	// interleaved across windows so background load spreads evenly.
	windows := []uint{1, 4, 8, 16, 32, 60}
	sweep := make([][]float64, len(windows))
	for i, w := range windows {
		startIronkitTFTP(t, n.srv, dir, n.srvIP+":"+strconv.Itoa(3000+i), WithSendAhead(w))
	}
	for r := 0; r < 7; r++ {
		for i := range windows {
			sweep[i] = append(sweep[i], atftpGet(t, n.cli, n.srvIP, strconv.Itoa(3000+i), "big.bin", big))
		}
	}
	t.Logf("send-ahead sweep, 64 MiB, atftp blksize 1468, median of 7 interleaved runs:")
	for i, w := range windows {
		t.Logf("  window %2d: %6.1f MB/s  (runs %.0f)", w, median(sweep[i]), sweep[i])
	}

	// ironkit (default window) vs tftpd-hpa on the same address, and the
	// lock-step ceiling: pxe/bench/lockstep does one blocking send(2) and
	// one recv(2) per block and nothing else, so what it reaches is the
	// most any lock-step server can get out of atftp on this veth.
	startIronkitTFTP(t, n.srv, dir, n.srvIP+":1069")
	hpa := testenv.Start(t, n.srv.Command(context.Background(), "in.tftpd", "--foreground", "--secure",
		"--address", n.srvIP+":2069", "--blocksize", "65464", dir))
	ceil := testenv.Start(t, n.srv.Command(context.Background(), buildBenchTool(t, "lockstep"),
		"-addr", n.srvIP+":4069", "-dir", dir))
	time.Sleep(300 * time.Millisecond)
	for name, p := range map[string]*testenv.Process{"in.tftpd": hpa, "lockstep": ceil} {
		select {
		case <-p.Done():
			t.Fatalf("%s exited: %s", name, p.Output())
		default:
		}
	}
	var ik, hp, ce, ikw, hpw, ikc, hpc, cec []float64
	for r := 0; r < runs; r++ {
		ik = append(ik, atftpGet(t, n.cli, n.srvIP, "1069", "big.bin", big))
		hp = append(hp, atftpGet(t, n.cli, n.srvIP, "2069", "big.bin", big))
		ce = append(ce, atftpGet(t, n.cli, n.srvIP, "4069", "big.bin", big))
		// The client offers RFC 7440 windowsize: ironkit sends ahead
		// (min(16, DefaultMaxSendAhead)); tftpd-hpa 5.2 ignores the option.
		ikw = append(ikw, atftpGet(t, n.cli, n.srvIP, "1069", "big.bin", big, "windowsize 16"))
		hpw = append(hpw, atftpGet(t, n.cli, n.srvIP, "2069", "big.bin", big, "windowsize 16"))
	}
	for r := 0; r < concRuns; r++ {
		ikc = append(ikc, concurrent(t, n.cli, n.srvIP, "1069", "small.bin", small, 20))
		hpc = append(hpc, concurrent(t, n.cli, n.srvIP, "2069", "small.bin", small, 20))
		cec = append(cec, concurrent(t, n.cli, n.srvIP, "4069", "small.bin", small, 20))
	}
	t.Logf("TFTP, veth, median of %d interleaved runs (%d for 20 clients), default options (send-ahead %d, %d with windowsize):", runs, concRuns, DefaultSendAhead, DefaultMaxSendAhead)
	t.Logf("  1 client, 64 MiB, blksize 1468:   ironkit %6.1f MB/s  tftpd-hpa %6.1f MB/s  ratio %.2fx  (runs %.0f / %.0f)", median(ik), median(hp), median(ik)/median(hp), ik, hp)
	t.Logf("    lock-step ceiling (bench/lockstep) %6.1f MB/s = %.2fx tftpd-hpa; ironkit = %.2fx the ceiling  (runs %.0f)", median(ce), median(ce)/median(hp), median(ik)/median(ce), ce)
	t.Logf("  same + windowsize 16:             ironkit %6.1f MB/s  tftpd-hpa %6.1f MB/s  ratio %.2fx  (runs %.0f / %.0f)", median(ikw), median(hpw), median(ikw)/median(hpw), ikw, hpw)
	t.Logf("  20 clients × 16 MiB, aggregate:    ironkit %6.1f MB/s  tftpd-hpa %6.1f MB/s  ratio %.2fx  (runs %.0f / %.0f)", median(ikc), median(hpc), median(ikc)/median(hpc), ikc, hpc)
	t.Logf("    lock-step ceiling (bench/lockstep) %6.1f MB/s = %.2fx tftpd-hpa  (runs %.0f)", median(cec), median(cec)/median(hpc), cec)
}

// buildBenchTool builds the command pxe/bench/<name> and returns its path.
func buildBenchTool(t *testing.T, name string) string {
	t.Helper()
	testenv.RequireBinaries(t, "go")
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "./bench/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./bench/%s: %v\n%s", name, err, out)
	}
	return bin
}

var wrkTransfer = regexp.MustCompile(`Transfer/sec:\s+([\d.]+)([KMG]?B)`)

// wrkRun runs wrk in ns and returns MB/s.
func wrkRun(t *testing.T, ns *testenv.Netns, url string, conns int, d time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, "wrk", "-t", "2", "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--timeout", "120s", url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	m := wrkTransfer.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("wrk output has no Transfer/sec:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	// wrk's units are binary; report decimal MB/s like the TFTP figures.
	mult := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[m[2]]
	return v * mult / 1e6
}

func TestBenchHTTP(t *testing.T) {
	requireBench(t)
	testenv.RequireBinaries(t, "wrk", "nginx")
	n := newBenchNet(t)
	dir := t.TempDir()
	benchFile(t, dir, "image.bin", 100<<20)

	ctx, cancel := context.WithCancel(context.Background())
	s := NewHTTPServer(dirFiles(t, dir), WithAddr(n.srvIP+":5248"))
	if err := n.srv.Do(func() error { return s.Listen(ctx) }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	ngx := t.TempDir()
	conf := fmt.Sprintf(`worker_processes 2;
daemon off;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	types { application/octet-stream bin; }
	server { listen %[2]s:8081; root %[3]s; }
}
`, ngx, n.srvIP, dir)
	must(t, os.WriteFile(filepath.Join(ngx, "nginx.conf"), []byte(conf), 0o644))
	p := testenv.Start(t, n.srv.Command(context.Background(), "nginx", "-p", ngx, "-c", filepath.Join(ngx, "nginx.conf")))
	time.Sleep(500 * time.Millisecond)
	select {
	case <-p.Done():
		t.Fatalf("nginx exited: %s", p.Output())
	default:
	}
	runs, d := 3, 10*time.Second
	var ik, ng []float64
	for r := 0; r < runs; r++ {
		ik = append(ik, wrkRun(t, n.cli, "http://"+n.srvIP+":5248/image.bin", 200, d))
		ng = append(ng, wrkRun(t, n.cli, "http://"+n.srvIP+":8081/image.bin", 200, d))
	}
	t.Logf("HTTP, veth, 200 connections fetching a 100 MiB file, wrk -t2 -d%s, median of %d runs:", d, runs)
	t.Logf("  ironkit %7.1f MB/s  nginx %7.1f MB/s  ratio %.2fx  (runs ironkit %.0f, nginx %.0f)",
		median(ik), median(ng), median(ik)/median(ng), ik, ng)
}
