package jobs

import (
	"context"
	"net/netip"

	"github.com/ironkit/ironkit/lifecycle"
)

// PowerOp is a power operation.
type PowerOp string

// Power operations.
const (
	PowerOn    PowerOp = "on"
	PowerOff   PowerOp = "off"
	PowerCycle PowerOp = "cycle"
	PowerQuery PowerOp = "query"
)

// PowerRequest is one power operation on a machine's BMC.
type PowerRequest struct {
	Op PowerOp
	// PXE sets the next boot to the network before Op (commission, deploy,
	// rescue, erase).
	PXE bool
}

// PowerState is what a BMC reports.
type PowerState string

// Power states.
const (
	StateOn      PowerState = "on"
	StateOff     PowerState = "off"
	StateUnknown PowerState = "unknown"
)

// PowerExecutor carries out power operations on a machine's BMC and returns
// the resulting state. The rack RPC implements it by asking a rack that
// reaches the BMC; the region may also call the drivers itself (the
// single-node default, and the fallback when no rack answers).
type PowerExecutor interface {
	Power(ctx context.Context, systemID string, req PowerRequest) (PowerState, error)
}

// ConflictProber checks whether addresses are already in use on the
// network (ARP/ping from a rack on the machine's segment), returning those
// that answered.
type ConflictProber interface {
	Probe(ctx context.Context, systemID string, addrs []netip.Addr) (inUse []netip.Addr, err error)
}

// Expiry is a machine whose in-progress status outlived its deadline.
type Expiry struct {
	SystemID string
	Status   lifecycle.Status
}

// Machines is the machine state the workers read and change. Event applies a
// lifecycle event as the system (one transaction with an event row) only if
// the machine is still in status in; it returns ErrMoved when the machine
// has moved on (aborted, already done), which workers treat as "nothing to
// do".
type Machines interface {
	Status(ctx context.Context, systemID string) (lifecycle.Status, error)
	Event(ctx context.Context, systemID string, in lifecycle.Status, ev lifecycle.Action, reason string) error
	// FailExpired moves every machine whose deadline passed to its Failed
	// status (a heartbeat that lands first wins) and returns them.
	FailExpired(ctx context.Context) ([]Expiry, error)
	// PowerTargets lists machines with a power type, to poll.
	PowerTargets(ctx context.Context) ([]string, error)
	RecordPowerState(ctx context.Context, systemID string, state PowerState) error
	// ClaimIPs gives the machine's auto addresses an IP (tentatively: until
	// the deployment ends they are released with it).
	ClaimIPs(ctx context.Context, systemID string) ([]netip.Addr, error)
	// ReleaseIPs frees the machine's auto addresses.
	ReleaseIPs(ctx context.Context, systemID string) error
}
