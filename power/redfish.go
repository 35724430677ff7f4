package power

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// redfishResetTypes is the reset mapping: for each action, the Redfish
// ResetTypes to use in order of preference; the first one the system
// allows wins. A cycle with none allowed (or refused) falls back to
// ForceOff, polling until Off, then On.
var redfishResetTypes = map[Action][]schemas.ResetType{
	ActionOn:    {schemas.OnResetType, schemas.ForceOnResetType},
	ActionOff:   {schemas.ForceOffResetType},
	ActionSoft:  {schemas.GracefulShutdownResetType},
	ActionCycle: {schemas.ForceRestartResetType, schemas.PowerCycleResetType},
}

// redfishPowerStates maps Redfish PowerState to State. PoweringOn and
// PoweringOff are Unknown: verification must wait for the state itself, or
// a power-on could follow a power-off that has not finished.
var redfishPowerStates = map[schemas.PowerState]State{
	schemas.OnPowerState:     On,
	schemas.OffPowerState:    Off,
	schemas.PausedPowerState: On,
}

// redfishBootTargets maps boot devices to BootSourceOverrideTarget values.
var redfishBootTargets = map[BootDevice]schemas.BootSource{
	BootPXE:  schemas.PxeBootSource,
	BootDisk: schemas.HddBootSource,
}

// dmtfSessionsURI is where the Redfish specification puts the session
// collection; used when a service root lacks Links.Sessions.
const dmtfSessionsURI = "/redfish/v1/SessionService/Sessions"

// dmtfSystemsURI is the ComputerSystem collection's URI, fixed by the
// Redfish specification.
const dmtfSystemsURI = "/redfish/v1/Systems"

// RedfishDriverInfo describes the "redfish" driver (github.com/stmcginnis/gofish).
func RedfishDriverInfo() DriverInfo {
	return DriverInfo{
		Name:        "redfish",
		Description: "DMTF Redfish over HTTPS; sessions are always logged out",
		Schema: Schema{
			{Name: "endpoint", Type: TypeURL, Required: true, Description: "BMC base URL, e.g. https://10.0.0.5 (without /redfish/v1)"},
			{Name: "username", Type: TypeString, Required: true, Description: "BMC account"},
			{Name: "password", Type: TypeString, Secret: true, Description: "BMC account password"},
			{Name: "auth", Type: TypeChoice, Default: "session", Choices: []string{"session", "basic"},
				Description: "session: X-Auth-Token session, deleted after each operation; basic: HTTP basic authentication"},
			{Name: "insecure", Type: TypeBool, Default: "false", Description: "skip TLS certificate verification (only for BMCs with self-signed certificates you cannot replace)"},
			{Name: "ca_cert", Type: TypeString, Description: "PEM certificate(s) to trust for this BMC instead of the system roots"},
			{Name: "system", Type: TypeString, Description: "ComputerSystem Id, Name or @odata.id, required when the BMC manages several systems"},
			{Name: "use_if_match", Type: TypeBool, Default: "true", Description: "send If-Match with ETags on PATCH and actions; false for firmware that breaks on If-Match"},
			{Name: "timeout", Type: TypeDuration, Default: "10s", Description: "deadline of each HTTP request"},
			{Name: "poll_interval", Type: TypeDuration, Default: "1s", Description: "how often to poll the power state in the off-then-on cycle fallback"},
			{Name: "off_timeout", Type: TypeDuration, Default: "60s", Description: "how long the cycle fallback waits for the system to report Off"},
			{Name: "cycle_reset", Type: TypeString, Default: "ForceRestart,PowerCycle",
				Description: "ResetTypes to try for a power cycle, in order, before falling back to ForceOff, poll, On"},
		},
		New: func(p Params, env Env) (Driver, error) { return NewRedfish(p, env) },
	}
}

