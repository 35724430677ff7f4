package images_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ironkit/ironkit/images"
)

// A mirror is built from a directory, a region imports it and serves it,
// a rack syncs from the region and serves the kernel by its logical path.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "images-example")
	defer os.RemoveAll(tmp)

	// The mirror: <os>/<arch>/<subarch>/<release>/<flavour>/<version>/<file>.
	mirror := filepath.Join(tmp, "mirror")
	v := filepath.Join(mirror, "ubuntu/amd64/generic/noble/generic/20260101")
	_ = os.MkdirAll(v, 0o755)
	_ = os.WriteFile(filepath.Join(v, "boot-kernel"), []byte("kernel bytes"), 0o644)
	_ = os.WriteFile(filepath.Join(v, "boot-initrd"), []byte("initrd bytes"), 0o644)
	if _, _, err := images.BuildMirror(ctx, mirror, time.Now()); err != nil {
		fmt.Println(err)
		return
	}

	// The region.
	store, err := images.NewStore(images.StoreConfig{Dir: filepath.Join(tmp, "region")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	res, err := store.Import(ctx, mirror, nil)
	fmt.Println("imported sets:", res.Sets, "files:", res.Files, err)
	srv := httptest.NewServer(store.Handler())
	defer srv.Close()

	// The rack.
	cache, err := images.NewCache(images.CacheConfig{Dir: filepath.Join(tmp, "rack"), Regions: []string{srv.URL}, RackID: "rack-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close()
	sync := cache.SyncNow(ctx)
	fmt.Println("fetched:", sync.Fetched, "missing:", sync.Inventory.MissingFiles, sync.Err)
	b, err := fs.ReadFile(cache.FS(), "ubuntu/amd64/generic/noble/generic/boot-kernel")
	fmt.Println(string(b), err)
	// Output:
	// imported sets: 1 files: 2 <nil>
	// fetched: 2 missing: 0 <nil>
	// kernel bytes <nil>
}

func ExampleWindow_Bounds() {
	w, _ := images.ParseWindow("04:00-05:00", time.UTC)
	now := time.Date(2026, 1, 10, 23, 0, 0, 0, time.UTC)
	opens, closes := w.Bounds(now)
	fmt.Println(w.Contains(now), opens.Format(time.DateTime), closes.Format(time.DateTime))
	// Output: false 2026-01-11 04:00:00 2026-01-11 05:00:00
}

// Versions order numerically where they hold numbers, so a date with a
// serial of 10 is newer than the same date with serial 9.
func ExampleCompareVersions() {
	vs := []string{"20261121.10", "20261122", "20261121.9", "20261121"}
	slices.SortFunc(vs, images.CompareVersions)
	fmt.Println(vs)
	fmt.Println(images.CompareVersions("2026-11-3", "2026-11-21"))
	// Output:
	// [20261121 20261121.9 20261121.10 20261122]
	// -1
}
