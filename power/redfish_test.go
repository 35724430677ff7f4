package power_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
)

func startRedfishSim(t *testing.T, opts ...powersim.RedfishOption) *powersim.RedfishBMC {
	t.Helper()
	sim, err := powersim.NewRedfish(opts...)
	if err != nil {
		t.Fatalf("start Redfish simulator: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

func openRedfish(t *testing.T, sim *powersim.RedfishBMC, extra map[string]string) power.Driver {
	t.Helper()
	raw := map[string]string{"endpoint": sim.URL(), "username": "admin", "password": "password",
		"timeout": "2s", "poll_interval": "20ms", "off_timeout": "2s"}
	for k, v := range extra {
		raw[k] = v
	}
	d, err := power.NewRegistry().Open("redfish", raw)
	if err != nil {
		t.Fatalf("open redfish driver: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// exercise runs on, boot pxe, cycle, off, state against any Redfish BMC
// whose machine is m, checking the machine after each step.
func exerciseRedfish(t *testing.T, d power.Driver, m *powersim.Machine) {
	t.Helper()
	ctx := ctxT(t)
	if st, err := d.PowerState(ctx); err != nil || st != power.Off {
		t.Fatalf("initial state = %v, %v; want off", st, err)
	}
	if err := d.SetBootDevice(ctx, power.BootOverride{Device: power.BootPXE}); err != nil {
		t.Fatalf("boot pxe: %v", err)
	}
	if err := d.SetPower(ctx, power.ActionOn); err != nil {
		t.Fatalf("on: %v", err)
	}
	if !m.PoweredOn() || m.LastBoot().Device != powersim.DevicePXE {
		t.Fatalf("after on: on=%v last boot=%+v; want on from pxe", m.PoweredOn(), m.LastBoot())
	}
	if st, err := d.PowerState(ctx); err != nil || st != power.On {
		t.Fatalf("state = %v, %v; want on", st, err)
	}
	before := m.Counts()
	if err := d.SetPower(ctx, power.ActionCycle); err != nil {
		t.Fatalf("cycle: %v", err)
	}
	after := m.Counts()
	if after.PowerOns <= before.PowerOns || !m.PoweredOn() {
		t.Fatalf("cycle did not reboot the machine: before %+v after %+v", before, after)
	}
	if m.LastBoot().Device != powersim.DeviceDisk {
		t.Fatalf("one-time PXE override was not consumed: last boot %+v", m.LastBoot())
	}
	if err := d.SetPower(ctx, power.ActionOff); err != nil {
		t.Fatalf("off: %v", err)
	}
	if m.PoweredOn() {
		t.Fatal("machine on after off")
	}
	if err := d.SetPower(ctx, power.ActionOff); err != nil {
		t.Fatalf("off when off must be a no-op, got %v", err)
	}
}

func TestRedfishSessionAuthAgainstSimulator(t *testing.T) {
	sim := startRedfishSim(t)
	d := openRedfish(t, sim, nil)
	exerciseRedfish(t, d, sim.Machine)
	if n := sim.OpenSessions(); n != 0 {
		t.Fatalf("%d sessions left open; every session must be logged out", n)
	}
	if sim.SessionsCreated() == 0 {
		t.Fatal("no session was created with auth=session")
	}
}

func TestRedfishBasicAuth(t *testing.T) {
	sim := startRedfishSim(t)
	d := openRedfish(t, sim, map[string]string{"auth": "basic"})
	exerciseRedfish(t, d, sim.Machine)
	if sim.SessionsCreated() != 0 {
		t.Fatal("basic auth created sessions")
	}
}

func TestRedfishBadCredentials(t *testing.T) {
	for _, auth := range []string{"session", "basic"} {
		t.Run(auth, func(t *testing.T) {
			sim := startRedfishSim(t)
			d := openRedfish(t, sim, map[string]string{"auth": auth, "password": "nope"})
			_, err := d.PowerState(ctxT(t))
			if !errors.Is(err, power.ErrAuth) || power.Retryable(err) || !strings.Contains(err.Error(), "password") {
				t.Fatalf("err = %v; want non-retryable ErrAuth naming the password parameter", err)
			}
		})
	}
}

func TestRedfishTLSVerification(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishTLS())
	_, err := openRedfish(t, sim, nil).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrConfig) || !strings.Contains(err.Error(), "insecure=true") {
		t.Fatalf("self-signed certificate accepted by default or unclear error: %v", err)
	}
	if st, err := openRedfish(t, sim, map[string]string{"ca_cert": string(sim.CertPEM())}).PowerState(ctxT(t)); err != nil || st != power.Off {
		t.Fatalf("with ca_cert: %v, %v", st, err)
	}
	if st, err := openRedfish(t, sim, map[string]string{"insecure": "true"}).PowerState(ctxT(t)); err != nil || st != power.Off {
		t.Fatalf("with insecure=true: %v, %v", st, err)
	}
}

func TestRedfishSettingsFallback(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishSettingsBoot(), powersim.WithRedfishRequireIfMatch())
	d := openRedfish(t, sim, nil)
	ctx := ctxT(t)
	if err := d.SetBootDevice(ctx, power.BootOverride{Device: power.BootPXE, Mode: power.BootModeUEFI}); err != nil {
		t.Fatalf("boot pxe via settings: %v", err)
	}
	if p, ok := sim.PendingSettingsBoot(); !ok || p.Device != powersim.DevicePXE || !p.UEFI {
		t.Fatalf("settings object holds %+v (%v); want pending UEFI PXE", p, ok)
	}
	if !slices.Contains(sim.Requests(), "PATCH /redfish/v1/systems/1/settings If-Match") {
		t.Fatalf("settings PATCH without If-Match: %v", sim.Requests())
	}
	if err := d.SetPower(ctx, power.ActionOn); err != nil {
		t.Fatalf("on: %v", err)
	}
	if lb := sim.Machine.LastBoot(); lb.Device != powersim.DevicePXE {
		t.Fatalf("pending settings not applied at power on: booted %+v", lb)
	}
}

func TestRedfishIfMatchSwitch(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishRejectIfMatch())
	err := openRedfish(t, sim, nil).SetBootDevice(ctxT(t), power.BootOverride{Device: power.BootPXE})
	if err == nil || !strings.Contains(err.Error(), "use_if_match=false") {
		t.Fatalf("err = %v; want a 412 naming use_if_match=false", err)
	}
	d := openRedfish(t, sim, map[string]string{"use_if_match": "false"})
	if err := d.SetBootDevice(ctxT(t), power.BootOverride{Device: power.BootPXE}); err != nil {
		t.Fatalf("use_if_match=false: %v", err)
	}
	if err := d.SetPower(ctxT(t), power.ActionOn); err != nil {
		t.Fatalf("use_if_match=false on: %v", err)
	}
	if !sim.PoweredOn() {
		t.Fatal("not on")
	}
}

func TestRedfishSystemSelection(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishSystems(3))
	_, err := openRedfish(t, sim, nil).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrConfig) || !strings.Contains(err.Error(), "set the system parameter") {
		t.Fatalf("ambiguous system: err = %v", err)
	}
	for _, sel := range []string{"2", "/redfish/v1/Systems/2"} {
		d := openRedfish(t, sim, map[string]string{"system": sel})
		if err := d.SetPower(ctxT(t), power.ActionOn); err != nil {
			t.Fatalf("system=%s: %v", sel, err)
		}
		if !sim.SystemMachine(1).PoweredOn() || sim.SystemMachine(0).PoweredOn() || sim.SystemMachine(2).PoweredOn() {
			t.Fatalf("system=%s powered the wrong machine", sel)
		}
		sim.SystemMachine(1).SetPoweredOn(false)
	}
	_, err = openRedfish(t, sim, map[string]string{"system": "9"}).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrConfig) || !strings.Contains(err.Error(), `"9"`) {
		t.Fatalf("unknown system: %v", err)
	}
}

