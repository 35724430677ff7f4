package dhcpsrv

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
)

// Tests that need a server in another process (to kill -9 it) re-execute
// this test binary with DHCPSRV_CHILD set; TestMain hands over to runChild.
const (
	childEnv       = "DHCPSRV_CHILD"
	childConfigEnv = "DHCPSRV_CHILD_CONFIG"
	childListenEnv = "DHCPSRV_CHILD_LISTEN"
	childPortsEnv  = "DHCPSRV_CHILD_PORTS"
)

// runChild runs the server a parent test asked for and reports whether this
// process is such a child (TestMain then exits without running tests).
func runChild() bool {
	if os.Getenv(childEnv) == "" {
		return false
	}
	if err := childServer(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func childServer() error {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(childConfigEnv)), &cfg); err != nil {
		return err
	}
	opts := []Opt{WithLogger(slog.New(slog.NewTextHandler(os.Stdout, nil)))}
	if l := os.Getenv(childListenEnv); l != "" {
		opts = append(opts, WithListenAddr(l))
	}
	if p := os.Getenv(childPortsEnv); p != "" {
		var c, r uint16
		if _, err := fmt.Sscanf(p, "%d,%d", &c, &r); err != nil {
			return err
		}
		opts = append(opts, WithPorts(c, r))
	}
	srv, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := srv.Listen(ctx); err != nil {
		return err
	}
	fmt.Printf("READY %s\n", srv.Addrs()[0])
	return srv.Run(ctx)
}

// startChild starts a server process (inside ns when not nil) and waits
// until it listens; it returns the process and its listen address.
func startChild(t *testing.T, ns *testenv.Netns, cfg Config, listen string, ports string) (*testenv.Process, string) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if ns != nil {
		cmd = ns.Command(context.Background(), os.Args[0], "-test.run=^$")
	} else {
		cmd = exec.Command(os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), childEnv+"=1", childConfigEnv+"="+string(b), childListenEnv+"="+listen, childPortsEnv+"="+ports)
	p := testenv.Start(t, cmd)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := p.Output()
		if i := strings.Index(out, "READY "); i >= 0 {
			if j := strings.IndexByte(out[i:], '\n'); j > 0 {
				return p, out[i+6 : i+j]
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("server child exited early:\n%s", p.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server child did not get ready:\n%s", p.Output())
	return nil, ""
}
