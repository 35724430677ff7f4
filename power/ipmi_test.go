package power_test

import (
	"context"
	"errors"
	"strings"
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

func TestIPMIKG(t *testing.T) {
	kg := []byte("0123456789abcdefghij")
	sim := startIPMISim(t, powersim.WithIPMIKG(kg))
	ctx := ctxT(t)
	if st, err := openIPMI(t, sim, map[string]string{"kg": "303132333435363738396162636465666768696a"}).PowerState(ctx); err != nil || st != power.Off {
		t.Fatalf("two-key login: %v, %v", st, err)
	}
	_, err := openIPMI(t, sim, map[string]string{"kg": "ffff"}).PowerState(ctx)
	if err == nil {
		t.Fatal("wrong K_g accepted")
	}
}

func TestIPMICipherSuiteFallback(t *testing.T) {
	sim := startIPMISim(t, powersim.WithIPMICipherSuites(3))
	if st, err := openIPMI(t, sim, nil).PowerState(ctxT(t)); err != nil || st != power.Off {
		t.Fatalf("default preference 17,3 against a suite-3-only BMC: %v, %v", st, err)
	}
	_, err := openIPMI(t, sim, map[string]string{"cipher_suites": "17"}).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrConfig) || !strings.Contains(err.Error(), "cipher_suites") {
		t.Fatalf("suite 17 only: err = %v; want ErrConfig naming cipher_suites", err)
	}
}

func TestIPMISessionExhaustionIsBusy(t *testing.T) {
	sim := startIPMISim(t)
	sim.SetFaults(powersim.Faults{SessionsExhausted: true})
	_, err := openIPMI(t, sim, nil).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrBusy) || !power.Retryable(err) {
		t.Fatalf("err = %v; want retryable ErrBusy", err)
	}
	sim.SetFaults(powersim.Faults{})
	if _, err := openIPMI(t, sim, nil).PowerState(ctxT(t)); err != nil {
		t.Fatalf("after sessions freed: %v", err)
	}
}

func TestIPMIReconnectsAfterBMCRestart(t *testing.T) {
	sim := startIPMISim(t)
	addr := sim.Addr()
	d := openIPMI(t, sim, nil)
	ctx := ctxT(t)
	if _, err := d.PowerState(ctx); err != nil {
		t.Fatal(err)
	}
	// The BMC restarts on the same port and forgets the session.
	_ = sim.Close()
	sim2 := startIPMISim(t, powersim.WithIPMIAddr(addr))
	sim2.SetPoweredOn(true)
	st, err := d.PowerState(ctx)
	if err != nil || st != power.On {
		t.Fatalf("after restart: %v, %v; want the driver to open a new session", st, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil { // a second Close must not panic
		t.Fatal(err)
	}
	if _, err := d.PowerState(ctx); !errors.Is(err, power.ErrConfig) {
		t.Fatalf("use after Close: %v", err)
	}
}

func TestIPMIIdleSessionIsClosed(t *testing.T) {
	sim := startIPMISim(t)
	d := openIPMI(t, sim, map[string]string{"idle_timeout": "150ms"})
	if _, err := d.PowerState(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if sim.Sessions() != 1 {
		t.Fatalf("sessions = %d; want 1 while in use", sim.Sessions())
	}
	deadline := time.Now().Add(3 * time.Second)
	for sim.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := sim.Sessions(); n != 0 || d.(*power.IPMI).Connected() {
		t.Fatalf("idle session still open: BMC holds %d", n)
	}
	if st, err := d.PowerState(ctxT(t)); err != nil || st != power.Off {
		t.Fatalf("after idle close: %v, %v", st, err)
	}
}

func TestIPMIPrivilegeTooLowIsAuthError(t *testing.T) {
	sim := startIPMISim(t)
	d := openIPMI(t, sim, map[string]string{"privilege": "user"})
	if _, err := d.PowerState(ctxT(t)); err != nil {
		t.Fatalf("user privilege can read state: %v", err)
	}
	err := d.SetPower(ctxT(t), power.ActionOn)
	if !errors.Is(err, power.ErrAuth) || !strings.Contains(err.Error(), "privilege") || sim.PoweredOn() {
		t.Fatalf("power on with user privilege: %v (on=%v); want ErrAuth naming the privilege parameter", err, sim.PoweredOn())
	}
}

func TestIPMISoftShutdown(t *testing.T) {
	sim := startIPMISim(t)
	sim.SetPoweredOn(true)
	res, err := fastEngine().Do(ctxT(t), power.Target{Driver: openIPMI(t, sim, nil)}, power.Request{Action: power.ActionSoft})
	if err != nil || sim.PoweredOn() {
		t.Fatalf("soft shutdown: %+v, %v, on=%v", res, err, sim.PoweredOn())
	}
}
