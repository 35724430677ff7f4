package pxe

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	ok := map[string]string{
		"pxelinux.0":                             "pxelinux.0",
		"/pxelinux.0":                            "pxelinux.0",
		"grub/x86_64-efi/normal.mod":             "grub/x86_64-efi/normal.mod",
		"a..b":                                   "a..b",
		"100%":                                   "100%",
		"%zz":                                    "%zz",
		"ipxe/x86_64-efi/52-54-00-12-34-56.ipxe": "ipxe/x86_64-efi/52-54-00-12-34-56.ipxe",
	}
	for in, want := range ok {
		got, err := CleanName(in)
		if err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "/", "..", "../etc/passwd", "a/../../b", "a/./b", "./a", "//etc/passwd", "a//b", "dir/",
		"%2e%2e/etc/passwd", "%2E%2E%2Fetc", "a%00b", "..%2fetc", "a\x00b", "a\nb", "\x7f",
		"..\\..\\windows", "a\\b", strings.Repeat("a", MaxNameLen+1), strings.Repeat("../", 100),
	}
	for _, in := range bad {
		if got, err := CleanName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CleanName(%q) = %q, %v; want ErrInvalidName", in, got, err)
		}
	}
}

func TestDirFilesStaysInRoot(t *testing.T) {
	dir, _ := bootRoot(t, map[string]int{"small.bin": 100})
	d, err := NewDirFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	f, err := d.Open(ctx, "inside-link")
	if err != nil {
		t.Fatalf("symlink inside the root: %v", err)
	}
	if b, _ := io.ReadAll(f.Body); len(b) != 100 || f.Size != 100 {
		t.Fatalf("inside-link: read %d bytes, size %d", len(b), f.Size)
	}
	f.Body.Close()
	for _, name := range []string{"escape", "abs-escape", "dir/deep-escape"} {
		if f, err := d.Open(ctx, name); err == nil {
			f.Body.Close()
			t.Errorf("%s: opened a file outside the root", name)
		}
	}
	if _, err := d.Open(ctx, "dir"); !errors.Is(err, ErrNotFound) {
		t.Errorf("directory: %v, want ErrNotFound", err)
	}
	if _, err := d.Open(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v, want ErrNotFound", err)
	}
	if _, err := NewDirFiles(dir + "/does-not-exist"); err == nil {
		t.Error("NewDirFiles on a missing directory succeeded")
	}
}
