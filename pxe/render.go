package pxe

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"text/template"
)

// Purpose is why a machine network-boots.
type Purpose string

// Boot purposes, as the region's lifecycle hands them to the rack.
const (
	Enlist     Purpose = "enlist"     // unknown MAC: boot the ephemeral environment to register itself
	Commission Purpose = "commission" // ephemeral environment runs inventory scripts
	Deploy     Purpose = "deploy"     // ephemeral environment writes the image to disk
	Local      Purpose = "local"      // boot from the local disk (deployed machine)
	Rescue     Purpose = "rescue"     // ephemeral environment with SSH, nothing written
	Poweroff   Purpose = "poweroff"   // switch the machine off
)

// Purposes lists every boot purpose.
var Purposes = []Purpose{Enlist, Commission, Deploy, Local, Rescue, Poweroff}

// Loader is a network boot loader whose config this package renders.
type Loader string

// Boot loaders.
const (
	IPXE     Loader = "ipxe"
	GRUB     Loader = "grub"
	PXELINUX Loader = "pxelinux"
)

// Loaders lists every loader.
var Loaders = []Loader{IPXE, GRUB, PXELINUX}

// Arch is a machine architecture, in Debian's naming.
type Arch string

// Architectures.
const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// Firmware is the machine's firmware interface.
type Firmware string

// Firmware kinds.
const (
	BIOS Firmware = "bios"
	UEFI Firmware = "uefi"
)

// Platform is an architecture with its firmware, e.g. amd64/uefi.
type Platform struct {
	Arch     Arch
	Firmware Firmware
}

func (p Platform) String() string { return string(p.Arch) + "-" + string(p.Firmware) }

// archInfo is what rendering needs to know per architecture.
type archInfo struct {
	Console       string // serial console for the kernel command line
	EFIFallback   string // removable-media EFI loader path the firmware boots from disk
	GRUBCPU       string // ${grub_cpu}
	IPXEBuildArch []string
}

// arches is the architecture table; add a row to support one more.
var arches = map[Arch]archInfo{
	AMD64: {Console: "ttyS0,115200n8", EFIFallback: "/EFI/BOOT/BOOTX64.EFI", GRUBCPU: "x86_64", IPXEBuildArch: []string{"x86_64", "i386"}},
	ARM64: {Console: "ttyAMA0,115200n8", EFIFallback: "/EFI/BOOT/BOOTAA64.EFI", GRUBCPU: "arm64", IPXEBuildArch: []string{"arm64"}},
}

// loaderPlatforms says which platforms each loader runs on.
var loaderPlatforms = map[Loader][]Platform{
	IPXE:     {{AMD64, BIOS}, {AMD64, UEFI}, {ARM64, UEFI}},
	GRUB:     {{AMD64, UEFI}, {ARM64, UEFI}},
	PXELINUX: {{AMD64, BIOS}},
}

// Platforms returns the platforms loader l runs on.
func Platforms(l Loader) []Platform { return append([]Platform(nil), loaderPlatforms[l]...) }

// ErrUnsupported is returned for a loader, purpose or platform combination
// this package cannot render.
var ErrUnsupported = errors.New("pxe: unsupported boot combination")

// ErrBadParams is returned when BootParams lack what a purpose needs.
var ErrBadParams = errors.New("pxe: invalid boot parameters")

// BootParams is everything a boot config is rendered from. The region
// decides them per machine; the rack fills in its own URLs.
type BootParams struct {
	// MAC of the booting interface; nil when unknown (the loader's own
	// variable is used for BOOTIF then).
	MAC      net.HardwareAddr
	Hostname string
	Purpose  Purpose
	Platform Platform
	// ServerURL is the absolute base URL of the HTTP boot server, e.g.
	// "http://10.0.0.1:5248" (UEFI HTTP boot and iPXE need absolute URLs).
	ServerURL string
	// Kernel and Initrd are file names under the boot server root (served
	// over TFTP and HTTP alike). Needed unless Purpose is Local or Poweroff.
	Kernel, Initrd string
	// RootImage is the ephemeral root file system name under the root; the
	// initramfs fetches it over HTTP (root=squash:<ServerURL>/<RootImage>).
	RootImage string
	// MetadataURL is the region's metadata URL the ephemeral environment
	// talks to; Token authenticates this machine to it (empty for Enlist).
	MetadataURL string
	Token       string
	// Console overrides the architecture's default serial console.
	Console string
	// Extra is appended to the kernel command line verbatim.
	Extra []string
}

// Validate checks p for rendering with loader l.
func (p BootParams) Validate(l Loader) error {
	if !knownPurpose(p.Purpose) {
		return fmt.Errorf("%w: purpose %q: use one of %v", ErrUnsupported, p.Purpose, Purposes)
	}
	plats, ok := loaderPlatforms[l]
	if !ok {
		return fmt.Errorf("%w: loader %q: use one of %v", ErrUnsupported, l, Loaders)
	}
	found := false
	for _, pl := range plats {
		found = found || pl == p.Platform
	}
	if !found {
		return fmt.Errorf("%w: loader %s does not run on %s: use one of %v", ErrUnsupported, l, p.Platform, plats)
	}
	if p.Purpose == Local || p.Purpose == Poweroff {
		return nil
	}
	var missing []string
	if p.Kernel == "" {
		missing = append(missing, "Kernel")
	}
	if p.Initrd == "" {
		missing = append(missing, "Initrd")
	}
	if p.ServerURL == "" {
		missing = append(missing, "ServerURL")
	} else if !strings.HasPrefix(p.ServerURL, "http://") && !strings.HasPrefix(p.ServerURL, "https://") {
		return fmt.Errorf("%w: ServerURL %q must be an absolute http:// URL (UEFI HTTP boot does not resolve relative ones)", ErrBadParams, p.ServerURL)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: purpose %s needs %s set", ErrBadParams, p.Purpose, strings.Join(missing, ", "))
	}
	for _, n := range []string{p.Kernel, p.Initrd} {
		if _, err := CleanName(n); err != nil {
			return fmt.Errorf("%w: %v", ErrBadParams, err)
		}
	}
	return nil
}

