package pxe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Request is one file request, as a Resolver sees it.
type Request struct {
	Proto  string     // "tftp" or "http"
	Name   string     // cleaned by CleanName: relative, slash-separated
	Remote netip.Addr // the client's address
	Query  url.Values // HTTP query (nil for TFTP)
}

// Resolver generates per-machine files on request (boot configs). It returns
// an error wrapping ErrNotFound for names it does not generate; the servers
// then look the name up in Files.
type Resolver interface {
	Resolve(ctx context.Context, req Request) (*File, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, req Request) (*File, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, req Request) (*File, error) { return f(ctx, req) }

// BootQuery is what a booting machine tells about itself.
type BootQuery struct {
	MAC      net.HardwareAddr // nil when the loader did not say (pxelinux.cfg/default)
	Platform Platform
	Loader   Loader
	Remote   netip.Addr
}

// BootSource decides how a machine boots: the rack implements it from the
// config the region hands it. An unknown MAC gets Purpose Enlist. The
// returned params' MAC, Platform and empty ServerURL are filled in from the
// query and the resolver.
type BootSource interface {
	BootParams(ctx context.Context, q BootQuery) (BootParams, error)
}

// BootSourceFunc adapts a function to BootSource.
type BootSourceFunc func(ctx context.Context, q BootQuery) (BootParams, error)

// BootParams calls f.
func (f BootSourceFunc) BootParams(ctx context.Context, q BootQuery) (BootParams, error) {
	return f(ctx, q)
}

// ConfigResolver renders boot configs for these names (served over TFTP and
// HTTP alike):
//
//	pxelinux.cfg/01-<mac>                  PXELINUX, amd64 BIOS
//	pxelinux.cfg/default                   PXELINUX, MAC unknown (IPAPPEND 2)
//	grub/grub.cfg                          GRUB: chains to the per-MAC file below
//	grub/grub.cfg-<mac>                    GRUB, amd64 UEFI
//	grub/<grub_cpu>/grub.cfg-<mac>         GRUB, grub_cpu x86_64 or arm64
//	boot.ipxe, ipxe/boot.ipxe              iPXE: chains to the per-MAC script below
//	ipxe/<buildarch>-<platform>/<mac>.ipxe iPXE (buildarch i386, x86_64, arm64; platform pcbios, efi)
//
// <mac> is written with "-" or ":" separators ("01-" prefix optional for
// GRUB). Over HTTP, ipxe/boot.ipxe?mac=…&buildarch=…&platform=… renders
// directly.
type ConfigResolver struct {
	Source    BootSource
	Renderer  *Renderer
	ServerURL string // absolute base URL of the HTTP boot server
	// Now stamps generated files' modification time; nil means time.Now.
	Now func() time.Time
}

// ipxePlatforms maps iPXE's ${buildarch}-${platform} to a Platform.
var ipxePlatforms = map[string]Platform{
	"i386-pcbios":   {AMD64, BIOS},
	"x86_64-pcbios": {AMD64, BIOS},
	"i386-efi":      {AMD64, UEFI},
	"x86_64-efi":    {AMD64, UEFI},
	"arm64-efi":     {ARM64, UEFI},
}

// grubCPUs maps GRUB's ${grub_cpu} to an architecture (GRUB here is UEFI only).
var grubCPUs = map[string]Arch{"x86_64": AMD64, "arm64": ARM64}

// Resolve renders the boot config req.Name names, or returns ErrNotFound.
func (c *ConfigResolver) Resolve(ctx context.Context, req Request) (*File, error) {
	name := req.Name
	q := BootQuery{Remote: req.Remote}
	var static string
	switch {
	case name == "pxelinux.cfg/default":
		q.Loader, q.Platform = PXELINUX, Platform{AMD64, BIOS}
	case strings.HasPrefix(name, "pxelinux.cfg/01-"):
		mac, err := parseMAC(strings.TrimPrefix(name, "pxelinux.cfg/01-"))
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		q.Loader, q.Platform, q.MAC = PXELINUX, Platform{AMD64, BIOS}, mac
	case name == "grub/grub.cfg":
		static = "set default=0\nset timeout=0\nconfigfile /grub/${grub_cpu}/grub.cfg-${net_default_mac}\n"
	case strings.HasPrefix(name, "grub/"):
		rest := strings.TrimPrefix(name, "grub/")
		arch := AMD64
		if cpu, file, ok := strings.Cut(rest, "/"); ok {
			a, known := grubCPUs[cpu]
			if !known {
				return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
			}
			arch, rest = a, file
		}
		m, ok := strings.CutPrefix(rest, "grub.cfg-")
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		mac, err := parseMAC(strings.TrimPrefix(m, "01-"))
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		q.Loader, q.Platform, q.MAC = GRUB, Platform{arch, UEFI}, mac
	case name == "boot.ipxe" || name == "ipxe/boot.ipxe":
		if mac := req.Query.Get("mac"); mac != "" {
			m, err := parseMAC(mac)
			if err != nil {
				return nil, fmt.Errorf("%w: %s?mac=%s", ErrNotFound, name, mac)
			}
			pl, ok := ipxePlatforms[req.Query.Get("buildarch")+"-"+req.Query.Get("platform")]
			if !ok {
				pl = Platform{AMD64, BIOS}
			}
			q.Loader, q.Platform, q.MAC = IPXE, pl, m
			break
		}
		static = "#!ipxe\nchain " + strings.TrimSuffix(c.ServerURL, "/") + "/ipxe/${buildarch}-${platform}/${net0/mac:hexhyp}.ipxe\n"
	case strings.HasPrefix(name, "ipxe/"):
		plat, file, ok := strings.Cut(strings.TrimPrefix(name, "ipxe/"), "/")
		pl, known := ipxePlatforms[plat]
		m, isScript := strings.CutSuffix(file, ".ipxe")
		if !ok || !known || !isScript {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		mac, err := parseMAC(m)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		q.Loader, q.Platform, q.MAC = IPXE, pl, mac
	default:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if static != "" {
		return BytesFile([]byte(static), now()), nil
	}
	p, err := c.Source.BootParams(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("pxe: boot params for %s (%s): %w", q.MAC, name, err)
	}
	if p.MAC == nil {
		p.MAC = q.MAC
	}
	p.Platform = q.Platform
	if p.ServerURL == "" {
		p.ServerURL = c.ServerURL
	}
	b, err := c.Renderer.Render(q.Loader, p)
	if err != nil {
		return nil, err
	}
	return BytesFile(b, now()), nil
}

// parseMAC accepts aa-bb-cc-dd-ee-ff, aa:bb:cc:dd:ee:ff and aabbccddeeff.
func parseMAC(s string) (net.HardwareAddr, error) {
	s = strings.ToLower(strings.ReplaceAll(s, "-", ":"))
	if len(s) == 12 && !strings.Contains(s, ":") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i : i+2])
		}
		s = b.String()
	}
	m, err := net.ParseMAC(s)
	if err != nil {
		return nil, err
	}
	if len(m) != 6 {
		return nil, errors.New("not an EUI-48 MAC")
	}
	return m, nil
}

// Chain tries resolvers in order; the first that does not return ErrNotFound
// answers.
type Chain []Resolver

// Resolve implements Resolver.
func (c Chain) Resolve(ctx context.Context, req Request) (*File, error) {
	for _, r := range c {
		f, err := r.Resolve(ctx, req)
		if !errors.Is(err, ErrNotFound) {
			return f, err
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, req.Name)
}