func TestRedfishNoSessionsLink(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishNoSessionsLink())
	d := openRedfish(t, sim, nil)
	if err := d.SetPower(ctxT(t), power.ActionOn); err != nil {
		t.Fatalf("on: %v", err)
	}
	if sim.SessionsCreated() != 1 || sim.OpenSessions() != 0 {
		t.Fatalf("created %d sessions, %d open; want 1 created at the DMTF URI and logged out", sim.SessionsCreated(), sim.OpenSessions())
	}
}

func TestRedfishSessionExhaustionIsRetryable(t *testing.T) {
	sim := startRedfishSim(t)
	sim.SetFaults(powersim.Faults{SessionsExhausted: true})
	_, err := openRedfish(t, sim, nil).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrBusy) || !power.Retryable(err) {
		t.Fatalf("err = %v; want retryable ErrBusy", err)
	}
}

func TestRedfishFallsBackToBasicWithoutSessions(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishNoSessions())
	d := openRedfish(t, sim, nil)
	if err := d.SetPower(ctxT(t), power.ActionOn); err != nil || !sim.PoweredOn() {
		t.Fatalf("on without session support: %v", err)
	}
	_, err := openRedfish(t, sim, map[string]string{"password": "bad"}).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrAuth) && !errors.Is(err, power.ErrRejected) {
		t.Fatalf("bad password without sessions: %v", err)
	}
}

