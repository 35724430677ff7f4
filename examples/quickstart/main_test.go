package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun runs the quickstart on a fresh SQLite file and checks the story
// it tells: the network, the refusals, the whole life of node-01, events.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	path := filepath.Join(t.TempDir(), "q.db")
	if err := run(ctx, &out, path); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"SQLite database " + path,
		"subnet   10.10.0.0/24 gateway 10.10.0.1",
		`vid "5000": out of range`,
		"overlaps dynamic range",
		`interface mac "52:54:00:00:10:01" already exists`,
		"commission           new           -> commissioning",
		"deployment-done      deploying     -> deployed",
		"release-done         releasing     -> ready",
		"0 auto addresses left",
		"changed concurrently",
		"release-done       releasing -> ready",
		"done: node-01=ready node-02=new node-03=new",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
	// A second run on the same file says why it cannot start over.
	if err := run(ctx, &bytes.Buffer{}, path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second run: err = %v", err)
	}
}
