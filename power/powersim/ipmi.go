package powersim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/hal"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"
	"github.com/bougou/go-ipmi/pkg/types"
)

// IPMIBMC is a simulated IPMI 2.0 BMC (RMCP+, lanplus) on a loopback UDP
// port, built on go-ipmi's reference server (pkg/bmc, pkg/server,
// pkg/transport/udp) with a chassis backed by a [Machine]. ipmitool talks
// to it: `ipmitool -I lanplus -C 3 -H 127.0.0.1 -p PORT -U admin -P password
// chassis power status`.
type IPMIBMC struct {
	*Machine
	ownMachine bool

	b      *bmc.BMC
	srv    *server.Server
	conn   *faultConn
	cancel context.CancelFunc
	done   chan struct{}
	addr   *net.UDPAddr

	userID   uint8
	user     string
	password string

	mu       sync.Mutex
	faults   Faults
	held     []uint32 // sessions taken by the SessionsExhausted fault
	closeErr error
	closed   bool
}

type ipmiConfig struct {
	addr        string
	user, pass  string
	kg          []byte
	suites      []types.CipherSuiteID
	maxSessions int
	machine     *Machine
}

// IPMIOption configures [NewIPMI].
type IPMIOption func(*ipmiConfig)

// WithIPMIAddr sets the UDP listen address (default "127.0.0.1:0").
func WithIPMIAddr(addr string) IPMIOption { return func(c *ipmiConfig) { c.addr = addr } }

// WithIPMICredentials sets the administrator account (default admin/password).
func WithIPMICredentials(user, pass string) IPMIOption {
	return func(c *ipmiConfig) { c.user, c.pass = user, pass }
}

// WithIPMIKG sets the BMC key K_g (two-key login).
func WithIPMIKG(kg []byte) IPMIOption { return func(c *ipmiConfig) { c.kg = kg } }

// WithIPMICipherSuites limits the RMCP+ cipher suites offered (default:
// go-ipmi's reference list, which includes 3 and 17).
func WithIPMICipherSuites(ids ...uint8) IPMIOption {
	return func(c *ipmiConfig) {
		c.suites = nil
		for _, id := range ids {
			c.suites = append(c.suites, types.CipherSuiteID(id))
		}
	}
}

// WithIPMIMaxSessions sets how many sessions the BMC holds at once (default 4).
func WithIPMIMaxSessions(n int) IPMIOption { return func(c *ipmiConfig) { c.maxSessions = n } }

// WithIPMIMachine puts an existing machine behind the BMC (for a machine
// with both IPMI and Redfish). The BMC then does not stop it on Close.
func WithIPMIMachine(m *Machine) IPMIOption { return func(c *ipmiConfig) { c.machine = m } }

// NewIPMI starts a simulated IPMI BMC. Close it when done.
func NewIPMI(opts ...IPMIOption) (*IPMIBMC, error) {
	cfg := ipmiConfig{addr: "127.0.0.1:0", user: "admin", pass: "password", maxSessions: bmc.MaxSessions}
	for _, o := range opts {
		o(&cfg)
	}
	s := &IPMIBMC{Machine: cfg.machine, userID: 2, user: cfg.user, password: cfg.pass, done: make(chan struct{})}
	if s.Machine == nil {
		s.Machine = NewMachine()
		s.ownMachine = true
	}

	h := &simHAL{HAL: mock.New(), chassis: &simChassis{m: s.Machine}}
	var guid [16]byte
	_, _ = rand.Read(guid[:])
	info := bmc.DeviceInfo{
		DeviceID: 0x20, DeviceRevision: 1, FirmwareMajor: 1, FirmwareMinor: 0x10,
		IPMIVersion: 0x20, ManufacturerID: 0x0000, ProductID: 0x1234,
		AdditionalDeviceSupport: 0x39,
	}
	bopts := []bmc.Option{bmc.WithKG(cfg.kg)}
	if len(cfg.suites) > 0 {
		for _, id := range cfg.suites {
			if !bmc.SupportedCipherSuite(id) {
				return nil, fmt.Errorf("powersim: cipher suite %d is not implemented by go-ipmi's server", id)
			}
		}
		bopts = append(bopts, bmc.WithCipherSuites(cfg.suites))
	}
	b := bmc.New(info, guid, h, bopts...)
	if cfg.maxSessions != bmc.MaxSessions && cfg.maxSessions > 0 {
		b.Sessions = bmc.NewSessionStoreWithOptions(b.Clock(), bmc.WithMaxSessions(cfg.maxSessions))
		b.Sessions.SetOnRemove(b.SOL.DeactivateBySession)
	}
	err := b.Users.Upsert(s.userID, func(u *bmc.User) error {
		u.Name = cfg.user
		u.SetPassword([]byte(cfg.pass))
		u.Enabled = true
		u.ChannelAccess[1] = bmc.UserChannelAccess{MaxPrivilege: bmc.PrivilegeLevelAdministrator, Enabled: true}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("powersim: add IPMI user %q: %w", cfg.user, err)
	}

	ua, err := net.ResolveUDPAddr("udp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("powersim: IPMI address %q: %w", cfg.addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("powersim: listen IPMI on %s: %w", cfg.addr, err)
	}
	s.addr = pc.LocalAddr().(*net.UDPAddr)
	s.conn = &faultConn{Conn: udp.Wrap(pc), sim: s}
	s.b = b
	s.srv = server.NewServer(b, s.conn)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ctx)
	}()
	return s, nil
}

