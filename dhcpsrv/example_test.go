package dhcpsrv_test

import (
	"fmt"
	"net/netip"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/ironkit/ironkit/dhcpsrv"
)

// The boot loader table is data: start from the defaults, override per
// architecture, disable architectures per subnet.
func ExampleDefaultLoaders() {
	loaders := dhcpsrv.DefaultLoaders()
	fmt.Println(loaders[iana.INTEL_X86PC], loaders[iana.EFI_X86_64], loaders[iana.EFI_ARM64_HTTP])

	_, err := dhcpsrv.New(dhcpsrv.Config{
		Subnets: []dhcpsrv.Subnet{{
			Name: "pxe", Prefix: netip.MustParsePrefix("10.0.0.0/24"),
			ServerAddr: netip.MustParseAddr("10.0.0.1"),
			Pools:      []dhcpsrv.Pool{{Start: netip.MustParseAddr("10.0.0.100"), End: netip.MustParseAddr("10.0.0.50")}},
		}},
	})
	fmt.Println(err)
	// Output:
	// lpxelinux.0 bootx64.efi bootaa64.efi
	// dhcpsrv: invalid config: subnet pxe: pool 0 10.0.0.100-10.0.0.50 is not a valid IPv4 range: Start must be <= End
}