// Redfish is the Redfish driver for one BMC. Each operation connects,
// authenticates, acts and logs out: BMCs hold few sessions and many
// firmware versions never expire abandoned ones in time.
type Redfish struct {
	endpoint   string
	user, pass string
	basic      bool
	system     string
	ifMatch    bool
	poll       time.Duration
	offTimeout time.Duration
	httpc      *http.Client
	ownClient  bool
	log        *slog.Logger
	resets     map[Action][]schemas.ResetType
}

// NewRedfish builds the Redfish driver from validated parameters (see [RedfishDriverInfo]).
func NewRedfish(p Params, env Env) (*Redfish, error) {
	d := &Redfish{
		endpoint: strings.TrimRight(p.String("endpoint"), "/"),
		user:     p.String("username"), pass: p.String("password"),
		basic: p.String("auth") == "basic", system: p.String("system"),
		ifMatch: !p.Has("use_if_match") || p.Bool("use_if_match"),
		poll:    p.Duration("poll_interval"), offTimeout: p.Duration("off_timeout"),
		log: env.Logger,
	}
	d.endpoint = strings.TrimSuffix(d.endpoint, "/redfish/v1")
	d.resets = maps.Clone(redfishResetTypes)
	if v := p.String("cycle_reset"); v != "" {
		var cycle []schemas.ResetType
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				cycle = append(cycle, schemas.ResetType(part))
			}
		}
		d.resets[ActionCycle] = cycle
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("driver", "redfish", "bmc", d.endpoint)
	if d.poll <= 0 {
		d.poll = time.Second
	}
	if d.offTimeout <= 0 {
		d.offTimeout = time.Minute
	}
	timeout := p.Duration("timeout")
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if env.HTTPClient != nil {
		d.httpc = env.HTTPClient
		return d, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: p.Bool("insecure")} //nolint:gosec // explicit operator switch
	if pemText := p.String("ca_cert"); pemText != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pemText)) {
			return nil, fmt.Errorf("%w: redfish driver: parameter \"ca_cert\" holds no PEM certificate; paste the BMC's certificate (-----BEGIN CERTIFICATE-----...)", ErrConfig)
		}
		tc.RootCAs = pool
	}
	d.httpc = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			// BMC networks are reached directly: no proxy from the environment.
			DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
		},
	}
	d.ownClient = true
	return d, nil
}

// String names the BMC for messages.
func (d *Redfish) String() string { return "redfish " + d.endpoint }

// Close releases idle connections.
func (d *Redfish) Close() error {
	if d.ownClient {
		d.httpc.CloseIdleConnections()
	}
	return nil
}

// PowerState reads the system's PowerState.
func (d *Redfish) PowerState(ctx context.Context) (State, error) {
	var st State
	err := d.with(ctx, "read power state", func(c *gofish.APIClient, sys *schemas.ComputerSystem) error {
		st = d.state(sys)
		return nil
	})
	return st, err
}

func (d *Redfish) state(sys *schemas.ComputerSystem) State {
	if s, ok := redfishPowerStates[sys.PowerState]; ok {
		return s
	}
	return Unknown
}

// SetPower maps the action to a ComputerSystem.Reset (see redfishResetTypes).
// On and off are skipped when the system is already there: some firmware
// answers an error to On when on.
func (d *Redfish) SetPower(ctx context.Context, a Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return d.with(ctx, "power "+string(a), func(c *gofish.APIClient, sys *schemas.ComputerSystem) error {
		cur := d.state(sys)
		switch {
		case (a == ActionOn && cur == On) || ((a == ActionOff || a == ActionSoft) && cur == Off):
			return nil
		case a == ActionCycle && cur == Off:
			return d.reset(sys, ActionOn)
		case a == ActionCycle:
			err := d.reset(sys, ActionCycle)
			if err == nil || (!errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrRejected)) {
				return err
			}
			d.log.Info("cycle reset unavailable; falling back to off, poll, on", "err", err)
			return d.offPollOn(ctx, c, sys)
		}
		return d.reset(sys, a)
	})
}

