package power

import (
	"context"
	"fmt"
)

// State is a machine's power state as reported by its BMC.
type State string

// Power states. Unknown is what a driver reports when it cannot tell (the
// manual driver, a webhook whose answer matched neither pattern).
const (
	On      State = "on"
	Off     State = "off"
	Unknown State = "unknown"
)

// Action is a power action a [PowerSetter] performs.
type Action string

// Power actions.
const (
	ActionOn    Action = "on"    // power on (no-op when already on)
	ActionOff   Action = "off"   // hard power off
	ActionCycle Action = "cycle" // off then on; powers on a machine that is off
	ActionSoft  Action = "soft"  // ask the OS to shut down (ACPI)
)

// Target returns the state the machine should reach after a, and whether
// that state can be verified (a soft shutdown is up to the OS; a cycle ends on).
func (a Action) Target() (State, bool) {
	switch a {
	case ActionOn, ActionCycle:
		return On, true
	case ActionOff:
		return Off, true
	case ActionSoft:
		return Off, false
	}
	return Unknown, false
}

// Validate reports whether a is a known action.
func (a Action) Validate() error {
	switch a {
	case ActionOn, ActionOff, ActionCycle, ActionSoft:
		return nil
	}
	return fmt.Errorf("%w: power action %q is not one of on, off, cycle, soft", ErrConfig, string(a))
}

// BootDevice is the device a machine boots from next.
type BootDevice string

// Boot devices.
const (
	BootPXE  BootDevice = "pxe"
	BootDisk BootDevice = "disk"
)

// BootMode selects legacy BIOS or UEFI boot for a boot override.
type BootMode string

// Boot modes. BootModeAuto leaves the mode to the BMC's current setting.
const (
	BootModeAuto BootMode = ""
	BootModeBIOS BootMode = "bios"
	BootModeUEFI BootMode = "uefi"
)

// BootOverride is a request to boot from Device, once or persistently.
type BootOverride struct {
	Device     BootDevice
	Persistent bool // false: next boot only
	Mode       BootMode
}

// Validate checks the override's fields.
func (b BootOverride) Validate() error {
	switch b.Device {
	case BootPXE, BootDisk:
	default:
		return fmt.Errorf("%w: boot device %q is not one of pxe, disk", ErrConfig, string(b.Device))
	}
	switch b.Mode {
	case BootModeAuto, BootModeBIOS, BootModeUEFI:
	default:
		return fmt.Errorf("%w: boot mode %q is not one of bios, uefi (or empty for the BMC's current mode)", ErrConfig, string(b.Mode))
	}
	return nil
}

// PowerSetter performs a power action.
type PowerSetter interface {
	SetPower(ctx context.Context, a Action) error
}

// StateGetter reads the power state.
type StateGetter interface {
	PowerState(ctx context.Context) (State, error)
}

// BootDeviceSetter sets the device the machine boots from.
type BootDeviceSetter interface {
	SetBootDevice(ctx context.Context, b BootOverride) error
}

// BootDeviceClearer removes a pending boot override, so the machine boots
// from its configured boot order.
type BootDeviceClearer interface {
	ClearBootDevice(ctx context.Context) error
}

// Driver controls one BMC. Close releases what the driver holds (an IPMI
// session); it is safe to call more than once.
type Driver interface {
	PowerSetter
	StateGetter
	BootDeviceSetter
	Close() error
}
