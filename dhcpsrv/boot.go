package dhcpsrv

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Boot says what network-booting clients are told. The zero value boots
// nobody over HTTP and sends TFTP loaders from DefaultLoaders with the
// subnet's ServerAddr as next-server.
type Boot struct {
	// NextServer is siaddr and option 66 (default: the subnet's ServerAddr).
	NextServer netip.Addr
	// HTTPBase prefixes relative loader names for HTTP-boot clients, e.g.
	// "http://10.0.0.1:5248/boot/". HTTP-boot clients get no boot file
	// while it is empty (and the loader is not an absolute URL).
	HTTPBase string
	// IPXEScript is the absolute URL of the rack's iPXE script; clients
	// already running iPXE get it instead of a loader, which breaks the
	// PXE → iPXE → PXE chainload loop. Empty: iPXE clients are treated like
	// any other client of their architecture.
	IPXEScript string
	// Loaders overrides DefaultLoaders entry by entry (an empty string
	// removes the entry).
	Loaders map[iana.Arch]string
	// DisabledArchs get a lease but no boot options.
	DisabledArchs []iana.Arch
}

// DefaultLoaders is the option 93 → boot loader table every server starts
// from (MAAS's choice of loaders). HTTP-boot architectures name a path below
// Boot.HTTPBase. It returns a fresh map the caller may change.
func DefaultLoaders() map[iana.Arch]string {
	return map[iana.Arch]string{
		iana.INTEL_X86PC:     "lpxelinux.0",  // 0: BIOS
		iana.EFI_IA32:        "bootia32.efi", // 6
		iana.EFI_X86_64:      "bootx64.efi",  // 7
		iana.EFI_BC:          "bootx64.efi",  // 9: EFI x64 as most firmware sends it
		iana.EFI_ARM64:       "bootaa64.efi", // 11
		iana.EFI_X86_HTTP:    "bootia32.efi", // 15
		iana.EFI_X86_64_HTTP: "bootx64.efi",  // 16
		iana.EFI_ARM64_HTTP:  "bootaa64.efi", // 19
	}
}

// httpArchs are the architectures (RFC 4578 registry) that boot over HTTP.
func isHTTPArch(a iana.Arch) bool {
	switch a {
	case iana.EFI_X86_HTTP, iana.EFI_X86_64_HTTP, iana.EFI_BC_HTTP, iana.EFI_ARM32_HTTP,
		iana.EFI_ARM64_HTTP, iana.INTEL_X86PC_HTTP, iana.UBOOT_ARM32_HTTP, iana.UBOOT_ARM64_HTTP,
		iana.EFI_RISCV32_HTTP, iana.EFI_RISCV64_HTTP, iana.EFI_RISCV128_HTTP:
		return true
	}
	return false
}

// BootClient is what a request says about the client's firmware.
type BootClient struct {
	PXE  bool // option 60 starts with "PXEClient"
	HTTP bool // option 60 starts with "HTTPClient" (UEFI HTTP boot)
	IPXE bool // user class "iPXE" (option 77) or iPXE's option 175
	// Arch is the first option 93 value (BIOS when absent).
	Arch    iana.Arch
	HasArch bool
}

// Booting reports whether the client asks to network-boot at all.
func (c BootClient) Booting() bool { return c.PXE || c.HTTP || c.IPXE }

// ClassifyBoot reads options 60, 77, 93 and 175 of a request.
func ClassifyBoot(m *dhcpv4.DHCPv4) BootClient {
	var c BootClient
	vc := m.Options.Get(dhcpv4.OptionClassIdentifier)
	c.PXE = bytes.HasPrefix(vc, []byte("PXEClient"))
	c.HTTP = bytes.HasPrefix(vc, []byte("HTTPClient"))
	if _, ok := m.Options[175]; ok {
		c.IPXE = true
	} else if uc := m.Options.Get(dhcpv4.OptionUserClassInformation); uc != nil {
		// iPXE sends the bare string, RFC 3004 clients length-prefixed ones.
		if bytes.Equal(uc, []byte("iPXE")) || bytes.Contains(uc, []byte("\x04iPXE")) {
			c.IPXE = true
		}
	}
	if a := m.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		c.Arch, c.HasArch = iana.Arch(uint16(a[0])<<8|uint16(a[1])), true
	}
	if c.HasArch && isHTTPArch(c.Arch) && !c.PXE {
		c.HTTP = true
	}
	return c
}

// bootPlan is the boot part of one reply.
type bootPlan struct {
	file       string // BOOTP file field and option 67
	nextServer netip.Addr
	httpClient bool // echo option 60 "HTTPClient"
}

// merge overlays the subnet's Boot on the global one.
func mergeBoot(global, sub Boot) Boot {
	out := global
	if sub.NextServer.IsValid() {
		out.NextServer = sub.NextServer
	}
	if sub.HTTPBase != "" {
		out.HTTPBase = sub.HTTPBase
	}
	if sub.IPXEScript != "" {
		out.IPXEScript = sub.IPXEScript
	}
	loaders := DefaultLoaders()
	for _, m := range []map[iana.Arch]string{global.Loaders, sub.Loaders} {
		for k, v := range m {
			if v == "" {
				delete(loaders, k)
			} else {
				loaders[k] = v
			}
		}
	}
	out.Loaders = loaders
	out.DisabledArchs = append(append([]iana.Arch{}, global.DisabledArchs...), sub.DisabledArchs...)
	return out
}

// plan decides the boot options for a client; ok is false when the client
// gets none. b must come from mergeBoot.
func (b Boot) plan(c BootClient, serverAddr netip.Addr) (bootPlan, bool) {
	if !c.Booting() {
		return bootPlan{}, false
	}
	for _, d := range b.DisabledArchs {
		if d == c.Arch {
			return bootPlan{}, false
		}
	}
	p := bootPlan{nextServer: b.NextServer}
	if !p.nextServer.IsValid() {
		p.nextServer = serverAddr
	}
	if c.IPXE && b.IPXEScript != "" {
		p.file = b.IPXEScript
		p.httpClient = c.HTTP
		return p, true
	}
	loader, ok := b.Loaders[c.Arch]
	if !ok {
		return bootPlan{}, false
	}
	if c.HTTP {
		if !isAbsURL(loader) {
			if b.HTTPBase == "" {
				return bootPlan{}, false
			}
			loader = strings.TrimSuffix(b.HTTPBase, "/") + "/" + strings.TrimPrefix(loader, "/")
		}
		p.httpClient = true
	}
	p.file = loader
	return p, true
}

func isAbsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func (b Boot) validate(where string) error {
	if b.HTTPBase != "" && !isAbsURL(b.HTTPBase) {
		return fmt.Errorf("%w: subnet %s: Boot.HTTPBase %q is not an absolute http:// URL: set e.g. http://10.0.0.1:5248/boot/", ErrInvalidConfig, where, b.HTTPBase)
	}
	if b.IPXEScript != "" && !isAbsURL(b.IPXEScript) {
		return fmt.Errorf("%w: subnet %s: Boot.IPXEScript %q is not an absolute http:// URL: set e.g. http://10.0.0.1:5248/ipxe/boot.ipxe", ErrInvalidConfig, where, b.IPXEScript)
	}
	for a, l := range b.Loaders {
		if len(l) > 127 {
			return fmt.Errorf("%w: subnet %s: Boot.Loaders[%d] is %d bytes: the BOOTP file field holds 127", ErrInvalidConfig, where, a, len(l))
		}
	}
	return nil
}
