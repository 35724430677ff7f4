// Command ironctl is the command-line client of an ironkit region: login
// profiles, machines, networks, racks and events, with table or JSON output.
// All logic is in internal/ironctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ironkit/ironkit/internal/ironctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ironctl.Main(ctx, ironctl.Env{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
