package rack

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// ProbeDHCP broadcasts one DHCPDISCOVER on iface (as mac) and returns the
// server identifiers of every OFFER heard within wait. Root: it uses a
// packet socket, so it coexists with the rack's own server on port 67.
func ProbeDHCP(ctx context.Context, iface string, mac net.HardwareAddr, wait time.Duration) ([]netip.Addr, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(wait), nclient4.WithHWAddr(mac))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	disc, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var seen []netip.Addr
	// The matcher never matches: it records every offer until the wait ends.
	_, _ = c.SendAndRead(ctx, nclient4.DefaultServers, disc, func(m *dhcpv4.DHCPv4) bool {
		if m.MessageType() != dhcpv4.MessageTypeOffer {
			return false
		}
		id := m.ServerIdentifier()
		if id == nil {
			id = m.ServerIPAddr
		}
		if a, ok := netip.AddrFromSlice(id.To4()); ok {
			mu.Lock()
			if !slices.Contains(seen, a) {
				seen = append(seen, a)
			}
			mu.Unlock()
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(seen), ctx.Err()
}

// rogueLoop looks for other DHCP servers on the interfaces this rack serves
// DHCP on, every interval; anything answering that is not this rack or one
// of its partner racks is reported in the heartbeat (and logged).
func (s *Service) rogueLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		ifnames := slices.Clone(s.dhcpIfaces)
		s.mu.Unlock()
		cur, _ := s.Config()
		known := map[netip.Addr]bool{}
		for _, r := range cur.Racks {
			for _, p := range r.Addresses {
				known[p.Addr()] = true
			}
		}
		ifs, _ := s.cfg.Interfaces()
		var rogue []netip.Addr
		for _, ifc := range ifs {
			for _, p := range ifc.Addresses {
				known[p.Addr()] = true
			}
		}
		for _, name := range ifnames {
			var mac net.HardwareAddr
			for _, ifc := range ifs {
				if ifc.Name == name {
					mac, _ = net.ParseMAC(ifc.MAC)
				}
			}
			if mac == nil {
				continue
			}
			got, err := ProbeDHCP(ctx, name, mac, 2*time.Second)
			if err != nil && ctx.Err() == nil {
				s.log.Debug("rogue DHCP probe", "interface", name, "err", err)
			}
			for _, a := range got {
				if !known[a] && !slices.Contains(rogue, a) {
					rogue = append(rogue, a)
					s.log.Warn("rogue DHCP server answering", "interface", name, "server", a)
				}
			}
		}
		s.mu.Lock()
		s.rogue = rogue
		s.mu.Unlock()
	}
}
