package dhcpsrv

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// Drop reasons, as counted in the drops metric.
const (
	DropMalformed   = "malformed"
	DropNotRequest  = "not_bootrequest"
	DropBadHWAddr   = "bad_hwaddr"
	DropNoType      = "no_message_type"
	DropUnsupported = "unsupported_type"
	DropNoSubnet    = "no_subnet"
	DropExhausted   = "pool_exhausted"
	DropNotForUs    = "not_for_us"
	DropOutOfScope  = "failover_scope"
	DropUnknownAddr = "unknown_address"
)

// actionKind is what the server must do to its lease state for a decision.
type actionKind uint8

const (
	actNone    actionKind = iota
	actOffer              // hold Lease for the client (memory only)
	actCommit             // make Lease durable, then send the reply
	actRelease            // mark Lease released (durable)
	actDecline            // quarantine Lease.Addr (durable)
	actUnhold             // drop an offer the client turned down
)

// decision is the outcome of one request: an optional reply, where to send
// it, and the lease change that must happen first.
type decision struct {
	Reply *dhcpv4.DHCPv4
	// To is the reply's destination; Broadcast means 255.255.255.255 out of
	// the interface the request came in on.
	To        netip.AddrPort
	Broadcast bool
	Action    actionKind
	Lease     Lease
	Event     EventType // for ActCommit: EventCommit or EventRenew
	// Drop is the reason nothing is sent ("" when a reply is sent or the
	// request needs none, as RELEASE and DECLINE).
	Drop string
}

// env is the per-request context the decision needs besides the packet.
type env struct {
	now   time.Time
	iface string // interface the request arrived on ("" when unknown)
	// answer says whether this server answers a client (failover scope);
	// nil answers everyone.
	answer func(req *dhcpv4.DHCPv4) bool
	// mayAllocate says whether this server may hand out a fresh address
	// (failover pool ownership); nil allows every address.
	mayAllocate func(netip.Addr) bool
}

// subnet is a Subnet compiled for the decision.
type subnet struct {
	Subnet
	boot     Boot
	byMAC    map[macKey]*Reservation
	reserved map[netip.Addr]*Reservation
	mask     net.IPMask
	base     dhcpv4.Options // options every reply in the subnet carries
}

// compiled is a validated Config ready for decisions.
type compiled struct {
	cfg        Config
	subnets    []*subnet
	clientPort uint16 // 68 except in loopback tests
	relayPort  uint16 // 67 except in loopback tests
}

func compile(c Config) (*compiled, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	out := &compiled{cfg: c, clientPort: 68, relayPort: 67}
	for i := range c.Subnets {
		s := &subnet{Subnet: c.Subnets[i], byMAC: map[macKey]*Reservation{}, reserved: map[netip.Addr]*Reservation{}}
		s.boot = mergeBoot(c.Boot, s.Subnet.Boot)
		for j := range s.Reservations {
			r := &s.Reservations[j]
			k, _ := keyOf(r.MAC)
			s.byMAC[k] = r
			s.reserved[r.Addr] = r
		}
		s.mask = net.CIDRMask(s.Prefix.Bits(), 32)
		s.base = baseOptions(s)
		out.subnets = append(out.subnets, s)
	}
	return out, nil
}

func ip4(a netip.Addr) net.IP {
	if !a.IsValid() {
		return net.IPv4zero.To4()
	}
	b := a.As4()
	return net.IP(b[:])
}

func ipList(as []netip.Addr) []byte {
	out := make([]byte, 0, 4*len(as))
	for _, a := range as {
		b := a.As4()
		out = append(out, b[:]...)
	}
	return out
}

func baseOptions(s *subnet) dhcpv4.Options {
	o := dhcpv4.Options{}
	o[dhcpv4.OptionSubnetMask.Code()] = []byte(s.mask)
	if len(s.Routers) > 0 {
		o[dhcpv4.OptionRouter.Code()] = ipList(s.Routers)
	}
	if len(s.DNS) > 0 {
		o[dhcpv4.OptionDomainNameServer.Code()] = ipList(s.DNS)
	}
	if s.DomainName != "" {
		o[dhcpv4.OptionDomainName.Code()] = []byte(s.DomainName)
	}
	if len(s.SearchList) > 0 {
		l := rfc1035label.NewLabels()
		l.Labels = append(l.Labels, s.SearchList...)
		o[dhcpv4.OptionDNSDomainSearchList.Code()] = l.ToBytes()
	}
	if len(s.NTP) > 0 {
		o[dhcpv4.OptionNTPServers.Code()] = ipList(s.NTP)
	}
	if s.MTU > 0 {
		o[dhcpv4.OptionInterfaceMTU.Code()] = binary.BigEndian.AppendUint16(nil, s.MTU)
	}
	bcast := s.Prefix.Addr().As4()
	for i := range 4 {
		bcast[i] |= ^s.mask[i]
	}
	o[dhcpv4.OptionBroadcastAddress.Code()] = bcast[:]
	o[dhcpv4.OptionServerIdentifier.Code()] = ip4(s.ServerAddr)
	for _, c := range s.Options {
		o[c.Code] = c.Value
	}
	return o
}

