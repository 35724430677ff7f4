package images_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ironkit/ironkit/images"
)

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T, cfg images.StoreConfig) *images.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.HTTPClient = testClient(t)
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := images.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cutOnce wraps a handler so that the first GET of path drops the
// connection after n bytes.
func cutOnce(h http.Handler, path string, n int64) http.Handler {
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			once.Do(func() { w = &cutWriter{ResponseWriter: w, left: n} })
		}
		h.ServeHTTP(w, r)
	})
}

func TestImportFromMirror(t *testing.T) {
	mirror := t.TempDir()
	kernel, initrd, efi := randData(3<<20, 20), randData(2<<20, 21), randData(100<<10, 22)
	writeFile(t, filepath.Join(mirror, "ubuntu/amd64/generic/noble/generic/20260101/boot-kernel"), kernel)
	writeFile(t, filepath.Join(mirror, "ubuntu/amd64/generic/noble/generic/20260101/boot-initrd"), initrd)
	writeFile(t, filepath.Join(mirror, "bootloader/amd64/generic/ipxe/generic/1/ipxe.efi"), efi)
	writeFile(t, filepath.Join(mirror, "README"), []byte("not an image"))
	ix, skipped, err := images.BuildMirror(context.Background(), mirror, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Products) != 2 || !slices.Equal(skipped, []string{"README"}) {
		t.Fatalf("BuildMirror: %d products, skipped %v; want 2 and [README]", len(ix.Products), skipped)
	}

	// From a local path.
	a := newStore(t, images.StoreConfig{})
	res, err := a.Import(context.Background(), mirror, nil)
	if err != nil || res.Sets != 2 || res.Files != 3 {
		t.Fatalf("local import: %+v, %v", res, err)
	}

	// Over HTTP, with the kernel's first transfer cut: it resumes, progress
	// is reported, and a second import has nothing to do.
	srv := httptest.NewServer(cutOnce(http.FileServer(http.Dir(mirror)), "/ubuntu/amd64/generic/noble/generic/20260101/boot-kernel", 1<<20))
	t.Cleanup(srv.Close)
	var pl progressLog
	b := newStore(t, images.StoreConfig{OnProgress: pl.add})
	res, err = b.Import(context.Background(), srv.URL, func(k images.Key) bool { return k.OS == "ubuntu" })
	if err != nil || res.Sets != 1 || res.Files != 2 {
		t.Fatalf("HTTP import: %+v, %v", res, err)
	}
	resumed := false
	for _, p := range pl.finished() {
		resumed = resumed || (p.Err == nil && p.Resumed > 0)
	}
	if !resumed {
		t.Errorf("no transfer resumed after the cut: %+v", pl.finished())
	}
	if res, err := b.Import(context.Background(), srv.URL, nil); err != nil || res.Unchanged != 1 || res.Sets != 1 {
		t.Fatalf("second import: %+v, %v; want noble unchanged, ipxe new", res, err)
	}
	m, err := b.Manifest(context.Background(), "rack")
	if err != nil || len(m.Sets) != 2 {
		t.Fatalf("manifest: %+v, %v", m, err)
	}

	// A mirror file changed after indexing: verification fails, the set
	// stays incomplete and is not offered to racks.
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "ubuntu/amd64/generic/noble/generic/2/boot-kernel"), kernel)
	if _, _, err := images.BuildMirror(context.Background(), bad, time.Now()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(bad, "ubuntu/amd64/generic/noble/generic/2/boot-kernel"), append(bytes.Clone(kernel[:len(kernel)-1]), 0))
	c := newStore(t, images.StoreConfig{})
	if _, err := c.Import(context.Background(), bad, nil); !errors.Is(err, images.ErrChecksum) {
		t.Fatalf("import of a bad mirror: %v, want ErrChecksum", err)
	}
	if m, _ := c.Manifest(context.Background(), "rack"); len(m.Sets) != 0 {
		t.Fatalf("incomplete set offered to racks: %+v", m.Sets)
	}
	if s, err := c.Catalog().GetSet(context.Background(), noble, "2"); err != nil || s.Complete {
		t.Fatalf("bad set in catalog: %+v, %v; want incomplete", s, err)
	}
}