// reset posts the first allowed ResetType for a.
func (d *Redfish) reset(sys *schemas.ComputerSystem, a Action) error {
	allowed, err := sys.GetSupportedResetTypes()
	if err != nil {
		d.log.Debug("reading ResetType ActionInfo failed; trying the preferred type", "err", err)
	}
	var rt schemas.ResetType
	for _, t := range d.resets[a] {
		if len(allowed) == 0 || slices.Contains(allowed, t) {
			rt = t
			break
		}
	}
	if rt == "" {
		return fmt.Errorf("%w: system %s allows ResetType %v, none of %v", ErrUnsupported, sys.ID, allowed, d.resets[a])
	}
	if !redfishHasReset(sys.RawData) {
		return fmt.Errorf("%w: system %s has no #ComputerSystem.Reset action", ErrUnsupported, sys.ID)
	}
	sys.DisableEtagMatch(!d.ifMatch)
	if _, err := sys.Reset(rt); err != nil {
		return fmt.Errorf("ResetType %s: %w", rt, d.classify(err))
	}
	return nil
}

// offPollOn cycles a system without a cycle reset: ForceOff, wait for Off, On.
func (d *Redfish) offPollOn(ctx context.Context, c *gofish.APIClient, sys *schemas.ComputerSystem) error {
	if err := d.reset(sys, ActionOff); err != nil {
		return err
	}
	deadline := time.Now().Add(d.offTimeout)
	last := Unknown
	for {
		fresh, err := schemas.GetComputerSystem(c, sys.ODataID)
		if err != nil {
			return fmt.Errorf("poll power state: %w", d.classify(err))
		}
		sys, last = fresh, d.state(fresh)
		if last == Off {
			return d.reset(sys, ActionOn)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: system %s still reports %s %s after ForceOff", ErrNeverTransitioned, sys.ID, last, d.offTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for system %s to power off: %w", ErrTimeout, sys.ID, ctx.Err())
		case <-time.After(d.poll):
		}
	}
}

// SetBootDevice sets a boot source override on the System; when the System
// refuses, it writes the @Redfish.Settings object instead (applied at the
// next reset), with If-Match when enabled.
func (d *Redfish) SetBootDevice(ctx context.Context, b BootOverride) error {
	if err := b.Validate(); err != nil {
		return err
	}
	boot := map[string]any{
		"BootSourceOverrideTarget":  redfishBootTargets[b.Device],
		"BootSourceOverrideEnabled": schemas.OnceBootSourceOverrideEnabled,
	}
	if b.Persistent {
		boot["BootSourceOverrideEnabled"] = schemas.ContinuousBootSourceOverrideEnabled
	}
	switch b.Mode {
	case BootModeUEFI:
		boot["BootSourceOverrideMode"] = schemas.UEFIBootSourceOverrideMode
	case BootModeBIOS:
		boot["BootSourceOverrideMode"] = schemas.LegacyBootSourceOverrideMode
	}
	return d.with(ctx, "set boot device "+string(b.Device), func(c *gofish.APIClient, sys *schemas.ComputerSystem) error {
		allowed := sys.Boot.AllowableBootSourceOverrideTargetValues
		if len(allowed) > 0 && !slices.Contains(allowed, redfishBootTargets[b.Device]) {
			return fmt.Errorf("%w: system %s allows boot targets %v, not %s", ErrUnsupported, sys.ID, allowed, redfishBootTargets[b.Device])
		}
		if _, ok := boot["BootSourceOverrideMode"]; ok && sys.Boot.BootSourceOverrideMode == "" {
			// Firmware without the property rejects the whole PATCH.
			d.log.Debug("system has no BootSourceOverrideMode; leaving the boot mode to the firmware", "system", sys.ID)
			delete(boot, "BootSourceOverrideMode")
		}
		return d.patchBoot(c, sys, boot)
	})
}

