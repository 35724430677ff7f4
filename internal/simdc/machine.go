package simdc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/power/powersim"
	"github.com/ironkit/ironkit/pxe"
)

// Spec is a simulated machine's hardware.
type Spec struct {
	Hostname  string
	MACs      []net.HardwareAddr // the first one network-boots
	Cores     int
	MemoryMiB int64
	Disks     []api.InventoryDisk
	Firmware  Firmware
	// BMC is "ipmi" or "redfish".
	BMC          string
	SystemUUID   string
	SerialNumber string
}

// Inventory is what commissioning reports for s: what /proc and /sys of
// such a machine would show.
func (s Spec) Inventory() api.Inventory {
	inv := api.Inventory{
		CPU:       api.InventoryCPU{Count: s.Cores, Model: "Simulated Xeon (ironkit simdc)", Architecture: "x86_64"},
		MemoryMiB: s.MemoryMiB,
		NUMA:      []api.InventoryNUMA{{Index: 0, MemoryMiB: s.MemoryMiB}},
		Disks:     append([]api.InventoryDisk(nil), s.Disks...),
		Firmware: map[string]string{"system_uuid": s.SystemUUID, "serial": s.SerialNumber,
			"vendor": "ironkit", "product": "simdc", "bios_version": "1.0.0"},
	}
	for i := range s.Cores {
		inv.NUMA[0].Cores = append(inv.NUMA[0].Cores, i)
	}
	for i, mac := range s.MACs {
		inv.NICs = append(inv.NICs, api.InventoryNIC{Name: fmt.Sprintf("eno%d", i+1), MAC: mac.String(), Speed: 25000})
	}
	return inv
}

// Phase is what a simulated machine is doing, for progress views.
type Phase string

// Phases.
const (
	PhaseOff           Phase = "off"
	PhaseNetboot       Phase = "netboot"
	PhaseEnlisting     Phase = "enlisting"
	PhaseCommissioning Phase = "commissioning"
	PhaseErasing       Phase = "erasing"
	PhaseDeploying     Phase = "deploying"
	PhaseRescue        Phase = "rescue"
	PhaseRunning       Phase = "running" // booted from disk (installed OS or none)
	PhaseFailed        Phase = "failed"  // the last boot failed; see Machine.Err
)

// disk is what survives a power cycle: the installed OS and what it needs
// to report its first boot.
type disk struct {
	imageSHA256 string
	metadataURL string
	token       string
	announced   bool // "booted" signalled for this installation
}

// Machine is one simulated server.
type Machine struct {
	spec Spec
	sim  *powersim.Machine
	bmc  powersim.BMC
	dc   *Datacenter
	kick chan powersim.Boot

	mu       sync.Mutex
	phase    Phase
	err      error
	disk     disk
	systemID string
	boots    int
	fetched  int64
}

// Spec returns the machine's hardware.
func (m *Machine) Spec() Spec { return m.spec }

// BMC returns the machine's simulated BMC.
func (m *Machine) BMC() powersim.BMC { return m.bmc }

// PowerOn presses the power button: the machine boots from its boot order
// (network first, as a MAAS-managed machine is configured).
func (m *Machine) PowerOn() {
	m.sim.SetBootOverride(powersim.Boot{Device: powersim.DevicePXE})
	m.sim.PowerOn()
}

// Status is a snapshot of a machine's simulation state.
type Status struct {
	Hostname  string
	SystemID  string // learnt at enlistment or from the boot config
	Phase     Phase
	PoweredOn bool
	Boots     int   // network boots so far
	Fetched   int64 // boot bytes fetched over TFTP and HTTP
	Err       error // the last boot's error
}

// Status returns the machine's state now.
func (m *Machine) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Status{Hostname: m.spec.Hostname, SystemID: m.systemID, Phase: m.phase, PoweredOn: m.sim.PoweredOn(),
		Boots: m.boots, Fetched: m.fetched, Err: m.err}
}

func (m *Machine) setPhase(p Phase, err error) {
	m.mu.Lock()
	m.phase, m.err = p, err
	m.mu.Unlock()
	if err != nil {
		m.dc.log.Warn("simulated machine boot failed", "hostname", m.spec.Hostname, "err", err)
	} else {
		m.dc.log.Debug("simulated machine", "hostname", m.spec.Hostname, "phase", p)
	}
}

// run reacts to power changes until ctx ends: a power-on starts a boot, a
// power-off (seen by polling the simulated chassis) or a new power-on
// cancels the running one.
func (m *Machine) run(ctx context.Context) {
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel, done = nil, nil
		}
	}
	defer stop()
	// powersim has no power-off callback: poll the chassis (a quarter
	// second is quicker than any real BMC, and 1,000 machines polling
	// cost little).
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-m.kick:
			stop()
			bctx, c := context.WithCancel(ctx)
			cancel, done = c, make(chan struct{})
			go func(done chan struct{}) {
				defer close(done)
				m.boot(bctx, b)
			}(done)
		case <-tick.C:
			if cancel != nil && !m.sim.PoweredOn() {
				stop()
				m.setPhase(PhaseOff, nil)
			}
		}
	}
}

