package power_test

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
)

// peakSampler records the peak goroutine count and heap while running.
type peakSampler struct {
	stop       chan struct{}
	done       chan struct{}
	goroutines atomic.Int64
	heap       atomic.Uint64
}

func startSampler() *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			if g := int64(runtime.NumGoroutine()); g > s.goroutines.Load() {
				s.goroutines.Store(g)
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > s.heap.Load() {
				s.heap.Store(ms.HeapInuse)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *peakSampler) end() { close(s.stop); <-s.done }

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkPowerQuery1000Mixed queries the power state of 1,000 simulated
// BMCs on loopback (500 IPMI, 500 Redfish with session auth) with 64 in
// flight, and reports the total time, p50/p99 per BMC, and the peak
// goroutines and heap (simulators included) during the query.
func BenchmarkPowerQuery1000Mixed(b *testing.B) {
	const n, concurrency = 1000, 64
	reg := power.NewRegistry()
	targets := make([]power.Target, 0, n)
	var closers []func() error
	for i := range n {
		var d power.Driver
		var err error
		if i%2 == 0 {
			sim, serr := powersim.NewIPMI()
			if serr != nil {
				b.Fatal(serr)
			}
			closers = append(closers, sim.Close)
			d, err = reg.Open("ipmi", map[string]string{"host": sim.Host(), "port": sim.PortString(), "username": "admin", "password": "password"})
		} else {
			sim, serr := powersim.NewRedfish()
			if serr != nil {
				b.Fatal(serr)
			}
			closers = append(closers, sim.Close)
			d, err = reg.Open("redfish", map[string]string{"endpoint": sim.URL(), "username": "admin", "password": "password"})
		}
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, d.Close)
		targets = append(targets, power.Target{Name: fmt.Sprint(i), Driver: d})
	}
	defer func() {
		for _, c := range slices.Backward(closers) {
			_ = c()
		}
	}()
	e := power.NewEngine(power.WithBMCTimeout(30 * time.Second))
	runtime.GC()
	baseG := runtime.NumGoroutine()
	b.ResetTimer()
	for range b.N {
		sampler := startSampler()
		start := time.Now()
		var lat []time.Duration
		failed := 0
		for r := range e.QueryAll(context.Background(), targets, concurrency) {
			lat = append(lat, r.Duration)
			if r.Err != nil {
				failed++
			}
		}
		total := time.Since(start)
		sampler.end()
		if failed > 0 {
			b.Fatalf("%d of %d queries failed", failed, n)
		}
		b.ReportMetric(total.Seconds(), "total-s")
		b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(sampler.goroutines.Load()), "peak-goroutines")
		b.ReportMetric(float64(baseG), "sim-goroutines")
		b.ReportMetric(float64(sampler.heap.Load())/(1<<20), "peak-heap-MiB")
	}
}

// BenchmarkPowerIPMIVersusIpmitool measures one state query with a fresh
// session per BMC (session setup included, as ipmitool does) with the
// ipmi driver and with `ipmitool -I lanplus -C 3 chassis power status`
// against the same 20 simulated BMCs, sequentially, and reports both
// medians and their ratio.
func BenchmarkPowerIPMIVersusIpmitool(b *testing.B) {
	if _, err := exec.LookPath("ipmitool"); err != nil {
		b.Skip("ipmitool not installed; `make test-deps` installs it")
	}
	const n = 20
	var sims []*powersim.IPMIBMC
	for range n {
		sim, err := powersim.NewIPMI()
		if err != nil {
			b.Fatal(err)
		}
		defer sim.Close()
		sims = append(sims, sim)
	}
	reg := power.NewRegistry()
	b.ResetTimer()
	for range b.N {
		var ours, tool []time.Duration
		for _, sim := range sims {
			d, err := reg.Open("ipmi", map[string]string{"host": sim.Host(), "port": sim.PortString(),
				"username": "admin", "password": "password", "cipher_suites": "3"})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := d.PowerState(context.Background()); err != nil {
				b.Fatal(err)
			}
			_ = d.Close()
			ours = append(ours, time.Since(start))

			start = time.Now()
			out, err := exec.Command("ipmitool", "-I", "lanplus", "-C", "3", "-H", sim.Host(), "-p", sim.PortString(),
				"-U", "admin", "-P", "password", "chassis", "power", "status").CombinedOutput()
			if err != nil {
				b.Fatalf("ipmitool: %v\n%s", err, out)
			}
			tool = append(tool, time.Since(start))
		}
		o, t := percentile(ours, 0.5), percentile(tool, 0.5)
		b.ReportMetric(float64(o.Microseconds())/1000, "ironkit-p50-ms")
		b.ReportMetric(float64(t.Microseconds())/1000, "ipmitool-p50-ms")
		b.ReportMetric(float64(t)/float64(o), "ipmitool/ironkit")
	}
}

// BenchmarkPowerRedfishVersusCurl measures one state query per BMC with
// the redfish driver (basic auth: service root, Systems collection, the
// system) and with `curl -su admin:password URL/redfish/v1/Systems/1` (the
// system document alone), against the same 20 simulated BMCs, sequentially.
func BenchmarkPowerRedfishVersusCurl(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("curl not installed")
	}
	const n = 20
	var sims []*powersim.RedfishBMC
	for range n {
		sim, err := powersim.NewRedfish()
		if err != nil {
			b.Fatal(err)
		}
		defer sim.Close()
		sims = append(sims, sim)
	}
	reg := power.NewRegistry()
	b.ResetTimer()
	for range b.N {
		var ours, tool []time.Duration
		for _, sim := range sims {
			d, err := reg.Open("redfish", map[string]string{"endpoint": sim.URL(), "username": "admin", "password": "password", "auth": "basic"})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := d.PowerState(context.Background()); err != nil {
				b.Fatal(err)
			}
			ours = append(ours, time.Since(start))
			_ = d.Close()

			start = time.Now()
			out, err := exec.Command("curl", "-sf", "-u", "admin:password", sim.URL()+"/redfish/v1/Systems/1").CombinedOutput()
			if err != nil {
				b.Fatalf("curl: %v\n%s", err, out)
			}
			tool = append(tool, time.Since(start))
		}
		o, t := percentile(ours, 0.5), percentile(tool, 0.5)
		b.ReportMetric(float64(o.Microseconds())/1000, "ironkit-p50-ms")
		b.ReportMetric(float64(t.Microseconds())/1000, "curl-p50-ms")
		b.ReportMetric(float64(t)/float64(o), "curl/ironkit")
	}
}
