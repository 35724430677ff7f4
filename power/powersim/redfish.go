package powersim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RedfishBMC is a simulated Redfish service on a loopback TCP port. It
// serves the documents a real BMC serves for power control, shaped after
// the DMTF schemas: the service root (with Links.Sessions), the
// SessionService with X-Auth-Token sessions, a Systems collection, each
// ComputerSystem with PowerState, Boot (with
// BootSourceOverrideTarget@Redfish.AllowableValues) and the
// #ComputerSystem.Reset action (with ResetType@Redfish.AllowableValues or a
// @Redfish.ActionInfo), ETags on every resource, and optionally a
// @Redfish.Settings object for boot changes. Vendor documents (a
// ComputerSystem from an iDRAC, iLO, ...) can replace the generated one.
type RedfishBMC struct {
	// Machine is the machine behind the first system (see SystemMachine).
	*Machine

	ln      net.Listener
	srv     *http.Server
	url     string
	certPEM []byte
	done    chan struct{}
	closing chan struct{}
	owned   []*Machine

	mu          sync.Mutex
	user, pass  string
	systems     []*rfSystem
	docs        map[string][]byte
	sessions    map[string]string // token -> session id
	nextSession int
	created     int
	maxSessions int
	faults      Faults
	quirks      rfQuirks
	requests    []string
	closed      bool
}

type rfQuirks struct {
	settingsBoot   bool // PATCH of Boot on the System is refused; use @Redfish.Settings
	rejectIfMatch  bool // any If-Match header fails with 412 (firmware with broken ETags)
	requireIfMatch bool // PATCH without If-Match fails with 428
	noSessionsLink bool // service root lacks Links.Sessions
	noSessions     bool // session login answers 405: basic authentication only
	basicOnly      bool // no SessionService at all; every path but the root needs basic auth
	tokenless      bool // session login answers 204 with a Location and no X-Auth-Token
	vendor         string
}

type rfSystem struct {
	id, uri     string
	machine     *Machine
	template    map[string]any
	resetTarget string
	allowable   []string // empty: see ActionInfo or accept all
	settingsURI string
	pending     *Boot // boot override waiting in the settings object
	etag        int
}

type redfishConfig struct {
	addr       string
	user, pass string
	tls        bool
	systems    int
	machines   []*Machine
	template   []byte
	docs       [][]byte
	maxSess    int
	quirks     rfQuirks
}

// RedfishOption configures [NewRedfish].
type RedfishOption func(*redfishConfig)

// WithRedfishAddr sets the listen address (default "127.0.0.1:0").
func WithRedfishAddr(addr string) RedfishOption { return func(c *redfishConfig) { c.addr = addr } }

// WithRedfishCredentials sets the account (default admin/password).
func WithRedfishCredentials(user, pass string) RedfishOption {
	return func(c *redfishConfig) { c.user, c.pass = user, pass }
}

// WithRedfishTLS serves HTTPS with a fresh self-signed certificate for
// 127.0.0.1 (see [RedfishBMC.CertPEM]).
func WithRedfishTLS() RedfishOption { return func(c *redfishConfig) { c.tls = true } }

// WithRedfishSystems serves n ComputerSystems (ids 1..n), each with its own machine.
func WithRedfishSystems(n int) RedfishOption { return func(c *redfishConfig) { c.systems = n } }

// WithRedfishMachine puts an existing machine behind the (first) system.
// The BMC does not stop it on Close.
func WithRedfishMachine(m *Machine) RedfishOption {
	return func(c *redfishConfig) { c.machines = append(c.machines, m) }
}

// WithRedfishSystemDocument uses a vendor's ComputerSystem document (JSON)
// as the template of the single system: its @odata.id, Id, reset target,
// allowable values, @Redfish.Settings and OEM fields are served as given;
// PowerState, the Boot override properties and the ETag follow the machine.
func WithRedfishSystemDocument(doc []byte) RedfishOption {
	return func(c *redfishConfig) { c.template = doc }
}

// WithRedfishDocuments serves extra documents (an ActionInfo, a settings
// object) at their @odata.id.
func WithRedfishDocuments(docs ...[]byte) RedfishOption {
	return func(c *redfishConfig) { c.docs = append(c.docs, docs...) }
}

// WithRedfishMaxSessions sets the session limit (default 16).
func WithRedfishMaxSessions(n int) RedfishOption { return func(c *redfishConfig) { c.maxSess = n } }