func (c *compiled) subnetFor(req *dhcpv4.DHCPv4, e env) *subnet {
	if gi, ok := netip.AddrFromSlice(req.GatewayIPAddr.To4()); ok && !gi.IsUnspecified() {
		for _, s := range c.subnets {
			if s.Prefix.Contains(gi) {
				return s
			}
		}
		return nil
	}
	var first *subnet
	ci, _ := netip.AddrFromSlice(req.ClientIPAddr.To4())
	for _, s := range c.subnets {
		if s.Interface == "" || s.Interface != e.iface {
			continue
		}
		if ci.IsValid() && !ci.IsUnspecified() && s.Prefix.Contains(ci) {
			return s
		}
		if first == nil {
			first = s
		}
	}
	if first != nil {
		return first
	}
	// A unicast renewal routed to us from a subnet bound to no interface.
	if ci.IsValid() && !ci.IsUnspecified() {
		for _, s := range c.subnets {
			if s.Prefix.Contains(ci) {
				return s
			}
		}
	}
	return nil
}

func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// decide is the whole DHCP reply logic: a pure function of the request, the
// config and the lease state. It never mutates leases; the caller applies
// the returned action.
func decide(req *dhcpv4.DHCPv4, e env, c *compiled, leases leaseView) decision {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return decision{Drop: DropNotRequest}
	}
	if len(req.ClientHWAddr) != 6 || req.HWType != 1 {
		return decision{Drop: DropBadHWAddr}
	}
	mt := req.MessageType()
	if mt == dhcpv4.MessageTypeNone {
		return decision{Drop: DropNoType}
	}
	if e.answer != nil && !e.answer(req) {
		return decision{Drop: DropOutOfScope}
	}
	s := c.subnetFor(req, e)
	if s == nil {
		return decision{Drop: DropNoSubnet}
	}
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		return c.discover(req, e, s, leases)
	case dhcpv4.MessageTypeRequest:
		return c.request(req, e, s, leases)
	case dhcpv4.MessageTypeRelease:
		return c.release(req, e, s, leases)
	case dhcpv4.MessageTypeDecline:
		return c.decline(req, e, s, leases)
	case dhcpv4.MessageTypeInform:
		return c.inform(req, e, s)
	}
	return decision{Drop: DropUnsupported}
}

// usable reports whether addr may be handed to mac as a fresh binding.
func (c *compiled) usable(s *subnet, mac net.HardwareAddr, a netip.Addr, e env, leases leaseView) bool {
	if r, ok := s.reserved[a]; ok {
		return string(r.MAC) == string(mac)
	}
	if a == s.ServerAddr || !s.Prefix.Contains(a) {
		return false
	}
	if l, ok := leases.ByAddr(a); ok && l.holds(e.now) && string(l.MAC) != string(mac) {
		return false
	}
	inPool := false
	for _, p := range s.Pools {
		if p.Contains(a) {
			inPool = true
			break
		}
	}
	if !inPool {
		return false
	}
	return e.mayAllocate == nil || e.mayAllocate(a)
}

