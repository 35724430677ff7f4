// Command ironkit-demo runs a whole ironkit installation on one machine,
// without root: regiond on an embedded SQLite database, rackd (this binary
// re-executed as `ironkit-demo rackd serve --config <dir>/rackd.yaml`, a
// process of its own that registered with the region's shared secret and
// talks to it only over HTTP: DHCP, TFTP and HTTP boot on loopback ports,
// its image cache synced from the region, power through the machines'
// BMCs) and 20 simulated machines with IPMI and Redfish BMCs. The machines
// go enlist → commission → Ready → allocate → deploy → Deployed over the
// real protocols while a live view shows their progress; then the API
// stays up for ironctl until Ctrl-C.
//
//	go run ./cmd/ironkit-demo [--machines 20] [--listen 127.0.0.1:5240] [--dir DIR]
//
// With --exit --database postgres://… it is the mass-deploy benchmark
// (make bench-deploy); --cpuprofile writes CPU profiles of both processes.
//
// It is a thin main over internal/simdc.RunDemo.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/simdc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && !interrupted {
		fmt.Fprintln(os.Stderr, "ironkit-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) >= 2 && args[0] == "rackd" && args[1] == "serve" {
		return serveRack(ctx, args[2:])
	}
	fs := flag.NewFlagSet("ironkit-demo", flag.ContinueOnError)
	machines := fs.Int("machines", 20, "simulated machines")
	listen := fs.String("listen", "127.0.0.1:5240", "region API address")
	dir := fs.String("dir", "", "state directory (default: a new temporary directory)")
	password := fs.String("password", "", "the admin user's password (default: generated and printed)")
	logFile := fs.String("log", "", "write the region's and rack's logs to this file")
	database := fs.String("database", "", "region database DSN (default: SQLite in --dir; postgres://… for PostgreSQL)")
	exit := fs.Bool("exit", false, "exit once every machine is Deployed (benchmarks) instead of serving the API until Ctrl-C")
	inProcess := fs.Bool("rack-in-process", false, "run the rack in this process instead of as a separate rackd process")
	kernelTFTP := fs.Bool("pxelinux-kernel-tftp", false, "PXELINUX machines fetch kernel and initrd over TFTP (default: HTTP, as lpxelinux.0 does for http:// paths)")
	cpuProfile := fs.String("cpuprofile", "", "write CPU profiles to FILE (region and machines) and FILE.rackd (the rack)")
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
	var logOut io.Writer
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logger, logOut = slog.New(slog.NewTextHandler(f, nil)), f
	}
	if *cpuProfile != "" {
		stop, err := profile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg := simdc.DemoConfig{
		Dir: *dir, Listen: *listen, Machines: *machines, AdminPassword: *password,
		Database: *database, Out: os.Stdout, Terminal: term.IsTerminal(int(os.Stdout.Fd())) && !*exit, Stay: !*exit,
		Logger: logger, Timeout: 10 * time.Minute, KernelOverTFTP: *kernelTFTP,
	}
	if !*inProcess {
		cfg.RunRack = func(ctx context.Context, path string) error {
			extra := []string{}
			if *cpuProfile != "" {
				extra = append(extra, "--cpuprofile", *cpuProfile+".rackd")
			}
			return rackProcess(ctx, path, logOut, extra...)
		}
	}
	fmt.Printf("ironkit demo: state in %s\n", *dir)
	began := time.Now()
	err := simdc.RunDemo(ctx, cfg)
	if *exit {
		// Where the two cores went (benchmarks): this process is the region
		// and the simulated machines; the rack ran as its own process.
		var self, kids syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
		cpu := func(r syscall.Rusage) float64 {
			return time.Duration(r.Utime.Nano() + r.Stime.Nano()).Seconds()
		}
		wall := time.Since(began).Seconds()
		fmt.Printf("CPU: region + simulated machines %.1f s, rackd %.1f s, over %.1f s wall (%.2f cores busy on average)\n",
			cpu(self), cpu(kids), wall, (cpu(self)+cpu(kids))/wall)
	}
	return err
}

// rackProcess runs this binary as `rackd serve --config path` until ctx
// ends, then stops it with SIGTERM (killed 20 s later if still running).
func rackProcess(ctx context.Context, path string, logOut io.Writer, extra ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rackd process: find this executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"rackd", "serve", "--config", path}, extra...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	// Stop it too if the demo dies without stopping it (SIGKILL, a crash).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = logOut, logOut
	err = cmd.Run()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("rackd process %s exited: %w (run with --log FILE to see its log)", exe, err)
}

// serveRack is `rackd serve`: what cmd/rackd runs, built into this binary
// so that the demo needs no second build.
func serveRack(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rackd serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "rackd config file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to FILE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := profile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	f, err := rack.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("rackd starting", "version", rack.Version, "rack_id", f.RackID, "regions", f.Regions, "pid", os.Getpid())
	err = simdc.RunRack(ctx, f, log)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func profile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