// Several regions sharing one catalog (as they share PostgreSQL) but not a
// disk: region B has none of the bytes region A took in, yet serves them at
// once (proxying to A) and copies them in the background, after which it
// serves them with A gone. Region C, with its own catalog, imports A's sets
// through B's mirror view.
func TestMultiRegion(t *testing.T) {
	ctx := context.Background()
	cat, err := images.OpenFileCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := newStore(t, images.StoreConfig{Catalog: cat})
	srvA := httptest.NewServer(a.Handler())
	t.Cleanup(srvA.Close)
	dirB := t.TempDir()
	b := newStore(t, images.StoreConfig{Catalog: cat, Dir: dirB, Peers: []string{srvA.URL}, ReplicateInterval: time.Hour})
	srvB := httptest.NewServer(b.Handler())
	t.Cleanup(srvB.Close)

	kernel := randData(2<<20, 30)
	f, err := a.Upload(ctx, noble, "1", "boot-kernel", bytes.NewReader(kernel), images.UploadSpec{Size: int64(len(kernel))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Complete(ctx, noble, "1"); err != nil {
		t.Fatal(err)
	}

	// A rack that only knows region B.
	rack := newCache(t, t.TempDir(), []string{srvB.URL}, nil)
	if res := rack.SyncNow(ctx); res.Err != nil || res.Fetched != 1 {
		t.Fatalf("sync via B: %+v", res)
	}
	if !bytes.Equal(readAll(t, rack, "ubuntu/amd64/generic/noble/generic/boot-kernel"), kernel) {
		t.Fatal("content via B differs")
	}

	// B's Run copies the bytes (kicked by the proxied request).
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(rctx) }()
	defer func() { cancel(); <-done }()
	blobB := filepath.Join(dirB, "blobs", "sha256", f.SHA256[:2], f.SHA256)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(blobB); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("region B did not replicate the blob from A")
		}
	}
	srvA.Close()
	rack2 := newCache(t, t.TempDir(), []string{srvB.URL}, nil)
	if res := rack2.SyncNow(ctx); res.Err != nil || res.Fetched != 1 {
		t.Fatalf("sync from B with A gone: %+v", res)
	}

	// Region C: own catalog, imports B's mirror view.
	c := newStore(t, images.StoreConfig{})
	res, err := c.Import(ctx, srvB.URL+images.MirrorRoot, nil)
	if err != nil || res.Sets != 1 {
		t.Fatalf("import from region B: %+v, %v", res, err)
	}
	m, _ := c.Manifest(ctx, "x")
	if len(m.Sets) != 1 || m.Sets[0].Files[0].SHA256 != f.SHA256 {
		t.Fatalf("region C manifest: %+v", m)
	}
}

