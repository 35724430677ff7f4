package rack

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ironkit/ironkit/dhcpsrv"
	"github.com/ironkit/ironkit/internal/rpc"
)

// DHCPOptions is what BuildDHCP needs besides the region's config.
type DHCPOptions struct {
	// Interfaces are the rack's interfaces now (addresses decide which
	// interface serves which VLAN, and the rack's address on each subnet).
	Interfaces []rpc.Interface
	// Only restricts serving to these interface names (empty: any).
	Only []string
	// LeaseDir is the parent of one lease directory per server.
	LeaseDir string
	// FailoverPort is the peer link port (0: 647).
	FailoverPort uint16
	// Failover timings; zero takes dhcpsrv's defaults.
	Heartbeat, MaxResponseDelay time.Duration
	// HTTPURL is the HTTP boot server's base URL as machines reach it;
	// with it empty and HTTPPort set, http://<the rack's address on the
	// subnet>:<HTTPPort>. Either gives clients already running iPXE the
	// rack's script (<base>/boot.ipxe) instead of a loader; both empty
	// leave the subnets' Boot.IPXEScript unset.
	HTTPURL  string
	HTTPPort string
}

// BuildDHCP turns the region's config into the dhcpsrv configs this rack
// runs: none when it serves no VLAN, one per failover role otherwise (a
// rack primary for some paired VLANs and secondary for others runs two).
// A paired VLAN's partner address is the partner rack's reported address
// on the same subnet. Pure: table-tested.
func BuildDHCP(cfg rpc.Config, o DHCPOptions) ([]dhcpsrv.Config, error) {
	src := dhcpsrv.NetmodelSource{Rack: cfg.RackID, VLANs: cfg.VLANs, Subnets: cfg.Subnets, Ranges: cfg.Ranges,
		Static: cfg.Static, Hosts: map[int64]dhcpsrv.Host{}, Interfaces: map[int64]string{}, RackAddrs: map[int64]netip.Addr{},
		Defaults: dhcpsrv.Subnet{LeaseTime: time.Hour, PXELeaseTime: 10 * time.Minute}}
	for id, h := range cfg.Hosts {
		if mac, err := net.ParseMAC(h.MAC); err == nil {
			src.Hosts[id] = dhcpsrv.Host{MAC: mac, Hostname: h.Hostname}
		}
	}
	for _, sn := range cfg.Subnets {
		for _, ifc := range o.Interfaces {
			if len(o.Only) > 0 && !slices.Contains(o.Only, ifc.Name) {
				continue
			}
			for _, p := range ifc.Addresses {
				if p.Addr().Is4() && sn.CIDR.Contains(p.Addr()) {
					if _, ok := src.RackAddrs[sn.ID]; !ok {
						src.RackAddrs[sn.ID] = p.Addr()
					}
					if _, ok := src.Interfaces[sn.VLANID]; !ok {
						src.Interfaces[sn.VLANID] = ifc.Name
					}
				}
			}
		}
	}
	// Roles on paired VLANs, and the partner for each.
	type pair struct {
		role    dhcpsrv.Role
		partner int64
		vlan    int64
	}
	var pairs []pair
	served := false
	for _, v := range cfg.VLANs {
		if !v.DHCPOn || (v.PrimaryRack != cfg.RackID && v.SecondaryRack != cfg.RackID) {
			continue
		}
		served = true
		if v.SecondaryRack == 0 {
			continue
		}
		if v.PrimaryRack == cfg.RackID {
			pairs = append(pairs, pair{dhcpsrv.Primary, v.SecondaryRack, v.ID})
		} else {
			pairs = append(pairs, pair{dhcpsrv.Secondary, v.PrimaryRack, v.ID})
		}
	}
	if !served {
		return nil, nil
	}
	port := o.FailoverPort
	if port == 0 {
		port = dhcpsrv.DefaultFailoverPort
	}
	rackAddrOn := func(rack, vlan int64) (own, peer netip.Addr) {
		for _, sn := range cfg.Subnets {
			if sn.VLANID != vlan || !sn.CIDR.Addr().Is4() {
				continue
			}
			own = src.RackAddrs[sn.ID]
			for _, r := range cfg.Racks {
				if r.ID != rack {
					continue
				}
				for _, p := range r.Addresses {
					if sn.CIDR.Contains(p.Addr()) {
						return own, p.Addr()
					}
				}
			}
		}
		return own, peer
	}
	roles := map[dhcpsrv.Role]pair{}
	for _, p := range pairs {
		if _, ok := roles[p.role]; !ok {
			roles[p.role] = p
		}
	}
	if len(roles) == 0 {
		c, err := dhcpsrv.FromNetmodel(src, dhcpsrv.Config{LeaseDir: filepath.Join(o.LeaseDir, "single")})
		if err != nil {
			return nil, err
		}
		o.ipxeScripts(&c)
		return []dhcpsrv.Config{c}, nil
	}
	var out []dhcpsrv.Config
	for _, role := range []dhcpsrv.Role{dhcpsrv.Primary, dhcpsrv.Secondary} {
		p, ok := roles[role]
		if !ok {
			continue
		}
		own, peer := rackAddrOn(p.partner, p.vlan)
		if !own.IsValid() {
			return nil, fmt.Errorf("%w: VLAN %d: this rack has no address on its subnets; add one or clear its DHCP role", ErrInvalidConfig, p.vlan)
		}
		fo := &dhcpsrv.Failover{Mode: dhcpsrv.HotStandby, Heartbeat: o.Heartbeat, MaxResponseDelay: o.MaxResponseDelay}
		if !peer.IsValid() {
			return nil, fmt.Errorf("%w: VLAN %d: the partner rack %d has not reported an address on the VLAN's subnet yet", ErrInvalidConfig, p.vlan, p.partner)
		}
		// Both sides name both ends: the secondary listens, the primary
		// dials, and each checks the other's address.
		fo.Listen, fo.Peer = netip.AddrPortFrom(own, port), netip.AddrPortFrom(peer, port)
		s := src
		if len(roles) == 2 {
			s.Role = role
		}
		c, err := dhcpsrv.FromNetmodel(s, dhcpsrv.Config{LeaseDir: filepath.Join(o.LeaseDir, role.String()), Failover: fo})
		if err != nil {
			return nil, err
		}
		o.ipxeScripts(&c)
		out = append(out, c)
	}
	return out, nil
}