// boot is one power-on: firmware, then whatever the boot config says.
func (m *Machine) boot(ctx context.Context, b powersim.Boot) {
	device := b.Device
	reboots := 0
	for ctx.Err() == nil {
		if device != powersim.DevicePXE {
			m.bootDisk(ctx)
			return
		}
		m.setPhase(PhaseNetboot, nil)
		cfg, err := m.netbootRetrying(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.setPhase(PhaseFailed, err)
			}
			return
		}
		if cfg.Args != nil {
			if id := systemIDFromURL(cfg.Args["ironkit.metadata_url"]); id != "" {
				m.mu.Lock()
				m.systemID = id
				m.mu.Unlock()
			}
		}
		env := &ephemeral{m: m, url: strings.TrimSuffix(cfg.Args["ironkit.metadata_url"], "/"), token: cfg.Args["ironkit.token"]}
		switch cfg.Purpose {
		case pxe.Local:
			m.bootDisk(ctx)
			return
		case pxe.Poweroff:
			m.setPhase(PhaseOff, nil)
			m.sim.PowerOff()
			return
		case pxe.Enlist:
			m.setPhase(PhaseEnlisting, nil)
			err = env.enlist(ctx)
			if err == nil {
				// Enlistment ends with the machine switching itself off.
				m.setPhase(PhaseOff, nil)
				m.sim.PowerOff()
				return
			}
			if errors.Is(err, errKnown) && reboots < m.dc.cfg.NetbootAttempts {
				// The rack rendered an enlistment from its cached config
				// (its boot lookup failed) for a machine the region
				// knows: reboot into the network boot, which asks again.
				m.dc.stats.staleEnlist.Add(1)
				reboots++
				continue
			}
		case pxe.Commission:
			_, erase := cfg.Args["ironkit.erase"]
			_, test := cfg.Args["ironkit.test"]
			switch {
			case erase:
				m.setPhase(PhaseErasing, nil)
				err = env.erase(ctx)
			case test:
				m.setPhase(PhaseCommissioning, nil)
				if err = env.work(ctx, m.dc.cfg.WorkTime); err == nil {
					err = env.signal(ctx, "tested", "simulated hardware tests passed")
				}
			default:
				m.setPhase(PhaseCommissioning, nil)
				err = env.commission(ctx)
			}
		case pxe.Deploy:
			m.setPhase(PhaseDeploying, nil)
			if err = env.deploy(ctx); err == nil {
				// Reboot: network first in the boot order; the region now
				// says "local".
				device = powersim.DevicePXE
				continue
			}
		case pxe.Rescue:
			m.setPhase(PhaseRescue, nil)
			err = env.signal(ctx, "booted", "rescue environment up")
		default:
			err = fmt.Errorf("unknown boot purpose %q", cfg.Purpose)
		}
		if err != nil && ctx.Err() == nil {
			m.setPhase(PhaseFailed, err)
		}
		// The ephemeral environment idles until the region powers it off.
		<-ctx.Done()
		return
	}
}

var (
	errTokenless = errors.New("no machine token")
	errKnown     = errors.New("the region knows this machine already")
)

// needsToken are the purposes whose ephemeral environment uses the
// metadata API with a machine token.
var needsToken = map[pxe.Purpose]bool{pxe.Commission: true, pxe.Deploy: true, pxe.Rescue: true}

// netbootRetrying is the firmware's retry loop: PXE ROMs try again a few
// times before giving up on the network boot.
func (m *Machine) netbootRetrying(ctx context.Context) (bootConfig, error) {
	var errs []error
	for attempt := range m.dc.cfg.NetbootAttempts {
		cfg, err := m.netboot(ctx)
		if err == nil && needsToken[cfg.Purpose] && cfg.Args["ironkit.token"] == "" {
			// The rack rendered the config without the region (its boot
			// lookup failed): the ephemeral environment could not reach
			// the metadata API, so it reboots into the network boot.
			err = fmt.Errorf("the %s boot config has no ironkit.token (the rack could not ask the region): %w", cfg.Purpose, errTokenless)
		}
		if err != nil && ctx.Err() == nil {
			m.dc.stats.count(err)
		}
		m.mu.Lock()
		m.boots++
		m.fetched += cfg.Bytes
		m.mu.Unlock()
		if err == nil || ctx.Err() != nil {
			return cfg, err
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt+1, err))
		m.dc.log.Info("simulated firmware retries the network boot", "hostname", m.spec.Hostname, "err", err)
		t := time.NewTimer(time.Duration(attempt+1) * 500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return cfg, ctx.Err()
		case <-t.C:
		}
	}
	return bootConfig{}, errors.Join(errs...)
}

// bootDisk boots the installed system, which signals "booted" once per
// installation (cloud-init's phone-home), or nothing.
func (m *Machine) bootDisk(ctx context.Context) {
	m.setPhase(PhaseRunning, nil)
	m.mu.Lock()
	d := m.disk
	m.mu.Unlock()
	if d.imageSHA256 != "" && !d.announced {
		env := &ephemeral{m: m, url: d.metadataURL, token: d.token}
		if err := env.signal(ctx, "booted", "installed system booted from disk, image "+d.imageSHA256); err != nil {
			if ctx.Err() == nil {
				m.setPhase(PhaseFailed, err)
			}
			return
		}
		m.mu.Lock()
		m.disk.announced = true
		m.mu.Unlock()
	}
	<-ctx.Done()
}

