package images

import (
	"errors"
	"strings"
	"testing"
)

var sum1 = strings.Repeat("a", 64)

func TestSetValidate(t *testing.T) {
	good := Set{Key: Key{"ubuntu", "noble", "amd64", "generic", "generic"}, Version: "20260101", Type: Synced,
		Files: []File{{Name: "boot-kernel", SHA256: sum1, Size: 1}}}
	tests := []struct {
		name   string
		mutate func(*Set)
		ok     bool
	}{
		{"good", func(*Set) {}, true},
		{"empty os", func(s *Set) { s.Key.OS = "" }, false},
		{"slash in release", func(s *Set) { s.Key.Release = "a/b" }, false},
		{"dotdot arch", func(s *Set) { s.Key.Arch = ".." }, false},
		{"bad type", func(s *Set) { s.Type = "x" }, false},
		{"empty version", func(s *Set) { s.Version = "" }, false},
		{"upper-case digest", func(s *Set) { s.Files[0].SHA256 = strings.Repeat("A", 64) }, false},
		{"short digest", func(s *Set) { s.Files[0].SHA256 = "abc" }, false},
		{"negative size", func(s *Set) { s.Files[0].Size = -1 }, false},
		{"duplicate name", func(s *Set) { s.Files = append(s.Files, s.Files[0]) }, false},
		{"file name with slash", func(s *Set) { s.Files[0].Name = "a/b" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := good.clone()
			tc.mutate(&s)
			err := s.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for name, want := range map[string]Kind{
		"boot-kernel": KindKernel, "boot-initrd": KindInitrd, "squashfs": KindSquashfs, "root-tgz": KindTarball,
		"root-dd": KindRawDisk, "disk.img": KindRawDisk, "ipxe.efi": KindBootloader, "undionly.kpxe": KindBootloader,
		"pxelinux.0": KindBootloader, "bcm2711.dtb": KindDTB, "README": KindOther,
	} {
		if got := KindOf(name); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCurrent(t *testing.T) {
	k1 := Key{"ubuntu", "noble", "amd64", "generic", "generic"}
	k2 := Key{"bootloader", "ipxe", "amd64", "generic", "generic"}
	sets := []Set{
		{Key: k1, Version: "1", Complete: true},
		{Key: k1, Version: "3", Complete: false},
		{Key: k1, Version: "2", Complete: true},
		{Key: k2, Version: "1", Complete: false},
	}
	cur := Current(sets)
	if len(cur) != 1 || cur[0].Key != k1 || cur[0].Version != "2" {
		t.Fatalf("Current = %+v, want only %s version 2", cur, k1)
	}
}
