package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// DefaultIPMICipherSuites is the cipher-suite preference list: 17
// (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128) first, then 3
// (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) for BMCs without SHA-256
// (OpenIPMI's ipmi_sim, older firmware). Suites without integrity or
// confidentiality (0, 1, 2) are never tried unless configured.
const defaultIPMICipherSuites = "17,3"

// ipmiPrivileges maps the privilege parameter to go-ipmi's levels.
var ipmiPrivileges = map[string]types.PrivilegeLevel{
	"user":          types.PrivilegeLevelUser,
	"operator":      types.PrivilegeLevelOperator,
	"administrator": types.PrivilegeLevelAdministrator,
}

// ipmiActions maps power actions to IPMI chassis control commands.
var ipmiActions = map[Action]chassis.ChassisControl{
	ActionOn:    chassis.ChassisControlPowerUp,
	ActionOff:   chassis.ChassisControlPowerDown,
	ActionCycle: chassis.ChassisControlPowerCycle,
	ActionSoft:  chassis.ChassisControlSoftShutdown,
}

// ipmiBootDevices maps boot devices to IPMI boot flag selectors.
var ipmiBootDevices = map[BootDevice]types.BootDeviceSelector{
	BootPXE:  types.BootDeviceSelectorForcePXE,
	BootDisk: types.BootDeviceSelectorForceHardDrive,
}

// IPMIDriverInfo describes the "ipmi" driver: IPMI 2.0 over LAN (RMCP+,
// "lanplus") with github.com/bougou/go-ipmi.
func IPMIDriverInfo() DriverInfo {
	return DriverInfo{
		Name:        "ipmi",
		Description: "IPMI 2.0 over LAN (RMCP+/lanplus); one session per BMC, reused",
		Schema: Schema{
			{Name: "host", Type: TypeHost, Required: true, Description: "BMC IP address or host name"},
			{Name: "port", Type: TypeInt, Default: "623", Min: 1, Max: 65535, Description: "BMC UDP port"},
			{Name: "username", Type: TypeString, Required: true, Description: "BMC user name (at most 16 characters)"},
			{Name: "password", Type: TypeString, Secret: true, Description: "BMC user password (K_uid, at most 20 bytes)"},
			{Name: "privilege", Type: TypeChoice, Default: "administrator", Choices: []string{"user", "operator", "administrator"},
				Description: "session privilege level; power control needs operator or administrator"},
			{Name: "cipher_suites", Type: TypeIntList, Default: defaultIPMICipherSuites, Min: 0, Max: 255,
				Description: "RMCP+ cipher suites to try, in order of preference"},
			{Name: "kg", Type: TypeHex, Secret: true, Max: 20,
				Description: "BMC key K_g in hex for two-key login; empty for one-key login (the usual case)"},
			{Name: "timeout", Type: TypeDuration, Default: "2s", Description: "wait for each IPMI reply before resending"},
			{Name: "retransmits", Type: TypeInt, Default: "2", Min: 0, Max: 10, Description: "resends of an unanswered IPMI request"},
			{Name: "idle_timeout", Type: TypeDuration, Default: "60s",
				Description: "close the session after this long unused, freeing the BMC's session slot; 0s keeps it open until Close"},
		},
		New: func(p Params, env Env) (Driver, error) { return NewIPMI(p, env.Logger) },
	}
}

// IPMI is the IPMI driver for one BMC. It keeps one RMCP+ session open and
// reuses it for every call; calls are serialized. A session that fails
// (timeout, BMC restarted, session evicted) is closed and replaced by a new
// client on the next call, because a go-ipmi client cannot reconnect once
// closed and panics if closed twice.
type IPMI struct {
	host    string
	port    int
	user    string
	pass    string
	priv    types.PrivilegeLevel
	suites  []types.CipherSuiteID
	kg      []byte
	timeout time.Duration
	retrans int
	log     *slog.Logger
	name    string

	idle time.Duration

	mu      sync.Mutex
	sess    *ipmiSession
	closed  bool
	lastUse time.Time
	timer   *time.Timer
}

// ipmiSession guards a go-ipmi client's Close, which panics when repeated.
type ipmiSession struct {
	c    *client.Client
	once sync.Once
}

func (s *ipmiSession) close(ctx context.Context) {
	s.once.Do(func() { _ = s.c.Close(ctx) })
}

