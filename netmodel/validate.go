package netmodel

import (
	"fmt"
	"net/netip"
	"slices"
)

// validName reports whether name is a usable name for a fabric, space, zone
// or pool: 1–256 characters of letters, digits, '-', '_' and '.', starting
// with a letter or digit.
func validName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		default:
			return false
		}
	}
	return true
}

const nameFix = "use 1–256 letters, digits, '-', '_' or '.', starting with a letter or digit"

func validateNamed(kind string, id int64, name string) error {
	p := problems{object: fmt.Sprintf("%s %d", kind, id)}
	if name != "" {
		p.object = fmt.Sprintf("%s %q", kind, name)
	}
	if !validName(name) {
		p.add("name", name, "invalid name: %s", nameFix)
	}
	return p.err()
}

// Validate checks the fabric's name.
func (f Fabric) Validate() error { return validateNamed("fabric", f.ID, f.Name) }

// Validate checks the space's name.
func (s Space) Validate() error { return validateNamed("space", s.ID, s.Name) }

// Validate checks the zone's name.
func (z Zone) Validate() error { return validateNamed("zone", z.ID, z.Name) }

// Validate checks the resource pool's name.
func (r ResourcePool) Validate() error { return validateNamed("resource pool", r.ID, r.Name) }

func (v VLAN) object() string {
	if v.ID != 0 {
		return fmt.Sprintf("vlan %d (vid %d on fabric %d)", v.ID, v.VID, v.FabricID)
	}
	return fmt.Sprintf("vlan vid %d on fabric %d", v.VID, v.FabricID)
}

// Validate checks the VLAN on its own: vid 0–4094, MTU 552–65535, dhcp_on
// requires a primary rack, a secondary rack requires a different primary,
// and a relayed VLAN does not serve DHCP itself. ValidateVLAN also checks it
// against the other VLANs.
func (v VLAN) Validate() error {
	p := problems{object: v.object()}
	if v.VID < MinVID || v.VID > MaxVID {
		p.add("vid", v.VID, "out of range: use %d–%d (0 is the untagged VLAN)", MinVID, MaxVID)
	}
	if v.MTU < MinMTU || v.MTU > MaxMTU {
		p.add("mtu", v.MTU, "out of range: use %d–%d (%d for plain Ethernet)", MinMTU, MaxMTU, DefaultMTU)
	}
	if v.DHCPOn && v.PrimaryRack == 0 {
		p.add("dhcp_on", v.DHCPOn, "DHCP needs a rack to serve it: set primary_rack, or turn dhcp_on off")
	}
	if v.SecondaryRack != 0 && v.PrimaryRack == 0 {
		p.add("secondary_rack", v.SecondaryRack, "a secondary rack needs a primary: set primary_rack first")
	}
	if v.SecondaryRack != 0 && v.SecondaryRack == v.PrimaryRack {
		p.add("secondary_rack", v.SecondaryRack, "same rack as primary_rack: choose a different rack or clear secondary_rack")
	}
	if v.RelayVLANID != 0 {
		if v.DHCPOn {
			p.add("relay_vlan", v.RelayVLANID, "a VLAN whose DHCP is relayed does not serve DHCP itself: turn dhcp_on off or clear relay_vlan")
		}
		if v.RelayVLANID == v.ID {
			p.add("relay_vlan", v.RelayVLANID, "a VLAN cannot relay to itself: name another VLAN or clear relay_vlan")
		}
	}
	return p.err()
}

// ValidateVLAN checks v on its own (VLAN.Validate) and against existing, the
// VLANs already stored (v itself, matched by ID, is skipped): its vid is
// unique in its fabric, and its relay VLAN exists, is not relayed itself and
// has DHCP on.
func ValidateVLAN(v VLAN, existing []VLAN) error {
	p := problems{object: v.object()}
	if err := v.Validate(); err != nil {
		p.errs = append(p.errs, err)
	}
	var relay *VLAN
	for i, o := range existing {
		if v.ID != 0 && o.ID == v.ID {
			continue
		}
		if o.FabricID == v.FabricID && o.VID == v.VID {
			p.add("vid", v.VID, "already used by vlan %d on fabric %d: choose another vid", o.ID, o.FabricID)
		}
		if v.RelayVLANID != 0 && o.ID == v.RelayVLANID {
			relay = &existing[i]
		}
	}
	if v.RelayVLANID != 0 && v.RelayVLANID != v.ID {
		switch {
		case relay == nil:
			p.add("relay_vlan", v.RelayVLANID, "no such VLAN: name an existing VLAN with dhcp_on")
		case relay.RelayVLANID != 0:
			p.add("relay_vlan", v.RelayVLANID, "that VLAN is relayed itself: relay to the VLAN that serves DHCP")
		case !relay.DHCPOn:
			p.add("relay_vlan", v.RelayVLANID, "that VLAN does not serve DHCP: turn dhcp_on on there first")
		}
	}
	return p.err()
}

