package testenv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// CacheEnv names the directory for downloaded test artifacts (Debian kernel
// packages); default /var/cache/ironkit-test, never inside the repository.
const CacheEnv = "IRONKIT_TEST_CACHE"

// CacheDir returns (and creates) the test artifact cache.
func CacheDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv(CacheEnv)
	if d == "" {
		d = "/var/cache/ironkit-test"
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Skipf("skipping: cannot create test cache %s (%v); set %s to a writable directory", d, err, CacheEnv)
	}
	return d
}

// Kernel is a Debian kernel unpacked for VM tests.
type Kernel struct {
	Version    string // e.g. 6.1.0-56-amd64
	Vmlinuz    string // path to boot/vmlinuz-<version>
	ModulesDir string // path to lib/modules/<version>
}

// DebianKernel returns the kernel of Debian's linux-image-amd64 (the
// versioned package it depends on), downloading it with apt-get download
// into the cache and unpacking it with dpkg -x once. It skips t when apt
// cannot fetch it.
func DebianKernel(t testing.TB) Kernel {
	t.Helper()
	RequireBinaries(t, "apt-cache", "apt-get", "dpkg")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		t.Skipf("skipping: apt-cache depends linux-image-amd64: %v (run apt-get update)", err)
	}
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Depends: "); ok && strings.HasPrefix(v, "linux-image-") {
			pkg = v
			break
		}
	}
	if pkg == "" {
		t.Skipf("skipping: apt-cache depends linux-image-amd64 names no versioned kernel package:\n%s", out)
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	cache := CacheDir(t)
	dir := filepath.Join(cache, "kernel", version)
	k := Kernel{Version: version, Vmlinuz: filepath.Join(dir, "boot", "vmlinuz-"+version), ModulesDir: filepath.Join(dir, "lib", "modules", version)}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return k
	}
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
	if len(matches) == 0 {
		cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
		cmd.Dir = debs
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("skipping: apt-get download %s: %v\n%s", pkg, err, b)
		}
		matches, _ = filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
		if len(matches) == 0 {
			t.Fatalf("apt-get download %s left no .deb in %s", pkg, debs)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Join(cache), "kernel-unpack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if b, err := exec.CommandContext(ctx, "dpkg", "-x", matches[0], tmp).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -x %s: %v\n%s", matches[0], err, b)
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

// moduleDeps returns the .ko paths needed for the named modules, dependencies
// first, found by name under k.ModulesDir and resolved with modinfo (the
// Debian package ships no modules.dep).
func (k Kernel) moduleDeps(t testing.TB, names []string) []string {
	t.Helper()
	RequireBinaries(t, "modinfo")
	paths := map[string]string{}
	_ = filepath.WalkDir(filepath.Join(k.ModulesDir, "kernel"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			base := filepath.Base(p)
			for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
				if n, ok := strings.CutSuffix(base, ext); ok {
					paths[strings.ReplaceAll(n, "-", "_")] = p
				}
			}
		}
		return nil
	})
	var order []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		n = strings.ReplaceAll(n, "-", "_")
		if seen[n] {
			return
		}
		seen[n] = true
		p, ok := paths[n]
		if !ok {
			return // built in
		}
		out, err := exec.Command("modinfo", "-F", "depends", p).Output()
		if err != nil {
			t.Fatalf("modinfo %s: %v", p, err)
		}
		for _, d := range strings.Split(strings.TrimSpace(string(out)), ",") {
			if d != "" {
				visit(d)
			}
		}
		order = append(order, p)
	}
	for _, n := range names {
		visit(n)
	}
	return order
}

// InitramfsConfig describes an initramfs built from Debian's busybox-static
// and kernel modules.
type InitramfsConfig struct {
	Kernel Kernel
	// Modules to load (with their dependencies), in this order, before
	// /init's script runs, e.g. "virtio_pci", "virtio_net".
	Modules []string
	// Script is the shell body of /init after the modules are loaded and
	// /proc, /sys and /dev are mounted.
	Script string
	// Files are extra files, by path inside the image.
	Files map[string]string
}

