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
	parallel := flag.Int("parallel", 0, "rack's CacheConfig.Parallel (0: images.DefaultParallel)")
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
		err = syncRack(*dir, *region, *noFsync, *parallel)
	default:
		err = bench(*dir, *sizeMiB<<20, *files, *runs, *parallel)
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

func syncRack(dir, region string, noFsync bool, parallel int) error {
	c, err := images.NewCache(images.CacheConfig{Dir: dir, Regions: []string{region}, RackID: "bench", NoFsync: noFsync, Parallel: parallel})
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

func bench(dir string, total int64, nfiles, runs, parallel int) error {
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
	if set, err := st.Catalog().GetSet(context.Background(), key, "1"); err == nil && set.Complete &&
		len(set.Files) == nfiles && set.Size() == per*int64(nfiles) {
		fmt.Printf("reusing %d file(s) of %d MiB in %s\n", nfiles, per>>20, regionDir)
		for _, f := range set.Files {
			sums = append(sums, f.SHA256)
		}
		nfiles = 0
	} else if err == nil {
		if err := st.Delete(context.Background(), key, "1"); err != nil {
			return err
		}
	}
	if nfiles > 0 {
		fmt.Printf("generating %d file(s) of %d MiB in %s\n", nfiles, per>>20, regionDir)
	}
	for i := range nfiles {
		src := io.LimitReader(rand.NewChaCha8([32]byte{byte(i), 42}), per)
		f, err := st.Upload(context.Background(), key, "1", "file"+strconv.Itoa(i), src, images.UploadSpec{Size: per})
		if err != nil {
			return err
		}
		sums = append(sums, f.SHA256)
	}
	if nfiles > 0 {
		if err := st.Complete(context.Background(), key, "1"); err != nil {
			return err
		}
	}
	nfiles = len(sums)
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
	// disk) against the rack's default (fsync before every install). The
	// reference is plain curl, one file after the other, as the issue
	// asks; the rack downloads CacheConfig.Parallel files at once, so
	// curl --parallel with as many transfers is measured too (curl -Z).
	if parallel == 0 {
		parallel = images.DefaultParallel
	}
	fmt.Printf("rack: Parallel=%d; curl -Z: --parallel --parallel-max %d\n", parallel, parallel)
	fmt.Printf("%-4s %5s | %6s %8s %8s %7s %8s | %9s %10s %7s | %8s | %s\n",
		"run", "load", "curl", "curl -Z", "rack", "/curl", "/curl -Z", "curl+sync", "rack fsync", "ratio", "rack RSS", "CPU s/GiB curl, rack")
	type row struct{ curl, curlPar, rackNo, curlSync, rackSync result }
	var rows []row
	var hwm int64
	for run := 1; run <= runs; run++ {
		var r row
		rack := func(v *result, noFsync bool) func() error {
			return func() (err error) {
				*v, err = runRack(self, dir, base, total, noFsync, parallel)
				hwm = max(hwm, v.hwmKiB)
				return err
			}
		}
		curl := func(v *result, flush bool, par int) func() error {
			return func() (err error) { *v, err = runCurl(dir, base, sums, total, flush, par); return }
		}
		steps := []func() error{
			curl(&r.curl, false, 1), rack(&r.rackNo, true), curl(&r.curlPar, false, parallel),
			curl(&r.curlSync, true, 1), rack(&r.rackSync, false),
		}
		if run%2 == 0 { // alternate the order so neither always gets the warmer cache
			slices.Reverse(steps)
		}
		load := loadAvg()
		for _, f := range steps {
			if err := f(); err != nil {
				return err
			}
		}
		rows = append(rows, r)
		fmt.Printf("%-4d %5.1f | %6.0f %8.0f %8.0f %6.0f%% %7.0f%% | %9.0f %10.0f %6.0f%% | %4d MiB | %.1f, %.1f\n", run, load,
			r.curl.mibs, r.curlPar.mibs, r.rackNo.mibs, 100*r.rackNo.mibs/r.curl.mibs, 100*r.rackNo.mibs/r.curlPar.mibs,
			r.curlSync.mibs, r.rackSync.mibs, 100*r.rackSync.mibs/r.curlSync.mibs, hwm>>10, r.curl.cpuPerGiB, r.rackNo.cpuPerGiB)
	}
	col := func(f func(row) float64) float64 {
		var v []float64
		for _, r := range rows {
			v = append(v, f(r))
		}
		return median(v)
	}
	fmt.Printf("%-4s %5s | %6.0f %8.0f %8.0f %6.0f%% %7.0f%% | %9.0f %10.0f %6.0f%% | %4d MiB | %.1f, %.1f (peak RSS; medians)\n", "med", "",
		col(func(r row) float64 { return r.curl.mibs }), col(func(r row) float64 { return r.curlPar.mibs }), col(func(r row) float64 { return r.rackNo.mibs }),
		100*col(func(r row) float64 { return r.rackNo.mibs / r.curl.mibs }), 100*col(func(r row) float64 { return r.rackNo.mibs / r.curlPar.mibs }),
		col(func(r row) float64 { return r.curlSync.mibs }), col(func(r row) float64 { return r.rackSync.mibs }),
		100*col(func(r row) float64 { return r.rackSync.mibs / r.curlSync.mibs }), hwm>>10,
		col(func(r row) float64 { return r.curl.cpuPerGiB }), col(func(r row) float64 { return r.rackNo.cpuPerGiB }))
	fmt.Printf("MiB/s; %d MiB in %d file(s), region → rack over loopback; the rack verifies SHA-256 and installs by rename;\n", total>>20, nfiles)
	fmt.Printf("\"rack\" is NoFsync (page cache, like curl); \"rack fsync\" fsyncs each file and its directory before/after install,\n")
	fmt.Printf("against curl followed by `sync FILES DIR` (fsync of curl's files only); ratios are medians of the per-run ratios;\n")
	fmt.Printf("load: 1-minute load average at the start of the run; CPU: user+system seconds per GiB of the curl and rack processes\n")
	return nil
}

// result is one timed transfer of all the files.
type result struct {
	mibs      float64 // MiB/s, wall clock from process start to exit (after the flush, if any)
	cpuPerGiB float64 // user+system CPU seconds of the process per GiB
	hwmKiB    int64   // rack only: peak RSS
}

func cpuPerGiB(ps *os.ProcessState, total int64) float64 {
	return (ps.UserTime() + ps.SystemTime()).Seconds() / (float64(total) / (1 << 30))
}

func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}

