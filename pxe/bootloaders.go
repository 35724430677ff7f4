package pxe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Bootloader is one network boot loader file and where a Debian package
// installs it.
type Bootloader struct {
	Name    string // file name under the boot root
	Package string // Debian package that ships it
	Path    string // where the package installs it
	// Optional files are skipped when their package is not installed.
	Optional bool
}

// DebianBootloaders is the table of loaders ironkit serves: iPXE for BIOS
// (undionly.kpxe, chain-loaded by the NIC's PXE ROM) and UEFI (ipxe.efi with
// its own drivers, snponly.efi on the firmware's SNP driver), and PXELINUX
// with the modules its configs use. GRUB is built by BuildGRUBNetImage.
var DebianBootloaders = []Bootloader{
	{Name: "undionly.kpxe", Package: "ipxe", Path: "/usr/lib/ipxe/undionly.kpxe"},
	{Name: "ipxe.efi", Package: "ipxe", Path: "/usr/lib/ipxe/ipxe.efi"},
	{Name: "snponly.efi", Package: "ipxe", Path: "/usr/lib/ipxe/snponly.efi"},
	{Name: "pxelinux.0", Package: "pxelinux", Path: "/usr/lib/PXELINUX/pxelinux.0", Optional: true},
	{Name: "lpxelinux.0", Package: "pxelinux", Path: "/usr/lib/PXELINUX/lpxelinux.0", Optional: true},
	{Name: "ldlinux.c32", Package: "syslinux-common", Path: "/usr/lib/syslinux/modules/bios/ldlinux.c32", Optional: true},
	{Name: "libcom32.c32", Package: "syslinux-common", Path: "/usr/lib/syslinux/modules/bios/libcom32.c32", Optional: true},
	{Name: "libutil.c32", Package: "syslinux-common", Path: "/usr/lib/syslinux/modules/bios/libutil.c32", Optional: true},
	{Name: "poweroff.c32", Package: "syslinux-common", Path: "/usr/lib/syslinux/modules/bios/poweroff.c32", Optional: true},
}

// ImportedFile is one file ImportBootloaders installed.
type ImportedFile struct {
	Name   string
	Size   int64
	SHA256 string
}

// ErrMissingBootloader: a required loader file is not installed.
var ErrMissingBootloader = errors.New("pxe: bootloader not installed")

// ImportBootloaders copies the loaders in list from under srcRoot ("/" for
// the installed system, or a directory a .deb was extracted into) into dst,
// each atomically (temporary file, fsync, rename), and writes
// dst/SHA256SUMS. Missing optional files are skipped; a missing required one
// fails naming the Debian package to install.
func ImportBootloaders(ctx context.Context, srcRoot, dst string, list []Bootloader) ([]ImportedFile, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("pxe: import bootloaders: %w", err)
	}
	var done []ImportedFile
	for _, b := range list {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		src := filepath.Join(srcRoot, b.Path)
		f, err := installFile(src, filepath.Join(dst, b.Name))
		if errors.Is(err, os.ErrNotExist) {
			if b.Optional {
				continue
			}
			return done, fmt.Errorf("%w: %s (%s): install Debian package %q or pass its .deb", ErrMissingBootloader, b.Name, src, b.Package)
		}
		if err != nil {
			return done, fmt.Errorf("pxe: import %s: %w", b.Name, err)
		}
		f.Name = b.Name
		done = append(done, f)
	}
	return done, writeSums(dst, done)
}

func installFile(src, dst string) (ImportedFile, error) {
	in, err := os.Open(src)
	if err != nil {
		return ImportedFile{}, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".import-*")
	if err != nil {
		return ImportedFile{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), in)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	return ImportedFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

func writeSums(dst string, files []ImportedFile) error {
	// Keep entries for files imported earlier (e.g. the GRUB image).
	sums := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(dst, "SHA256SUMS")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if sum, name, ok := strings.Cut(l, "  "); ok {
				sums[name] = sum
			}
		}
	}
	for _, f := range files {
		sums[f.Name] = f.SHA256
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	tmp := filepath.Join(dst, ".SHA256SUMS.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dst, "SHA256SUMS"))
}

// ExtractDeb unpacks a Debian package into dir with dpkg-deb, for
// ImportBootloaders(ctx, dir, …) on a machine where the package is not
// installed.
func ExtractDeb(ctx context.Context, deb, dir string) error {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pxe: dpkg-deb -x %s: %w: %s (is dpkg-deb installed and the file a .deb?)", deb, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// GRUBNetModules are the modules built into the GRUB network image.
var GRUBNetModules = []string{
	"efinet", "tftp", "http", "net", "normal", "configfile", "linux", "chain", "echo", "halt", "reboot",
	"search", "search_fs_file", "part_gpt", "part_msdos", "fat", "ext2", "test", "sleep", "all_video",
}

// BuildGRUBNetImage builds a UEFI GRUB network image (e.g. grubx64.efi) with
// grub-mkimage from grub-efi-amd64-bin's modules (format "x86_64-efi"). Its
// prefix is /grub on the boot server, so it reads grub/grub.cfg, which
// ConfigResolver generates.
func BuildGRUBNetImage(ctx context.Context, format, modDir, out string) (ImportedFile, error) {
	if _, err := exec.LookPath("grub-mkimage"); err != nil {
		return ImportedFile{}, fmt.Errorf("%w: grub-mkimage: install Debian packages grub-common and grub-efi-amd64-bin", ErrMissingBootloader)
	}
	if modDir == "" {
		modDir = "/usr/lib/grub/" + format
	}
	if _, err := os.Stat(filepath.Join(modDir, "normal.mod")); err != nil {
		return ImportedFile{}, fmt.Errorf("%w: GRUB modules for %s in %s: install grub-efi-amd64-bin (amd64) or grub-efi-arm64-bin (arm64)", ErrMissingBootloader, format, modDir)
	}
	tmp := out + ".tmp"
	args := append([]string{"-O", format, "-d", modDir, "-p", "/grub", "-o", tmp}, GRUBNetModules...)
	if b, err := exec.CommandContext(ctx, "grub-mkimage", args...).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return ImportedFile{}, fmt.Errorf("pxe: grub-mkimage: %w: %s", err, b)
	}
	f, err := installFile(tmp, out)
	os.Remove(tmp)
	f.Name = filepath.Base(out)
	if err != nil {
		return f, err
	}
	return f, writeSums(filepath.Dir(out), []ImportedFile{f})
}
