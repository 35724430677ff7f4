// Command rackd is the rack controller: `rackd register` joins a region
// with the rack shared secret and writes the config file; `rackd serve`
// runs DHCP, TFTP, HTTP boot, the image cache and power execution (package
// internal/rack).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ironkit/ironkit/internal/rack"
)

const defaultConfig = "/etc/ironkit/rackd.yaml"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rackd:", err)
		}
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  rackd register --url URL[,URL…] --secret HEX [--name NAME] [--config FILE] [--state-dir DIR]
  rackd serve [--config FILE] [--debug]
`)
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		usage()
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("rackd "+args[0], flag.ContinueOnError)
	cfgPath := fs.String("config", defaultConfig, "config file")
	debug := fs.Bool("debug", false, "debug logging")
	switch args[0] {
	case "register":
		urls := fs.String("url", "", "region URL(s), comma-separated (e.g. http://region:5240)")
		secret := fs.String("secret", "", "the rack shared secret (`regiond secret show`)")
		host, _ := os.Hostname()
		name := fs.String("name", host, "rack name")
		state := fs.String("state-dir", "/var/lib/rackd", "state directory")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *urls == "" || *secret == "" {
			usage()
			return fmt.Errorf("%w: register needs --url and --secret", flag.ErrHelp)
		}
		list := strings.Split(*urls, ",")
		log := logger(*debug)
		reply, err := rack.Register(ctx, list, *secret, *name, rack.Version, log)
		if err != nil {
			return err
		}
		f := rack.File{Regions: list, Name: *name, RackID: reply.RackID, Token: reply.Token, StateDir: *state}
		if old, err := rack.Load(*cfgPath); err == nil { // keep local settings on re-registration
			old.Regions, old.Name, old.RackID, old.Token = f.Regions, f.Name, f.RackID, f.Token
			f = old
		}
		if err := f.Save(*cfgPath); err != nil {
			return err
		}
		fmt.Printf("registered as rack %d (%s); config written to %s\n", reply.RackID, *name, *cfgPath)
		return nil
	case "serve":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		f, err := rack.Load(*cfgPath)
		if err != nil {
			return err
		}
		log := logger(*debug).With("rack", f.Name)
		svc, err := rack.New(rack.Config{File: f, Logger: log})
		if err != nil {
			return err
		}
		log.Info("rackd starting", "version", rack.Version, "rack_id", f.RackID, "regions", f.Regions)
		return svc.Run(ctx)
	}
	usage()
	return fmt.Errorf("%w: unknown command %q", flag.ErrHelp, args[0])
}

func logger(debug bool) *slog.Logger {
	lvl := slog.LevelInfo
	if debug {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}
