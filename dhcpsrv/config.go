package dhcpsrv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrInvalidConfig is wrapped by every configuration error New returns.
var ErrInvalidConfig = errors.New("dhcpsrv: invalid config")

// Config is what a Server serves. It is plain data: build it by hand, from
// netmodel values with FromNetmodel, or from a config file.
type Config struct {
	// Interfaces the server listens on, by name ("eth0", "br-pxe"). Each
	// gets its own socket bound to the device (root). Empty with
	// WithListenAddr: a single unbound socket (tests, relay-only setups).
	Interfaces []string
	// Subnets served, directly attached (Subnet.Interface) or behind a relay
	// (selected by the relay's giaddr).
	Subnets []Subnet
	// LeaseDir holds the durable lease log. Empty keeps leases in memory
	// only (tests and examples); a production server must set it.
	LeaseDir string
	// OfferHold is how long an offered address stays held for the client
	// that was offered it (default 30s).
	OfferHold time.Duration
	// DeclineProbation is how long an address a client DECLINEd stays out of
	// the pool (default 1h).
	DeclineProbation time.Duration
	// PingCheck, when positive, pings an address before offering it afresh
	// and waits this long for an answer; an answered address is quarantined
	// like a declined one and another is chosen. Off (0) by default, as in
	// MAAS: it delays every new client by up to PingCheck.
	PingCheck time.Duration
	// Boot holds the PXE defaults every subnet inherits.
	Boot Boot
	// Failover, when set, pairs this server with a partner serving the same
	// subnets (see the package doc for what the pair promises).
	Failover *Failover
}

// Subnet is one IPv4 subnet with its pools, reservations and options.
type Subnet struct {
	// Name identifies the subnet in logs, metrics and errors (e.g. a VLAN
	// name or the CIDR).
	Name   string
	Prefix netip.Prefix
	// Interface, when set, is the interface the subnet is directly attached
	// to: unrelayed packets arriving there are served from this subnet.
	Interface string
	// ServerAddr is this server's address on the subnet (for a relayed
	// subnet: the address relays forward to): the server identifier
	// (option 54) and the default next-server.
	ServerAddr netip.Addr
	// Pools are the dynamic ranges; reservations may lie outside them.
	Pools        []Pool
	Reservations []Reservation

	Routers    []netip.Addr
	DNS        []netip.Addr
	DomainName string
	SearchList []string
	NTP        []netip.Addr
	MTU        uint16
	// LeaseTime is the lease granted (default 1h); PXELeaseTime the shorter
	// lease for PXE, HTTP-boot and iPXE clients (default LeaseTime).
	LeaseTime    time.Duration
	PXELeaseTime time.Duration
	// Options are custom options added to every reply in the subnet; they
	// override standard ones with the same code.
	Options []Option
	// Boot overrides the Config's Boot for this subnet (non-zero fields win;
	// DisabledArchs are added).
	Boot Boot
}

// Pool is an inclusive dynamic range.
type Pool struct {
	Start, End netip.Addr
}

// Reservation pins a MAC to an address (and hostname) in a subnet.
type Reservation struct {
	MAC      net.HardwareAddr
	Addr     netip.Addr
	Hostname string
	// Options are per-host options; they override subnet options.
	Options []Option
}

// Option is a raw DHCP option: code and value bytes as on the wire.
type Option struct {
	Code  uint8
	Value []byte
}

// Size is the number of addresses in the pool.
func (p Pool) Size() int {
	a, b := p.Start.As4(), p.End.As4()
	return int(be32(b[:])) - int(be32(a[:])) + 1
}