// choose picks the address for a client: its reservation, its current or
// previous lease, the address it asks for, or the next free one.
func (c *compiled) choose(req *dhcpv4.DHCPv4, e env, s *subnet, leases leaseView) (netip.Addr, bool) {
	mac := req.ClientHWAddr
	k, _ := keyOf(mac)
	if r, ok := s.byMAC[k]; ok {
		return r.Addr, true
	}
	if l, ok := leases.ByMAC(s.Name, mac); ok && l.State != StateDeclined {
		if l.holds(e.now) && (l.State == StateBound || l.State == StateOffered) {
			// Already ours: owning the address was checked when it was given.
			return l.Addr, true
		}
		if c.usable(s, mac, l.Addr, e, leases) {
			return l.Addr, true
		}
	}
	if want := addrOf(dhcpv4.GetIP(dhcpv4.OptionRequestedIPAddress, req.Options)); want.IsValid() && c.usable(s, mac, want, e, leases) {
		return want, true
	}
	for _, p := range s.Pools {
		if a, ok := leases.NextFree(s.Name, p, e.now, func(a netip.Addr) bool {
			if _, r := s.reserved[a]; r || a == s.ServerAddr {
				return false
			}
			return e.mayAllocate == nil || e.mayAllocate(a)
		}); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (c *compiled) discover(req *dhcpv4.DHCPv4, e env, s *subnet, leases leaseView) decision {
	a, ok := c.choose(req, e, s, leases)
	if !ok {
		return decision{Drop: DropExhausted}
	}
	bc := ClassifyBoot(req)
	lease := c.leaseFor(req, s, a, bc, e.now)
	d := c.reply(req, e, s, dhcpv4.MessageTypeOffer, a, bc, lease.Expiry.Sub(e.now))
	lease.State = StateOffered
	lease.Expiry = e.now.Add(c.cfg.OfferHold)
	d.Action, d.Lease = actOffer, lease
	return d
}

func (c *compiled) leaseFor(req *dhcpv4.DHCPv4, s *subnet, a netip.Addr, bc BootClient, now time.Time) Lease {
	lt := s.LeaseTime
	if bc.Booting() {
		lt = s.PXELeaseTime
	}
	host := req.HostName()
	k, _ := keyOf(req.ClientHWAddr)
	if r, ok := s.byMAC[k]; ok && r.Hostname != "" {
		host = r.Hostname
	}
	return Lease{
		Addr: a, MAC: append(net.HardwareAddr(nil), req.ClientHWAddr...), Hostname: host,
		Subnet: s.Name, State: StateBound, Start: now, Expiry: now.Add(lt),
	}
}

func (c *compiled) request(req *dhcpv4.DHCPv4, e env, s *subnet, leases leaseView) decision {
	mac := req.ClientHWAddr
	sid := addrOf(dhcpv4.GetIP(dhcpv4.OptionServerIdentifier, req.Options))
	want := addrOf(dhcpv4.GetIP(dhcpv4.OptionRequestedIPAddress, req.Options))
	ci := addrOf(req.ClientIPAddr)
	cur, hasCur := leases.ByMAC(s.Name, mac)

	var a netip.Addr
	switch {
	case sid.IsValid(): // SELECTING: answers an OFFER
		if sid != s.ServerAddr {
			// The client took another server's offer: free ours.
			if hasCur && cur.State == StateOffered {
				return decision{Drop: DropNotForUs, Action: actUnhold, Lease: cur}
			}
			return decision{Drop: DropNotForUs}
		}
		a = want
		if !a.IsValid() {
			a = ci
		}
	case want.IsValid(): // INIT-REBOOT
		a = want
	case ci.IsValid(): // RENEWING (unicast) or REBINDING (broadcast)
		a = ci
	default:
		return c.nak(req, e, s, "no address requested")
	}
	if !s.Prefix.Contains(a) {
		return c.nak(req, e, s, "address not on this network")
	}
	k, _ := keyOf(mac)
	if r, ok := s.byMAC[k]; ok && r.Addr != a {
		return c.nak(req, e, s, "client has a reservation for another address")
	}
	known := hasCur && cur.Addr == a && cur.State != StateDeclined && cur.holds(e.now)
	if !known {
		if l, ok := leases.ByAddr(a); ok && l.holds(e.now) && string(l.MAC) != string(mac) {
			return c.nak(req, e, s, "address belongs to another client")
		}
		if !c.usable(s, mac, a, e, leases) {
			if !sid.IsValid() && !want.IsValid() && e.mayAllocate != nil && !e.mayAllocate(a) {
				// Renewing an address of the partner's we have no record
				// of: let the partner (or the client's rebinding) sort it.
				return decision{Drop: DropUnknownAddr}
			}
			return c.nak(req, e, s, "address not available")
		}
	}
	bc := ClassifyBoot(req)
	lease := c.leaseFor(req, s, a, bc, e.now)
	ev := EventCommit
	if hasCur && cur.Addr == a && cur.State == StateBound && cur.holds(e.now) {
		ev = EventRenew
		if cur.Hostname != "" && lease.Hostname == "" {
			lease.Hostname = cur.Hostname
		}
	}
	d := c.reply(req, e, s, dhcpv4.MessageTypeAck, a, bc, lease.Expiry.Sub(e.now))
	d.Action, d.Lease, d.Event = actCommit, lease, ev
	return d
}

func (c *compiled) release(req *dhcpv4.DHCPv4, e env, s *subnet, leases leaseView) decision {
	ci := addrOf(req.ClientIPAddr)
	l, ok := leases.ByAddr(ci)
	if !ok || string(l.MAC) != string(req.ClientHWAddr) || l.State != StateBound {
		return decision{Drop: DropUnknownAddr}
	}
	l.State = StateReleased
	l.Start = e.now // a release is a newer version of the lease (failover merge)
	return decision{Action: actRelease, Lease: l}
}

func (c *compiled) decline(req *dhcpv4.DHCPv4, e env, s *subnet, leases leaseView) decision {
	a := addrOf(dhcpv4.GetIP(dhcpv4.OptionRequestedIPAddress, req.Options))
	l, ok := leases.ByAddr(a)
	if !ok || string(l.MAC) != string(req.ClientHWAddr) || !l.holds(e.now) {
		return decision{Drop: DropUnknownAddr}
	}
	l.State = StateDeclined
	l.Start = e.now
	l.Expiry = e.now.Add(c.cfg.DeclineProbation)
	return decision{Action: actDecline, Lease: l}
}

func (c *compiled) inform(req *dhcpv4.DHCPv4, e env, s *subnet) decision {
	d := c.reply(req, e, s, dhcpv4.MessageTypeAck, netip.Addr{}, ClassifyBoot(req), 0)
	return d
}

func (c *compiled) nak(req *dhcpv4.DHCPv4, e env, s *subnet, why string) decision {
	rep := newReply(req, dhcpv4.MessageTypeNak)
	rep.Options[dhcpv4.OptionServerIdentifier.Code()] = ip4(s.ServerAddr)
	rep.Options[dhcpv4.OptionMessage.Code()] = []byte(why)
	d := decision{Reply: rep}
	if gi := addrOf(req.GatewayIPAddr); gi.IsValid() {
		rep.SetBroadcast()
		d.To = netip.AddrPortFrom(gi, c.relayPort)
	} else {
		d.Broadcast = true
		d.To = netip.AddrPortFrom(netip.IPv4Unspecified(), c.clientPort)
	}
	return d
}

func newReply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	rep := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		Options:       dhcpv4.Options{dhcpv4.OptionDHCPMessageType.Code(): []byte{byte(mt)}},
	}
	if rai := req.Options.Get(dhcpv4.OptionRelayAgentInformation); rai != nil {
		rep.Options[dhcpv4.OptionRelayAgentInformation.Code()] = rai // RFC 3046: echo
	}
	return rep
}