// ClearBootDevice disables a pending boot source override.
func (d *Redfish) ClearBootDevice(ctx context.Context) error {
	return d.with(ctx, "clear boot device", func(c *gofish.APIClient, sys *schemas.ComputerSystem) error {
		return d.patchBoot(c, sys, map[string]any{"BootSourceOverrideEnabled": schemas.DisabledBootSourceOverrideEnabled})
	})
}

func (d *Redfish) patchBoot(c *gofish.APIClient, sys *schemas.ComputerSystem, boot map[string]any) error {
	payload := map[string]any{"Boot": boot}
	hdr := map[string]string{}
	if d.ifMatch && sys.ODataEtag != "" {
		hdr["If-Match"] = sys.ODataEtag
	}
	resp, err := c.PatchWithHeaders(sys.ODataID, payload, hdr)
	schemas.DeferredCleanupHTTPResponse(resp)
	if err == nil {
		return nil
	}
	sysErr := d.classify(err)
	settings := redfishSettingsURI(sys.RawData)
	if settings == "" || strings.EqualFold(strings.TrimRight(settings, "/"), strings.TrimRight(sys.ODataID, "/")) ||
		errors.Is(sysErr, ErrAuth) || Retryable(sysErr) {
		return fmt.Errorf("PATCH %s: %w", sys.ODataID, sysErr)
	}
	d.log.Debug("System refused the boot override; using its @Redfish.Settings object", "settings", settings, "err", err)
	hdr = map[string]string{}
	if d.ifMatch {
		tag, err := redfishETag(c, settings)
		if err != nil {
			return fmt.Errorf("PATCH %s: %w; GET %s: %w", sys.ODataID, sysErr, settings, d.classify(err))
		}
		if tag != "" {
			hdr["If-Match"] = tag
		}
	}
	resp, err = c.PatchWithHeaders(settings, payload, hdr)
	schemas.DeferredCleanupHTTPResponse(resp)
	if err != nil {
		return fmt.Errorf("PATCH %s: %w; PATCH %s: %w", sys.ODataID, sysErr, settings, d.classify(err))
	}
	return nil
}

func redfishHasReset(raw []byte) bool {
	var doc struct {
		Actions struct {
			Reset struct {
				Target string `json:"target"`
			} `json:"#ComputerSystem.Reset"`
		}
	}
	_ = json.Unmarshal(raw, &doc)
	return doc.Actions.Reset.Target != ""
}

func redfishSettingsURI(raw []byte) string {
	var doc struct {
		Settings struct {
			SettingsObject struct {
				ID string `json:"@odata.id"`
			}
		} `json:"@Redfish.Settings"`
	}
	_ = json.Unmarshal(raw, &doc)
	return doc.Settings.SettingsObject.ID
}

