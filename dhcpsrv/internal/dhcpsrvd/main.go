// Command dhcpsrvd runs a dhcpsrv.Server from a JSON-encoded dhcpsrv.Config.
// It exists for dhcpsrv's own process-level tests (kill -9, failover) and
// for `make bench-dhcp`; rackd is the real daemon.
//
//	dhcpsrvd -config server.json [-listen 10.0.0.1:67] [-metrics 127.0.0.1:9467] [-v]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ironkit/ironkit/dhcpsrv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpsrvd:", err)
		os.Exit(1)
	}
}

func run() error {
	cfgPath := flag.String("config", "", "JSON dhcpsrv.Config")
	listen := flag.String("listen", "", "serve on this UDP address, unbound to an interface (relayed traffic only)")
	metrics := flag.String("metrics", "", "serve /metrics on this TCP address")
	verbose := flag.Bool("v", false, "debug logging")
	readers := flag.Int("readers", 0, "reader goroutines per socket (0: the server's default)")
	window := flag.Duration("commit-window", -1, "lease log commit window (-1: the server's default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until exit")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	var cfg dhcpsrv.Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("config %s: %w", *cfgPath, err)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	opts := []dhcpsrv.Opt{dhcpsrv.WithLogger(log), dhcpsrv.WithRegisterer(reg)}
	if *readers > 0 {
		opts = append(opts, dhcpsrv.WithReaders(*readers))
	}
	if *window >= 0 {
		opts = append(opts, dhcpsrv.WithCommitWindow(*window))
	}
	if *listen != "" {
		opts = append(opts, dhcpsrv.WithListenAddr(*listen))
	}
	srv, err := dhcpsrv.New(cfg, opts...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *metrics != "" {
		hs := &http.Server{Addr: *metrics, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.ListenAndServe() }()
		defer hs.Close()
	}
	go func() {
		<-srv.Ready()
		log.Info("serving", "addrs", srv.Addrs())
	}()
	return srv.Run(ctx)
}
