package dhcpsrv

import (
	"fmt"
	"net/netip"
	"time"
)

// FailoverMode is how a pair shares clients.
type FailoverMode uint8

const (
	// HotStandby: the primary answers every client; the secondary answers
	// only once the primary is down (MAAS's split 255).
	HotStandby FailoverMode = 1
	// LoadBalancing: each server answers the clients whose RFC 3074 hash
	// falls in its half; the survivor answers all.
	LoadBalancing FailoverMode = 2
)

func (m FailoverMode) String() string {
	switch m {
	case HotStandby:
		return "hot-standby"
	case LoadBalancing:
		return "load-balancing"
	}
	return "unknown"
}

// Role is this server's place in a pair.
type Role uint8

const (
	Primary   Role = 1
	Secondary Role = 2
)

func (r Role) String() string {
	if r == Primary {
		return "primary"
	}
	return "secondary"
}

// DefaultFailoverPort is the TCP port of the peer link.
const DefaultFailoverPort = 647

// Failover pairs this server with a partner serving the same subnets.
type Failover struct {
	Mode FailoverMode
	Role Role
	// Listen is where the secondary accepts the primary's connection (e.g.
	// 10.0.0.2:647); Peer is where the primary dials it (the secondary's
	// Listen). Port 0 means DefaultFailoverPort (647).
	Listen netip.AddrPort
	Peer   netip.AddrPort
	// Heartbeat is how often each side proves it is alive (default 1s).
	Heartbeat time.Duration
	// MaxResponseDelay without anything from the partner declares it down
	// (default 3s).
	MaxResponseDelay time.Duration
	// SecondaryShare is the fraction of every pool (in 1/256ths, by address
	// hash) from which only the secondary allocates new addresses
	// (default: 128 for LoadBalancing, 64 for HotStandby). Disjoint
	// allocation pools are what keeps an address from going to two clients
	// even when the pair cannot talk.
	SecondaryShare uint8
}

func (f *Failover) withDefaults() Failover {
	out := *f
	if out.Listen.Port() == 0 {
		out.Listen = netip.AddrPortFrom(out.Listen.Addr(), DefaultFailoverPort)
	}
	if out.Peer.Port() == 0 {
		out.Peer = netip.AddrPortFrom(out.Peer.Addr(), DefaultFailoverPort)
	}
	if out.Heartbeat <= 0 {
		out.Heartbeat = time.Second
	}
	if out.MaxResponseDelay <= 0 {
		out.MaxResponseDelay = 3 * time.Second
	}
	if out.SecondaryShare == 0 {
		out.SecondaryShare = 64
		if out.Mode == LoadBalancing {
			out.SecondaryShare = 128
		}
	}
	return out
}

func (f *Failover) validate() error {
	if f.Mode != HotStandby && f.Mode != LoadBalancing {
		return fmt.Errorf("%w: Failover.Mode %d: use dhcpsrv.HotStandby or dhcpsrv.LoadBalancing", ErrInvalidConfig, f.Mode)
	}
	if f.Role != Primary && f.Role != Secondary {
		return fmt.Errorf("%w: Failover.Role %d: use dhcpsrv.Primary or dhcpsrv.Secondary", ErrInvalidConfig, f.Role)
	}
	if !f.Listen.IsValid() || !f.Peer.IsValid() {
		return fmt.Errorf("%w: Failover.Listen %v / Peer %v: set both (e.g. netip.MustParseAddrPort(\"10.0.0.2:647\"))", ErrInvalidConfig, f.Listen, f.Peer)
	}
	if f.Heartbeat > 0 && f.MaxResponseDelay > 0 && f.MaxResponseDelay <= f.Heartbeat {
		return fmt.Errorf("%w: Failover.MaxResponseDelay %v must exceed Heartbeat %v", ErrInvalidConfig, f.MaxResponseDelay, f.Heartbeat)
	}
	return nil
}
