package power_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
)

func startIPMISim(t *testing.T, opts ...powersim.IPMIOption) *powersim.IPMIBMC {
	t.Helper()
	sim, err := powersim.NewIPMI(opts...)
	if err != nil {
		t.Fatalf("start IPMI simulator: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

func openIPMI(t *testing.T, sim *powersim.IPMIBMC, extra map[string]string) power.Driver {
	t.Helper()
	raw := map[string]string{"host": sim.Host(), "port": sim.PortString(), "username": "admin", "password": "password",
		"timeout": "300ms", "retransmits": "1"}
	for k, v := range extra {
		raw[k] = v
	}
	d, err := power.NewRegistry().Open("ipmi", raw)
	if err != nil {
		t.Fatalf("open ipmi driver: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestIPMIAgainstSimulator(t *testing.T) {
	sim := startIPMISim(t)
	d := openIPMI(t, sim, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	st, err := d.PowerState(ctx)
	if err != nil || st != power.Off {
		t.Fatalf("initial state = %v, %v; want off", st, err)
	}
	if err := d.SetBootDevice(ctx, power.BootOverride{Device: power.BootPXE, Mode: power.BootModeUEFI}); err != nil {
		t.Fatalf("set boot pxe: %v", err)
	}
	if got := sim.BootOverride(); got != (powersim.Boot{Device: powersim.DevicePXE, UEFI: true}) {
		t.Fatalf("simulator boot override = %+v; want one-time UEFI PXE", got)
	}
	if err := d.SetPower(ctx, power.ActionOn); err != nil {
		t.Fatalf("power on: %v", err)
	}
	if !sim.PoweredOn() {
		t.Fatal("simulator is off after power on")
	}
	if lb := sim.LastBoot(); lb.Device != powersim.DevicePXE {
		t.Fatalf("machine booted from %q; want pxe", lb.Device)
	}
	if got := sim.BootOverride(); got.Device != powersim.DeviceNone {
		t.Fatalf("one-time override survived the boot: %+v", got)
	}
	if st, _ := d.PowerState(ctx); st != power.On {
		t.Fatalf("state after on = %v", st)
	}
	if err := d.SetPower(ctx, power.ActionCycle); err != nil {
		t.Fatalf("cycle: %v", err)
	}
	if c := sim.Counts(); c.Cycles != 1 {
		t.Fatalf("cycles = %d; want 1", c.Cycles)
	}
	if err := d.SetPower(ctx, power.ActionOff); err != nil {
		t.Fatalf("off: %v", err)
	}
	if sim.PoweredOn() {
		t.Fatal("simulator on after power off")
	}
	// Cycle of an off machine powers it on.
	if err := d.SetPower(ctx, power.ActionCycle); err != nil || !sim.PoweredOn() {
		t.Fatalf("cycle from off: err=%v on=%v", err, sim.PoweredOn())
	}
	// All of the above ran on one session.
	if n := sim.Sessions(); n != 1 {
		t.Fatalf("BMC holds %d sessions; want the one reused session", n)
	}
}

func TestIPMIBadCredentialsIsAuthError(t *testing.T) {
	sim := startIPMISim(t)
	d := openIPMI(t, sim, map[string]string{"password": "wrong"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := d.PowerState(ctx)
	if !errors.Is(err, power.ErrAuth) || power.Retryable(err) {
		t.Fatalf("err = %v; want a non-retryable ErrAuth", err)
	}
}