// systemIDFromURL takes the system id off a per-machine metadata URL
// (…/api/v1/metadata/<system_id>).
func systemIDFromURL(u string) string {
	_, id, ok := strings.Cut(strings.TrimSuffix(u, "/"), "/api/v1/metadata/")
	if !ok || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// ephemeral is the ephemeral environment of one boot: the metadata URL and
// token from the kernel command line.
type ephemeral struct {
	m     *Machine
	url   string
	token string
}

// ErrRegion is wrapped by errors the region answered with.
var ErrRegion = errors.New("simdc: region refused")

func (e *ephemeral) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.m.dc.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%w: %s %s: HTTP %d: %.300s", ErrRegion, method, e.url+path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (e *ephemeral) enlist(ctx context.Context) error {
	s := e.m.spec
	var macs []string
	for _, m := range s.MACs {
		macs = append(macs, m.String())
	}
	var got api.Machine
	err := e.call(ctx, "POST", "/enlist", api.Enlist{Hostname: s.Hostname, Architecture: "amd64/generic", MACAddresses: macs,
		PowerType: e.m.bmc.DriverName(), PowerParameters: e.m.bmc.DriverParams()}, &got)
	if errors.Is(err, ErrRegion) && strings.Contains(err.Error(), "HTTP 409") {
		return fmt.Errorf("enlist: %w: %w", errKnown, err)
	}
	if err != nil {
		return fmt.Errorf("enlist: %w", err)
	}
	e.m.mu.Lock()
	e.m.systemID = got.SystemID
	e.m.mu.Unlock()
	return nil
}

// work runs for the datacenter's work time with heartbeats.
func (e *ephemeral) work(ctx context.Context, d time.Duration) error {
	hb := e.m.dc.cfg.HeartbeatInterval
	end := time.Now().Add(d)
	for {
		if err := e.call(ctx, "POST", "/heartbeat", nil, nil); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(hb, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (e *ephemeral) commission(ctx context.Context) error {
	var scripts []api.Script
	if err := e.call(ctx, "GET", "/commissioning-scripts", nil, &scripts); err != nil {
		return fmt.Errorf("commissioning scripts: %w", err)
	}
	if len(scripts) == 0 {
		return errors.New("the region sent no commissioning scripts")
	}
	if err := e.work(ctx, e.m.dc.cfg.WorkTime); err != nil {
		return err
	}
	var log strings.Builder
	for _, s := range scripts {
		fmt.Fprintf(&log, "%s: ok\n", s.Name)
	}
	if err := e.call(ctx, "POST", "/commissioning-result", api.CommissioningResult{Inventory: e.m.spec.Inventory(), Log: log.String()}, nil); err != nil {
		return fmt.Errorf("commissioning result: %w", err)
	}
	return nil
}

func (e *ephemeral) erase(ctx context.Context) error {
	if err := e.work(ctx, e.m.dc.cfg.WorkTime); err != nil {
		return err
	}
	e.m.mu.Lock()
	e.m.disk = disk{}
	e.m.mu.Unlock()
	return e.signal(ctx, "erased", "")
}

func (e *ephemeral) deploy(ctx context.Context) error {
	if err := e.call(ctx, "POST", "/heartbeat", nil, nil); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	var di api.DeployInstructions
	if err := e.call(ctx, "GET", "/deploy", nil, &di); err != nil {
		return fmt.Errorf("deploy instructions: %w", err)
	}
	h := sha256.New()
	size, err := e.m.httpFetch(ctx, di.ImageURL, h)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if di.ImageSHA256 != "" && sum != di.ImageSHA256 {
		return fmt.Errorf("image %s: sha256 %s, the region said %s", di.ImageURL, sum, di.ImageSHA256)
	}
	// The NoCloud seed written next to the image.
	for _, f := range []string{"/nocloud/user-data", "/nocloud/meta-data"} {
		if err := e.call(ctx, "GET", f, nil, nil); err != nil {
			return fmt.Errorf("nocloud seed: %w", err)
		}
	}
	if err := e.work(ctx, e.m.dc.cfg.WorkTime); err != nil {
		return err
	}
	e.m.mu.Lock()
	e.m.disk = disk{imageSHA256: sum, metadataURL: e.url, token: e.token}
	e.m.fetched += size
	e.m.mu.Unlock()
	return e.signal(ctx, "installed", fmt.Sprintf("wrote %d bytes of %s/%s to %s", size, di.OSystem, di.DistroSeries, di.DiskLayout.BootDisk))
}

func (e *ephemeral) signal(ctx context.Context, status, log string) error {
	if err := e.call(ctx, "POST", "/signal", api.Signal{Status: status, Log: log}, nil); err != nil {
		return fmt.Errorf("signal %s: %w", status, err)
	}
	return nil
}
