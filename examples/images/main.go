// Command images shows package images on its own: it builds a mirror from
// a directory of files, imports it into a region store, serves the store on
// loopback, and runs a rack cache that syncs from it (with a bandwidth cap
// and progress reports), then prints what the rack serves and its
// inventory.
//
//	go run ./examples/images
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ironkit/ironkit/images"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "images example:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "ironkit-images-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 1. A mirror: <os>/<arch>/<subarch>/<release>/<flavour>/<version>/<file>.
	mirror := filepath.Join(tmp, "mirror")
	files := map[string]int{
		"ubuntu/amd64/generic/noble/generic/20260101/boot-kernel": 8 << 20,
		"ubuntu/amd64/generic/noble/generic/20260101/boot-initrd": 4 << 20,
		"bootloader/amd64/generic/ipxe/generic/1.21/ipxe.efi":     1 << 20,
	}
	for name, size := range files {
		p := filepath.Join(mirror, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i * 7)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	if _, _, err := images.BuildMirror(ctx, mirror, time.Now()); err != nil {
		return err
	}

	// 2. The region imports it and serves it.
	store, err := images.NewStore(images.StoreConfig{Dir: filepath.Join(tmp, "region"), Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := store.Import(ctx, mirror, nil)
	if err != nil {
		return err
	}
	fmt.Printf("region imported %d set(s), %d file(s), %d bytes\n", res.Sets, res.Files, res.Bytes)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: store.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// 3. A rack syncs from it at up to 20 MiB/s, reporting progress.
	cache, err := images.NewCache(images.CacheConfig{
		Dir: filepath.Join(tmp, "rack"), Regions: []string{"http://" + ln.Addr().String()}, RackID: "rack-1",
		BandwidthLimit: 20 << 20, Logger: log,
		OnProgress: func(p images.Progress) {
			if p.Finished {
				fmt.Printf("  %-55s %8d bytes  %6.1f MiB/s  err=%v\n", p.Name, p.Done, p.Rate/(1<<20), p.Err)
			}
		},
	})
	if err != nil {
		return err
	}
	defer cache.Close()
	sync := cache.SyncNow(ctx)
	if sync.Err != nil {
		return sync.Err
	}
	fmt.Println("rack serves:")
	for _, n := range cache.Names() {
		fmt.Println("  " + n)
	}
	inv := store.Inventories()["rack-1"]
	fmt.Printf("region sees rack-1: %d set(s), %d bytes held, %d file(s) missing\n", len(inv.Sets), inv.StoredBytes, inv.MissingFiles)
	return nil
}