func redfishETag(c *gofish.APIClient, uri string) (string, error) {
	resp, err := c.Get(uri)
	if err != nil {
		return "", err
	}
	defer schemas.DeferredCleanupHTTPResponse(resp)
	if tag := resp.Header.Get("ETag"); tag != "" {
		return tag, nil
	}
	var doc struct {
		ETag string `json:"@odata.etag"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc)
	return doc.ETag, nil
}

// with connects, finds the system, runs fn and always logs out.
func (d *Redfish) with(ctx context.Context, what string, fn func(*gofish.APIClient, *schemas.ComputerSystem) error) error {
	c, err := d.connect(ctx)
	if err != nil {
		return fmt.Errorf("redfish %s: %s: %w", d.endpoint, what, err)
	}
	defer c.Logout()
	sys, err := d.selectSystem(c)
	if err != nil {
		return fmt.Errorf("redfish %s: %s: %w", d.endpoint, what, err)
	}
	if err := fn(c, sys); err != nil {
		return fmt.Errorf("redfish %s: %s: %w", d.endpoint, what, err)
	}
	return nil
}

// connect fetches the service root and authenticates. Session login
// falls back to basic authentication only where the service does not do
// sessions (no session link and the specification's URI refuses, or 404,
// 405, 501 from the session collection, or a session without a token),
// never after a refused password: a second failed login only brings an
// account lockout closer.
func (d *Redfish) connect(ctx context.Context) (*gofish.APIClient, error) {
	// ReuseConnections keeps one TCP (and TLS) connection for the whole
	// operation; Logout closes it. BMC CPUs are slow at TLS handshakes.
	cfg := gofish.ClientConfig{Endpoint: d.endpoint, Username: d.user, Password: d.pass, BasicAuth: d.basic,
		HTTPClient: d.httpc, NoModifyTransport: true, ReuseConnections: true}
	basic := func(why error) (*gofish.APIClient, error) {
		cfg.BasicAuth, cfg.Session = true, nil
		cfg.Username, cfg.Password = d.user, d.pass
		c, err := gofish.ConnectContext(ctx, cfg)
		if err != nil {
			return nil, d.classify(err)
		}
		d.log.Debug("BMC does not do session login; using basic authentication", "why", why)
		return c, nil
	}
	c, err := gofish.ConnectContext(ctx, cfg)
	if err == nil {
		if s, serr := c.GetSession(); !d.basic && serr == nil && s.Token == "" {
			// Created a session but got no X-Auth-Token (emulators answer
			// 204 with only a Location): delete it and use basic.
			d.deleteSession(s.ID, "")
			return basic(errors.New("session created without X-Auth-Token"))
		}
		return c, nil
	}
	if d.basic {
		return nil, d.classify(err)
	}
	var se *schemas.Error
	if errors.As(err, &se) && redfishNoSessions[se.HTTPReturnedStatusCode] {
		return basic(err)
	}
	if !strings.Contains(err.Error(), "no target provided") {
		return nil, d.classify(err)
	}
	// The service root has no Links.Sessions: create the session where
	// the specification puts it and hand gofish the token.
	token, loc, serr := d.createSession(ctx)
	switch {
	case serr != nil && Retryable(serr):
		return nil, serr
	case serr != nil:
		// No session service here (some emulators guard every path but
		// the service root with basic authentication, so this is often a 401).
		return basic(serr)
	case token == "":
		d.deleteSession(loc, "")
		return basic(errors.New("session created without X-Auth-Token"))
	}
	cfg.Username, cfg.Password = "", ""
	cfg.Session = &gofish.Session{ID: loc, Token: token}
	c, err = gofish.ConnectContext(ctx, cfg)
	if err != nil {
		d.deleteSession(loc, token)
		return nil, d.classify(err)
	}
	return c, nil
}

// redfishNoSessions are the answers of a session collection that does not
// exist or does not take POST.
var redfishNoSessions = map[int]bool{
	http.StatusNotFound: true, http.StatusMethodNotAllowed: true, http.StatusNotImplemented: true,
}

func (d *Redfish) createSession(ctx context.Context) (token, location string, err error) {
	body, _ := json.Marshal(map[string]string{"UserName": d.user, "Password": d.pass})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint+dmtfSessionsURI, bytes.NewReader(body))
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := d.httpc.Do(req)
	if err != nil {
		return "", "", d.classify(err)
	}
	defer resp.Body.Close()
	payload, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", "", d.classify(schemas.ConstructError(resp.StatusCode, payload))
	}
	token, location = resp.Header.Get("X-Auth-Token"), resp.Header.Get("Location")
	if i := strings.Index(location, "/redfish/"); i > 0 {
		location = location[i:]
	}
	return token, location, nil
}

func (d *Redfish) deleteSession(location, token string) {
	if location == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.httpc.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, d.endpoint+location, nil)
	if err != nil {
		return
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	} else {
		req.SetBasicAuth(d.user, d.pass)
	}
	if resp, err := d.httpc.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

func (d *Redfish) selectSystem(c *gofish.APIClient) (*schemas.ComputerSystem, error) {
	get := func(uri string) (*schemas.ComputerSystem, error) {
		sys, err := schemas.GetComputerSystem(c, uri)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", uri, d.classify(err))
		}
		return sys, nil
	}
	if strings.HasPrefix(d.system, "/redfish/") {
		return get(d.system)
	}
	// The collection is read directly rather than with Service.Systems,
	// which flattens member errors into text and loses the HTTP status.
	resp, err := c.Get(dmtfSystemsURI)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", dmtfSystemsURI, d.classify(err))
	}
	var coll struct {
		Members []struct {
			ID string `json:"@odata.id"`
		}
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&coll)
	schemas.DeferredCleanupHTTPResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: malformed collection: %v", ErrRejected, dmtfSystemsURI, err)
	}
	members := make([]string, 0, len(coll.Members))
	for _, m := range coll.Members {
		members = append(members, m.ID)
		last := m.ID[strings.LastIndex(strings.TrimRight(m.ID, "/"), "/")+1:]
		if d.system != "" && strings.EqualFold(strings.TrimRight(last, "/"), d.system) {
			return get(m.ID)
		}
	}
	switch {
	case len(members) == 1 && d.system == "":
		return get(members[0])
	case len(members) == 0:
		return nil, fmt.Errorf("%w: the BMC lists no ComputerSystem under %s", ErrUnsupported, dmtfSystemsURI)
	case d.system == "":
		return nil, fmt.Errorf("%w: redfish driver: the BMC manages %d systems (%s); set the system parameter to one of them",
			ErrConfig, len(members), strings.Join(members, ", "))
	}
	// Member URIs need not end in the Id: look at the documents.
	for _, m := range members {
		sys, err := get(m)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(sys.ID, d.system) || strings.EqualFold(sys.Name, d.system) {
			return sys, nil
		}
	}
	return nil, fmt.Errorf("%w: redfish driver: parameter \"system\" = %q matches none of the BMC's systems (%s)",
		ErrConfig, d.system, strings.Join(members, ", "))
}

// classify maps gofish and transport errors to the package's sentinels.
func (d *Redfish) classify(err error) error {
	var se *schemas.Error
	if errors.As(err, &se) {
		code := se.HTTPReturnedStatusCode
		switch {
		case code == http.StatusUnauthorized:
			return fmt.Errorf("%w: HTTP 401 %s; check the username and password parameters", ErrAuth, redfishMessage(se))
		case code == http.StatusForbidden:
			return fmt.Errorf("%w: HTTP 403 %s; the account needs the ConfigureComponents privilege", ErrAuth, redfishMessage(se))
		case code == http.StatusNotFound:
			return fmt.Errorf("%w: HTTP 404 %s; check the endpoint and system parameters", ErrConfig, redfishMessage(se))
		case code == http.StatusPreconditionFailed && d.ifMatch:
			return fmt.Errorf("%w: HTTP 412 %s; if this firmware breaks on If-Match, set use_if_match=false", ErrRejected, redfishMessage(se))
		case code == http.StatusPreconditionRequired && !d.ifMatch:
			return fmt.Errorf("%w: HTTP 428 %s; this BMC requires If-Match, set use_if_match=true", ErrConfig, redfishMessage(se))
		case code == http.StatusTooManyRequests || code >= 500:
			return fmt.Errorf("%w: HTTP %d %s", ErrBusy, code, redfishMessage(se))
		case code >= 400:
			return fmt.Errorf("%w: HTTP %d %s", ErrRejected, code, redfishMessage(se))
		}
		return err
	}
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	if errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || errors.As(err, &cve) {
		return fmt.Errorf("%w: TLS certificate of %s not trusted (%v); set ca_cert to the BMC's certificate, or insecure=true to skip verification",
			ErrConfig, d.endpoint, err)
	}
	return classifyNetErr(err)
}

func redfishMessage(se *schemas.Error) string {
	msg := se.Message
	if msg == "" && len(se.ExtendedInfos) > 0 {
		msg = se.ExtendedInfos[0].Message
	}
	if se.Code != "" {
		return fmt.Sprintf("%s: %s", se.Code, msg)
	}
	return msg
}