func (s Subnet) object() string {
	if s.CIDR.IsValid() {
		return "subnet " + s.CIDR.String()
	}
	return fmt.Sprintf("subnet %d", s.ID)
}

// Validate checks the subnet on its own: a valid, canonical CIDR (no host
// bits), a gateway inside it that is a usable host address, and valid,
// distinct DNS servers. ValidateSubnet also checks CIDR uniqueness.
func (s Subnet) Validate() error {
	p := problems{object: s.object()}
	if !s.CIDR.IsValid() {
		p.add("cidr", s.CIDR, "not a prefix: use e.g. 10.0.0.0/24 or 2001:db8::/64")
		return p.err()
	}
	if m := s.CIDR.Masked(); m != s.CIDR {
		p.add("cidr", s.CIDR, "has host bits set: use %s", m)
	}
	if s.CIDR.Addr().Is4In6() {
		p.add("cidr", s.CIDR, "is an IPv4-mapped IPv6 prefix: use the plain IPv4 prefix")
	}
	if g := s.Gateway; g.IsValid() {
		switch {
		case !s.CIDR.Contains(g):
			p.add("gateway_ip", g, "outside %s: use an address inside the subnet or clear the gateway", s.CIDR.Masked())
		case !isHost(s.CIDR.Masked(), g):
			p.add("gateway_ip", g, "is the network or broadcast address of %s: use a host address", s.CIDR.Masked())
		}
	}
	seen := map[netip.Addr]bool{}
	for _, d := range s.DNSServers {
		switch {
		case !d.IsValid() || d.IsUnspecified() || d.IsMulticast():
			p.add("dns_servers", d, "not a unicast address: use the address of a DNS server")
		case d.Zone() != "":
			p.add("dns_servers", d, "has an IPv6 zone, meaningless to the machines: drop the %%%s", d.Zone())
		case seen[d]:
			p.add("dns_servers", d, "listed twice: remove the duplicate")
		}
		seen[d] = true
	}
	return p.err()
}

// ValidateSubnet checks s on its own (Subnet.Validate) and against existing
// (s itself, matched by ID, is skipped): its CIDR is unique.
func ValidateSubnet(s Subnet, existing []Subnet) error {
	p := problems{object: s.object()}
	if err := s.Validate(); err != nil {
		p.errs = append(p.errs, err)
	}
	for _, o := range existing {
		if s.ID != 0 && o.ID == s.ID {
			continue
		}
		if o.CIDR.Masked() == s.CIDR.Masked() {
			p.add("cidr", s.CIDR, "already used by subnet %d: each CIDR is defined once; edit that subnet instead", o.ID)
		}
	}
	return p.err()
}

func (r IPRange) object(s Subnet) string {
	return fmt.Sprintf("%s range %s-%s of %s", r.Type, r.Start, r.End, s.object())
}

// ValidateRange checks range r of subnet s against the subnet's existing
// ranges (r itself, matched by ID, is skipped; ranges of other subnets are
// ignored): a known type, both ends inside the subnet and usable host
// addresses, start ≤ end, a dynamic range that leaves the gateway out, and
// no overlap with another range.
func ValidateRange(r IPRange, s Subnet, existing []IPRange) error {
	p := problems{object: r.object(s)}
	if r.Type != RangeDynamic && r.Type != RangeReserved {
		p.add("type", r.Type, "unknown range type: use %q or %q", RangeDynamic, RangeReserved)
	}
	prefix := s.CIDR.Masked()
	for _, end := range []struct {
		field string
		addr  netip.Addr
	}{{"start_ip", r.Start}, {"end_ip", r.End}} {
		switch {
		case !end.addr.IsValid():
			p.add(end.field, end.addr, "missing: set an address inside %s", prefix)
		case !prefix.Contains(end.addr):
			p.add(end.field, end.addr, "outside %s: use an address inside the subnet", prefix)
		case !isHost(prefix, end.addr):
			p.add(end.field, end.addr, "is the network or broadcast address of %s: use a host address", prefix)
		}
	}
	if len(p.errs) > 0 {
		return p.err()
	}
	if r.End.Less(r.Start) {
		p.add("end_ip", r.End, "before start_ip %s: swap them", r.Start)
		return p.err()
	}
	if r.Type == RangeDynamic && s.Gateway.IsValid() && inRange(s.Gateway, r.Start, r.End) {
		p.add("start_ip", r.Start, "the dynamic range contains the gateway %s: start it after or end it before the gateway", s.Gateway)
	}
	for _, o := range existing {
		if (r.ID != 0 && o.ID == r.ID) || (o.SubnetID != r.SubnetID) {
			continue
		}
		if !o.Start.IsValid() || !o.End.IsValid() {
			continue
		}
		if !r.End.Less(o.Start) && !o.End.Less(r.Start) {
			p.add("start_ip", r.Start, "overlaps %s range %s-%s (id %d): ranges never overlap; move this one or shrink that one", o.Type, o.Start, o.End, o.ID)
		}
	}
	return p.err()
}