// BuildInitramfs writes a gzip'd newc cpio initramfs and returns its path
// (under t.TempDir()).
func BuildInitramfs(t testing.TB, cfg InitramfsConfig) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("skipping: busybox not installed; `make test-deps` installs busybox-static")
	}
	if out, _ := exec.Command("ldd", busybox).CombinedOutput(); !bytes.Contains(out, []byte("not a dynamic")) && !bytes.Contains(out, []byte("statically")) {
		t.Skipf("skipping: %s is not static (install busybox-static): %s", busybox, out)
	}
	var c cpioWriter
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/modules", "usr", "usr/bin", "usr/share", "usr/share/udhcpc"} {
		c.dir(d)
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	c.file("bin/busybox", bb, 0o755)
	for _, a := range []string{"sh", "mount", "insmod", "ip", "udhcpc", "nc", "cat", "echo", "sleep", "poweroff", "reboot", "mkdir", "ls", "dmesg", "grep", "sed", "cut", "tr", "uname"} {
		c.symlink("bin/"+a, "busybox")
	}
	var load []string
	for _, p := range cfg.Kernel.moduleDeps(t, cfg.Modules) {
		b := mustReadModule(t, p)
		name := filepath.Base(p)
		name = name[:strings.Index(name, ".ko")] + ".ko"
		c.file("lib/modules/"+name, b, 0o644)
		load = append(load, "/lib/modules/"+name)
	}
	var init strings.Builder
	init.WriteString("#!/bin/sh\nexport PATH=/bin\nmount -t proc proc /proc\nmount -t sysfs sys /sys\nmount -t devtmpfs dev /dev\necho ironkit-init: start\n")
	for _, m := range load {
		fmt.Fprintf(&init, "insmod %s || echo ironkit-init: insmod %s failed\n", m, m)
	}
	init.WriteString(cfg.Script)
	c.file("init", []byte(init.String()), 0o755)
	c.file("usr/share/udhcpc/default.script", []byte(udhcpcScript), 0o755)
	names := make([]string, 0, len(cfg.Files))
	for n := range cfg.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.file(strings.TrimPrefix(n, "/"), []byte(cfg.Files[n]), 0o755)
	}
	path := filepath.Join(t.TempDir(), "initramfs.cpio.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(c.finish()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// udhcpcScript configures the interface from udhcpc's lease (busybox has no
// default script).
const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via ${router%% *} dev "$interface"
	echo "ironkit-init: lease $ip on $interface"
	;;
esac
`

func mustReadModule(t testing.TB, p string) []byte {
	t.Helper()
	switch {
	case strings.HasSuffix(p, ".ko"):
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case strings.HasSuffix(p, ".ko.xz"):
		b, err := exec.Command("xz", "-dc", p).Output()
		if err != nil {
			t.Fatalf("xz -dc %s: %v", p, err)
		}
		return b
	case strings.HasSuffix(p, ".ko.zst"):
		b, err := exec.Command("zstd", "-dc", p).Output()
		if err != nil {
			t.Fatalf("zstd -dc %s: %v", p, err)
		}
		return b
	default:
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(bufio.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// cpioWriter writes the newc format the kernel unpacks.
type cpioWriter struct {
	buf bytes.Buffer
	ino int
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	c.ino++
	fmt.Fprintf(&c.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.buf.WriteString(name)
	c.buf.WriteByte(0)
	c.pad()
	c.buf.Write(data)
	c.pad()
}

func (c *cpioWriter) pad() {
	for c.buf.Len()%4 != 0 {
		c.buf.WriteByte(0)
	}
}

func (c *cpioWriter) dir(name string)                      { c.entry(name, 0o040755, nil) }
func (c *cpioWriter) file(name string, b []byte, m uint32) { c.entry(name, 0o100000|m, b) }
func (c *cpioWriter) symlink(name, target string)          { c.entry(name, 0o120777, []byte(target)) }
func (c *cpioWriter) finish() []byte                       { c.entry("TRAILER!!!", 0, nil); return c.buf.Bytes() }
