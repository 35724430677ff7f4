package images

import (
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Key names a boot resource: what a machine asks for when it boots. Every
// field is a single path element (no "/", not "." or ".."), because a Key
// doubles as the logical path prefix racks serve files under:
// <os>/<arch>/<subarch>/<release>/<flavour>/<file name>.
type Key struct {
	OS      string `json:"os"`      // "ubuntu", "centos", "custom", BootloaderOS, ...
	Release string `json:"release"` // "noble", "9", or a custom image name
	Arch    string `json:"arch"`    // "amd64", "arm64"
	Subarch string `json:"subarch"` // "generic", "hwe-24.04", "xgene-uboot"
	Flavour string `json:"flavour"` // kernel flavour: "generic", "lowlatency"
}

// BootloaderOS is the OS of resource sets that carry bootloaders (iPXE,
// PXELINUX, GRUB, shim). Their files are also served at the root of a rack's
// file view under their bare name ("ipxe.efi", "undionly.kpxe"), which is
// where firmware asks for them.
const BootloaderOS = "bootloader"

// Path is the logical directory the key's files are served under.
func (k Key) Path() string {
	return path.Join(k.OS, k.Arch, k.Subarch, k.Release, k.Flavour)
}

func (k Key) String() string { return k.Path() }

// Validate checks that every field is a usable path element.
func (k Key) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"os", k.OS}, {"release", k.Release}, {"arch", k.Arch}, {"subarch", k.Subarch}, {"flavour", k.Flavour},
	} {
		if err := checkElem(f.v); err != nil {
			return fmt.Errorf("%w: resource key %q: field %s=%q %v; use a non-empty name without '/'", ErrInvalid, k.Path(), f.name, f.v, err)
		}
	}
	return nil
}

func (k Key) less(o Key) bool {
	return k.Path() < o.Path()
}

func checkElem(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case s == "." || s == "..":
		return fmt.Errorf("is a relative path element")
	case strings.ContainsAny(s, "/\\\x00"):
		return fmt.Errorf("contains a path separator")
	case len(s) > 128:
		return fmt.Errorf("is longer than 128 bytes")
	}
	return nil
}

// Type says where a resource set came from.
type Type string

const (
	// Synced sets are imported from a mirror (or another region).
	Synced Type = "synced"
	// Uploaded sets are custom images pushed by an operator (up to many GiB).
	Uploaded Type = "uploaded"
)

// Kind classifies a file by what it is for; derived from the file name (see KindOf).
type Kind string

// File kinds.
const (
	KindKernel     Kind = "kernel"
	KindInitrd     Kind = "initrd"
	KindSquashfs   Kind = "squashfs"
	KindTarball    Kind = "tarball"
	KindRawDisk    Kind = "raw-disk"
	KindBootloader Kind = "bootloader"
	KindDTB        Kind = "dtb"
	KindOther      Kind = "other"
)

// kindByName maps well-known file names (MAAS's names where they exist) and
// name suffixes to kinds, first match wins. A table, not an if-chain.
var kindByName = []struct {
	match string // exact name, or suffix when it starts with "*"
	kind  Kind
}{
	{"boot-kernel", KindKernel},
	{"vmlinuz", KindKernel},
	{"boot-initrd", KindInitrd},
	{"initrd", KindInitrd},
	{"initramfs", KindInitrd},
	{"squashfs", KindSquashfs},
	{"root-tgz", KindTarball},
	{"root-tbz", KindTarball},
	{"root-txz", KindTarball},
	{"root-dd", KindRawDisk},
	{"root-dd.gz", KindRawDisk},
	{"root-dd.xz", KindRawDisk},
	{"boot-dtb", KindDTB},
	{"*.squashfs", KindSquashfs},
	{"*.tar.gz", KindTarball},
	{"*.tgz", KindTarball},
	{"*.img", KindRawDisk},
	{"*.raw", KindRawDisk},
	{"*.dtb", KindDTB},
	{"*.efi", KindBootloader},
	{"*.kpxe", KindBootloader},
	{"*.pxe", KindBootloader},
	{"*.0", KindBootloader},
	{"*.c32", KindBootloader},
}