// ValidateStaticAddress checks a static address of subnet s against the
// subnet's ranges: a known allocation type; an address inside the subnet
// that is a usable host address (only auto addresses may be empty, before
// deployment); dhcp addresses inside a dynamic range; auto, sticky and
// user-reserved addresses outside dynamic ranges and not the gateway; auto
// addresses outside reserved ranges too.
func ValidateStaticAddress(a StaticAddress, s Subnet, ranges []IPRange) error {
	p := problems{object: fmt.Sprintf("%s address %s of %s", a.AllocType, a.Addr, s.object())}
	known := []AllocType{AllocAuto, AllocSticky, AllocUserReserved, AllocDHCP, AllocDiscovered}
	if !slices.Contains(known, a.AllocType) {
		p.add("alloc_type", a.AllocType, "unknown allocation type: use one of %q", known)
		return p.err()
	}
	if !a.Addr.IsValid() {
		if a.AllocType != AllocAuto {
			p.add("ip", a.Addr, "missing: only auto addresses may wait for deployment; set an address inside %s", s.CIDR.Masked())
		}
		return p.err()
	}
	prefix := s.CIDR.Masked()
	if !prefix.Contains(a.Addr) {
		p.add("ip", a.Addr, "outside %s: use an address inside the subnet or the subnet that contains it", prefix)
		return p.err()
	}
	if !isHost(prefix, a.Addr) {
		p.add("ip", a.Addr, "is the network or broadcast address of %s: use a host address", prefix)
		return p.err()
	}
	var in *IPRange
	for i, r := range ranges {
		if r.SubnetID == a.SubnetID && inRange(a.Addr, r.Start, r.End) {
			in = &ranges[i]
			break
		}
	}
	switch a.AllocType {
	case AllocDHCP:
		if in == nil || in.Type != RangeDynamic {
			p.add("ip", a.Addr, "a DHCP lease outside every dynamic range: record it as %q, or add a dynamic range", AllocDiscovered)
		}
	case AllocAuto, AllocSticky, AllocUserReserved:
		if in != nil && in.Type == RangeDynamic {
			p.add("ip", a.Addr, "inside dynamic range %s-%s, which DHCP leases out: choose an address outside it", in.Start, in.End)
		}
		if in != nil && in.Type == RangeReserved && a.AllocType == AllocAuto {
			p.add("ip", a.Addr, "inside reserved range %s-%s: automatic addresses stay out of reserved ranges; use Allocator.Next", in.Start, in.End)
		}
		if a.Addr == s.Gateway {
			p.add("ip", a.Addr, "is the subnet's gateway: choose another address")
		}
	}
	return p.err()
}

// inRange reports whether start ≤ a ≤ end.
func inRange(a, start, end netip.Addr) bool {
	return !a.Less(start) && !end.Less(a)
}

// isHost reports whether a (inside prefix) may be given to a host: not the
// network or broadcast address of an IPv4 subnet larger than /31 (RFC 3021),
// and not the subnet-router anycast address of an IPv6 subnet larger than
// /127 (RFC 4291, RFC 6164).
func isHost(prefix netip.Prefix, a netip.Addr) bool {
	first, last := bounds(prefix)
	v := fromAddr(a)
	if a.Is4() && prefix.Bits() < 31 {
		return v != first && v != last
	}
	if a.Is6() && prefix.Bits() < 127 {
		return v != first
	}
	return true
}