// NewIPMI builds the IPMI driver from validated parameters (see [IPMIDriverInfo]).
func NewIPMI(p Params, log *slog.Logger) (*IPMI, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &IPMI{
		host: p.String("host"), port: p.Int("port"), user: p.String("username"), pass: p.String("password"),
		priv: ipmiPrivileges[p.String("privilege")], kg: p.Bytes("kg"),
		timeout: p.Duration("timeout"), retrans: p.Int("retransmits"), idle: p.Duration("idle_timeout"),
	}
	if d.port == 0 {
		d.port = 623
	}
	if d.priv == 0 {
		d.priv = types.PrivilegeLevelAdministrator
	}
	if d.timeout <= 0 {
		d.timeout = 2 * time.Second
	}
	suites := p.IntList("cipher_suites")
	if !p.Has("cipher_suites") {
		suites = []int{17, 3}
	}
	for _, s := range suites {
		d.suites = append(d.suites, types.CipherSuiteID(s))
	}
	if len(d.user) > 16 {
		return nil, fmt.Errorf("%w: ipmi driver: parameter \"username\" = %q is %d characters; IPMI allows at most 16", ErrConfig, d.user, len(d.user))
	}
	if len(d.pass) > 20 {
		return nil, fmt.Errorf("%w: ipmi driver: parameter \"password\" is %d bytes; IPMI 2.0 allows at most 20", ErrConfig, len(d.pass))
	}
	d.name = net.JoinHostPort(d.host, strconv.Itoa(d.port))
	d.log = log.With("driver", "ipmi", "bmc", d.name)
	return d, nil
}

// String names the BMC for messages.
func (d *IPMI) String() string { return "ipmi " + d.name }

// PowerState reads the chassis power state.
func (d *IPMI) PowerState(ctx context.Context) (State, error) {
	var st State
	err := d.do(ctx, "get chassis status", func(ctx context.Context, c *client.Client) error {
		r, err := c.GetChassisStatus(ctx)
		if err != nil {
			return err
		}
		st = Off
		if r.PowerIsOn {
			st = On
		}
		return nil
	})
	return st, err
}

// SetPower sends a chassis control command. A power cycle of a machine that
// is off powers it on: IPMI specifies that a cycle has no effect in S5.
func (d *IPMI) SetPower(ctx context.Context, a Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return d.do(ctx, "chassis control "+string(a), func(ctx context.Context, c *client.Client) error {
		ctl := ipmiActions[a]
		if a == ActionCycle {
			r, err := c.GetChassisStatus(ctx)
			if err != nil {
				return err
			}
			if !r.PowerIsOn {
				ctl = chassis.ChassisControlPowerUp
			}
		}
		_, err := c.ChassisControl(ctx, ctl)
		return err
	})
}

// SetBootDevice sets the boot flags (system boot options parameter 5).
func (d *IPMI) SetBootDevice(ctx context.Context, b BootOverride) error {
	if err := b.Validate(); err != nil {
		return err
	}
	flags := &types.BootOptionParam_BootFlags{
		BootFlagsValid:     true,
		Persist:            b.Persistent,
		BIOSBootType:       types.BIOSBootType(b.Mode == BootModeUEFI),
		BootDeviceSelector: ipmiBootDevices[b.Device],
	}
	return d.do(ctx, "set boot device "+string(b.Device), func(ctx context.Context, c *client.Client) error {
		return c.SetSystemBootOptionsParamFor(ctx, flags)
	})
}

// ClearBootDevice marks the boot flags invalid, cancelling a pending override.
func (d *IPMI) ClearBootDevice(ctx context.Context) error {
	flags := &types.BootOptionParam_BootFlags{BootFlagsValid: false, BootDeviceSelector: types.BootDeviceSelectorNoOverride}
	return d.do(ctx, "clear boot device", func(ctx context.Context, c *client.Client) error {
		return c.SetSystemBootOptionsParamFor(ctx, flags)
	})
}

// Close ends the session. Safe to call more than once.
func (d *IPMI) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	if d.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
		d.sess.close(ctx)
		cancel()
		d.sess = nil
	}
	return nil
}

