package power_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
	"github.com/prometheus/client_golang/prometheus"
)

func fastEngine(opts ...power.EngineOption) *power.Engine {
	base := []power.EngineOption{
		power.WithRetries(3, 10*time.Millisecond, 50*time.Millisecond),
		power.WithCallTimeout(3 * time.Second),
		power.WithVerify(2*time.Second, 20*time.Millisecond),
	}
	return power.NewEngine(append(base, opts...)...)
}

func TestEngineRetriesRetryableErrors(t *testing.T) {
	sim := startRedfishSim(t)
	sim.SetFaults(powersim.Faults{DropNext: 2}) // two 503s, then normal
	reg := prometheus.NewRegistry()
	e := fastEngine(power.WithMetrics(reg))
	st, err := e.Query(ctxT(t), power.Target{Name: "m1", Driver: openRedfish(t, sim, nil)})
	if err != nil || st != power.Off {
		t.Fatalf("query after two busy answers = %v, %v; want off", st, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	retries := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "ironkit_power_retries_total" {
			retries = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if retries != 2 {
		t.Fatalf("ironkit_power_retries_total = %v; want 2", retries)
	}
}

func TestEngineRetriesIPMITimeouts(t *testing.T) {
	sim := startIPMISim(t)
	sim.SetFaults(powersim.Faults{DropNext: 2})
	d := openIPMI(t, sim, map[string]string{"retransmits": "0", "timeout": "200ms"})
	res, err := fastEngine().Do(ctxT(t), power.Target{Name: "m2", Driver: d}, power.Request{Action: power.ActionOn})
	if err != nil || !res.Verified || !sim.PoweredOn() {
		t.Fatalf("Do = %+v, %v; want a verified power on after dropped packets", res, err)
	}
}

func TestEngineDoesNotRetryAuthErrors(t *testing.T) {
	sim := startRedfishSim(t)
	sim.SetFaults(powersim.Faults{BadCredentials: true})
	_, err := fastEngine().Do(ctxT(t), power.Target{Name: "m3", Driver: openRedfish(t, sim, nil)}, power.Request{Action: power.ActionOn})
	var pe *power.Error
	if !errors.As(err, &pe) || !errors.Is(err, power.ErrAuth) || pe.Attempts != 1 {
		t.Fatalf("err = %v; want ErrAuth after exactly 1 attempt", err)
	}
	if !strings.Contains(err.Error(), "m3") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("error %q does not name the BMC and the setting", err)
	}
	if n := sim.SessionsCreated(); n != 0 {
		t.Fatalf("sessions created with bad credentials: %d", n)
	}
}

func TestEngineNeverTransitioned(t *testing.T) {
	for _, kind := range []string{"ipmi", "redfish"} {
		t.Run(kind, func(t *testing.T) {
			var d power.Driver
			if kind == "ipmi" {
				sim := startIPMISim(t)
				sim.SetFaults(powersim.Faults{StuckPower: true})
				d = openIPMI(t, sim, nil)
			} else {
				sim := startRedfishSim(t)
				sim.SetFaults(powersim.Faults{StuckPower: true})
				d = openRedfish(t, sim, nil)
			}
			e := fastEngine(power.WithVerify(300*time.Millisecond, 30*time.Millisecond))
			res, err := e.Do(ctxT(t), power.Target{Name: "stuck-1", Driver: d}, power.Request{Action: power.ActionOn})
			var pe *power.Error
			if !errors.Is(err, power.ErrNeverTransitioned) || !errors.As(err, &pe) || pe.LastState != power.Off || res.Verified {
				t.Fatalf("Do = %+v, %v; want ErrNeverTransitioned with last state off", res, err)
			}
			if !strings.Contains(err.Error(), "BMC never transitioned") || !strings.Contains(err.Error(), "last state seen: off") {
				t.Fatalf("message %q lacks the transition failure and last state", err)
			}
		})
	}
}

func TestEngineVerifiesSlowTransition(t *testing.T) {
	sim := startRedfishSim(t)
	sim.Machine.SetTransitionDelay(150 * time.Millisecond)
	res, err := fastEngine().Do(ctxT(t), power.Target{Driver: openRedfish(t, sim, nil)},
		power.Request{Action: power.ActionOn, Boot: &power.BootOverride{Device: power.BootPXE}})
	if err != nil || !res.Verified || res.State != power.On {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if sim.Machine.LastBoot().Device != powersim.DevicePXE {
		t.Fatalf("booted %+v; want pxe", sim.Machine.LastBoot())
	}
}

// recorder is a driver that records calls with their times.
type recorder struct {
	mu    sync.Mutex
	calls []string
	at    []time.Time
	state power.State
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
	r.at = append(r.at, time.Now())
}
func (r *recorder) SetPower(_ context.Context, a power.Action) error {
	r.add("power " + string(a))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state, _ = a.Target()
	return nil
}
func (r *recorder) PowerState(context.Context) (power.State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, nil
}
func (r *recorder) SetBootDevice(_ context.Context, b power.BootOverride) error {
	r.add("boot " + string(b.Device))
	return nil
}
func (r *recorder) ClearBootDevice(context.Context) error { r.add("clear boot"); return nil }
func (r *recorder) Close() error                          { return nil }

func TestEngineBootDelayAndClearPendingBoot(t *testing.T) {
	r := &recorder{state: power.Off}
	e := fastEngine(power.WithBootDelay(120*time.Millisecond), power.WithClearPendingBoot(true))
	if _, err := e.Do(ctxT(t), power.Target{Driver: r}, power.Request{Action: power.ActionOn, Boot: &power.BootOverride{Device: power.BootPXE}}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.calls) != "[boot pxe power on]" {
		t.Fatalf("calls = %v", r.calls)
	}
	if gap := r.at[1].Sub(r.at[0]); gap < 120*time.Millisecond {
		t.Fatalf("power on came %v after the boot device; want >= 120ms", gap)
	}
	r.calls, r.at = nil, nil
	if _, err := e.Do(ctxT(t), power.Target{Driver: r}, power.Request{Action: power.ActionCycle}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.calls) != "[clear boot power cycle]" {
		t.Fatalf("calls = %v; want the pending boot device cleared before power-on", r.calls)
	}
}

func TestEngineClearPendingBootOnIPMI(t *testing.T) {
	sim := startIPMISim(t)
	sim.SetBootOverride(powersim.Boot{Device: powersim.DevicePXE})
	e := fastEngine(power.WithClearPendingBoot(true))
	if _, err := e.Do(ctxT(t), power.Target{Driver: openIPMI(t, sim, nil)}, power.Request{Action: power.ActionOn}); err != nil {
		t.Fatal(err)
	}
	if lb := sim.LastBoot(); lb.Device != powersim.DeviceDisk {
		t.Fatalf("stale PXE override was not cleared: booted %+v", lb)
	}
}

func TestEngineManualDriverIsNotVerified(t *testing.T) {
	var got []power.Instruction
	reg := power.NewRegistry(power.WithEnv(power.Env{Recorder: func(i power.Instruction) { got = append(got, i) }}))
	d, err := reg.Open("manual", map[string]string{"label": "rack 4 slot 12"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := fastEngine().Do(ctxT(t), power.Target{Driver: d},
		power.Request{Action: power.ActionOn, Boot: &power.BootOverride{Device: power.BootPXE}})
	if err != nil || res.Verified || res.State != power.Unknown {
		t.Fatalf("manual Do = %+v, %v", res, err)
	}
	if len(got) != 2 || !strings.Contains(got[0].Text, "network (PXE)") || !strings.Contains(got[1].Text, "power on rack 4 slot 12") {
		t.Fatalf("instructions = %+v", got)
	}
}

func TestEngineQueryAllMixed(t *testing.T) {
	const n = 40
	var targets []power.Target
	reg := power.NewRegistry()
	want := map[int]power.State{}
	for i := range n {
		var d power.Driver
		var err error
		if i%2 == 0 {
			sim := startIPMISim(t)
			sim.SetPoweredOn(i%4 == 0)
			d, err = reg.Open("ipmi", map[string]string{"host": sim.Host(), "port": sim.PortString(), "username": "admin", "password": "password", "cipher_suites": "3"})
			want[i] = map[bool]power.State{true: power.On, false: power.Off}[i%4 == 0]
		} else {
			sim := startRedfishSim(t)
			sim.SetPoweredOn(i%3 == 0)
			d, err = reg.Open("redfish", map[string]string{"endpoint": sim.URL(), "username": "admin", "password": "password"})
			want[i] = map[bool]power.State{true: power.On, false: power.Off}[i%3 == 0]
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		targets = append(targets, power.Target{Name: fmt.Sprintf("m%d", i), Driver: d})
	}
	// One dead BMC: its result must arrive as an error, not stall the rest.
	dead := startRedfishSim(t)
	dead.SetFaults(powersim.Faults{Timeout: true})
	dd := openRedfish(t, dead, map[string]string{"timeout": "200ms"})
	targets = append(targets, power.Target{Name: "dead", Driver: dd})

	e := fastEngine(power.WithRetries(1, 0, 0), power.WithBMCTimeout(2*time.Second))
	seen := 0
	for r := range e.QueryAll(ctxT(t), targets, 8) {
		seen++
		if r.Name == "dead" {
			if !errors.Is(r.Err, power.ErrTimeout) {
				t.Errorf("dead BMC: err = %v; want ErrTimeout", r.Err)
			}
			continue
		}
		if r.Err != nil || r.State != want[r.Index] {
			t.Errorf("%s: %v, %v; want %v", r.Name, r.State, r.Err, want[r.Index])
		}
	}
	if seen != n+1 {
		t.Fatalf("got %d results; want %d", seen, n+1)
	}
}

func TestEngineQueryAllStopsOnCancel(t *testing.T) {
	r := &recorder{state: power.On}
	targets := make([]power.Target, 100)
	for i := range targets {
		targets[i] = power.Target{Driver: r}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := fastEngine().QueryAll(ctx, targets, 4)
	<-ch
	cancel()
	for range ch { // must close promptly; goleak checks the workers are gone
	}
}

// slowDriver answers after a delay and counts how many calls are in flight.
type slowDriver struct {
	recorder
	delay             time.Duration
	inFlight, maxSeen *atomic.Int64
}

func (s *slowDriver) PowerState(ctx context.Context) (power.State, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-time.After(s.delay):
		return power.On, nil
	case <-ctx.Done():
		return power.Unknown, fmt.Errorf("%w: %w", power.ErrTimeout, ctx.Err())
	}
}

func TestEngineQueryAllBoundsConcurrencyAndStreams(t *testing.T) {
	const n, limit = 1000, 16
	var inFlight, maxSeen atomic.Int64
	targets := make([]power.Target, n)
	for i := range targets {
		d := &slowDriver{delay: time.Millisecond, inFlight: &inFlight, maxSeen: &maxSeen}
		if i == 500 {
			d.delay = time.Hour // a hung BMC: the per-BMC timeout must end it
		}
		targets[i] = power.Target{Name: fmt.Sprint(i), Driver: d}
	}
	e := fastEngine(power.WithRetries(1, 0, 0), power.WithBMCTimeout(300*time.Millisecond))
	start := time.Now()
	var first time.Duration
	got, failed := 0, 0
	for r := range e.QueryAll(ctxT(t), targets, limit) {
		if got == 0 {
			first = time.Since(start)
		}
		got++
		if r.Err != nil {
			failed++
			if r.Index != 500 || !errors.Is(r.Err, power.ErrTimeout) {
				t.Errorf("result %d: %v", r.Index, r.Err)
			}
		}
	}
	total := time.Since(start)
	if got != n || failed != 1 {
		t.Fatalf("got %d results, %d failed; want %d and 1", got, failed, n)
	}
	if m := maxSeen.Load(); m > limit {
		t.Fatalf("%d queries in flight; the limit is %d", m, limit)
	}
	if first > total/2 {
		t.Fatalf("first result after %v of %v: results are not streamed", first, total)
	}
}