// runCurl fetches the blobs with one curl process into dir/curl (the same
// filesystem as the rack's directory): one after the other, or par at once
// with --parallel. flush then runs `sync FILES DIR`, which fsyncs exactly
// curl's files and their directory (not the whole filesystem, where other
// processes' dirty data would be charged to curl), inside the timing.
func runCurl(dir, base string, sums []string, total int64, flush bool, par int) (result, error) {
	out := filepath.Join(dir, "curl")
	_ = os.MkdirAll(out, 0o755)
	defer os.RemoveAll(out)
	args := []string{"-s", "-S", "-f", "--no-progress-meter"}
	if par > 1 {
		args = append(args, "--parallel", "--parallel-max", strconv.Itoa(par))
	}
	syncArgs := []string{}
	for _, s := range sums {
		args = append(args, "-o", filepath.Join(out, s), base+images.BlobPath(s))
		syncArgs = append(syncArgs, filepath.Join(out, s))
	}
	start := time.Now()
	cmd := exec.Command("curl", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("curl: %w", err)
	}
	if flush {
		if b, err := exec.Command("sync", append(syncArgs, out)...).CombinedOutput(); err != nil {
			return result{}, fmt.Errorf("sync: %w: %s", err, b)
		}
	}
	el := time.Since(start)
	return result{mibs: float64(total) / el.Seconds() / (1 << 20), cpuPerGiB: cpuPerGiB(cmd.ProcessState, total)}, nil
}

// runRack runs a rack process that syncs everything from the region into
// dir/rack and exits.
func runRack(self, dir, base string, total int64, noFsync bool, parallel int) (result, error) {
	rackDir := filepath.Join(dir, "rack")
	defer os.RemoveAll(rackDir)
	start := time.Now()
	cmd := exec.Command(self, "-role", "rack", "-dir", rackDir, "-region", base, "-nofsync="+strconv.FormatBool(noFsync), "-parallel", strconv.Itoa(parallel))
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	el := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("rack: %w", err)
	}
	var files int
	var bytes, hwm int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "SYNCED files=%d bytes=%d hwm_kib=%d", &files, &bytes, &hwm); err != nil || bytes != total {
		return result{}, fmt.Errorf("rack printed %q", b)
	}
	return result{mibs: float64(total) / el.Seconds() / (1 << 20), cpuPerGiB: cpuPerGiB(cmd.ProcessState, total), hwmKiB: hwm}, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