// Addr returns "127.0.0.1:port".
func (s *IPMIBMC) Addr() string { return s.addr.String() }

// Host returns the IP address the BMC listens on.
func (s *IPMIBMC) Host() string { return s.addr.IP.String() }

// Port returns the UDP port.
func (s *IPMIBMC) Port() int { return s.addr.Port }

// PortString returns the port as a string, for driver parameters.
func (s *IPMIBMC) PortString() string { return strconv.Itoa(s.addr.Port) }

// DriverName is the power driver for this BMC: "ipmi".
func (s *IPMIBMC) DriverName() string { return "ipmi" }

// DriverParams are the parameters the ipmi driver needs for this BMC.
func (s *IPMIBMC) DriverParams() map[string]string {
	return map[string]string{"host": s.Host(), "port": s.PortString(), "username": s.user, "password": s.password}
}

// Sessions returns how many RMCP+ sessions the BMC holds now.
func (s *IPMIBMC) Sessions() int { return s.b.Sessions.Count() }

// Faults returns the current faults.
func (s *IPMIBMC) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the injected faults.
func (s *IPMIBMC) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.faults
	s.faults = f
	s.Machine.SetStuck(f.StuckPower)
	if f.BadCredentials != prev.BadCredentials {
		pass := s.password
		if f.BadCredentials {
			var r [12]byte
			_, _ = rand.Read(r[:])
			pass = fmt.Sprintf("%x", r)
		}
		_ = s.b.Users.Update(s.userID, func(u *bmc.User) error { u.SetPassword([]byte(pass)); return nil })
	}
	switch {
	case f.SessionsExhausted && !prev.SessionsExhausted:
		// Take every free slot with an active session, as stale consoles do.
		for s.b.Sessions.Count() < s.b.Sessions.Cap() {
			sess, err := s.b.Sessions.Allocate(0, types.AuthAlg_HMAC_SHA1, types.IntegrityAlg_HMAC_SHA1_96,
				types.CryptAlg_AES_CBC_128, bmc.PrivilegeLevelAdministrator, 1)
			if err != nil {
				break
			}
			_ = s.b.Sessions.Activate(sess.BMCID)
			s.held = append(s.held, sess.BMCID)
		}
	case !f.SessionsExhausted && prev.SessionsExhausted:
		for _, id := range s.held {
			_ = s.b.Sessions.Close(id)
		}
		s.held = nil
	}
}

// drop reports whether the next packet is dropped by a fault.
func (s *IPMIBMC) drop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.Timeout {
		return true
	}
	if s.faults.DropNext > 0 {
		s.faults.DropNext--
		return true
	}
	return false
}

// Close stops the BMC and waits for its server goroutine. Safe to call twice.
func (s *IPMIBMC) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	err := s.srv.Close()
	s.cancel()
	<-s.done
	if s.ownMachine {
		s.Machine.Stop()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}