func TestUploadErrors(t *testing.T) {
	ctx := context.Background()
	var pl progressLog
	s := newStore(t, images.StoreConfig{MaxUploadSize: 1 << 20, OnProgress: pl.add})
	custom := images.Key{OS: "custom", Release: "x", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	if _, err := s.Upload(ctx, custom, "1", "root-dd", bytes.NewReader(make([]byte, 2<<20)), images.UploadSpec{}); !errors.Is(err, images.ErrTooLarge) {
		t.Errorf("oversize upload: %v, want ErrTooLarge", err)
	}
	if _, err := s.Upload(ctx, custom, "1", "root-dd", strings.NewReader("abc"), images.UploadSpec{SHA256: strings.Repeat("0", 64)}); !errors.Is(err, images.ErrChecksum) {
		t.Errorf("wrong digest: %v, want ErrChecksum", err)
	}
	if err := s.Complete(ctx, custom, "1"); !errors.Is(err, images.ErrNotFound) {
		t.Errorf("complete of an empty set: %v, want ErrNotFound", err)
	}
	if _, err := s.Upload(ctx, custom, "1", "root-dd", strings.NewReader("abc"), images.UploadSpec{}); err != nil {
		t.Fatal(err)
	}
	if fin := pl.finished(); len(fin) != 3 || fin[2].Err != nil || fin[2].Done != 3 || !errors.Is(fin[0].Err, images.ErrTooLarge) {
		t.Errorf("upload progress = %+v; want too large, checksum, then 3 bytes done", fin)
	}
	if err := s.Complete(ctx, custom, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, custom, "1", "other", strings.NewReader("abc"), images.UploadSpec{}); !errors.Is(err, images.ErrComplete) {
		t.Errorf("upload to a complete set: %v, want ErrComplete", err)
	}
	if _, err := s.Upload(ctx, images.Key{OS: "a/b"}, "1", "x", strings.NewReader(""), images.UploadSpec{}); !errors.Is(err, images.ErrInvalid) {
		t.Errorf("bad key: %v, want ErrInvalid", err)
	}
}

// The region re-hashes its files: a corrupt one is removed and, with no
// peer to fetch it from, its set stops being offered until re-imported.
// Deleted sets' bytes go at GC.
func TestStoreVerifyAndGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	s := newStore(t, images.StoreConfig{Dir: dir, GCGrace: time.Minute, Now: func() time.Time { return now }})
	data := randData(1<<20, 40)
	f, err := s.Upload(ctx, noble, "1", "boot-kernel", bytes.NewReader(data), images.UploadSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, noble, "1"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "blobs", "sha256", f.SHA256[:2], f.SHA256)
	b, _ := os.ReadFile(p)
	b[7] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := s.Verify(ctx)
	if err != nil || len(bad) != 1 {
		t.Fatalf("Verify = %v, %v; want one bad file", bad, err)
	}
	if m, _ := s.Manifest(ctx, "r"); len(m.Sets) != 0 {
		t.Fatalf("set with a corrupt file still offered: %+v", m.Sets)
	}
	if err := s.Complete(ctx, noble, "1"); !errors.Is(err, images.ErrIncomplete) {
		t.Fatalf("Complete without the bytes: %v, want ErrIncomplete", err)
	}

	// A set deleted: its bytes stay during the grace period, then go.
	custom := images.Key{OS: "custom", Release: "gc", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	g, err := s.Upload(ctx, custom, "1", "root-tgz", bytes.NewReader(randData(1000, 41)), images.UploadSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, custom, "1"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GC(ctx); err != nil || n != 0 {
		t.Fatalf("GC within grace: removed %d, %v; want 0", n, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := s.GC(ctx); err != nil || n != 1 {
		t.Fatalf("GC after grace: removed %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", g.SHA256[:2], g.SHA256)); !os.IsNotExist(err) {
		t.Fatalf("deleted set's bytes still on disk: %v", err)
	}
}

// The real iPXE binaries from Debian's ipxe package, linked into a mirror
// layout, go mirror → region (over HTTP) → rack, and the rack serves them
// byte for byte under their bare names.
func TestIPXEBinariesEndToEnd(t *testing.T) {
	var names []string
	for _, n := range []string{"ipxe.efi", "ipxe.pxe", "ipxe.lkrn"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/ipxe", n)); err == nil {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		t.Skip("skipping: /usr/lib/ipxe has no iPXE binaries; the Debian package ipxe provides them (`make test-deps` as root)")
	}
	mirror := t.TempDir()
	dst := filepath.Join(mirror, "bootloader/amd64/generic/ipxe/generic/debian")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.Symlink(filepath.Join("/usr/lib/ipxe", n), filepath.Join(dst, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := images.BuildMirror(context.Background(), mirror, time.Now()); err != nil {
		t.Fatal(err)
	}
	mirrorSrv := httptest.NewServer(http.FileServer(http.Dir(mirror)))
	t.Cleanup(mirrorSrv.Close)
	region := newStore(t, images.StoreConfig{})
	if res, err := region.Import(context.Background(), mirrorSrv.URL, nil); err != nil || res.Files != len(names) {
		t.Fatalf("import: %+v, %v", res, err)
	}
	regionSrv := httptest.NewServer(region.Handler())
	t.Cleanup(regionSrv.Close)
	rack := newCache(t, t.TempDir(), []string{regionSrv.URL}, nil)
	if res := rack.SyncNow(context.Background()); res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, n := range names {
		want, err := os.ReadFile(filepath.Join("/usr/lib/ipxe", n))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, rack, n); !bytes.Equal(got, want) {
			t.Errorf("%s served by the rack differs from /usr/lib/ipxe/%s", n, n)
		}
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, images.StoreConfig{})
	up := func(k images.Key, v string, complete bool) {
		t.Helper()
		if _, err := s.Upload(ctx, k, v, "boot-kernel", strings.NewReader(k.Path()+v), images.UploadSpec{}); err != nil {
			t.Fatal(err)
		}
		if complete {
			if err := s.Complete(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Versions that sort wrongly as strings ("10" < "8"): numeric order.
	up(noble, "8", true)
	up(noble, "9", false) // abandoned, older than the newest complete
	up(noble, "10", true)
	up(noble, "11", true)
	up(noble, "12", false) // in progress: kept
	up(jammy, "1", true)
	del, err := s.Prune(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range del {
		got = append(got, d.Key.Release+"/"+d.Version)
	}
	if !slices.Equal(got, []string{"noble/8", "noble/9"}) {
		t.Fatalf("pruned %v, want [noble/8 noble/9]", got)
	}
	left, _ := s.Catalog().ListSets(ctx)
	if len(left) != 4 {
		t.Fatalf("%d sets left, want 4 (jammy/1, noble/10, noble/11, noble/12)", len(left))
	}
}

// The cache's fs.FS obeys the io/fs contract (testing/fstest), with small
// files: fstest reads every file many ways.
func TestCacheFS(t *testing.T) {
	ctx := context.Background()
	region := newStore(t, images.StoreConfig{})
	for k, files := range map[images.Key][]string{noble: {"boot-kernel", "boot-initrd"}, ipxe: {"ipxe.efi", "undionly.kpxe"}} {
		for _, n := range files {
			if _, err := region.Upload(ctx, k, "1", n, strings.NewReader(k.Path()+"/"+n), images.UploadSpec{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := region.Complete(ctx, k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(region.Handler())
	t.Cleanup(srv.Close)
	rack := newCache(t, t.TempDir(), []string{srv.URL}, nil)
	if res := rack.SyncNow(ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	if err := fstest.TestFS(rack.FS(), "ipxe.efi", "undionly.kpxe", "ubuntu/amd64/generic/noble/generic/boot-kernel",
		"ubuntu/amd64/generic/noble/generic/boot-initrd", "bootloader/amd64/generic/ipxe/generic/ipxe.efi"); err != nil {
		t.Fatal(err)
	}
	// Served over HTTP as pxe would.
	web := httptest.NewServer(http.FileServerFS(rack.FS()))
	t.Cleanup(web.Close)
	resp, err := testClient(t).Get(web.URL + "/ubuntu/amd64/generic/noble/generic/boot-kernel")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != noble.Path()+"/boot-kernel" {
		t.Fatalf("GET boot-kernel via http.FileServerFS: %s %q", resp.Status, b)
	}
}

// While a new version downloads, the rack keeps serving the previous
// complete one, and says so in its inventory.
func TestOldVersionServedDuringUpdate(t *testing.T) {
	ctx := context.Background()
	region := newStore(t, images.StoreConfig{})
	v1, v2 := []byte("kernel v1"), randData(1<<20, 50)
	put := func(v string, b []byte) images.File {
		f, err := region.Upload(ctx, noble, v, "boot-kernel", bytes.NewReader(b), images.UploadSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if err := region.Complete(ctx, noble, v); err != nil {
			t.Fatal(err)
		}
		return f
	}
	put("1", v1)
	var block sync.Once
	gate, entered := make(chan struct{}), make(chan struct{})
	var blockSum atomic.Value // string
	blockSum.Store("")
	h := region.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sum := blockSum.Load().(string); sum != "" && r.URL.Path == images.BlobPath(sum) {
			block.Do(func() { close(entered); <-gate })
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rack := newCache(t, t.TempDir(), []string{srv.URL}, nil)
	if res := rack.SyncNow(ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	const name = "ubuntu/amd64/generic/noble/generic/boot-kernel"
	blockSum.Store(put("2", v2).SHA256)

	done := make(chan images.SyncResult, 1)
	go func() { done <- rack.SyncNow(ctx) }()
	<-entered
	if got := readAll(t, rack, name); !bytes.Equal(got, v1) {
		t.Fatalf("during the update the rack serves %q, want v1", got)
	}
	inv := rack.Inventory()
	if len(inv.Serving) != 1 || inv.Serving[0].Version != "1" || len(inv.Sets) != 1 || inv.Sets[0].Version != "2" || inv.Sets[0].Complete {
		t.Fatalf("inventory during the update: %+v", inv)
	}
	close(gate)
	if res := <-done; res.Err != nil || res.Fetched != 1 || res.Removed != 1 {
		t.Fatalf("update: %+v", res)
	}
	if got := readAll(t, rack, name); !bytes.Equal(got, v2) {
		t.Fatal("after the update the rack does not serve v2")
	}
}