// do runs op on the BMC's session, opening one if needed. When op fails on a
// reused session, the session is dropped and op is tried once more on a
// fresh one: the BMC may have restarted or evicted the idle session.
func (d *IPMI) do(ctx context.Context, what string, op func(context.Context, *client.Client) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(d.retrans+1)*d.timeout*4)
		defer cancel()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("%w: ipmi driver for %s is closed", ErrConfig, d.name)
	}
	defer d.touch()
	for attempt := 0; ; attempt++ {
		reused := d.sess != nil
		if d.sess == nil {
			s, err := d.connect(ctx)
			if err != nil {
				return err
			}
			d.sess = s
		}
		err := op(ctx, d.sess.c)
		if err == nil {
			return nil
		}
		// A completion code is an answer: the session works.
		if isIPMICompletion(err) {
			return fmt.Errorf("ipmi %s: %s: %w", d.name, what, d.classify(err))
		}
		err = d.classify(err)
		if errors.Is(err, ErrConfig) {
			return fmt.Errorf("ipmi %s: %s: %w", d.name, what, err)
		}
		d.dropSession()
		if !reused || attempt > 0 || ctx.Err() != nil {
			return fmt.Errorf("ipmi %s: %s: %w", d.name, what, err)
		}
		d.log.Debug("reused IPMI session failed; opening a new one", "op", what, "err", err)
	}
}

// touch records a use and arms the idle timer. d.mu must be held.
func (d *IPMI) touch() {
	d.lastUse = time.Now()
	if d.idle <= 0 || d.sess == nil {
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(d.idle, d.closeIdle)
	} else {
		d.timer.Reset(d.idle)
	}
}

// closeIdle ends a session nobody used for the idle timeout.
func (d *IPMI) closeIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.sess == nil {
		return
	}
	if wait := d.idle - time.Since(d.lastUse); wait > 0 {
		d.timer.Reset(wait)
		return
	}
	d.log.Debug("closing idle IPMI session", "idle", d.idle)
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	d.sess.close(ctx)
	cancel()
	d.sess = nil
}

// Connected reports whether the driver holds an open session.
func (d *IPMI) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess != nil
}

func (d *IPMI) dropSession() {
	if d.sess == nil {
		return
	}
	// The BMC may be gone: do not wait long for its Close Session reply.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	d.sess.close(ctx)
	cancel()
	d.sess = nil
}

func (d *IPMI) connect(ctx context.Context) (*ipmiSession, error) {
	c, err := client.NewClient(d.host, d.port, d.user, d.pass)
	if err != nil {
		return nil, fmt.Errorf("%w: ipmi driver: %v", ErrConfig, err)
	}
	c.WithInterface(client.InterfaceLanplus).
		WithTimeout(d.timeout).
		WithRetry(d.retrans).
		WithMaxPrivilegeLevel(d.priv).
		WithCipherSuiteID(d.suites...)
	if len(d.kg) > 0 {
		if err := setIPMIKG(c, d.kg); err != nil {
			return nil, err
		}
	}
	s := &ipmiSession{c: c}
	if err := c.Connect(ctx); err != nil {
		// Connect leaves the UDP socket open; closing with a cancelled
		// context skips the Close Session exchange and just closes it.
		cctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.close(cctx)
		return nil, fmt.Errorf("ipmi %s: open session (cipher suites %v, privilege %s): %w",
			d.name, d.suites, d.priv, d.classify(err))
	}
	return s, nil
}

// ipmiRMCPStatus maps RMCP+ status codes (IPMI 2.0 table 13-15) seen in
// Open Session and RAKP replies to a sentinel and the fix to suggest.
var ipmiRMCPStatus = map[types.RmcpStatusCode]struct {
	sentinel error
	fix      string
}{
	types.RmcpStatusCodeNoResToCreateSess:          {ErrBusy, "the BMC has no free session slot; stale sessions expire after about 60 s idle"},
	types.RmcpStatusCodeNoResToCreateSessAtRole:    {ErrBusy, "the BMC has no free session slot at this privilege"},
	types.RmcpStatusCodeUnauthorizedName:           {ErrAuth, "check the username parameter"},
	types.RmcpStatusCodeInvalidNameLength:          {ErrAuth, "check the username parameter"},
	types.RmcpStatusCodeInvalidIntegrityCheckValue: {ErrAuth, "check the password and kg parameters"},
	types.RmcpStatusCodeInvalidRole:                {ErrAuth, "check the privilege parameter"},
	types.RmcpStatusCodeUnauthorizedRoleOfPriLevel: {ErrAuth, "lower the privilege parameter or raise the user's privilege on the BMC"},
	types.RmcpStatusCodeNoCipherSuiteMatch:         {ErrConfig, "set the cipher_suites parameter to suites this BMC offers (try 3)"},
	types.RmcpStatusCodeInvalidAuthAlg:             {ErrConfig, "set the cipher_suites parameter to suites this BMC offers (try 3)"},
	types.RmcpStatusCodeInvalidIntegrityAlg:        {ErrConfig, "set the cipher_suites parameter to suites this BMC offers (try 3)"},
	types.RmcpStatusCodeInvalidConfidentAlg:        {ErrConfig, "set the cipher_suites parameter to suites this BMC offers (try 3)"},
	types.RmcpStatusCodeNoMatchingAuthPayload:      {ErrConfig, "set the cipher_suites parameter to suites this BMC offers (try 3)"},
	types.RmcpStatusCodeNoMatchingIntegrityPayload: {ErrConfig, "set the cipher_suites parameter to suites this BMC offers (try 3)"},
}

