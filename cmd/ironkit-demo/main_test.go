package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the demo binary when the demo
// re-executes itself as `rackd serve`.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "rackd" && os.Args[2] == "serve" {
		if err := run(context.Background(), os.Args[1:]); err != nil {
			os.Stderr.WriteString("rackd: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The demo with rackd as a process of its own: the machines get Deployed,
// and the rack that served them ran under another pid.
func TestDemoRackProcess(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "demo.log")
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	if err := run(ctx, []string{"-machines", "3", "-listen", "127.0.0.1:0", "-exit", "-dir", dir, "-log", logFile}); err != nil {
		t.Fatalf("demo: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rackd.yaml")); err != nil {
		t.Errorf("rackd config: %v", err)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`msg="rackd starting".* pid=(\d+)`).FindSubmatch(log)
	if m == nil {
		t.Fatalf("no rackd start in the log:\n%.3000s", log)
	}
	if pid, _ := strconv.Atoi(string(m[1])); pid == os.Getpid() || pid == 0 {
		t.Errorf("rackd ran as pid %d, the demo is pid %d: want a process of its own", pid, os.Getpid())
	}
	if !regexp.MustCompile(`msg="config pulled" rack=simdc-rack`).Match(log) {
		t.Errorf("the rack process never pulled its config from the region")
	}
}
