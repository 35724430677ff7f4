package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunBuildsIndex(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bootloader/amd64/generic/ipxe/generic/1.21/ipxe.efi")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("efi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "streams/v1/index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"path": "bootloader/amd64/generic/ipxe/generic/1.21/ipxe.efi"`) {
		t.Fatalf("index lacks the file:\n%s", b)
	}
	if err := run("", ""); err == nil {
		t.Fatal("run without -dir succeeded")
	}
}