// Contains reports whether a lies in the pool.
func (p Pool) Contains(a netip.Addr) bool {
	return a.Is4() && a.Compare(p.Start) >= 0 && a.Compare(p.End) <= 0
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrFromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func addrU32(a netip.Addr) uint32 { b := a.As4(); return be32(b[:]) }

func (c *Config) withDefaults() Config {
	out := *c
	if out.OfferHold <= 0 {
		out.OfferHold = 30 * time.Second
	}
	if out.DeclineProbation <= 0 {
		out.DeclineProbation = time.Hour
	}
	out.Subnets = make([]Subnet, len(c.Subnets))
	for i, s := range c.Subnets {
		if s.LeaseTime <= 0 {
			s.LeaseTime = time.Hour
		}
		if s.PXELeaseTime <= 0 {
			s.PXELeaseTime = s.LeaseTime
		}
		if s.Name == "" {
			s.Name = s.Prefix.String()
		}
		out.Subnets[i] = s
	}
	return out
}

// Validate checks the config and returns every problem found, each naming
// the subnet, the field, the value and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if len(c.Subnets) == 0 {
		bad("no subnets: add at least one Subnet")
	}
	names := map[string]bool{}
	for i, s := range c.Subnets {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("#%d (%s)", i, s.Prefix)
		}
		if names[name] {
			bad("subnet %s: duplicate Name: give every subnet a unique name", name)
		}
		names[name] = true
		if !s.Prefix.IsValid() || !s.Prefix.Addr().Is4() {
			bad("subnet %s: Prefix %v is not an IPv4 prefix: set e.g. 10.0.0.0/24", name, s.Prefix)
			continue
		}
		if s.Prefix.Masked() != s.Prefix {
			bad("subnet %s: Prefix %v has host bits set: use %v", name, s.Prefix, s.Prefix.Masked())
		}
		if !s.ServerAddr.Is4() {
			bad("subnet %s: ServerAddr %v is not an IPv4 address: set it to this server's address (on the subnet, or the one relays forward to)", name, s.ServerAddr)
		} else if s.Interface != "" && !s.Prefix.Contains(s.ServerAddr) {
			bad("subnet %s: ServerAddr %v is not inside %v although the subnet is attached to %s: set it to this server's address on the subnet", name, s.ServerAddr, s.Prefix, s.Interface)
		}
		for j, p := range s.Pools {
			if !p.Start.Is4() || !p.End.Is4() || p.End.Less(p.Start) {
				bad("subnet %s: pool %d %v-%v is not a valid IPv4 range: Start must be <= End", name, j, p.Start, p.End)
				continue
			}
			if !s.Prefix.Contains(p.Start) || !s.Prefix.Contains(p.End) {
				bad("subnet %s: pool %d %v-%v is not inside %v: shrink the pool to the subnet", name, j, p.Start, p.End, s.Prefix)
			}
			for k := 0; k < j; k++ {
				q := s.Pools[k]
				if p.Start.Compare(q.End) <= 0 && q.Start.Compare(p.End) <= 0 {
					bad("subnet %s: pools %d and %d overlap: make them disjoint", name, k, j)
				}
			}
		}
		macs := map[string]bool{}
		addrs := map[netip.Addr]bool{}
		for _, r := range s.Reservations {
			if len(r.MAC) != 6 {
				bad("subnet %s: reservation MAC %q is not a 6-byte Ethernet address", name, r.MAC)
			}
			if !s.Prefix.Contains(r.Addr) {
				bad("subnet %s: reservation %s Addr %v is not inside %v", name, r.MAC, r.Addr, s.Prefix)
			}
			if macs[string(r.MAC)] {
				bad("subnet %s: MAC %s reserved twice: keep one reservation", name, r.MAC)
			}
			if addrs[r.Addr] {
				bad("subnet %s: address %v reserved twice: give each reservation its own address", name, r.Addr)
			}
			macs[string(r.MAC)], addrs[r.Addr] = true, true
		}
		for _, o := range append(append([]Option{}, s.Options...), reservationOptions(s)...) {
			if o.Code == 0 || o.Code == 255 || o.Code == 53 || o.Code == 54 {
				bad("subnet %s: custom option code %d cannot be set: codes 0, 53, 54 and 255 belong to the protocol", name, o.Code)
			}
			if len(o.Value) > 255 {
				bad("subnet %s: option %d value is %d bytes: at most 255", name, o.Code, len(o.Value))
			}
		}
		if err := s.Boot.validate(name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Interfaces) > 0 {
		listed := map[string]bool{}
		for _, i := range c.Interfaces {
			listed[i] = true
		}
		for _, s := range c.Subnets {
			if s.Interface != "" && !listed[s.Interface] {
				bad("subnet %s: Interface %q is not in Config.Interfaces %v: add it there or the subnet is never served directly", s.Name, s.Interface, c.Interfaces)
			}
		}
	}
	// Two subnets must not overlap: the subnet of an address must be unique.
	for i := range c.Subnets {
		for j := 0; j < i; j++ {
			a, b := c.Subnets[i].Prefix, c.Subnets[j].Prefix
			if a.IsValid() && b.IsValid() && a.Overlaps(b) {
				bad("subnets %q and %q overlap (%v, %v): make them disjoint", c.Subnets[j].Name, c.Subnets[i].Name, b, a)
			}
		}
	}
	if err := c.Boot.validate("(global)"); err != nil {
		errs = append(errs, err)
	}
	if c.Failover != nil {
		if err := c.Failover.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func reservationOptions(s Subnet) []Option {
	var out []Option
	for _, r := range s.Reservations {
		out = append(out, r.Options...)
	}
	return out
}