// WithRedfishSettingsBoot makes the System refuse Boot changes (400
// PropertyNotWritable) and take them through its @Redfish.Settings object,
// applied at the next reset, as some firmware does.
func WithRedfishSettingsBoot() RedfishOption {
	return func(c *redfishConfig) { c.quirks.settingsBoot = true }
}

// WithRedfishRejectIfMatch makes every request carrying If-Match fail with
// 412, like firmware whose ETags do not round-trip.
func WithRedfishRejectIfMatch() RedfishOption {
	return func(c *redfishConfig) { c.quirks.rejectIfMatch = true }
}

// WithRedfishRequireIfMatch makes PATCH without If-Match fail with 428.
func WithRedfishRequireIfMatch() RedfishOption {
	return func(c *redfishConfig) { c.quirks.requireIfMatch = true }
}

// WithRedfishNoSessionsLink leaves Links.Sessions out of the service root
// (older firmware); clients must find /redfish/v1/SessionService/Sessions.
func WithRedfishNoSessionsLink() RedfishOption {
	return func(c *redfishConfig) { c.quirks.noSessionsLink = true }
}

// WithRedfishNoSessions makes session login fail with 405 Method Not
// Allowed, like services that only take basic authentication.
func WithRedfishNoSessions() RedfishOption {
	return func(c *redfishConfig) { c.quirks.noSessions = true }
}

// WithRedfishBasicOnly serves no SessionService (not in the service root,
// and its URIs need basic authentication like every path but the root), as
// emulators guarded by an htpasswd file do.
func WithRedfishBasicOnly() RedfishOption {
	return func(c *redfishConfig) { c.quirks.basicOnly = true }
}

// WithRedfishTokenlessSessions makes session login answer 204 No Content
// with a Location but no X-Auth-Token, as mockup servers that treat the
// session collection like any other collection do.
func WithRedfishTokenlessSessions() RedfishOption {
	return func(c *redfishConfig) { c.quirks.tokenless = true }
}

// WithRedfishVendor sets the service root's Vendor.
func WithRedfishVendor(v string) RedfishOption { return func(c *redfishConfig) { c.quirks.vendor = v } }