// ipxeScripts points iPXE clients of every subnet at the rack's script.
func (o DHCPOptions) ipxeScripts(c *dhcpsrv.Config) {
	for i := range c.Subnets {
		sub := &c.Subnets[i]
		switch {
		case sub.Boot.IPXEScript != "":
		case o.HTTPURL != "":
			sub.Boot.IPXEScript = strings.TrimSuffix(o.HTTPURL, "/") + "/boot.ipxe"
		case o.HTTPPort != "" && sub.ServerAddr.IsValid():
			sub.Boot.IPXEScript = "http://" + net.JoinHostPort(sub.ServerAddr.String(), o.HTTPPort) + "/boot.ipxe"
		}
	}
}

// LocalInterfaces lists the host's interfaces with their addresses.
func LocalInterfaces() ([]rpc.Interface, error) { return localInterfaces(false) }

// LocalInterfacesWithLoopback is LocalInterfaces plus the loopback
// interface (File.Loopback).
func LocalInterfacesWithLoopback() ([]rpc.Interface, error) { return localInterfaces(true) }

func localInterfaces(loopback bool) ([]rpc.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []rpc.Interface
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 && !loopback {
			continue
		}
		ri := rpc.Interface{Name: ifc.Name, MAC: ifc.HardwareAddr.String()}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if p, err := netip.ParsePrefix(n.String()); err == nil {
					ri.Addresses = append(ri.Addresses, p)
				}
			}
		}
		out = append(out, ri)
	}
	return out, nil
}