// KindOf returns the kind of a file called name.
func KindOf(name string) Kind {
	for _, e := range kindByName {
		if suf, ok := strings.CutPrefix(e.match, "*"); ok {
			if strings.HasSuffix(name, suf) {
				return e.kind
			}
		} else if name == e.match {
			return e.kind
		}
	}
	return KindOther
}

// File is one file of a resource set: its logical name within the set, and
// the SHA-256 and size that identify its bytes in the content-addressed store.
type File struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Kind returns the file's kind (see KindOf).
func (f File) Kind() Kind { return KindOf(f.Name) }

// Validate checks the name, the digest syntax and the size.
func (f File) Validate() error {
	if err := checkElem(f.Name); err != nil {
		return fmt.Errorf("%w: file name %q %v; use a bare file name such as \"boot-kernel\"", ErrInvalid, f.Name, err)
	}
	if err := ValidDigest(f.SHA256); err != nil {
		return fmt.Errorf("file %q: %w", f.Name, err)
	}
	if f.Size < 0 {
		return fmt.Errorf("%w: file %q: size %d is negative", ErrInvalid, f.Name, f.Size)
	}
	return nil
}

// ValidDigest checks that s is a lower-case hex SHA-256 digest.
func ValidDigest(s string) error {
	if len(s) != 64 || strings.ToLower(s) != s {
		return fmt.Errorf("%w: sha256 %q is not 64 lower-case hex digits", ErrInvalid, s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("%w: sha256 %q is not hex", ErrInvalid, s)
	}
	return nil
}

// Set is one version of a boot resource: the files that together boot or
// deploy a machine. A set is usable only when Complete: every file's bytes
// are in the store and verified against SHA256 and Size. Complete sets are
// immutable; a change is a new version.
type Set struct {
	Key         Key       `json:"key"`
	Version     string    `json:"version"` // ordered by CompareVersions: the greatest complete version is current
	Type        Type      `json:"type"`
	Files       []File    `json:"files"`
	Complete    bool      `json:"complete"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// Validate checks the key, version, type and every file, and that file names
// are unique.
func (s Set) Validate() error {
	if err := s.Key.Validate(); err != nil {
		return err
	}
	if err := checkElem(s.Version); err != nil {
		return fmt.Errorf("%w: resource %s: version %q %v; use e.g. \"20260121\"", ErrInvalid, s.Key, s.Version, err)
	}
	if s.Type != Synced && s.Type != Uploaded {
		return fmt.Errorf("%w: resource %s version %s: type %q; use %q or %q", ErrInvalid, s.Key, s.Version, s.Type, Synced, Uploaded)
	}
	seen := map[string]bool{}
	for _, f := range s.Files {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("resource %s version %s: %w", s.Key, s.Version, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: resource %s version %s: file %q listed twice", ErrInvalid, s.Key, s.Version, f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// File returns the file called name.
func (s Set) File(name string) (File, bool) {
	for _, f := range s.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Size is the sum of the set's file sizes.
func (s Set) Size() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

func (s Set) clone() Set {
	s.Files = append([]File(nil), s.Files...)
	return s
}

// sortSets orders sets by key path, then version (CompareVersions).
func sortSets(sets []Set) {
	sort.Slice(sets, func(i, j int) bool {
		if sets[i].Key != sets[j].Key {
			return sets[i].Key.less(sets[j].Key)
		}
		return CompareVersions(sets[i].Version, sets[j].Version) < 0
	})
}

// Current returns, for every key, the greatest complete version
// (CompareVersions, so "20261121.10" beats "20261121.9"): what racks
// should hold. Incomplete sets are never current.
func Current(sets []Set) []Set {
	best := map[Key]Set{}
	for _, s := range sets {
		if !s.Complete {
			continue
		}
		if b, ok := best[s.Key]; !ok || CompareVersions(s.Version, b.Version) > 0 {
			best[s.Key] = s
		}
	}
	out := make([]Set, 0, len(best))
	for _, s := range best {
		out = append(out, s.clone())
	}
	sortSets(out)
	return out
}
