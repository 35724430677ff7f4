package images_test

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ironkit/ironkit/images"
)

// bigEnv enables the full 10 GiB region → rack transfer (about a minute);
// the regular run streams the 10 GiB upload only.
const bigEnv = "IRONKIT_IMAGES_BIG"

// The custom image of these tests: zeros with three 1 MiB islands of random
// data (start, middle, end), like a sparse raw disk image. It is generated
// on the fly rather than read from a sparse file: reading 10 GiB of holes
// costs the kernel more than everything under test. Digests by size:
var bigSHA256 = map[int64]string{
	10 << 30: "dd4b3518c0918ece400f8ef77945fce3c08da43f86abdc7db30f032545a9caec",
	1 << 30:  "d756f825e4e975d9ea054073ac361dd38e06442f5e8fa85255becc231fdfb396",
}

type bigImage struct {
	off, size int64
	islands   map[int64][]byte
}

func newBigImage(size int64) *bigImage {
	b := &bigImage{size: size, islands: map[int64][]byte{}}
	for i, off := range []int64{0, size / 2, size - 1<<20} {
		b.islands[off] = randData(1<<20, uint64(100+i))
	}
	return b
}

func (b *bigImage) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.size-b.off)]
	clear(p)
	for start, data := range b.islands {
		end := start + int64(len(data))
		lo, hi := max(start, b.off), min(end, b.off+int64(len(p)))
		if lo < hi {
			copy(p[lo-b.off:hi-b.off], data[lo-start:hi-start])
		}
	}
	b.off += int64(len(p))
	return len(p), nil
}

func diskUsage(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

// A 10 GiB custom raw image is uploaded to a region process over HTTP: it is
// streamed (the region's peak RSS grows by a few MiB, not GiB), verified,
// and stays sparse on the region's disk. Under the race detector (make
// test) the image is 1 GiB unless IRONKIT_IMAGES_BIG is set: the detector
// makes every copied byte several times dearer (10 GiB: ~42 s instead of
// ~12 s), and flat memory shows at 1 GiB as well. `make test-images-big`
// runs the 10 GiB upload and the 10 GiB region → rack sync without it.
func TestUpload10GiBSparseFlatMemory(t *testing.T) {
	size := int64(10 << 30)
	if raceEnabled && os.Getenv(bigEnv) == "" {
		size = 1 << 30
		t.Logf("race detector on: uploading 1 GiB; set %s=1 for 10 GiB", bigEnv)
	}
	regionDir := t.TempDir()
	base, region := startRegion(t, regionDir)
	pid := region.Cmd.Process.Pid
	before := vmHWM(t, pid)

	hc := testClient(t)
	custom := images.Key{OS: "custom", Release: "bigdisk", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	start := time.Now()
	got := upload(t, hc, base, custom, "1", "root-dd", newBigImage(size), size)
	el := time.Since(start)
	post(t, hc, "POST", base+images.CompletePrefix+custom.Path()+"/1")
	after := vmHWM(t, pid)
	t.Logf("%d GiB upload in %v (%.0f MiB/s); region peak RSS %d → %d MiB", size>>30, el, float64(size)/el.Seconds()/(1<<20), before>>20, after>>20)

	if got.SHA256 != bigSHA256[size] || got.Size != size {
		t.Fatalf("region recorded %s/%d, want %s/%d", got.SHA256, got.Size, bigSHA256[size], size)
	}
	if grow := after - before; grow > 64<<20 {
		t.Errorf("region peak RSS grew by %d MiB during a %d GiB upload; want it flat (< 64 MiB)", grow>>20, size>>30)
	}
	blob := filepath.Join(regionDir, "blobs", "sha256", got.SHA256[:2], got.SHA256)
	if du := diskUsage(t, blob); du > 64<<20 {
		t.Errorf("stored image uses %d MiB of disk; want it sparse (3 MiB of data)", du>>20)
	}

	if os.Getenv(bigEnv) == "" {
		t.Logf("set %s=1 to also sync the image region → rack", bigEnv)
		return
	}
	rackDir := t.TempDir()
	rack := startChild(t, "rack", "IRONKIT_IMAGES_DIR="+rackDir, "IRONKIT_IMAGES_REGIONS="+base)
	start = time.Now()
	var peak int64
	for {
		select {
		case <-rack.Done():
		default:
			if v := vmHWM(t, rack.Cmd.Process.Pid); v > peak {
				peak = v
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		break
	}
	if res := waitOutput(t, rack, "SYNCED ", time.Second); res != "fetched=1 err=<nil>" {
		t.Fatalf("rack: %s\n%s", res, rack.Output())
	}
	t.Logf("%d GiB region → rack in %v; rack peak RSS ≥ %d MiB", size>>30, time.Since(start), peak>>20)
	if peak > 256<<20 {
		t.Errorf("rack peak RSS %d MiB while syncing %d GiB; want flat", peak>>20, size>>30)
	}
	if du := diskUsage(t, filepath.Join(rackDir, "blobs", "sha256", got.SHA256[:2], got.SHA256)); du > 64<<20 {
		t.Errorf("rack copy uses %d MiB of disk; want it sparse", du>>20)
	}
}
