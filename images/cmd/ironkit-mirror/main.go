// Command ironkit-mirror builds an ironkit image mirror from a directory of
// files laid out as
//
//	<dir>/<os>/<arch>/<subarch>/<release>/<flavour>/<version>/<file name>
//
// by hashing every file and writing <dir>/streams/v1/index.json (see
// images.BuildMirror and images/README.md for the format). With -serve it
// then serves the directory over HTTP so a region can import it:
//
//	ironkit-mirror -dir /srv/mirror -serve 127.0.0.1:8080
//	# region: store.Import(ctx, "http://127.0.0.1:8080", nil)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ironkit/ironkit/images"
)

func main() {
	dir := flag.String("dir", "", "mirror directory (required)")
	serve := flag.String("serve", "", "after building, serve the mirror over HTTP on this address (e.g. 127.0.0.1:8080)")
	flag.Parse()
	if err := run(*dir, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "ironkit-mirror:", err)
		os.Exit(1)
	}
}

func run(dir, serve string) error {
	if dir == "" {
		return errors.New("-dir is required: the directory holding <os>/<arch>/<subarch>/<release>/<flavour>/<version>/<file>")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ix, skipped, err := images.BuildMirror(ctx, dir, time.Now())
	if err != nil {
		return err
	}
	files := 0
	for _, p := range ix.Products {
		for _, v := range p.Versions {
			files += len(v.Files)
			fmt.Printf("%s %s: %d file(s)\n", p.Key.Path(), v.Version, len(v.Files))
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(os.Stderr, "skipped %s (not at <os>/<arch>/<subarch>/<release>/<flavour>/<version>/<file>)\n", s)
	}
	fmt.Printf("wrote %s/%s: %d product(s), %d file(s)\n", dir, images.MirrorIndexPath, len(ix.Products), files)
	if serve == "" {
		return nil
	}
	ln, err := net.Listen("tcp", serve)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("serving http://%s/\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