var rmcpStatusInText = regexp.MustCompile(`RMCP\+ status 0x([0-9a-fA-F]{1,2})`)

// classify maps go-ipmi errors to the package's sentinels. go-ipmi joins the
// per-cipher-suite errors of a failed Connect with %v, so typed errors are
// lost there and the text is matched instead.
func (d *IPMI) classify(err error) error {
	if re, ok := types.IsResponseError(err); ok {
		switch re.CompletionCode() {
		case 0xC0: // node busy
			return fmt.Errorf("%w: %v", ErrBusy, oneLine(err))
		case 0xD4: // insufficient privilege
			return fmt.Errorf("%w: %v; set the privilege parameter to operator or administrator", ErrAuth, oneLine(err))
		}
		return fmt.Errorf("%w: %v", ErrUnsupported, oneLine(err))
	}
	code, found := types.RmcpStatusCode(0), false
	var rs *types.RmcpStatusError
	if errors.As(err, &rs) {
		code, found = rs.StatusCode(), true
	} else if m := rmcpStatusInText.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.ParseUint(m[1], 16, 8)
		code, found = types.RmcpStatusCode(n), true
	}
	if found {
		if c, ok := ipmiRMCPStatus[code]; ok {
			return fmt.Errorf("%w: %v; %s", c.sentinel, oneLine(err), c.fix)
		}
	}
	if errors.Is(err, client.ErrRAKPAuthentication) || strings.Contains(err.Error(), client.ErrRAKPAuthentication.Error()) {
		return fmt.Errorf("%w: %v; check the password and kg parameters", ErrAuth, oneLine(err))
	}
	if err := classifyNetErr(err); Retryable(err) {
		return err
	}
	// go-ipmi reports unanswered UDP exchanges as text.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "deadline") || strings.Contains(msg, "timeout"):
		return fmt.Errorf("%w: no answer from %s: %v", ErrTimeout, d.name, oneLine(err))
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, d.name, oneLine(err))
	}
	return err
}

// isIPMICompletion reports whether the BMC answered with a non-zero
// completion code: the session works, the command was refused.
func isIPMICompletion(err error) bool {
	_, ok := types.IsResponseError(err)
	return ok
}

// setIPMIKG sets the BMC key on a go-ipmi v0.9.1 client. The client
// implements two-key login (it derives the SIK from K_g when one is set) but
// has no exported setter, so this writes the unexported field. It is pinned
// to v0.9.1's layout and fails with ErrConfig if the layout changes; a test
// against a K_g-enabled simulator covers it.
func setIPMIKG(c *client.Client, kg []byte) error {
	v := reflect.ValueOf(c).Elem().FieldByName("session")
	if v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem().FieldByName("v20")
		if v.IsValid() {
			v = v.FieldByName("bmcKey")
		}
	}
	if !v.IsValid() || v.Type() != reflect.TypeFor[[]byte]() {
		return fmt.Errorf("%w: ipmi driver: this go-ipmi version cannot take a K_g; remove the kg parameter", ErrConfig)
	}
	key := make([]byte, 20) // K_g is 20 bytes, zero padded
	copy(key, kg)
	reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem().Set(reflect.ValueOf(key))
	return nil
}

// oneLine joins go-ipmi's multi-line error text (one line per cipher suite
// tried) so log lines and API messages stay one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " | ")), " ")
}