func knownPurpose(p Purpose) bool {
	for _, q := range Purposes {
		if p == q {
			return true
		}
	}
	return false
}

// cmdline returns the kernel command line for p, with bootif (the BOOTIF
// value, a loader variable when the MAC is unknown, or none).
func (p BootParams) cmdline(bootif string) string {
	info := arches[p.Platform.Arch]
	console := p.Console
	if console == "" {
		console = info.Console
	}
	args := []string{"console=tty0", "console=" + console}
	if bootif != "" {
		args = append(args, "BOOTIF="+bootif)
	}
	args = append(args, "ip=dhcp")
	if p.RootImage != "" {
		args = append(args, "root=squash:"+strings.TrimSuffix(p.ServerURL, "/")+"/"+strings.TrimPrefix(p.RootImage, "/"))
	}
	args = append(args, "ironkit.purpose="+string(p.Purpose))
	if p.MetadataURL != "" {
		args = append(args, "ironkit.metadata_url="+p.MetadataURL)
	}
	if p.Token != "" {
		args = append(args, "ironkit.token="+p.Token)
	}
	if p.Hostname != "" {
		args = append(args, "hostname="+p.Hostname)
	}
	args = append(args, p.Extra...)
	return strings.Join(args, " ")
}

// bootifVar is how each loader spells the booting MAC when it is not known
// at render time (BOOTIF=01-aa-bb-...).
var bootifVar = map[Loader]string{
	IPXE:     "01-${net0/mac:hexhyp}",
	GRUB:     "01-${net_default_mac}",
	PXELINUX: "", // IPAPPEND 2 appends BOOTIF itself
}

//go:embed templates/*.tmpl
var builtinTemplates embed.FS

// Renderer renders boot configs from templates (text/template, one file per
// loader named <loader>.tmpl).
type Renderer struct {
	tmpl map[Loader]*template.Template
}

// NewRenderer parses the templates in fsys (files "<loader>.tmpl"); a nil
// fsys or a missing file means the built-in template for that loader.
func NewRenderer(fsys fs.FS) (*Renderer, error) {
	r := &Renderer{tmpl: map[Loader]*template.Template{}}
	for _, l := range Loaders {
		name := string(l) + ".tmpl"
		src, err := fs.ReadFile(builtinTemplates, "templates/"+name)
		if err != nil {
			return nil, err
		}
		if fsys != nil {
			if b, err := fs.ReadFile(fsys, name); err == nil {
				src = b
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("pxe: read template %s: %w", name, err)
			}
		}
		t, err := template.New(name).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("pxe: parse template %s: %w", name, err)
		}
		r.tmpl[l] = t
	}
	return r, nil
}

// renderData is what templates see.
type renderData struct {
	BootParams
	Cmdline     string
	KernelURL   string // absolute HTTP URL (iPXE)
	InitrdURL   string
	KernelPath  string // root-relative path with a leading "/" (GRUB, PXELINUX over TFTP)
	InitrdPath  string
	EFIFallback string
	IPAppend    bool
}

// macQuery tags HTTP boot URLs with the MAC so the server's request log
// names the machine for every file, not only for its config.
func macQuery(m net.HardwareAddr) string {
	if m == nil {
		return ""
	}
	return "?mac=" + m.String()
}

// Render renders loader l's config for p. It is a pure function of (l, p)
// and the templates.
func (r *Renderer) Render(l Loader, p BootParams) ([]byte, error) {
	if err := p.Validate(l); err != nil {
		return nil, err
	}
	bootif := bootifVar[l]
	if p.MAC != nil {
		bootif = "01-" + strings.ReplaceAll(p.MAC.String(), ":", "-")
	}
	base := strings.TrimSuffix(p.ServerURL, "/")
	d := renderData{
		BootParams:  p,
		KernelURL:   base + "/" + strings.TrimPrefix(p.Kernel, "/") + macQuery(p.MAC),
		InitrdURL:   base + "/" + strings.TrimPrefix(p.Initrd, "/") + macQuery(p.MAC),
		KernelPath:  "/" + strings.TrimPrefix(p.Kernel, "/"),
		InitrdPath:  "/" + strings.TrimPrefix(p.Initrd, "/"),
		EFIFallback: arches[p.Platform.Arch].EFIFallback,
		IPAppend:    p.MAC == nil && l == PXELINUX,
	}
	d.Cmdline = p.cmdline(bootif)
	var buf bytes.Buffer
	if err := r.tmpl[l].Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("pxe: render %s for %s: %w", l, p.Purpose, err)
	}
	return buf.Bytes(), nil
}
