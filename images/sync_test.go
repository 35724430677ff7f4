package images_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironkit/ironkit/images"
)

// counterValue returns the value of the single-series counter name.
func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

var (
	noble = images.Key{OS: "ubuntu", Release: "noble", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	jammy = images.Key{OS: "ubuntu", Release: "jammy", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	ipxe  = images.Key{OS: images.BootloaderOS, Release: "ipxe", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
)

// Region and rack are separate processes here (the region is a child), and
// everything moves over real HTTP on loopback.
func TestSyncServeAndGC(t *testing.T) {
	base, _ := startRegion(t, t.TempDir())
	hc := testClient(t)
	kernel, initrd, shared := randData(3<<20, 1), randData(2<<20, 2), randData(1<<20, 3)
	efi := randData(300<<10, 4)
	publish(t, hc, base, noble, "1", map[string][]byte{"boot-kernel": kernel, "boot-initrd": initrd, "squashfs": shared})
	publish(t, hc, base, jammy, "1", map[string][]byte{"boot-kernel": randData(1<<20, 5), "squashfs": shared})
	publish(t, hc, base, ipxe, "1", map[string][]byte{"ipxe.efi": efi})

	dir := t.TempDir()
	c := newCache(t, dir, []string{base}, nil)
	res := c.SyncNow(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Fetched != 5 {
		t.Errorf("fetched %d files, want 5 (6 listed, one shared by two sets)", res.Fetched)
	}
	if n := blobCount(t, dir); n != 5 {
		t.Errorf("%d files on disk, want 5: identical files stored once", n)
	}
	if got := readAll(t, c, "ubuntu/amd64/generic/noble/generic/boot-kernel"); !bytes.Equal(got, kernel) {
		t.Error("kernel content differs")
	}
	if got := readAll(t, c, "ipxe.efi"); !bytes.Equal(got, efi) {
		t.Error("bootloader at its bare name differs")
	}
	f, err := c.FS().Open("ubuntu/amd64/generic/jammy/generic/squashfs")
	if err != nil {
		t.Fatalf("FS().Open: %v", err)
	}
	f.Close()
	if _, err := c.Open("ubuntu/amd64/generic/focal/generic/boot-kernel"); !errors.Is(err, images.ErrNotFound) {
		t.Errorf("Open of an unknown name: %v, want ErrNotFound", err)
	}

	// The region got the inventory: nothing missing.
	inv := regionInventory(t, hc, base)["rack-1"]
	if inv.MissingFiles != 0 || len(inv.Sets) != 3 || !inv.Sets[0].Complete {
		t.Errorf("inventory at region = %+v, want 3 complete sets", inv)
	}

	// jammy removed, noble gets a new kernel: the old kernel and jammy's
	// own kernel are collected; the shared squashfs stays (noble uses it).
	post(t, hc, http.MethodDelete, base+images.SetPrefix+jammy.Path()+"/1")
	kernel2 := randData(3<<20, 6)
	publish(t, hc, base, noble, "2", map[string][]byte{"boot-kernel": kernel2, "boot-initrd": initrd, "squashfs": shared})
	res = c.SyncNow(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Fetched != 1 || res.Removed != 2 {
		t.Errorf("second sync fetched %d, removed %d; want 1 and 2", res.Fetched, res.Removed)
	}
	if n := blobCount(t, dir); n != 5-1 {
		t.Errorf("%d files on disk after GC, want 4", n)
	}
	if got := readAll(t, c, "ubuntu/amd64/generic/noble/generic/boot-kernel"); !bytes.Equal(got, kernel2) {
		t.Error("noble kernel is not the new version")
	}
	if _, err := c.Open("ubuntu/amd64/generic/jammy/generic/squashfs"); !errors.Is(err, images.ErrNotFound) {
		t.Errorf("removed resource still served: %v", err)
	}
}

func regionInventory(t *testing.T, hc *http.Client, base string) map[string]images.Inventory {
	t.Helper()
	resp, err := hc.Get(base + images.InventoryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var inv map[string]images.Inventory
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

type progressLog struct {
	mu sync.Mutex
	ps []images.Progress
}

func (l *progressLog) add(p images.Progress) {
	l.mu.Lock()
	l.ps = append(l.ps, p)
	l.mu.Unlock()
}

func (l *progressLog) finished() []images.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []images.Progress
	for _, p := range l.ps {
		if p.Finished {
			out = append(out, p)
		}
	}
	return out
}

func TestCorruptionInjection(t *testing.T) {
	kernel := randData(4<<20, 7)
	sum := sha(kernel)
	// A byte flipped in transit by the region on the first download.
	base, region := startRegion(t, t.TempDir(), "IRONKIT_IMAGES_FAULT=corrupt:"+sum)
	hc := testClient(t)
	publish(t, hc, base, noble, "1", map[string][]byte{"boot-kernel": kernel})

	var pl progressLog
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	c := newCache(t, dir, []string{base}, func(cfg *images.CacheConfig) { cfg.OnProgress, cfg.Registerer = pl.add, reg })
	res := c.SyncNow(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	fin := pl.finished()
	if len(fin) != 2 || !errors.Is(fin[0].Err, images.ErrChecksum) || fin[1].Err != nil {
		t.Fatalf("final progress reports = %+v; want a checksum failure then a success", fin)
	}
	if n := counterValue(t, reg, "ironkit_images_rack_verify_failures_total"); n != 1 {
		t.Errorf("verify_failures_total = %v, want 1", n)
	}
	if n := strings.Count(region.Output(), "GET "+sum+" range=\n"); n != 2 {
		t.Errorf("region saw %d full downloads, want 2 (the corrupt one discarded, not resumed)", n)
	}
	const name = "ubuntu/amd64/generic/noble/generic/boot-kernel"
	if !bytes.Equal(readAll(t, c, name), kernel) {
		t.Fatal("content differs after re-download")
	}

	// A byte flipped on the rack's disk: Verify removes the file, the set
	// stops being served, the next sync downloads it again.
	p := filepath.Join(dir, "blobs", "sha256", sum[:2], sum)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x80
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := c.Verify(context.Background())
	if err != nil || len(bad) != 1 || bad[0] != sum {
		t.Fatalf("Verify = %v, %v; want [%s]", bad, err, sum)
	}
	if _, err := c.Open(name); !errors.Is(err, images.ErrNotFound) {
		t.Fatalf("corrupt file still served: %v", err)
	}
	if res := c.SyncNow(context.Background()); res.Err != nil || res.Fetched != 1 {
		t.Fatalf("resync: fetched %d, %v", res.Fetched, res.Err)
	}
	if !bytes.Equal(readAll(t, c, name), kernel) {
		t.Fatal("content differs after repair")
	}
}

func TestInterruptedTransferResumes(t *testing.T) {
	kernel := randData(6<<20, 8)
	sum := sha(kernel)
	const cut = 2<<20 + 12345
	base, region := startRegion(t, t.TempDir(), "IRONKIT_IMAGES_FAULT=cut:"+sum+":"+strconv.Itoa(cut))
	hc := testClient(t)
	publish(t, hc, base, noble, "1", map[string][]byte{"boot-kernel": kernel})

	var pl progressLog
	c := newCache(t, t.TempDir(), []string{base}, func(cfg *images.CacheConfig) { cfg.OnProgress = pl.add })
	if res := c.SyncNow(context.Background()); res.Err != nil {
		t.Fatal(res.Err)
	}
	fin := pl.finished()
	if len(fin) != 2 || fin[0].Err == nil || fin[1].Err != nil {
		t.Fatalf("final progress reports = %+v; want an interruption then a success", fin)
	}
	// The client may have written slightly less than the server sent.
	if fin[1].Resumed <= 0 || fin[1].Resumed > cut {
		t.Errorf("resumed at %d, want in (0, %d]", fin[1].Resumed, cut)
	}
	if want := "GET " + sum + " range=bytes=" + strconv.FormatInt(fin[1].Resumed, 10) + "-"; !strings.Contains(region.Output(), want) {
		t.Errorf("region did not see %q:\n%s", want, region.Output())
	}
	if !bytes.Equal(readAll(t, c, "ubuntu/amd64/generic/noble/generic/boot-kernel"), kernel) {
		t.Fatal("resumed file differs")
	}
}

func TestKill9MidSync(t *testing.T) {
	base, region := startRegion(t, t.TempDir())
	hc := testClient(t)
	root := randData(48<<20, 9)
	sum := sha(root)
	publish(t, hc, base, noble, "1", map[string][]byte{"squashfs": root})

	dir := t.TempDir()
	partial := filepath.Join(dir, "partial", sum)
	rack := startChild(t, "rack", "IRONKIT_IMAGES_DIR="+dir, "IRONKIT_IMAGES_REGIONS="+base, "IRONKIT_IMAGES_CAP="+strconv.Itoa(8<<20))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(partial); err == nil && st.Size() >= 4<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rack wrote no 4 MiB within 30s:\n%s", rack.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rack.Kill() // SIGKILL
	st, err := os.Stat(partial)
	if err != nil || st.Size() >= int64(len(root)) {
		t.Fatalf("after kill -9: partial %v, %v; want a partial file", st, err)
	}
	// Nothing partial is served: the set is not complete on this rack.
	c := newCache(t, dir, []string{base}, nil)
	if _, err := c.Open("ubuntu/amd64/generic/noble/generic/squashfs"); !errors.Is(err, images.ErrNotFound) {
		t.Fatalf("partial file served after kill -9: %v", err)
	}
	if n := blobCount(t, dir); n != 0 {
		t.Fatalf("%d installed files after kill -9, want 0", n)
	}

	rack2 := startChild(t, "rack", "IRONKIT_IMAGES_DIR="+dir, "IRONKIT_IMAGES_REGIONS="+base)
	if got := waitOutput(t, rack2, "SYNCED ", 60*time.Second); got != "fetched=1 err=<nil>" {
		t.Fatalf("restarted rack: %s\n%s", got, rack2.Output())
	}
	if !strings.Contains(region.Output(), "GET "+sum+" range=bytes=") {
		t.Errorf("restarted rack did not resume with a Range request:\n%s", region.Output())
	}
	c2 := newCache(t, dir, []string{base}, nil)
	if got := readAll(t, c2, "ubuntu/amd64/generic/noble/generic/squashfs"); sha(got) != sum {
		t.Fatal("file differs after resume across kill -9")
	}
}

func TestFailoverToAnotherRegion(t *testing.T) {
	// A region URL nobody answers on, then a working one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	base, _ := startRegion(t, t.TempDir())
	hc := testClient(t)
	kernel := randData(1<<20, 10)
	publish(t, hc, base, noble, "1", map[string][]byte{"boot-kernel": kernel})

	dir := t.TempDir()
	c := newCache(t, dir, []string{dead, base}, nil)
	res := c.SyncNow(context.Background())
	if res.Err != nil || res.Region != base {
		t.Fatalf("sync: region %q, %v; want %s", res.Region, res.Err, base)
	}
	if !bytes.Equal(readAll(t, c, "ubuntu/amd64/generic/noble/generic/boot-kernel"), kernel) {
		t.Fatal("content differs")
	}
	// With no region answering (a restarted rack), the cache keeps serving
	// what it has.
	c2 := newCache(t, dir, []string{dead}, nil)
	if res := c2.SyncNow(context.Background()); !errors.Is(res.Err, images.ErrNoRegion) {
		t.Fatalf("sync with no region: %v, want ErrNoRegion", res.Err)
	}
	if !bytes.Equal(readAll(t, c2, "ubuntu/amd64/generic/noble/generic/boot-kernel"), kernel) {
		t.Fatal("cache stopped serving while no region answers")
	}
}
