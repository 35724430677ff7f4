// Package powersim provides BMC simulators for tests, examples and simulated
// datacenters: an IPMI 2.0 (lanplus) BMC built on go-ipmi's own server
// packages, and a Redfish BMC on net/http. Both listen on loopback ports,
// keep their machine's power state under the caller's control, call hooks
// when the machine powers on (so a simulated machine can "PXE-boot"), and
// take injectable faults: timeouts, bad credentials, a stuck power state and
// session exhaustion.
//
// It owns nothing but simulation; it does not import the power package, so
// any package can start hundreds of simulators without import cycles.
package powersim

import (
	"sync"
	"time"
)

// Boot devices a simulated machine boots from.
const (
	DevicePXE  = "pxe"
	DeviceDisk = "disk"
	DeviceNone = "" // no override: the machine's own boot order (disk)
)

// Boot is a boot override: the device, whether it lasts beyond the next
// boot, and whether UEFI was requested.
type Boot struct {
	Device     string
	Persistent bool
	UEFI       bool
}

// Counts are how many times a machine changed state, for assertions.
type Counts struct {
	PowerOns, PowerOffs, Cycles, Resets int
}

// Machine is the simulated server behind a BMC: its power state and
// pending boot override. A Machine may sit behind several BMCs (an IPMI and
// a Redfish endpoint of the same server). It is safe for concurrent use.
type Machine struct {
	mu       sync.Mutex
	on       bool
	boot     Boot
	stuck    bool
	delay    time.Duration
	timers   map[*time.Timer]struct{}
	closed   bool
	counts   Counts
	hooks    []func(Boot)
	lastBoot Boot
}

// NewMachine returns a machine that is powered off with no boot override.
func NewMachine() *Machine { return &Machine{timers: map[*time.Timer]struct{}{}} }

// PoweredOn reports the power state.
func (m *Machine) PoweredOn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.on
}

// SetPoweredOn sets the power state directly (as if someone pressed the
// button), without firing power-on hooks.
func (m *Machine) SetPoweredOn(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.on = on
}

// BootOverride returns the pending boot override (Device "" when none).
func (m *Machine) BootOverride() Boot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.boot
}

// SetBootOverride sets the pending boot override.
func (m *Machine) SetBootOverride(b Boot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.boot = b
}

// LastBoot is the boot device the machine used the last time it powered on.
func (m *Machine) LastBoot() Boot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastBoot
}

// OnPowerOn registers fn to run every time the machine powers on, with the
// boot device it boots from. fn runs synchronously on the BMC's request path
// (outside the machine's lock): it must not block or call back into the BMC;
// start a goroutine for anything slow.
func (m *Machine) OnPowerOn(fn func(Boot)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hooks = append(m.hooks, fn)
}

// SetStuck makes the machine accept power commands and ignore them: its
// state never changes (a failed power supply, a hung BMC firmware).
func (m *Machine) SetStuck(stuck bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stuck = stuck
}

// SetTransitionDelay makes power changes take effect d after the command,
// like real servers that take seconds to reach S0 or S5.
func (m *Machine) SetTransitionDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// Counts returns how often the machine changed state.
func (m *Machine) Counts() Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts
}

// PowerOn powers the machine on (no effect when on).
func (m *Machine) PowerOn() { m.change(func() []func() { return m.powerOnLocked() }) }

// PowerOff powers the machine off (no effect when off).
func (m *Machine) PowerOff() {
	m.change(func() []func() {
		if m.on {
			m.on = false
			m.counts.PowerOffs++
		}
		return nil
	})
}

// PowerCycle powers an on machine off and on again; an off machine stays
// off, as IPMI's chassis power cycle specifies.
func (m *Machine) PowerCycle() {
	m.change(func() []func() {
		if !m.on {
			return nil
		}
		m.counts.Cycles++
		m.on = false
		return m.powerOnLocked()
	})
}

// Reset restarts an on machine (a warm or hard reset): it boots again
// without its power going off.
func (m *Machine) Reset() {
	m.change(func() []func() {
		if !m.on {
			return nil
		}
		m.counts.Resets++
		m.on = false
		return m.powerOnLocked()
	})
}

// change applies f now or after the transition delay, unless stuck, and
// runs the hooks f returns outside the lock.
func (m *Machine) change(f func() []func()) {
	m.mu.Lock()
	if m.stuck || m.closed {
		m.mu.Unlock()
		return
	}
	if m.delay <= 0 {
		calls := f()
		m.mu.Unlock()
		for _, c := range calls {
			c()
		}
		return
	}
	var t *time.Timer
	t = time.AfterFunc(m.delay, func() {
		m.mu.Lock()
		delete(m.timers, t)
		if m.closed || m.stuck {
			m.mu.Unlock()
			return
		}
		calls := f()
		m.mu.Unlock()
		for _, c := range calls {
			c()
		}
	})
	m.timers[t] = struct{}{}
	m.mu.Unlock()
}

func (m *Machine) powerOnLocked() []func() {
	if m.on {
		return nil
	}
	m.on = true
	m.counts.PowerOns++
	b := m.boot
	if b.Device == DeviceNone {
		b = Boot{Device: DeviceDisk}
	}
	if !m.boot.Persistent {
		m.boot = Boot{}
	}
	m.lastBoot = b
	calls := make([]func(), len(m.hooks))
	for i, h := range m.hooks {
		calls[i] = func() { h(b) }
	}
	return calls
}

// Stop cancels pending delayed transitions; BMCs call it on Close.
func (m *Machine) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for t := range m.timers {
		t.Stop()
	}
	clear(m.timers)
}

// Faults are injectable failures of a simulated BMC.
type Faults struct {
	// Timeout: the BMC stops answering (IPMI packets are dropped, HTTP
	// requests hang until the client gives up).
	Timeout bool
	// DropNext drops (IPMI) or answers 503 Service Unavailable to (Redfish)
	// the next n requests, then serves normally: a flaky network or a busy
	// BMC that recovers.
	DropNext int
	// BadCredentials: the BMC rejects every login.
	BadCredentials bool
	// SessionsExhausted: every session slot is taken; new sessions are
	// refused (IPMI: Open Session status 01h; Redfish: 503
	// SessionLimitExceeded). The IPMI BMC evicts the squatting sessions
	// after 60 s without traffic, as the specification asks.
	SessionsExhausted bool
	// StuckPower: power commands are accepted and ignored.
	StuckPower bool
}

// BMC is what both simulators offer, for code that starts fleets of
// either kind (a simulated datacenter).
type BMC interface {
	Addr() string
	// DriverName and DriverParams open a power driver for this BMC:
	// registry.Open(b.DriverName(), b.DriverParams()).
	DriverName() string
	DriverParams() map[string]string
	PoweredOn() bool
	SetPoweredOn(on bool)
	OnPowerOn(fn func(Boot))
	SetFaults(f Faults)
	Close() error
}

var (
	_ BMC = (*IPMIBMC)(nil)
	_ BMC = (*RedfishBMC)(nil)
)
