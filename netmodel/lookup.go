package netmodel

import "net/netip"

// SubnetFor returns the subnet that contains addr, the most specific one
// (longest prefix) when several do; false when none does. DHCP relays
// (giaddr) and discovered addresses are matched to subnets this way.
func SubnetFor(addr netip.Addr, subnets []Subnet) (Subnet, bool) {
	best := -1
	for i, s := range subnets {
		if s.CIDR.IsValid() && s.CIDR.Masked().Contains(addr) && (best < 0 || s.CIDR.Bits() > subnets[best].CIDR.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return Subnet{}, false
	}
	return subnets[best], true
}