// One machine behind an IPMI and a Redfish BMC: power it on over one
// protocol, see it over the other.
func TestOneMachineTwoBMCs(t *testing.T) {
	m := powersim.NewMachine()
	defer m.Stop()
	ipmiSim := startIPMISim(t, powersim.WithIPMIMachine(m))
	rfSim := startRedfishSim(t, powersim.WithRedfishMachine(m))
	if err := openIPMI(t, ipmiSim, nil).SetPower(ctxT(t), power.ActionOn); err != nil {
		t.Fatal(err)
	}
	if st, err := openRedfish(t, rfSim, nil).PowerState(ctxT(t)); err != nil || st != power.On {
		t.Fatalf("redfish sees %v, %v after an IPMI power on", st, err)
	}
}

// An emulator guarded by basic authentication with no SessionService
// (sushy-tools with an htpasswd file): session login posts to the DMTF URI,
// gets 401, and the driver uses basic authentication.
func TestRedfishBasicOnlyService(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishBasicOnly())
	exerciseRedfish(t, openRedfish(t, sim, nil), sim.Machine)
	_, err := openRedfish(t, sim, map[string]string{"password": "bad"}).PowerState(ctxT(t))
	if !errors.Is(err, power.ErrAuth) {
		t.Fatalf("bad password: %v; want ErrAuth", err)
	}
}

// A mockup-style service answers session login with 204 and a Location but
// no token: the session is deleted again and basic authentication used.
func TestRedfishTokenlessSession(t *testing.T) {
	sim := startRedfishSim(t, powersim.WithRedfishTokenlessSessions())
	exerciseRedfish(t, openRedfish(t, sim, nil), sim.Machine)
	if sim.OpenSessions() != 0 {
		t.Fatalf("%d tokenless sessions left open", sim.OpenSessions())
	}
}

// A machine named rather than numbered is found by its Name.
func TestRedfishSystemByName(t *testing.T) {
	doc := `{"@odata.id": "/redfish/v1/Systems/6f1c0b7e-4b1e-4d0a-9a57-1c2f3e4d5a6b", "Id": "6f1c0b7e-4b1e-4d0a-9a57-1c2f3e4d5a6b", "Name": "vm-node-3",
	  "Actions": {"#ComputerSystem.Reset": {"target": "/redfish/v1/Systems/6f1c0b7e-4b1e-4d0a-9a57-1c2f3e4d5a6b/Actions/ComputerSystem.Reset",
	    "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn"]}},
	  "Boot": {"BootSourceOverrideEnabled": "Continuous", "BootSourceOverrideTarget": "Hdd",
	    "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Cd", "Hdd"]}}`
	sim := startRedfishSim(t, powersim.WithRedfishSystemDocument([]byte(doc)))
	if err := openRedfish(t, sim, map[string]string{"system": "vm-node-3"}).SetPower(ctxT(t), power.ActionOn); err != nil || !sim.PoweredOn() {
		t.Fatalf("system by name: %v", err)
	}
}

// Fleets of simulators open their drivers from DriverName and DriverParams.
func TestSimulatorDriverParams(t *testing.T) {
	bmcs := []powersim.BMC{startIPMISim(t), startRedfishSim(t), startRedfishSim(t, powersim.WithRedfishTLS())}
	reg := power.NewRegistry()
	for _, b := range bmcs {
		b.SetPoweredOn(true)
		d, err := reg.Open(b.DriverName(), b.DriverParams())
		if err != nil {
			t.Fatalf("%s %s: %v", b.DriverName(), b.Addr(), err)
		}
		st, err := d.PowerState(ctxT(t))
		_ = d.Close()
		if err != nil || st != power.On {
			t.Fatalf("%s %s: %v, %v", b.DriverName(), b.Addr(), st, err)
		}
	}
}
