package pxe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ironkit/ironkit/internal/testenv"
)

func TestImportBootloadersInstalled(t *testing.T) {
	if _, err := os.Stat("/usr/lib/ipxe/undionly.kpxe"); err != nil {
		t.Skip("skipping: Debian package ipxe is not installed; `make test-deps` installs it")
	}
	dst := t.TempDir()
	files, err := ImportBootloaders(context.Background(), "/", dst, DebianBootloaders)
	if err != nil {
		t.Fatal(err)
	}
	sums, _ := os.ReadFile(filepath.Join(dst, "SHA256SUMS"))
	for _, want := range []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} {
		b, err := os.ReadFile(filepath.Join(dst, want))
		if err != nil || len(b) < 10000 {
			t.Fatalf("%s: %v (%d bytes)", want, err, len(b))
		}
		s := sha256.Sum256(b)
		if !strings.Contains(string(sums), hex.EncodeToString(s[:])+"  "+want) {
			t.Errorf("SHA256SUMS lacks %s:\n%s", want, sums)
		}
	}
	if len(files) < 3 {
		t.Fatalf("imported %d files", len(files))
	}
	// A required file that is missing names its package.
	_, err = ImportBootloaders(context.Background(), t.TempDir(), dst, DebianBootloaders)
	if !errors.Is(err, ErrMissingBootloader) || !strings.Contains(err.Error(), `"ipxe"`) {
		t.Fatalf("missing ipxe: %v", err)
	}
}

func TestImportBootloadersFromDeb(t *testing.T) {
	testenv.RequireBinaries(t, "dpkg-deb")
	// Build a tiny package laid out like Debian's ipxe.
	pkg := t.TempDir()
	for _, b := range DebianBootloaders[:3] {
		p := filepath.Join(pkg, b.Path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("loader "+b.Name), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755))
	must(t, os.WriteFile(filepath.Join(pkg, "DEBIAN", "control"), []byte("Package: ipxe\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test\n"), 0o644))
	deb := filepath.Join(t.TempDir(), "ipxe.deb")
	if out, err := exec.Command("dpkg-deb", "--build", "--root-owner-group", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	x := t.TempDir()
	must(t, ExtractDeb(context.Background(), deb, x))
	dst := t.TempDir()
	files, err := ImportBootloaders(context.Background(), x, dst, DebianBootloaders)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("imported %v, want the 3 iPXE files (PXELINUX is optional)", files)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "snponly.efi")); string(b) != "loader snponly.efi" {
		t.Fatalf("snponly.efi = %q", b)
	}
}

func TestBuildGRUBNetImage(t *testing.T) {
	testenv.RequireBinaries(t, "grub-mkimage")
	if _, err := os.Stat("/usr/lib/grub/x86_64-efi/normal.mod"); err != nil {
		t.Skip("skipping: grub-efi-amd64-bin is not installed; `make test-deps` installs it")
	}
	dst := t.TempDir()
	f, err := BuildGRUBNetImage(context.Background(), "x86_64-efi", "", filepath.Join(dst, "grubx64.efi"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dst, "grubx64.efi"))
	if len(b) < 100000 || string(b[:2]) != "MZ" || int64(len(b)) != f.Size {
		t.Fatalf("grubx64.efi: %d bytes, starts %q", len(b), b[:2])
	}
}
