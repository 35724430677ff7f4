package images_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/images"
)

// A window opening 2 s from now and lasting 2 s, a 1 MiB/s cap and a 4 MiB
// file: nothing moves before the window, about 2 MiB inside it, the rest
// only on SyncNow (which ignores the window), and never faster than the cap.
func TestWindowAndBandwidthCap(t *testing.T) {
	base, region := startRegion(t, t.TempDir())
	hc := testClient(t)
	data := randData(4<<20, 11)
	sum := sha(data)
	publish(t, hc, base, noble, "1", map[string][]byte{"squashfs": data})

	now := time.Now().UTC()
	opens := now.Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	closes := opens.Add(2 * time.Second)
	midnight := now.Truncate(24 * time.Hour)
	w := &images.Window{Start: opens.Sub(midnight) % (24 * time.Hour), End: closes.Sub(midnight) % (24 * time.Hour), Location: time.UTC}
	const capBps = 1 << 20
	dir := t.TempDir()
	c := newCache(t, dir, []string{base}, func(cfg *images.CacheConfig) {
		cfg.Window, cfg.BandwidthLimit = w, capBps
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var first time.Time
	// Bytes already received when the window closes are still written:
	// give the transfer a second to wind down before sampling.
	for time.Now().Before(closes.Add(time.Second)) {
		if first.IsZero() && strings.Contains(region.Output(), "GET "+sum) {
			first = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if first.IsZero() {
		t.Fatalf("no download inside the window %s (opens %s)", w, opens)
	}
	if first.Before(opens) {
		t.Fatalf("download started at %s, before the window opened at %s", first, opens)
	}
	st, err := os.Stat(filepath.Join(dir, "partial", sum))
	if err != nil {
		t.Fatalf("no partial file after the window closed: %v", err)
	}
	// 2 s at 1 MiB/s; the lower bound is loose for a loaded machine.
	if st.Size() < capBps/4 || st.Size() > 3*capBps {
		t.Errorf("%d bytes fetched in a 2 s window at 1 MiB/s; want 0.25-3 MiB", st.Size())
	}
	if inv := c.Inventory(); inv.MissingFiles != 1 {
		t.Errorf("inventory after the window: %d missing, want 1", inv.MissingFiles)
	}
	time.Sleep(500 * time.Millisecond)
	if st2, _ := os.Stat(filepath.Join(dir, "partial", sum)); st2 == nil || st2.Size() != st.Size() {
		t.Fatalf("transfer went on after the window closed (%d → %v bytes)", st.Size(), st2)
	}

	// Sync now: ignores the window, resumes, still capped.
	start := time.Now()
	res := c.SyncNow(context.Background())
	el := time.Since(start)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rest := float64(int64(len(data)) - st.Size())
	if minEl := time.Duration(0.8 * rest / capBps * float64(time.Second)); el < minEl {
		t.Errorf("%.0f bytes in %v: faster than the 1 MiB/s cap (want ≥ %v)", rest, el, minEl)
	}
	if !bytes.Equal(readAll(t, c, "ubuntu/amd64/generic/noble/generic/squashfs"), data) {
		t.Fatal("content differs")
	}
}

// Without a window, Run syncs as soon as the region's manifest changes
// (long-poll), with no polling delay.
func TestAutoSyncAfterChange(t *testing.T) {
	base, _ := startRegion(t, t.TempDir())
	hc := testClient(t)
	syncs := make(chan images.SyncResult, 10)
	c := newCache(t, t.TempDir(), []string{base}, func(cfg *images.CacheConfig) {
		cfg.OnSync = func(r images.SyncResult) { syncs <- r }
		cfg.WaitTimeout = 20 * time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case r := <-syncs:
		if r.Err != nil || r.Fetched != 0 {
			t.Fatalf("initial sync: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no initial sync")
	}
	time.Sleep(200 * time.Millisecond) // the watcher is now long-polling
	kernel := randData(1<<20, 12)
	start := time.Now()
	publish(t, hc, base, noble, "1", map[string][]byte{"boot-kernel": kernel})
	for fetched := false; !fetched; {
		select {
		case r := <-syncs:
			if r.Err != nil {
				t.Fatalf("sync after change: %v", r.Err)
			}
			fetched = r.Fetched == 1
		case <-time.After(15 * time.Second):
			t.Fatal("no sync after the region changed")
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("change picked up after %v; want well under the 20 s long-poll", el)
	}
	if !bytes.Equal(readAll(t, c, "ubuntu/amd64/generic/noble/generic/boot-kernel"), kernel) {
		t.Fatal("content differs")
	}
}
