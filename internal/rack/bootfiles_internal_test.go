package rack

import (
	"testing"
	"time"

	"github.com/ironkit/ironkit/images"
)

func TestBootFiles(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	set := func(os, arch, release, version string, complete bool, at time.Time, files ...string) images.Set {
		s := images.Set{Key: images.Key{OS: os, Release: release, Arch: arch, Subarch: "generic", Flavour: "generic"},
			Version: version, Type: images.Synced, Complete: complete, CompletedAt: at}
		for _, f := range files {
			s.Files = append(s.Files, images.File{Name: f})
		}
		return s
	}
	kr := []string{"boot-kernel", "boot-initrd", "squashfs"}
	cases := []struct {
		name           string
		sets           []images.Set
		arch           string
		kernel, initrd string
		ok             bool
	}{
		{"none", nil, "amd64", "", "", false},
		{"one", []images.Set{set("ubuntu", "amd64", "noble", "20260101", true, t0, kr...)}, "amd64",
			"ubuntu/amd64/generic/noble/generic/boot-kernel", "ubuntu/amd64/generic/noble/generic/boot-initrd", true},
		{"other arch only", []images.Set{set("ubuntu", "arm64", "noble", "20260101", true, t0, kr...)}, "amd64", "", "", false},
		{"incomplete skipped", []images.Set{
			set("ubuntu", "amd64", "jammy", "20250101", true, t0, kr...),
			set("ubuntu", "amd64", "noble", "20260101", false, t0.Add(time.Hour), kr...)}, "amd64",
			"ubuntu/amd64/generic/jammy/generic/boot-kernel", "ubuntu/amd64/generic/jammy/generic/boot-initrd", true},
		{"newest wins", []images.Set{
			set("ubuntu", "amd64", "jammy", "20250101", true, t0, kr...),
			set("ubuntu", "amd64", "noble", "20260101", true, t0.Add(time.Hour), "vmlinuz", "initrd")}, "amd64",
			"ubuntu/amd64/generic/noble/generic/vmlinuz", "ubuntu/amd64/generic/noble/generic/initrd", true},
		{"same completion time: numeric version order", []images.Set{
			set("ubuntu", "amd64", "noble", "20261121.10", true, t0, kr...),
			set("ubuntu", "amd64", "jammy", "20261121.9", true, t0, "vmlinuz", "initrd")}, "amd64",
			"ubuntu/amd64/generic/noble/generic/boot-kernel", "ubuntu/amd64/generic/noble/generic/boot-initrd", true},
		{"bootloaders and kernel-less sets skipped", []images.Set{
			set(images.BootloaderOS, "amd64", "ipxe", "1", true, t0.Add(2*time.Hour), "boot-kernel", "boot-initrd"),
			set("custom", "amd64", "img", "1", true, t0.Add(2*time.Hour), "root-dd.gz"),
			set("ubuntu", "amd64", "noble", "20260101", true, t0, kr...)}, "amd64",
			"ubuntu/amd64/generic/noble/generic/boot-kernel", "ubuntu/amd64/generic/noble/generic/boot-initrd", true},
	}
	for _, c := range cases {
		k, r, ok := bootFiles(c.sets, c.arch)
		if k != c.kernel || r != c.initrd || ok != c.ok {
			t.Errorf("%s: got %q %q %v, want %q %q %v", c.name, k, r, ok, c.kernel, c.initrd, c.ok)
		}
	}
}