// reply builds an OFFER or ACK for address a (invalid for INFORM) and its
// destination per RFC 2131 4.1.
func (c *compiled) reply(req *dhcpv4.DHCPv4, e env, s *subnet, mt dhcpv4.MessageType, a netip.Addr, bc BootClient, lt time.Duration) decision {
	rep := newReply(req, mt)
	for k, v := range s.base {
		rep.Options[k] = v
	}
	k, _ := keyOf(req.ClientHWAddr)
	r := s.byMAC[k]
	if a.IsValid() {
		rep.YourIPAddr = ip4(a)
		secs := uint32(lt / time.Second)
		rep.Options[dhcpv4.OptionIPAddressLeaseTime.Code()] = binary.BigEndian.AppendUint32(nil, secs)
		rep.Options[dhcpv4.OptionRenewTimeValue.Code()] = binary.BigEndian.AppendUint32(nil, secs/2)
		rep.Options[dhcpv4.OptionRebindingTimeValue.Code()] = binary.BigEndian.AppendUint32(nil, secs/8*7)
		if r != nil && r.Hostname != "" {
			rep.Options[dhcpv4.OptionHostName.Code()] = []byte(r.Hostname)
		}
	} else {
		rep.ClientIPAddr = req.ClientIPAddr
	}
	if p, ok := s.boot.plan(bc, s.ServerAddr); ok {
		rep.ServerIPAddr = ip4(p.nextServer)
		rep.BootFileName = p.file // BOOTP file field: older PXE ROMs read only this
		rep.Options[dhcpv4.OptionBootfileName.Code()] = []byte(p.file)
		rep.Options[dhcpv4.OptionTFTPServerName.Code()] = []byte(p.nextServer.String())
		if p.httpClient {
			rep.Options[dhcpv4.OptionClassIdentifier.Code()] = []byte("HTTPClient")
		}
	}
	if r != nil {
		for _, o := range r.Options {
			rep.Options[o.Code] = o.Value
		}
	}
	d := decision{Reply: rep}
	gi := addrOf(req.GatewayIPAddr)
	ci := addrOf(req.ClientIPAddr)
	switch {
	case gi.IsValid():
		d.To = netip.AddrPortFrom(gi, c.relayPort)
	case ci.IsValid():
		d.To = netip.AddrPortFrom(ci, c.clientPort)
	default:
		// Broadcast flag or not: without layer-2 unicast (no ARP entry for
		// an address the client does not have yet) broadcast reaches it.
		d.Broadcast = true
		d.To = netip.AddrPortFrom(netip.IPv4Unspecified(), c.clientPort)
	}
	return d
}