// faultConn drops inbound packets while a timeout fault is active.
type faultConn struct {
	*udp.Conn
	sim *IPMIBMC
}

func (c *faultConn) ReadFrom(buf []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.Conn.ReadFrom(buf)
		if err != nil || !c.sim.drop() {
			return n, addr, err
		}
	}
}

// simHAL is go-ipmi's mock HAL with the chassis replaced by a [Machine].
type simHAL struct {
	*mock.HAL
	chassis *simChassis
}

func (h *simHAL) Chassis() hal.ChassisHAL { return h.chassis }

// simChassis implements hal.ChassisHAL on a Machine. Boot flags map to the
// machine's boot override: PXE and hard-drive selectors, persistence and
// the EFI bit.
type simChassis struct {
	m     *Machine
	mu    sync.Mutex
	flags *types.BootOptionParam_BootFlags
	ack   *types.BootOptionParam_BootInfoAcknowledge
}

func (c *simChassis) PowerState(context.Context) (bool, error) { return c.m.PoweredOn(), nil }

func (c *simChassis) SetPower(_ context.Context, on bool) error {
	if on {
		c.m.PowerOn()
	} else {
		c.m.PowerOff()
	}
	return nil
}

func (c *simChassis) PowerCycle(context.Context) error { c.m.PowerCycle(); return nil }
func (c *simChassis) ColdReset(context.Context) error  { c.m.Reset(); return nil }

// WarmReset is where go-ipmi's reference handler sends chassis control 5h
// (soft shutdown via ACPI): the simulated OS shuts down and the machine
// powers off.
func (c *simChassis) WarmReset(context.Context) error { c.m.PowerOff(); return nil }
func (c *simChassis) Identify(context.Context, uint8) error {
	return nil
}
func (c *simChassis) IntrusionState(context.Context) (bool, error) { return false, nil }

func (c *simChassis) SetBootFlags(_ context.Context, f *types.BootOptionParam_BootFlags) error {
	if f == nil {
		return hal.ErrNotSupported
	}
	c.mu.Lock()
	cp := *f
	c.flags = &cp
	c.mu.Unlock()
	b := Boot{Persistent: f.Persist, UEFI: f.BIOSBootType == types.BIOSBootTypeEFI}
	if f.BootFlagsValid {
		switch f.BootDeviceSelector {
		case types.BootDeviceSelectorForcePXE:
			b.Device = DevicePXE
		case types.BootDeviceSelectorForceHardDrive, types.BootDeviceSelectorForceHardDriveSafe:
			b.Device = DeviceDisk
		}
	}
	if b.Device == DeviceNone {
		b = Boot{}
	}
	c.m.SetBootOverride(b)
	return nil
}

func (c *simChassis) GetBootFlags(context.Context) (*types.BootOptionParam_BootFlags, error) {
	b := c.m.BootOverride()
	f := &types.BootOptionParam_BootFlags{}
	c.mu.Lock()
	if c.flags != nil {
		*f = *c.flags
	}
	c.mu.Unlock()
	f.BootFlagsValid = b.Device != DeviceNone
	f.Persist = b.Persistent
	f.BIOSBootType = types.BIOSBootType(b.UEFI)
	switch b.Device {
	case DevicePXE:
		f.BootDeviceSelector = types.BootDeviceSelectorForcePXE
	case DeviceDisk:
		f.BootDeviceSelector = types.BootDeviceSelectorForceHardDrive
	default:
		f.BootDeviceSelector = types.BootDeviceSelectorNoOverride
	}
	return f, nil
}

func (c *simChassis) SetBootInfoAcknowledge(_ context.Context, a *types.BootOptionParam_BootInfoAcknowledge) error {
	if a == nil {
		return hal.ErrNotSupported
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *a
	c.ack = &cp
	return nil
}

func (c *simChassis) GetBootInfoAcknowledge(context.Context) (*types.BootOptionParam_BootInfoAcknowledge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ack == nil {
		return &types.BootOptionParam_BootInfoAcknowledge{}, nil
	}
	cp := *c.ack
	return &cp, nil
}