// NewRedfish starts a simulated Redfish BMC. Close it when done.
func NewRedfish(opts ...RedfishOption) (*RedfishBMC, error) {
	cfg := redfishConfig{addr: "127.0.0.1:0", user: "admin", pass: "password", systems: 1, maxSess: 16}
	for _, o := range opts {
		o(&cfg)
	}
	s := &RedfishBMC{
		user: cfg.user, pass: cfg.pass, docs: map[string][]byte{}, sessions: map[string]string{},
		maxSessions: cfg.maxSess, quirks: cfg.quirks, done: make(chan struct{}), closing: make(chan struct{}),
	}
	if cfg.systems < 1 {
		cfg.systems = 1
	}
	for i := range cfg.systems {
		var m *Machine
		if i < len(cfg.machines) {
			m = cfg.machines[i]
		} else {
			m = NewMachine()
			s.owned = append(s.owned, m)
		}
		sys, err := newRFSystem(strconv.Itoa(i+1), m, cfg.template, cfg.quirks.settingsBoot)
		if err != nil {
			return nil, err
		}
		s.systems = append(s.systems, sys)
	}
	for _, d := range cfg.docs {
		var hdr struct {
			ID string `json:"@odata.id"`
		}
		if err := json.Unmarshal(d, &hdr); err != nil || hdr.ID == "" {
			return nil, fmt.Errorf("powersim: extra Redfish document has no @odata.id: %v", err)
		}
		s.docs[normPath(hdr.ID)] = d
	}

	s.Machine = s.systems[0].machine
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("powersim: listen Redfish on %s: %w", cfg.addr, err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	scheme := "http"
	if cfg.tls {
		cert, pemBytes, err := selfSigned(ln.Addr().(*net.TCPAddr).IP)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		s.certPEM = pemBytes
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String()
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func newRFSystem(id string, m *Machine, template []byte, settingsBoot bool) (*rfSystem, error) {
	sys := &rfSystem{id: id, uri: "/redfish/v1/Systems/" + id, machine: m, etag: 1}
	if template != nil {
		if err := json.Unmarshal(template, &sys.template); err != nil {
			return nil, fmt.Errorf("powersim: ComputerSystem document: %w", err)
		}
		if u, _ := sys.template["@odata.id"].(string); u != "" {
			sys.uri = u
		}
		if v, _ := sys.template["Id"].(string); v != "" {
			sys.id = v
		}
	} else {
		sys.template = defaultSystemTemplate()
	}
	reset, _ := dig(sys.template, "Actions", "#ComputerSystem.Reset").(map[string]any)
	if reset == nil {
		reset = map[string]any{}
		actions, _ := sys.template["Actions"].(map[string]any)
		if actions == nil {
			actions = map[string]any{}
			sys.template["Actions"] = actions
		}
		actions["#ComputerSystem.Reset"] = reset
	}
	if t, _ := reset["target"].(string); t != "" {
		sys.resetTarget = t
	} else {
		sys.resetTarget = strings.TrimSuffix(sys.uri, "/") + "/Actions/ComputerSystem.Reset"
		reset["target"] = sys.resetTarget
	}
	if vals, ok := reset["ResetType@Redfish.AllowableValues"].([]any); ok {
		for _, v := range vals {
			if s, ok := v.(string); ok {
				sys.allowable = append(sys.allowable, s)
			}
		}
	}
	if so, _ := dig(sys.template, "@Redfish.Settings", "SettingsObject", "@odata.id").(string); so != "" {
		sys.settingsURI = so
	} else if settingsBoot {
		sys.settingsURI = strings.TrimSuffix(sys.uri, "/") + "/Settings"
		sys.template["@Redfish.Settings"] = map[string]any{
			"@odata.type":         "#Settings.v1_3_5.Settings",
			"SettingsObject":      map[string]any{"@odata.id": sys.settingsURI},
			"SupportedApplyTimes": []any{"OnReset"},
		}
	}
	return sys, nil
}

func defaultSystemTemplate() map[string]any {
	return map[string]any{
		"@odata.type":  "#ComputerSystem.v1_20_0.ComputerSystem",
		"Name":         "Simulated System",
		"SystemType":   "Physical",
		"Manufacturer": "ironkit",
		"Model":        "powersim",
		"Status":       map[string]any{"State": "Enabled", "Health": "OK"},
		"Boot": map[string]any{
			"BootSourceOverrideEnabled":                        "Disabled",
			"BootSourceOverrideTarget":                         "None",
			"BootSourceOverrideMode":                           "UEFI",
			"BootSourceOverrideTarget@Redfish.AllowableValues": []any{"None", "Pxe", "Hdd", "Cd", "Usb", "BiosSetup", "UefiHttp"},
		},
		"Actions": map[string]any{
			"#ComputerSystem.Reset": map[string]any{
				"ResetType@Redfish.AllowableValues": []any{"On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "PowerCycle", "Nmi"},
			},
		},
	}
}

// URL returns the base URL, e.g. "http://127.0.0.1:41234".
func (s *RedfishBMC) URL() string { return s.url }

// Addr returns "127.0.0.1:port".
func (s *RedfishBMC) Addr() string { return s.ln.Addr().String() }

// CertPEM returns the PEM certificate of a TLS simulator (nil for HTTP).
func (s *RedfishBMC) CertPEM() []byte { return s.certPEM }

// SystemMachine returns the machine behind system i (0-based).
func (s *RedfishBMC) SystemMachine(i int) *Machine { return s.systems[i].machine }

// DriverName is the power driver for this BMC: "redfish".
func (s *RedfishBMC) DriverName() string { return "redfish" }

// DriverParams are the parameters the redfish driver needs for this BMC.
// For a TLS simulator they carry the certificate as ca_cert.
func (s *RedfishBMC) DriverParams() map[string]string {
	p := map[string]string{"endpoint": s.url, "username": s.user, "password": s.pass}
	if s.certPEM != nil {
		p["ca_cert"] = string(s.certPEM)
	}
	return p
}

// SetFaults replaces the injected faults.
func (s *RedfishBMC) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	for _, sys := range s.systems {
		sys.machine.SetStuck(f.StuckPower)
	}
}

// OpenSessions returns how many sessions are open now.
func (s *RedfishBMC) OpenSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// SessionsCreated returns how many sessions were ever created.
func (s *RedfishBMC) SessionsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created
}

// Requests returns the requests served so far as "METHOD /path", with
// " If-Match" appended when the request carried that header.
func (s *RedfishBMC) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// PendingSettingsBoot returns the boot override waiting in system 0's
// settings object, if any.
func (s *RedfishBMC) PendingSettingsBoot() (Boot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.systems[0].pending; p != nil {
		return *p, true
	}
	return Boot{}, false
}

// Close stops the server; hanging requests (Timeout fault) end at once.
func (s *RedfishBMC) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	err := s.srv.Close()
	<-s.done
	for _, m := range s.owned {
		m.Stop()
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ServeHTTP routes a Redfish request.
func (s *RedfishBMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := normPath(r.URL.Path)
	s.mu.Lock()
	rec := r.Method + " " + path
	if r.Header.Get("If-Match") != "" {
		rec += " If-Match"
	}
	s.requests = append(s.requests, rec)
	timeout := s.faults.Timeout
	busy := s.faults.DropNext > 0
	if busy {
		s.faults.DropNext--
	}
	s.mu.Unlock()

	if timeout {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	if busy {
		w.Header().Set("Retry-After", "1")
		rfError(w, http.StatusServiceUnavailable, "Base.1.16.ServiceTemporarilyUnavailable", "The service is temporarily unavailable. Retry in 1 seconds.")
		return
	}
	w.Header().Set("OData-Version", "4.0")

	switch {
	case path == "/redfish" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"v1": "/redfish/v1/"}, "")
		return
	case path == "/redfish/v1" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.serviceRoot(), "")
		return
	case path == "/redfish/v1/sessionservice/sessions" && r.Method == http.MethodPost && !s.quirks.basicOnly:
		s.createSession(w, r)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="powersim"`)
		rfError(w, http.StatusUnauthorized, "Base.1.16.NoValidSession", "There is no valid session established with the implementation.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quirks.basicOnly && strings.HasPrefix(path, "/redfish/v1/sessionservice") {
		rfError(w, http.StatusNotFound, "Base.1.16.ResourceNotFound", "The requested resource was not found.")
		return
	}
	switch {
	case path == "/redfish/v1/sessionservice" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.id": "/redfish/v1/SessionService", "@odata.type": "#SessionService.v1_1_9.SessionService",
			"Id": "SessionService", "Name": "Session Service", "ServiceEnabled": true, "SessionTimeout": 1800,
			"Sessions": map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions"},
		}, "")
	case path == "/redfish/v1/sessionservice/sessions" && r.Method == http.MethodGet:
		var members []any
		for _, id := range s.sessions {
			members = append(members, map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions/" + id})
		}
		writeJSON(w, http.StatusOK, collection("/redfish/v1/SessionService/Sessions", "#SessionCollection.SessionCollection", "Session Collection", members), "")
	case strings.HasPrefix(path, "/redfish/v1/sessionservice/sessions/") && r.Method == http.MethodDelete:
		id := path[len("/redfish/v1/sessionservice/sessions/"):]
		for tok, sid := range s.sessions {
			if strings.EqualFold(sid, id) {
				delete(s.sessions, tok)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		rfError(w, http.StatusNotFound, "Base.1.16.ResourceNotFound", "The requested session was not found.")
	case path == "/redfish/v1/systems" && r.Method == http.MethodGet:
		var members []any
		for _, sys := range s.systems {
			members = append(members, map[string]any{"@odata.id": sys.uri})
		}
		writeJSON(w, http.StatusOK, collection("/redfish/v1/Systems", "#ComputerSystemCollection.ComputerSystemCollection", "Computer System Collection", members), "")
	default:
		s.routeSystem(w, r, path)
	}
}

func (s *RedfishBMC) routeSystem(w http.ResponseWriter, r *http.Request, path string) {
	for _, sys := range s.systems {
		switch {
		case path == normPath(sys.uri):
			switch r.Method {
			case http.MethodGet:
				writeJSON(w, http.StatusOK, s.systemDoc(sys), etag(sys.etag))
			case http.MethodPatch:
				s.patchBoot(w, r, sys, false)
			default:
				w.Header().Set("Allow", "GET, PATCH")
				rfError(w, http.StatusMethodNotAllowed, "Base.1.16.OperationNotAllowed", "The HTTP method is not allowed for this resource.")
			}
			return
		case sys.settingsURI != "" && path == normPath(sys.settingsURI) && !s.hasDoc(path):
			switch r.Method {
			case http.MethodGet:
				writeJSON(w, http.StatusOK, s.settingsDoc(sys), etag(sys.etag))
			case http.MethodPatch:
				s.patchBoot(w, r, sys, true)
			default:
				rfError(w, http.StatusMethodNotAllowed, "Base.1.16.OperationNotAllowed", "The HTTP method is not allowed for this resource.")
			}
			return
		case path == normPath(sys.resetTarget) && r.Method == http.MethodPost:
			s.reset(w, r, sys)
			return
		}
	}
	if d, ok := s.docs[path]; ok && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(d)
		return
	}
	rfError(w, http.StatusNotFound, "Base.1.16.ResourceNotFound", "The requested resource of type "+path+" was not found.")
}

func (s *RedfishBMC) hasDoc(path string) bool { _, ok := s.docs[path]; return ok }

func (s *RedfishBMC) serviceRoot() map[string]any {
	root := map[string]any{
		"@odata.type":    "#ServiceRoot.v1_15_0.ServiceRoot",
		"@odata.id":      "/redfish/v1",
		"Id":             "RootService",
		"Name":           "Root Service",
		"RedfishVersion": "1.15.0",
		"UUID":           "92384634-2938-2342-8820-489239905423",
		"Systems":        map[string]any{"@odata.id": "/redfish/v1/Systems"},
		"SessionService": map[string]any{"@odata.id": "/redfish/v1/SessionService"},
	}
	if s.quirks.vendor != "" {
		root["Vendor"] = s.quirks.vendor
	}
	if !s.quirks.noSessionsLink && !s.quirks.basicOnly {
		root["Links"] = map[string]any{"Sessions": map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions"}}
	}
	if s.quirks.basicOnly {
		delete(root, "SessionService")
	}
	return root
}

func (s *RedfishBMC) createSession(w http.ResponseWriter, r *http.Request) {
	if s.quirks.noSessions {
		w.Header().Set("Allow", "GET")
		rfError(w, http.StatusMethodNotAllowed, "Base.1.16.OperationNotAllowed", "Sessions are not supported; use basic authentication.")
		return
	}
	var body struct {
		UserName string
		Password string
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		rfError(w, http.StatusBadRequest, "Base.1.16.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.BadCredentials || !s.credentialsOK(body.UserName, body.Password) {
		rfError(w, http.StatusUnauthorized, "Base.1.16.NoValidSession", "Invalid username or password.")
		return
	}
	if s.faults.SessionsExhausted || len(s.sessions) >= s.maxSessions {
		rfError(w, http.StatusServiceUnavailable, "Base.1.16.SessionLimitExceeded", "The session establishment failed due to the number of simultaneous sessions exceeding the limit of the implementation.")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	s.nextSession++
	s.created++
	id := strconv.Itoa(s.nextSession)
	s.sessions[token] = id
	loc := "/redfish/v1/SessionService/Sessions/" + id
	w.Header().Set("Location", loc)
	if s.quirks.tokenless {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("X-Auth-Token", token)
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.id": loc, "@odata.type": "#Session.v1_7_0.Session", "Id": id, "Name": "User Session",
		"UserName": body.UserName,
	}, "")
}

func (s *RedfishBMC) credentialsOK(user, pass string) bool {
	return subtle.ConstantTimeCompare([]byte(user), []byte(s.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.pass)) == 1
}

func (s *RedfishBMC) authorized(r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		_, ok := s.sessions[tok]
		return ok
	}
	if u, p, ok := r.BasicAuth(); ok {
		return !s.faults.BadCredentials && s.credentialsOK(u, p)
	}
	return false
}

// systemDoc renders a system: the template with live state laid over it.
func (s *RedfishBMC) systemDoc(sys *rfSystem) map[string]any {
	doc := deepCopy(sys.template)
	doc["@odata.id"] = sys.uri
	doc["Id"] = sys.id
	doc["@odata.etag"] = etag(sys.etag)
	if sys.machine.PoweredOn() {
		doc["PowerState"] = "On"
	} else {
		doc["PowerState"] = "Off"
	}
	boot, _ := doc["Boot"].(map[string]any)
	if boot == nil {
		boot = map[string]any{}
		doc["Boot"] = boot
	}
	setBootProps(boot, sys.machine.BootOverride())
	return doc
}

func (s *RedfishBMC) settingsDoc(sys *rfSystem) map[string]any {
	boot := map[string]any{}
	if sys.pending != nil {
		setBootProps(boot, *sys.pending)
	}
	return map[string]any{
		"@odata.id": sys.settingsURI, "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
		"Id": "Settings", "Name": "Pending settings", "@odata.etag": etag(sys.etag), "Boot": boot,
	}
}

func setBootProps(boot map[string]any, b Boot) {
	switch b.Device {
	case DevicePXE:
		boot["BootSourceOverrideTarget"] = "Pxe"
	case DeviceDisk:
		boot["BootSourceOverrideTarget"] = "Hdd"
	default:
		boot["BootSourceOverrideTarget"] = "None"
	}
	switch {
	case b.Device == DeviceNone:
		boot["BootSourceOverrideEnabled"] = "Disabled"
	case b.Persistent:
		boot["BootSourceOverrideEnabled"] = "Continuous"
	default:
		boot["BootSourceOverrideEnabled"] = "Once"
	}
	if b.Device != DeviceNone {
		if b.UEFI {
			boot["BootSourceOverrideMode"] = "UEFI"
		} else if _, has := boot["BootSourceOverrideMode"]; has {
			boot["BootSourceOverrideMode"] = "Legacy"
		}
	}
}

// checkIfMatch applies the ETag rules and quirks; it writes the error and
// returns false when the request must stop.
func (s *RedfishBMC) checkIfMatch(w http.ResponseWriter, r *http.Request, sys *rfSystem, patch bool) bool {
	im := r.Header.Get("If-Match")
	switch {
	case im != "" && s.quirks.rejectIfMatch:
		rfError(w, http.StatusPreconditionFailed, "Base.1.16.PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource.")
		return false
	case im == "" && patch && s.quirks.requireIfMatch:
		rfError(w, http.StatusPreconditionRequired, "Base.1.16.PreconditionRequired", "A precondition header or annotation is required to change this resource.")
		return false
	case im != "" && im != "*" && strings.Trim(strings.TrimPrefix(im, "W/"), `"`) != strings.Trim(strings.TrimPrefix(etag(sys.etag), "W/"), `"`):
		rfError(w, http.StatusPreconditionFailed, "Base.1.16.PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource.")
		return false
	}
	return true
}

func (s *RedfishBMC) patchBoot(w http.ResponseWriter, r *http.Request, sys *rfSystem, settings bool) {
	if !s.checkIfMatch(w, r, sys, true) {
		return
	}
	var body struct {
		Boot *struct {
			BootSourceOverrideTarget  *string
			BootSourceOverrideEnabled *string
			BootSourceOverrideMode    *string
		}
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		rfError(w, http.StatusBadRequest, "Base.1.16.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if body.Boot == nil {
		rfError(w, http.StatusBadRequest, "Base.1.16.PropertyNotWritable", "Only the Boot property can be changed on this simulator.")
		return
	}
	if !settings && s.quirks.settingsBoot {
		rfError(w, http.StatusBadRequest, "Base.1.16.PropertyNotWritable", "The property Boot is a read-only property and cannot be assigned a value; use the @Redfish.Settings object.")
		return
	}
	cur := sys.machine.BootOverride()
	if settings && sys.pending != nil {
		cur = *sys.pending
	}
	next := cur
	if t := body.Boot.BootSourceOverrideTarget; t != nil {
		allowed := allowableTargets(sys.template)
		if len(allowed) > 0 && !slices.Contains(allowed, *t) {
			rfError(w, http.StatusBadRequest, "Base.1.16.PropertyValueNotInList", fmt.Sprintf("The value %q for the property BootSourceOverrideTarget is not in the list of acceptable values.", *t))
			return
		}
		switch *t {
		case "Pxe":
			next.Device = DevicePXE
		case "Hdd":
			next.Device = DeviceDisk
		case "None":
			next.Device = DeviceNone
		default:
			next.Device = strings.ToLower(*t)
		}
	}
	if e := body.Boot.BootSourceOverrideEnabled; e != nil {
		switch *e {
		case "Once":
			next.Persistent = false
		case "Continuous":
			next.Persistent = true
		case "Disabled":
			next = Boot{}
		default:
			rfError(w, http.StatusBadRequest, "Base.1.16.PropertyValueNotInList", fmt.Sprintf("The value %q for the property BootSourceOverrideEnabled is not in the list of acceptable values.", *e))
			return
		}
	}
	if m := body.Boot.BootSourceOverrideMode; m != nil {
		next.UEFI = *m == "UEFI"
	}
	if next.Device == DeviceNone {
		next = Boot{}
	}
	sys.etag++
	if settings {
		sys.pending = &next
	} else {
		sys.machine.SetBootOverride(next)
	}
	w.WriteHeader(http.StatusNoContent)
}

func allowableTargets(template map[string]any) []string {
	vals, _ := dig(template, "Boot", "BootSourceOverrideTarget@Redfish.AllowableValues").([]any)
	var out []string
	for _, v := range vals {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (s *RedfishBMC) allowedResetTypes(sys *rfSystem) []string {
	if len(sys.allowable) > 0 {
		return sys.allowable
	}
	ai, _ := dig(sys.template, "Actions", "#ComputerSystem.Reset", "@Redfish.ActionInfo").(string)
	doc, ok := s.docs[normPath(ai)]
	if !ok {
		return nil
	}
	var info struct {
		Parameters []struct {
			Name            string
			AllowableValues []string
		}
	}
	_ = json.Unmarshal(doc, &info)
	for _, p := range info.Parameters {
		if p.Name == "ResetType" {
			return p.AllowableValues
		}
	}
	return nil
}

func (s *RedfishBMC) reset(w http.ResponseWriter, r *http.Request, sys *rfSystem) {
	if !s.checkIfMatch(w, r, sys, false) {
		return
	}
	var body struct{ ResetType string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.ResetType == "" {
		rfError(w, http.StatusBadRequest, "Base.1.16.ActionParameterMissing", "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.")
		return
	}
	if allowed := s.allowedResetTypes(sys); len(allowed) > 0 && !slices.Contains(allowed, body.ResetType) {
		rfError(w, http.StatusBadRequest, "Base.1.16.ActionParameterNotSupported", fmt.Sprintf("The parameter ResetType=%s for the action ComputerSystem.Reset is not supported by the target resource.", body.ResetType))
		return
	}
	m := sys.machine
	on := m.PoweredOn()
	applyPending := func() {
		if sys.pending != nil {
			m.SetBootOverride(*sys.pending)
			sys.pending = nil
		}
	}
	switch body.ResetType {
	case "On", "ForceOn":
		applyPending()
		m.PowerOn()
	case "ForceOff", "GracefulShutdown":
		m.PowerOff()
	case "ForceRestart", "GracefulRestart":
		if !on {
			rfError(w, http.StatusConflict, "Base.1.16.ActionNotSupported", "Unable to perform "+body.ResetType+" because the server is powered off.")
			return
		}
		applyPending()
		m.Reset()
	case "PowerCycle":
		applyPending()
		if on {
			m.PowerCycle()
		} else {
			m.PowerOn()
		}
	case "PushPowerButton":
		if on {
			m.PowerOff()
		} else {
			applyPending()
			m.PowerOn()
		}
	case "Nmi":
	default:
		rfError(w, http.StatusBadRequest, "Base.1.16.ActionParameterNotSupported", "ResetType "+body.ResetType+" is not supported.")
		return
	}
	sys.etag++
	w.WriteHeader(http.StatusNoContent)
}

func collection(id, typ, name string, members []any) map[string]any {
	if members == nil {
		members = []any{}
	}
	return map[string]any{"@odata.id": id, "@odata.type": typ, "Name": name,
		"Members": members, "Members@odata.count": len(members)}
}

func writeJSON(w http.ResponseWriter, code int, v any, tag string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if tag != "" {
		w.Header().Set("ETag", tag)
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func rfError(w http.ResponseWriter, code int, id, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": id, "message": msg,
		"@Message.ExtendedInfo": []any{map[string]any{
			"@odata.type": "#Message.v1_1_1.Message", "MessageId": id, "Message": msg, "Severity": "Critical",
		}},
	}}, "")
}

func etag(n int) string { return fmt.Sprintf(`W/"%d"`, n) }

// normPath lowercases and drops a trailing slash: Redfish services differ
// in both (iLO serves /redfish/v1/systems/1/).
func normPath(p string) string {
	p = strings.ToLower(p)
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	return p
}

func dig(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func selfSigned(ip net.IP) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "powersim BMC"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{ip},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("powersim: self-signed certificate: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}
