package pxe

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

func testParams(p Purpose, pl Platform, mac net.HardwareAddr) BootParams {
	bp := BootParams{
		MAC:       mac,
		Hostname:  "node-7",
		Purpose:   p,
		Platform:  pl,
		ServerURL: "http://10.77.0.1:5248",
		Kernel:    "images/ephemeral/" + string(pl.Arch) + "/vmlinuz",
		Initrd:    "images/ephemeral/" + string(pl.Arch) + "/initrd.img",
		RootImage: "images/ephemeral/" + string(pl.Arch) + "/squashfs",
	}
	switch p {
	case Enlist:
		bp.MetadataURL = "http://10.77.0.1:5240/api/v1/enlist/"
		bp.Hostname = ""
	case Commission, Deploy, Rescue:
		bp.MetadataURL = "http://10.77.0.1:5240/api/v1/metadata/"
		bp.Token = "tok-" + string(p)
	}
	return bp
}

// TestRenderGolden renders every loader × purpose × platform and compares
// with testdata/golden/<loader>/<purpose>-<platform>.golden (-update rewrites).
func TestRenderGolden(t *testing.T) {
	r, err := NewRenderer(nil)
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	count := 0
	for _, l := range Loaders {
		for _, pl := range Platforms(l) {
			for _, p := range Purposes {
				name := filepath.Join("testdata", "golden", string(l), string(p)+"-"+pl.String()+".golden")
				t.Run(string(l)+"/"+string(p)+"/"+pl.String(), func(t *testing.T) {
					got, err := r.Render(l, testParams(p, pl, mac))
					if err != nil {
						t.Fatal(err)
					}
					checkGolden(t, name, got)
				})
				count++
			}
		}
	}
	if count != 36 {
		t.Fatalf("rendered %d combinations, want 36 (3 iPXE + 2 GRUB + 1 PXELINUX platforms × 6 purposes)", count)
	}
}

// TestRenderUnknownMAC: without a MAC each loader uses its own variable for BOOTIF.
func TestRenderUnknownMAC(t *testing.T) {
	r, _ := NewRenderer(nil)
	for _, tc := range []struct {
		l    Loader
		pl   Platform
		want string
	}{
		{IPXE, Platform{AMD64, BIOS}, "BOOTIF=01-${net0/mac:hexhyp}"},
		{GRUB, Platform{AMD64, UEFI}, "BOOTIF=01-${net_default_mac}"},
		{PXELINUX, Platform{AMD64, BIOS}, "IPAPPEND 2"},
	} {
		got, err := r.Render(tc.l, testParams(Enlist, tc.pl, nil))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(got, []byte(tc.want)) {
			t.Errorf("%s without MAC: want %q in\n%s", tc.l, tc.want, got)
		}
		checkGolden(t, filepath.Join("testdata", "golden", string(tc.l), "enlist-unknown-mac.golden"), got)
	}
}

func TestRenderRefuses(t *testing.T) {
	r, _ := NewRenderer(nil)
	good := testParams(Commission, Platform{AMD64, UEFI}, nil)
	for name, tc := range map[string]struct {
		l    Loader
		mod  func(*BootParams)
		want error
	}{
		"pxelinux on uefi":  {PXELINUX, func(*BootParams) {}, ErrUnsupported},
		"unknown purpose":   {IPXE, func(p *BootParams) { p.Purpose = "dance" }, ErrUnsupported},
		"unknown loader":    {"syslinux", func(*BootParams) {}, ErrUnsupported},
		"no kernel":         {IPXE, func(p *BootParams) { p.Kernel = "" }, ErrBadParams},
		"relative server":   {IPXE, func(p *BootParams) { p.ServerURL = "10.0.0.1:5248" }, ErrBadParams},
		"kernel traversal":  {GRUB, func(p *BootParams) { p.Kernel = "../../etc/shadow" }, ErrBadParams},
		"grub on bios":      {GRUB, func(p *BootParams) { p.Platform.Firmware = BIOS }, ErrUnsupported},
		"arm64 on pxelinux": {PXELINUX, func(p *BootParams) { p.Platform = Platform{ARM64, BIOS} }, ErrUnsupported},
	} {
		t.Run(name, func(t *testing.T) {
			p := good
			tc.mod(&p)
			_, err := r.Render(tc.l, p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Local and poweroff need no kernel.
	p := BootParams{Purpose: Local, Platform: Platform{AMD64, BIOS}}
	if _, err := r.Render(IPXE, p); err != nil {
		t.Fatalf("local boot without kernel: %v", err)
	}
}

func TestRendererOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ipxe.tmpl"), []byte("#!ipxe\necho {{.Purpose}} {{.Cmdline}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Render(IPXE, testParams(Rescue, Platform{AMD64, BIOS}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "#!ipxe\necho rescue console=tty0") {
		t.Fatalf("override not used: %q", got)
	}
	// GRUB still comes from the built-in template.
	g, err := r.Render(GRUB, testParams(Rescue, Platform{AMD64, UEFI}, nil))
	if err != nil || !strings.Contains(string(g), "menuentry") {
		t.Fatalf("built-in GRUB template: %v %q", err, g)
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run `go test ./pxe -run Golden -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
