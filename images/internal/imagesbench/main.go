// Command imagesbench measures a rack syncing images from a region over
// loopback against plain curl fetching the same files from the same region
// in the same run (make bench-images). The region and the rack are separate
// processes (this binary re-executed); curl writes its files to disk like
// the rack does. It prints one line per run and the medians.
//
//	go run ./images/internal/imagesbench -size 4096 -files 4 -runs 3
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironkit/ironkit/images"
)

func main() {
	role := flag.String("role", "", "internal: region or rack")
	dir := flag.String("dir", "", "work directory (default: a new one under $TMPDIR)")
	region := flag.String("region", "", "internal: region URL for -role rack")
	noFsync := flag.Bool("nofsync", false, "internal: rack with CacheConfig.NoFsync")
	cpuProfile := flag.String("cpuprofile", "", "internal: write the rack's CPU profile here")
	sizeMiB := flag.Int64("size", 4096, "total MiB of image files")
	files := flag.Int("files", 4, "number of files the total is split into")
	runs := flag.Int("runs", 3, "runs (median reported)")
	flag.Parse()
	var err error
	switch *role {
	case "region":
		err = serveRegion(*dir)
	case "rack":
		if *cpuProfile != "" {
			f, perr := os.Create(*cpuProfile)
			if perr == nil && pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		err = syncRack(*dir, *region, *noFsync)
	default:
		err = bench(*dir, *sizeMiB<<20, *files, *runs)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "imagesbench:", err)
		os.Exit(1)
	}
}

func serveRegion(dir string) error {
	st, err := images.NewStore(images.StoreConfig{Dir: dir})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("LISTEN http://%s\n", ln.Addr())
	return (&http.Server{Handler: st.Handler(), ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
}

func syncRack(dir, region string, noFsync bool) error {
	c, err := images.NewCache(images.CacheConfig{Dir: dir, Regions: []string{region}, RackID: "bench", NoFsync: noFsync})
	if err != nil {
		return err
	}
	res := c.SyncNow(context.Background())
	if res.Err != nil {
		return res.Err
	}
	fmt.Printf("SYNCED files=%d bytes=%d hwm_kib=%d\n", res.Fetched, res.Bytes, vmHWM())
	return nil
}

func vmHWM() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func bench(dir string, total int64, nfiles, runs int) error {
	if _, err := exec.LookPath("curl"); err != nil {
		return errors.New("curl is not installed (apt-get install curl): it is the reference")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "imagesbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	regionDir := filepath.Join(dir, "region")
	st, err := images.NewStore(images.StoreConfig{Dir: regionDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	key := images.Key{OS: "bench", Release: "bench", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	var sums []string
	per := total / int64(nfiles)
	fmt.Printf("generating %d file(s) of %d MiB in %s\n", nfiles, per>>20, regionDir)
	for i := range nfiles {
		src := io.LimitReader(rand.NewChaCha8([32]byte{byte(i), 42}), per)
		f, err := st.Upload(context.Background(), key, "1", "file"+strconv.Itoa(i), src, images.UploadSpec{Size: per})
		if err != nil {
			return err
		}
		sums = append(sums, f.SHA256)
	}
	if err := st.Complete(context.Background(), key, "1"); err != nil {
		return err
	}
	_ = st.Close()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	rc := exec.Command(self, "-role", "region", "-dir", regionDir)
	rc.Stderr = os.Stderr
	out, err := rc.StdoutPipe()
	if err != nil {
		return err
	}
	if err := rc.Start(); err != nil {
		return err
	}
	defer func() { _ = rc.Process.Kill(); _ = rc.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("region did not start: %w", err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))

	// Two pairs with the same durability: curl (page cache only) against
	// the rack with NoFsync, and curl followed by `sync -f` (flushed to
	// disk) against the rack's default (fsync before every install).
	fmt.Printf("%-4s %10s %12s %7s | %12s %12s %7s | %9s\n", "run", "curl", "rack nofsync", "ratio", "curl+sync", "rack fsync", "ratio", "rack RSS")
	type row struct{ curl, rackNo, curlSync, rackSync float64 }
	var rows []row
	var hwm int64
	for run := 1; run <= runs; run++ {
		var r row
		steps := []func() error{
			func() (err error) { r.curl, err = runCurl(dir, base, sums, total, false); return },
			func() (err error) {
				var h int64
				r.rackNo, h, err = runRack(self, dir, base, total, true)
				hwm = max(hwm, h)
				return
			},
			func() (err error) { r.curlSync, err = runCurl(dir, base, sums, total, true); return },
			func() (err error) {
				var h int64
				r.rackSync, h, err = runRack(self, dir, base, total, false)
				hwm = max(hwm, h)
				return
			},
		}
		if run%2 == 0 { // alternate the order so neither always gets the warmer cache
			steps[0], steps[1], steps[2], steps[3] = steps[1], steps[0], steps[3], steps[2]
		}
		for _, f := range steps {
			if err := f(); err != nil {
				return err
			}
		}
		rows = append(rows, r)
		fmt.Printf("%-4d %10.0f %12.0f %6.0f%% | %12.0f %12.0f %6.0f%% | %5d MiB\n", run, r.curl, r.rackNo, 100*r.rackNo/r.curl, r.curlSync, r.rackSync, 100*r.rackSync/r.curlSync, hwm>>10)
	}
	col := func(f func(row) float64) float64 {
		var v []float64
		for _, r := range rows {
			v = append(v, f(r))
		}
		return median(v)
	}
	fmt.Printf("%-4s %10.0f %12.0f %6.0f%% | %12.0f %12.0f %6.0f%% | %5d MiB (peak)\n", "med",
		col(func(r row) float64 { return r.curl }), col(func(r row) float64 { return r.rackNo }), 100*col(func(r row) float64 { return r.rackNo / r.curl }),
		col(func(r row) float64 { return r.curlSync }), col(func(r row) float64 { return r.rackSync }), 100*col(func(r row) float64 { return r.rackSync / r.curlSync }), hwm>>10)
	fmt.Printf("MiB/s; %d MiB in %d file(s), region → rack over loopback; the rack verifies SHA-256 and installs by rename\n", total>>20, nfiles)
	return nil
}

func runCurl(dir, base string, sums []string, total int64, flush bool) (float64, error) {
	out := filepath.Join(dir, "curl")
	_ = os.MkdirAll(out, 0o755)
	defer os.RemoveAll(out)
	args := []string{"-s", "-S", "-f"}
	for _, s := range sums {
		args = append(args, "-o", filepath.Join(out, s), base+images.BlobPath(s))
	}
	start := time.Now()
	cmd := exec.Command("curl", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("curl: %w", err)
	}
	if flush {
		if err := exec.Command("sync", "-f", out).Run(); err != nil {
			return 0, fmt.Errorf("sync -f: %w", err)
		}
	}
	return float64(total) / time.Since(start).Seconds() / (1 << 20), nil
}

func runRack(self, dir, base string, total int64, noFsync bool) (float64, int64, error) {
	rackDir := filepath.Join(dir, "rack")
	defer os.RemoveAll(rackDir)
	start := time.Now()
	cmd := exec.Command(self, "-role", "rack", "-dir", rackDir, "-region", base, "-nofsync="+strconv.FormatBool(noFsync))
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	el := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("rack: %w", err)
	}
	var files int
	var bytes, hwm int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "SYNCED files=%d bytes=%d hwm_kib=%d", &files, &bytes, &hwm); err != nil || bytes != total {
		return 0, 0, fmt.Errorf("rack printed %q", b)
	}
	return float64(total) / el.Seconds() / (1 << 20), hwm, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
