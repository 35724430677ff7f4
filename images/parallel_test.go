package images_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironkit/ironkit/images"
)

// A rack sync downloads several files at once, under one bandwidth cap for
// all of them, fetches a file that two sets share once, and never calls
// OnProgress concurrently.
func TestParallelSyncSharedCapAndFile(t *testing.T) {
	ctx := context.Background()
	region := newStore(t, images.StoreConfig{})
	shared := randData(256<<10, 3)
	files := map[images.Key]map[string][]byte{
		noble: {"boot-kernel": randData(512<<10, 1), "boot-initrd": randData(512<<10, 2), "squashfs": shared},
		jammy: {"boot-kernel": randData(512<<10, 4), "squashfs": shared},
	}
	var unique int64
	for k, fs := range files {
		for n, b := range fs {
			if _, err := region.Upload(ctx, k, "1", n, bytes.NewReader(b), images.UploadSpec{}); err != nil {
				t.Fatal(err)
			}
			if k == noble || n != "squashfs" {
				unique += int64(len(b))
			}
		}
		if err := region.Complete(ctx, k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(region.Handler())
	t.Cleanup(srv.Close)

	const capBps = 1 << 20
	var inCallback, overlapped atomic.Bool
	ct := &countingTransport{gets: map[string]int{}}
	c := newCache(t, t.TempDir(), []string{srv.URL}, func(cfg *images.CacheConfig) {
		ct.next = cfg.HTTPClient.Transport
		cfg.HTTPClient = &http.Client{Transport: ct}
		cfg.Parallel, cfg.BandwidthLimit = 3, capBps
		cfg.OnProgress = func(images.Progress) {
			if inCallback.Swap(true) {
				overlapped.Store(true)
			}
			time.Sleep(time.Millisecond)
			inCallback.Store(false)
		}
	})
	start := time.Now()
	res := c.SyncNow(ctx)
	el := time.Since(start)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Fetched != 4 || res.Bytes != unique {
		t.Errorf("fetched %d files, %d bytes; want 4 files, %d bytes (the shared file once)", res.Fetched, res.Bytes, unique)
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if n := ct.gets[sha(shared)]; n != 1 {
		t.Errorf("the file both sets share was requested %d times, want 1", n)
	}
	if ct.maxOpen < 2 || ct.maxOpen > 3 {
		t.Errorf("%d blob transfers at once; want 2-3 (Parallel=3)", ct.maxOpen)
	}
	// The cap is for all transfers together: the burst (≤ 1/10 s) aside,
	// 1.75 MiB at 1 MiB/s takes ≥ 1.5 s however many run at once.
	if minEl := time.Duration(0.85 * float64(unique) / capBps * float64(time.Second)); el < minEl {
		t.Errorf("%d bytes in %v with Parallel=3: faster than the 1 MiB/s total cap (want ≥ %v)", unique, el, minEl)
	}
	if overlapped.Load() {
		t.Error("OnProgress was called concurrently")
	}
	for k, fs := range files {
		for n, b := range fs {
			if !bytes.Equal(readAll(t, c, k.Path()+"/"+n), b) {
				t.Errorf("%s/%s: content differs", k.Path(), n)
			}
		}
	}
	if a := c.Active(); len(a) != 2 {
		t.Errorf("%d active sets, want 2", len(a))
	}
}

func TestCacheParallelValidation(t *testing.T) {
	for _, p := range []int{-1, images.MaxParallel + 1} {
		_, err := images.NewCache(images.CacheConfig{Dir: t.TempDir(), Regions: []string{"http://127.0.0.1:1"}, RackID: "r", Parallel: p})
		if !errors.Is(err, images.ErrInvalid) || !strings.Contains(err.Error(), "Parallel") {
			t.Errorf("Parallel=%d: err = %v, want ErrInvalid naming Parallel", p, err)
		}
	}
}

// countingTransport counts blob requests and the most blob bodies open
// (being read by the rack) at once.
type countingTransport struct {
	next          http.RoundTripper
	mu            sync.Mutex
	gets          map[string]int
	open, maxOpen int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	sum, isBlob := strings.CutPrefix(r.URL.Path, "/images/v1/blobs/")
	if err != nil || !isBlob {
		return resp, err
	}
	c.mu.Lock()
	c.gets[sum]++
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	c.mu.Unlock()
	resp.Body = &closeHook{ReadCloser: resp.Body, onClose: func() { c.mu.Lock(); c.open--; c.mu.Unlock() }}
	return resp, nil
}

type closeHook struct {
	io.ReadCloser
	once    sync.Once
	onClose func()
}

func (h *closeHook) Close() error {
	h.once.Do(h.onClose)
	return h.ReadCloser.Close()
}
