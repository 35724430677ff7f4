package dhcpsrv

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/ironkit/ironkit/netmodel"
)

// Host is what netmodel does not hold about a machine interface: its MAC
// and the machine's hostname (the store joins them in).
type Host struct {
	MAC      net.HardwareAddr
	Hostname string
}

// NetmodelSource is the netmodel data one rack serves DHCP from.
type NetmodelSource struct {
	// Rack is this rack's id: VLANs with DHCPOn whose PrimaryRack or
	// SecondaryRack it is are served directly; VLANs relayed to them
	// (RelayVLANID) are served through the relay.
	Rack    int64
	VLANs   []netmodel.VLAN
	Subnets []netmodel.Subnet
	Ranges  []netmodel.IPRange
	Static  []netmodel.StaticAddress
	// Hosts maps StaticAddress.InterfaceID to the interface's MAC and
	// hostname; auto and sticky addresses of known hosts become
	// reservations.
	Hosts map[int64]Host
	// Interfaces maps a served VLAN's id to the local interface it is
	// reached on (e.g. "eth0", "eth0.100").
	Interfaces map[int64]string
	// RackAddrs maps a subnet id to this rack's address on it (the server
	// identifier). A relayed subnet uses the rack's address on its relay
	// VLAN's first subnet with one.
	RackAddrs map[int64]netip.Addr
	// Defaults supplies, for every subnet, what netmodel does not model:
	// LeaseTime, PXELeaseTime, DomainName, SearchList, NTP, Options, Boot.
	Defaults Subnet
	// Role, when set, keeps only the VLANs on which this rack has that role
	// (a Server has one failover relationship: a rack that is primary for
	// some VLANs and secondary for others runs one Server per role).
	Role Role
}

// FromNetmodel builds the Config a rack serves from netmodel values: one
// Subnet per IPv4 subnet of a served (or relayed) VLAN, dynamic ranges as
// pools, auto and sticky static addresses of known hosts as reservations,
// the gateway as router, the VLAN's MTU. base supplies the server-wide
// rest (LeaseDir, global Boot, failover peer addresses); its Subnets and
// Interfaces are replaced. With base.Failover set, its Role is derived from
// the VLANs (PrimaryRack / SecondaryRack).
func FromNetmodel(src NetmodelSource, base Config) (Config, error) {
	cfg := base
	cfg.Subnets, cfg.Interfaces = nil, nil
	served := map[int64]bool{}   // VLAN id → served here directly
	relayed := map[int64]int64{} // VLAN id → the served VLAN relaying it
	var roles []Role
	for _, v := range src.VLANs {
		if !v.DHCPOn || (v.PrimaryRack != src.Rack && v.SecondaryRack != src.Rack) {
			continue
		}
		role := Primary
		if v.SecondaryRack == src.Rack {
			role = Secondary
		}
		if src.Role != 0 && role != src.Role {
			continue
		}
		if v.SecondaryRack != 0 {
			roles = append(roles, role)
		}
		served[v.ID] = true
	}
	for _, v := range src.VLANs {
		if v.RelayVLANID != 0 && served[v.RelayVLANID] {
			relayed[v.ID] = v.RelayVLANID
		}
	}
	if len(served) == 0 {
		return Config{}, fmt.Errorf("%w: rack %d serves DHCP on no VLAN (role %v): set VLAN.DHCPOn with PrimaryRack or SecondaryRack = %d", ErrInvalidConfig, src.Rack, src.Role, src.Rack)
	}
	if base.Failover != nil {
		fo := *base.Failover
		slices.Sort(roles)
		roles = slices.Compact(roles)
		switch len(roles) {
		case 0:
			return Config{}, fmt.Errorf("%w: base.Failover is set but no VLAN rack %d serves has a secondary rack: drop Failover or set VLAN.SecondaryRack", ErrInvalidConfig, src.Rack)
		case 1:
			fo.Role = roles[0]
		default:
			return Config{}, fmt.Errorf("%w: rack %d is primary on some VLANs and secondary on others: set NetmodelSource.Role and run one Server per role", ErrInvalidConfig, src.Rack)
		}
		cfg.Failover = &fo
	}
	mtu := map[int64]int{}
	for _, v := range src.VLANs {
		mtu[v.ID] = v.MTU
	}
	// The rack's address on a VLAN: the first of its subnets with one.
	vlanAddr := map[int64]netip.Addr{}
	for _, s := range src.Subnets {
		if a, ok := src.RackAddrs[s.ID]; ok && !vlanAddr[s.VLANID].IsValid() {
			vlanAddr[s.VLANID] = a
		}
	}
	ifaces := map[string]bool{}
	for _, s := range src.Subnets {
		if !s.CIDR.Addr().Is4() {
			continue // DHCPv4 only
		}
		direct, via := served[s.VLANID], relayed[s.VLANID]
		if !direct && via == 0 {
			continue
		}
		d := src.Defaults
		sub := Subnet{
			Name: s.Name, Prefix: s.CIDR, DNS: s.DNSServers,
			LeaseTime: d.LeaseTime, PXELeaseTime: d.PXELeaseTime, DomainName: d.DomainName,
			SearchList: d.SearchList, NTP: d.NTP, Options: d.Options, Boot: d.Boot,
		}
		if sub.Name == "" {
			sub.Name = s.CIDR.String()
		}
		if s.Gateway.IsValid() {
			sub.Routers = []netip.Addr{s.Gateway}
		}
		if m := mtu[s.VLANID]; m > 0 && m <= 65535 {
			sub.MTU = uint16(m)
		}
		if direct {
			sub.Interface = src.Interfaces[s.VLANID]
			if sub.Interface == "" {
				return Config{}, fmt.Errorf("%w: VLAN %d (subnet %s) is served by rack %d but NetmodelSource.Interfaces has no interface for it", ErrInvalidConfig, s.VLANID, s.CIDR, src.Rack)
			}
			ifaces[sub.Interface] = true
			sub.ServerAddr = src.RackAddrs[s.ID]
		} else {
			sub.ServerAddr = vlanAddr[via]
		}
		if !sub.ServerAddr.IsValid() {
			return Config{}, fmt.Errorf("%w: subnet %s: NetmodelSource.RackAddrs has no address of rack %d on it (or on its relay VLAN)", ErrInvalidConfig, s.CIDR, src.Rack)
		}
		for _, r := range src.Ranges {
			if r.SubnetID == s.ID && r.Type == netmodel.RangeDynamic {
				sub.Pools = append(sub.Pools, Pool{Start: r.Start, End: r.End})
			}
		}
		for _, a := range src.Static {
			if a.SubnetID != s.ID || !a.Addr.IsValid() || a.InterfaceID == 0 {
				continue
			}
			if a.AllocType != netmodel.AllocAuto && a.AllocType != netmodel.AllocSticky {
				continue
			}
			h, ok := src.Hosts[a.InterfaceID]
			if !ok || len(h.MAC) != 6 {
				continue
			}
			sub.Reservations = append(sub.Reservations, Reservation{MAC: h.MAC, Addr: a.Addr, Hostname: h.Hostname})
		}
		cfg.Subnets = append(cfg.Subnets, sub)
	}
	for i := range ifaces {
		cfg.Interfaces = append(cfg.Interfaces, i)
	}
	slices.Sort(cfg.Interfaces)
	return cfg, cfg.Validate()
}
