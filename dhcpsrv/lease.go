package dhcpsrv

import (
	"net"
	"net/netip"
	"time"
)

// LeaseState is where a lease is in its life.
type LeaseState uint8

// Lease states. Only Bound leases are durable promises to a client; the
// others are kept so a returning client gets its old address back and so a
// declined address stays out of the pool.
const (
	StateOffered  LeaseState = 1 // held for a client that was OFFERed it
	StateBound    LeaseState = 2 // ACKed
	StateReleased LeaseState = 3 // the client RELEASEd it
	StateExpired  LeaseState = 4 // reclaimed after expiry
	StateDeclined LeaseState = 5 // a client DECLINEd it: quarantined until Expiry
)

func (s LeaseState) String() string {
	switch s {
	case StateOffered:
		return "offered"
	case StateBound:
		return "bound"
	case StateReleased:
		return "released"
	case StateExpired:
		return "expired"
	case StateDeclined:
		return "declined"
	}
	return "unknown"
}

// Lease is one address's binding.
type Lease struct {
	Addr     netip.Addr
	MAC      net.HardwareAddr
	Hostname string
	Subnet   string
	State    LeaseState
	// Start is when the lease was last committed; Expiry when it ends (for
	// Declined: when the quarantine ends; for Offered: when the hold ends).
	Start, Expiry time.Time
}

// holds reports whether the lease keeps its address out of the pool at now.
func (l Lease) holds(now time.Time) bool {
	switch l.State {
	case StateBound, StateOffered, StateDeclined:
		return now.Before(l.Expiry)
	}
	return false
}

// leaseView is the lease state the reply decision reads. The server's lease
// table implements it; table tests use a map.
type leaseView interface {
	// ByAddr returns the lease record of an address, in any state.
	ByAddr(a netip.Addr) (Lease, bool)
	// ByMAC returns the most recent lease record of a client in a subnet
	// whose address has not since gone to another client.
	ByMAC(subnet string, mac net.HardwareAddr) (Lease, bool)
	// NextFree returns an address of pool that no lease holds at now and
	// for which usable returns true.
	NextFree(subnet string, pool Pool, now time.Time, usable func(netip.Addr) bool) (netip.Addr, bool)
}

// EventType says what happened to a lease.
type EventType uint8

// Lease events delivered to a LeaseHook.
const (
	EventCommit  EventType = 1 // a new binding was ACKed
	EventRenew   EventType = 2 // an existing binding was extended
	EventRelease EventType = 3 // the client released it
	EventExpire  EventType = 4 // it expired and was reclaimed
	EventDecline EventType = 5 // the client declined the address
)

func (e EventType) String() string {
	switch e {
	case EventCommit:
		return "commit"
	case EventRenew:
		return "renew"
	case EventRelease:
		return "release"
	case EventExpire:
		return "expire"
	case EventDecline:
		return "decline"
	}
	return "unknown"
}

// LeaseEvent is one change to a lease, delivered after it is durable.
type LeaseEvent struct {
	Type  EventType
	Lease Lease
}

// LeaseHook receives lease events (rackd streams them to the region). It is
// called from one goroutine, in order; it must not block for long: the
// server's commit path waits for it.
type LeaseHook func(LeaseEvent)
