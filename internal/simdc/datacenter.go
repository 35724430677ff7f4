package simdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/power/powersim"
)

// Config describes a simulated datacenter.
type Config struct {
	// Machines is how many machines to simulate (default 20).
	Machines int
	// HostnamePrefix names machines <prefix>-001, … (default "sim").
	HostnamePrefix string
	// MACPrefix is the first three bytes of every machine's MACs (default
	// 52:54:00, QEMU's); the fourth byte numbers the NIC, the last two the
	// machine. Give two datacenters sharing a region different prefixes.
	MACPrefix [3]byte
	// BMCs cycles through these kinds, machine by machine (default ipmi,
	// redfish).
	BMCs []string
	// Firmwares cycles through these, machine by machine (default iPXE,
	// PXELINUX).
	Firmwares []Firmware
	// DHCPTimeout bounds each DHCP exchange (default 4s, 4 transmissions).
	DHCPTimeout time.Duration
	// NetbootAttempts is how often the firmware tries a network boot
	// before it gives up (default 4).
	NetbootAttempts int
	// HTTPTimeout bounds each HTTP request (default 30s).
	HTTPTimeout time.Duration
	// WorkTime is how long commissioning, installing and erasing take
	// (default 200ms); HeartbeatInterval how often the ephemeral environment
	// sends heartbeats meanwhile (default 1s).
	WorkTime          time.Duration
	HeartbeatInterval time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Machines <= 0 {
		c.Machines = 20
	}
	if c.HostnamePrefix == "" {
		c.HostnamePrefix = "sim"
	}
	if c.MACPrefix == [3]byte{} {
		c.MACPrefix = [3]byte{0x52, 0x54, 0x00}
	}
	if len(c.BMCs) == 0 {
		c.BMCs = []string{"ipmi", "redfish"}
	}
	if len(c.Firmwares) == 0 {
		c.Firmwares = []Firmware{FirmwareIPXE, FirmwarePXELINUX}
	}
	if c.DHCPTimeout <= 0 {
		c.DHCPTimeout = 4 * time.Second
	}
	if c.NetbootAttempts <= 0 {
		c.NetbootAttempts = 4
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 30 * time.Second
	}
	if c.WorkTime <= 0 {
		c.WorkTime = 200 * time.Millisecond
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("simdc: invalid config")

// Datacenter is a set of simulated machines on one segment behind one relay.
type Datacenter struct {
	cfg      Config
	log      *slog.Logger
	relay    *Relay
	http     *http.Client
	machines []*Machine
	rack     Rack
	stats    stats
	// bufs are copy buffers for boot files and images.
	bufs sync.Pool
}

// Stats counts the network boots the simulated firmware had to retry, by
// what failed: where the rack or region fell behind.
type Stats struct {
	// DHCP exchanges without a reply in DHCPTimeout.
	DHCPTimeouts int64
	// DHCP NAKs (e.g. a reservation made between OFFER and REQUEST: a
	// deployment claimed the machine an address).
	DHCPNAKs int64
	// TFTP transfers that failed (timeouts, errors).
	TFTPErrors int64
	// HTTP boot requests that failed (scripts, kernel, initrd).
	HTTPErrors int64
	// Boot configs rendered without a machine token (the rack's boot
	// lookup on the region failed or timed out).
	Tokenless int64
	// Enlistments a known machine was sent to (the rack's boot lookup
	// failed and its cached config predates the machine): it rebooted.
	StaleEnlist int64
	// Other boot failures.
	Other int64
}

type stats struct {
	dhcp, nak, tftp, http, tokenless, staleEnlist, other atomic.Int64
}

func (s *stats) count(err error) {
	msg := err.Error()
	switch {
	case errors.Is(err, ErrNoReply):
		s.dhcp.Add(1)
	case errors.Is(err, ErrNAK):
		s.nak.Add(1)
	case errors.Is(err, errTokenless):
		s.tokenless.Add(1)
	case strings.Contains(msg, "tftp "):
		s.tftp.Add(1)
	case strings.Contains(msg, "GET http"), strings.Contains(msg, `Get "http`), strings.Contains(msg, "ipxe script"):
		s.http.Add(1)
	default:
		s.other.Add(1)
	}
}

// Stats returns the retry counts so far.
func (dc *Datacenter) Stats() Stats {
	s := &dc.stats
	return Stats{DHCPTimeouts: s.dhcp.Load(), DHCPNAKs: s.nak.Load(), TFTPErrors: s.tftp.Load(), HTTPErrors: s.http.Load(),
		Tokenless: s.tokenless.Load(), StaleEnlist: s.staleEnlist.Load(), Other: s.other.Load()}
}

// New starts every machine's BMC (on loopback ports) and the segment's
// relay; the machines stay off until Run. Close releases them.
func New(cfg Config) (*Datacenter, error) {
	cfg = cfg.withDefaults()
	if cfg.Machines > 1<<16 {
		return nil, fmt.Errorf("%w: Machines %d: at most 65536 per MAC prefix", ErrConfig, cfg.Machines)
	}
	for _, b := range cfg.BMCs {
		if b != "ipmi" && b != "redfish" {
			return nil, fmt.Errorf("%w: BMCs entry %q: use ipmi or redfish", ErrConfig, b)
		}
	}
	relay, err := NewRelay()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every machine is its own host in reality; here they share one
	// client, which must not make them queue for connections.
	tr.MaxIdleConnsPerHost = 1024
	dc := &Datacenter{cfg: cfg, log: cfg.Logger, relay: relay, http: &http.Client{Timeout: cfg.HTTPTimeout, Transport: tr},
		bufs: sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}}
	for i := range cfg.Machines {
		m, err := dc.newMachine(i)
		if err != nil {
			dc.Close()
			return nil, err
		}
		dc.machines = append(dc.machines, m)
	}
	return dc, nil
}

func (dc *Datacenter) newMachine(i int) (*Machine, error) {
	c := dc.cfg
	p := c.MACPrefix
	spec := Spec{
		Hostname: fmt.Sprintf("%s-%03d", c.HostnamePrefix, i+1),
		MACs: []net.HardwareAddr{
			{p[0], p[1], p[2], 0x00, byte(i >> 8), byte(i)},
			{p[0], p[1], p[2], 0x01, byte(i >> 8), byte(i)},
		},
		Cores:        []int{4, 8, 16, 32}[i%4],
		MemoryMiB:    []int64{8192, 16384, 65536, 131072}[i%4],
		Firmware:     c.Firmwares[i%len(c.Firmwares)],
		BMC:          c.BMCs[i%len(c.BMCs)],
		SystemUUID:   fmt.Sprintf("5d5d5d5d-0000-4000-8000-%02x%02x%02x%06x", p[0], p[1], p[2], i),
		SerialNumber: fmt.Sprintf("SIM%06d", i+1),
	}
	spec.Disks = []api.InventoryDisk{{Name: "sda", Size: int64(240+i%3*240) << 30, Model: "SIMSSD", Serial: fmt.Sprintf("S%06dA", i+1)}}
	if i%2 == 1 {
		spec.Disks = append(spec.Disks, api.InventoryDisk{Name: "sdb", Size: 4 << 40, Model: "SIMHDD", Serial: fmt.Sprintf("S%06dB", i+1)})
	}
	sim := powersim.NewMachine()
	var bmc powersim.BMC
	var err error
	if spec.BMC == "ipmi" {
		bmc, err = powersim.NewIPMI(powersim.WithIPMIMachine(sim))
	} else {
		bmc, err = powersim.NewRedfish(powersim.WithRedfishMachine(sim))
	}
	if err != nil {
		return nil, fmt.Errorf("simdc: BMC of %s: %w", spec.Hostname, err)
	}
	m := &Machine{spec: spec, sim: sim, bmc: bmc, dc: dc, kick: make(chan powersim.Boot, 1), phase: PhaseOff}
	sim.OnPowerOn(func(b powersim.Boot) {
		// Runs on the BMC's request path: hand over, never block.
		select {
		case m.kick <- b:
		default:
		}
	})
	return m, nil
}

// RelayPort is the port the rack's DHCP server must send replies to.
func (dc *Datacenter) RelayPort() uint16 { return dc.relay.Port() }

// Machines returns the simulated machines.
func (dc *Datacenter) Machines() []*Machine { return append([]*Machine(nil), dc.machines...) }

// Run simulates the machines against rack until ctx ends. Machines
// boot when their BMC powers them on (or PowerOn is called).
func (dc *Datacenter) Run(ctx context.Context, rack Rack) error {
	if rack.DHCP == nil {
		return fmt.Errorf("%w: Rack.DHCP is nil: name the rack's DHCP server address", ErrConfig)
	}
	if rack.TFTPPort == 0 {
		rack.TFTPPort = 69
	}
	dc.rack = rack
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- dc.relay.Run(ctx)
	}()
	for _, m := range dc.machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.run(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	dc.http.CloseIdleConnections()
	return <-errc
}

// Close stops every BMC and the relay socket; call it after Run returned.
func (dc *Datacenter) Close() error {
	var errs []error
	for _, m := range dc.machines {
		m.sim.Stop()
		errs = append(errs, m.bmc.Close())
	}
	dc.relay.Close()
	dc.http.CloseIdleConnections()
	return errors.Join(errs...)
}
