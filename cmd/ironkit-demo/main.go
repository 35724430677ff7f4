// Command ironkit-demo runs a whole ironkit installation on one machine,
// without root: regiond on an embedded SQLite database, an in-process rack
// (DHCP, TFTP and HTTP boot on loopback ports) and 20 simulated machines
// with IPMI and Redfish BMCs. The machines go enlist → commission → Ready →
// allocate → deploy → Deployed over the real protocols while a live view
// shows their progress; then the API stays up for ironctl until Ctrl-C.
//
//	go run ./cmd/ironkit-demo [--machines 20] [--listen 127.0.0.1:5240] [--dir DIR]
//
// With --exit --database postgres://… it is the mass-deploy benchmark
// (make bench-deploy).
//
// It is a thin main over internal/simdc.RunDemo.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ironkit/ironkit/internal/simdc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "ironkit-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ironkit-demo", flag.ContinueOnError)
	machines := fs.Int("machines", 20, "simulated machines")
	listen := fs.String("listen", "127.0.0.1:5240", "region API address")
	dir := fs.String("dir", "", "state directory (default: a new temporary directory)")
	password := fs.String("password", "", "the admin user's password (default: generated and printed)")
	logFile := fs.String("log", "", "write the region's and rack's logs to this file")
	database := fs.String("database", "", "region database DSN (default: SQLite in --dir; postgres://… for PostgreSQL)")
	exit := fs.Bool("exit", false, "exit once every machine is Deployed (benchmarks) instead of serving the API until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "ironkit-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	if *password == "" {
		b := make([]byte, 6)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		*password = hex.EncodeToString(b)
	}
	logger := slog.New(slog.DiscardHandler)
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logger = slog.New(slog.NewTextHandler(f, nil))
	}
	fmt.Printf("ironkit demo: state in %s\n", *dir)
	return simdc.RunDemo(ctx, simdc.DemoConfig{
		Dir: *dir, Listen: *listen, Machines: *machines, AdminPassword: *password,
		Database: *database, Out: os.Stdout, Terminal: term.IsTerminal(int(os.Stdout.Fd())) && !*exit, Stay: !*exit,
		Logger: logger, Timeout: 10 * time.Minute,
	})
}
