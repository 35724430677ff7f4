package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/lifecycle"
)

var funcs = template.FuncMap{
	"bytes":  humanBytes,
	"mib":    func(n int64) string { return humanBytes(n << 20) },
	"time":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"join":   func(s []string) string { return strings.Join(s, ", ") },
	"action": actionTitle,
	"pct": func(done, total int64) int64 {
		if total <= 0 {
			return 0
		}
		return done * 100 / total
	},
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// actionTitles are the button labels of the actions the page offers, in
// the order shown.
var actionTitles = []struct{ action, title, help string }{
	{"commission", "Commission", "Power the machine on over PXE and take its hardware inventory."},
	{"allocate", "Allocate", "Take the machine from the Ready pool for yourself."},
	{"deploy", "Deploy", "Install an operating system on the machine."},
	{"release", "Release", "Give the machine back to the Ready pool (optionally erasing its disks)."},
	{"power-on", "Power on", "Power the machine on through its BMC."},
	{"power-off", "Power off", "Power the machine off through its BMC."},
	{"mark-broken", "Mark broken", "Take the machine out of service."},
	{"mark-fixed", "Mark fixed", "Return a broken machine to service."},
	{"abort", "Abort", "Abort the running operation."},
	{"test", "Test", "Run hardware tests."},
	{"rescue-mode", "Rescue mode", "Boot the ephemeral rescue environment."},
	{"exit-rescue-mode", "Exit rescue mode", "Leave the rescue environment."},
	{"lock", "Lock", "Prevent changes to the machine."},
	{"unlock", "Unlock", "Allow changes again."},
}

func actionTitle(a string) string {
	for _, t := range actionTitles {
		if t.action == a {
			return t.title
		}
	}
	if a == "" {
		return a
	}
	return strings.ToUpper(a[:1]) + strings.ReplaceAll(a[1:], "-", " ") // retire → Retire
}

func actionHelp(a string) string {
	for _, t := range actionTitles {
		if t.action == a {
			return t.help
		}
	}
	return ""
}

// offered are the actions the machine page offers: the lifecycle actions
// the API allows this user, plus power on/off.
func offered(m api.Machine, u api.User) []string {
	var out []string
	mine := u.Admin || (m.Owner != "" && m.Owner == u.Username)
	for _, t := range actionTitles {
		switch t.action {
		case "power-on", "power-off":
			if mine {
				out = append(out, t.action)
			}
		default:
			if slices.Contains(m.AllowedActions, lifecycle.Action(t.action)) && (mine || t.action == "allocate") {
				out = append(out, t.action)
			}
		}
	}
	return out
}

// explain turns an API error into a sentence for the page.
func explain(err error) string {
	var e *api.Error
	if !errors.As(err, &e) {
		return "The region could not do this: " + err.Error()
	}
	switch e.Code {
	case "invalid_transition", "locked", "admin_required":
		var allowed []string
		for _, a := range e.AllowedActions {
			allowed = append(allowed, actionTitle(string(a)))
		}
		msg := fmt.Sprintf("%s is not possible while the machine is %s.", actionTitle(string(e.Action)), e.MachineStatus.Title())
		if len(allowed) > 0 {
			msg += " Allowed now: " + strings.Join(allowed, ", ") + "."
		} else {
			msg += " No action is allowed in this state."
		}
		return msg + " (" + e.Message + ")"
	}
	msg := e.Message
	if e.Field != "" {
		msg = fmt.Sprintf("%s (field %s = %q)", msg, e.Field, e.Value)
	}
	return msg
}

func status(err error) int {
	var e *api.Error
	if errors.As(err, &e) && e.Status >= 400 {
		return e.Status
	}
	return http.StatusInternalServerError
}

type nav struct {
	Href, Title string
	Current     bool
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, s *session, code int, page string, data map[string]any) {
	t := h.pages[page]
	if t == nil {
		http.Error(w, "no template "+page, http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	if s != nil {
		data["User"] = s.user
		data["CSRF"] = s.csrf
		if f := h.takeFlash(s); f != "" {
			data["Flash"] = f
		}
		var ns []nav
		for _, n := range [][2]string{{"/ui/machines", "Machines"}, {"/ui/controllers", "Controllers"},
			{"/ui/networks", "Subnets and VLANs"}, {"/ui/boot-resources", "Boot resources"}} {
			ns = append(ns, nav{Href: n[0], Title: n[1], Current: strings.HasPrefix(r.URL.Path, n[0])})
		}
		data["Nav"] = ns
	}
	data["PollMS"] = h.cfg.PollInterval.Milliseconds()
	var buf strings.Builder
	if err := t.Execute(&buf, data); err != nil {
		h.log.Error("render", "page", page, "err", err)
		http.Error(w, "the page could not be rendered; the region's log has the details", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(buf.String()))
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/ui/machines"
	}
	return next
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if h.sessionOf(r) != nil {
		http.Redirect(w, r, "/ui/machines", http.StatusSeeOther)
		return
	}
	h.showLogin(w, r, http.StatusOK, "", "")
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, code int, username, msg string) {
	tok := randomToken()
	setCookie(w, r, LoginCSRFCookie, tok, 3600)
	h.render(w, r, nil, code, "login", map[string]any{"Title": "Log in", "LoginCSRF": tok,
		"Next": safeNext(r.FormValue("next")), "Username": username, "Error": msg})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(LoginCSRFCookie)
	if err != nil || c.Value == "" || r.PostFormValue("csrf") != c.Value {
		h.showLogin(w, r, http.StatusForbidden, r.PostFormValue("username"),
			"The login form expired or did not come from this page (CSRF protection). Enter your password again.")
		return
	}
	user := strings.TrimSpace(r.PostFormValue("username"))
	var reply api.LoginReply
	err = h.call(r.Context(), "", "POST", "/api/v1/login",
		api.Login{Username: user, Password: r.PostFormValue("password"), KeyName: "web session"}, &reply)
	if err != nil {
		msg := "Wrong username or password."
		if status(err) != http.StatusUnauthorized {
			msg = "Login failed: " + explain(err)
		}
		h.log.Info("web login failed", "username", user, "err", err)
		h.showLogin(w, r, status(err), user, msg)
		return
	}
	s := h.newSession(reply.APIKey.Key, reply.APIKey.ID, reply.User)
	setCookie(w, r, LoginCSRFCookie, "", -1)
	setCookie(w, r, SessionCookie, s.id, 0)
	h.log.Info("web login", "username", user)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := h.call(r.Context(), s.key, "DELETE", fmt.Sprintf("/api/v1/users/me/api-keys/%d", s.keyID), nil, nil); err != nil {
		h.log.Warn("web logout: revoke the session's API key", "username", s.user.Username, "err", err)
	}
	h.dropSession(s)
	setCookie(w, r, SessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

var macRE = regexp.MustCompile(`^(?i)[0-9a-f]{2}([:-][0-9a-f]{2}){5}$`)

// machineFilter is the list page's query, as the form shows it.
type machineFilter struct {
	Q, Status, Zone, Pool, Owner, Cursor string
}

func filterOf(r *http.Request) machineFilter {
	q := r.URL.Query()
	return machineFilter{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Zone: q.Get("zone"),
		Pool: q.Get("pool"), Owner: q.Get("owner"), Cursor: q.Get("cursor")}
}

// apiQuery is the API query of the filter: the search box is a MAC address
// or an exact hostname.
func (f machineFilter) apiQuery(limit int) url.Values {
	v := url.Values{}
	switch {
	case macRE.MatchString(f.Q):
		v.Set("mac", strings.ReplaceAll(strings.ToLower(f.Q), "-", ":"))
	case f.Q != "":
		v.Set("hostname", f.Q)
	}
	for k, val := range map[string]string{"status": f.Status, "zone": f.Zone, "pool": f.Pool, "owner": f.Owner, "cursor": f.Cursor} {
		if val != "" {
			v.Set(k, val)
		}
	}
	v.Set("limit", strconv.Itoa(limit))
	return v
}

// pageURL is the list page of the filter starting at cursor.
func (f machineFilter) pageURL(cursor string) string {
	v := url.Values{}
	for k, val := range map[string]string{"q": f.Q, "status": f.Status, "zone": f.Zone, "pool": f.Pool, "owner": f.Owner, "cursor": cursor} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if len(v) == 0 {
		return "/ui/machines"
	}
	return "/ui/machines?" + v.Encode()
}

func (h *Handler) listPage(r *http.Request, s *session, f machineFilter) (api.MachinePage, error) {
	var page api.MachinePage
	err := h.call(r.Context(), s.key, "GET", "/api/v1/machines?"+f.apiQuery(h.cfg.PageSize).Encode(), nil, &page)
	if err == nil && len(page.Machines) == 0 && f.Q != "" && f.Cursor == "" {
		// The search box also takes a system id.
		var m api.Machine
		if h.call(r.Context(), s.key, "GET", "/api/v1/machines/"+url.PathEscape(f.Q), nil, &m) == nil {
			page.Machines = []api.Machine{m}
		}
	}
	return page, err
}

func (h *Handler) machines(w http.ResponseWriter, r *http.Request, s *session) {
	f := filterOf(r)
	data := map[string]any{"Title": "Machines", "Filter": f, "Statuses": lifecycle.Statuses()}
	var zones []api.Zone
	var pools []api.Pool
	_ = h.call(r.Context(), s.key, "GET", "/api/v1/zones", nil, &zones)
	_ = h.call(r.Context(), s.key, "GET", "/api/v1/pools", nil, &pools)
	data["Zones"], data["Pools"] = zones, pools
	page, err := h.listPage(r, s, f)
	if err != nil {
		data["Error"] = explain(err)
		h.render(w, r, s, status(err), "machines", data)
		return
	}
	data["Machines"] = page.Machines
	data["JSONURL"] = "/ui/machines.json?" + r.URL.RawQuery
	if page.Next != "" {
		data["NextURL"] = f.pageURL(page.Next)
	}
	if f.Cursor != "" {
		data["FirstURL"] = f.pageURL("")
	}
	h.render(w, r, s, http.StatusOK, "machines", data)
}

// MachineState is what the pages poll: the fields of a machine that change.
type MachineState struct {
	SystemID       string   `json:"system_id"`
	Hostname       string   `json:"hostname"`
	Status         string   `json:"status"`
	StatusTitle    string   `json:"status_title"`
	PowerState     string   `json:"power_state"`
	Owner          string   `json:"owner"`
	Revision       int64    `json:"revision"`
	AllowedActions []string `json:"allowed_actions,omitempty"`
}

func stateOf(m api.Machine) MachineState {
	st := MachineState{SystemID: m.SystemID, Hostname: m.Hostname, Status: string(m.Status), StatusTitle: m.StatusTitle,
		PowerState: m.PowerState, Owner: m.Owner, Revision: m.Revision}
	for _, a := range m.AllowedActions {
		st.AllowedActions = append(st.AllowedActions, string(a))
	}
	return st
}

func (h *Handler) machinesJSON(w http.ResponseWriter, r *http.Request, s *session) {
	page, err := h.listPage(r, s, filterOf(r))
	if err != nil {
		writeJSON(w, status(err), map[string]string{"error": explain(err)})
		return
	}
	out := make([]MachineState, 0, len(page.Machines))
	for _, m := range page.Machines {
		out = append(out, stateOf(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getMachine(r *http.Request, s *session) (api.Machine, error) {
	var m api.Machine
	err := h.call(r.Context(), s.key, "GET", "/api/v1/machines/"+url.PathEscape(r.PathValue("system_id")), nil, &m)
	return m, err
}

func (h *Handler) machineJSON(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := h.getMachine(r, s)
	if err != nil {
		writeJSON(w, status(err), map[string]string{"error": explain(err)})
		return
	}
	st := stateOf(m)
	writeJSON(w, http.StatusOK, st)
}

type iface struct {
	Name, MAC string
	Speed     int
}

func (h *Handler) machineData(r *http.Request, s *session, m api.Machine) map[string]any {
	data := map[string]any{"Title": "Machine " + m.Hostname, "M": m, "Actions": offered(m, s.user)}
	var inv api.Inventory
	if len(m.Inventory) > 0 && json.Unmarshal(m.Inventory, &inv) == nil {
		data["Inv"] = inv
	}
	var ifs []iface
	for _, n := range inv.NICs {
		ifs = append(ifs, iface{Name: n.Name, MAC: n.MAC, Speed: n.Speed})
	}
	for _, mac := range m.MACAddresses {
		if !slices.ContainsFunc(ifs, func(i iface) bool { return strings.EqualFold(i.MAC, mac) }) {
			ifs = append(ifs, iface{MAC: mac})
		}
	}
	data["Interfaces"] = ifs
	var events []api.Event
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/events?limit=50&system_id="+url.QueryEscape(m.SystemID), nil, &events); err != nil {
		data["EventsError"] = explain(err)
	}
	data["Events"] = events
	keys := make([]string, 0, len(m.PowerParameters))
	for k := range m.PowerParameters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	data["PowerKeys"] = keys
	return data
}

func (h *Handler) machine(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := h.getMachine(r, s)
	if err != nil {
		h.render(w, r, s, status(err), "error", map[string]any{"Title": "Machine", "Error": explain(err)})
		return
	}
	h.render(w, r, s, http.StatusOK, "machine", h.machineData(r, s, m))
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := h.getMachine(r, s)
	if err != nil {
		h.render(w, r, s, status(err), "error", map[string]any{"Title": "Machine", "Error": explain(err)})
		return
	}
	a := r.PathValue("action")
	if actionHelp(a) == "" {
		h.render(w, r, s, http.StatusNotFound, "error", map[string]any{"Title": "Unknown action",
			"Error": fmt.Sprintf("There is no action %q; the machine page lists the actions you can run.", a)})
		return
	}
	h.render(w, r, s, http.StatusOK, "confirm", map[string]any{"Title": actionTitle(a) + " " + m.Hostname, "M": m,
		"Action": a, "ActionTitle": actionTitle(a), "Help": actionHelp(a)})
}

func (h *Handler) act(w http.ResponseWriter, r *http.Request, s *session) {
	id, a := r.PathValue("system_id"), r.PathValue("action")
	if actionHelp(a) == "" {
		h.render(w, r, s, http.StatusNotFound, "error", map[string]any{"Title": "Unknown action",
			"Error": fmt.Sprintf("There is no action %q; the machine page lists the actions you can run.", a)})
		return
	}
	var m api.Machine
	var err error
	comment := r.PostFormValue("comment")
	if a == "allocate" {
		var cur api.Machine
		if cur, err = h.getMachine(r, s); err == nil {
			err = h.call(r.Context(), s.key, "POST", "/api/v1/machines/allocate",
				api.AllocateRequest{Hostname: cur.Hostname, Comment: comment}, &m)
		}
	} else {
		req := api.ActionRequest{Comment: comment, Erase: r.PostFormValue("erase") == "on",
			OSystem: r.PostFormValue("osystem"), DistroSeries: r.PostFormValue("distro_series"), UserData: r.PostFormValue("user_data")}
		err = h.call(r.Context(), s.key, "POST", "/api/v1/machines/"+url.PathEscape(id)+"/actions/"+url.PathEscape(a), req, &m)
	}
	if err != nil {
		h.log.Info("web action failed", "username", s.user.Username, "system_id", id, "action", a, "err", err)
		cur, gerr := h.getMachine(r, s)
		if gerr != nil {
			h.render(w, r, s, status(err), "error", map[string]any{"Title": actionTitle(a) + " failed", "Error": explain(err)})
			return
		}
		h.render(w, r, s, status(err), "confirm", map[string]any{"Title": actionTitle(a) + " " + cur.Hostname, "M": cur,
			"Action": a, "ActionTitle": actionTitle(a), "Help": actionHelp(a), "Error": explain(err)})
		return
	}
	msg := fmt.Sprintf("%s: done. %s is now %s", actionTitle(a), m.Hostname, m.StatusTitle)
	if m.PowerState != "" && m.PowerState != "unknown" {
		msg += ", power " + m.PowerState
	}
	h.setFlash(s, msg+".")
	http.Redirect(w, r, "/ui/machines/"+url.PathEscape(m.SystemID), http.StatusSeeOther)
}

// rackHealth is a rack as the controllers page shows it.
type rackHealth struct {
	api.Rack
	Health, Detail string
	// Services is the health of the rack's services from its last
	// heartbeat, sorted by name; ServicesNote says why it is empty.
	Services     []serviceRow
	ServicesNote string
	// Rogue lists the other DHCP servers the rack saw answering.
	Rogue []string
}

// serviceRow is one rack service's reported health.
type serviceRow struct {
	Name, State, Info string
	// Class is the badge's CSS class: ok (running), off or bad.
	Class string
}

// failing reports whether the service is reported dead or degraded (a
// service that is off is off on purpose).
func (s serviceRow) failing() bool {
	return s.State == rpc.ServiceDead || s.State == rpc.ServiceDegraded
}

// rackServices decodes the services and rogue DHCP servers a rack
// reported in its last heartbeat (api.Rack carries them as raw JSON).
func rackServices(rk api.Rack) (svcs []serviceRow, note string, rogue []string) {
	var hs []rpc.ServiceHealth
	switch {
	case len(rk.Services) == 0:
		note = "no heartbeat with service health yet"
	case json.Unmarshal(rk.Services, &hs) != nil:
		note = "the rack's service report could not be read: " + strings.TrimSpace(string(rk.Services))
	case len(hs) == 0:
		note = "the rack reported no services"
	}
	slices.SortFunc(hs, func(a, b rpc.ServiceHealth) int { return strings.Compare(a.Name, b.Name) })
	for _, h := range hs {
		st := h.Status
		if st == "" {
			st = "unknown"
		}
		class := "bad"
		switch st {
		case rpc.ServiceRunning:
			class = "ok"
		case rpc.ServiceOff:
			class = "off"
		}
		svcs = append(svcs, serviceRow{Name: h.Name, State: st, Info: h.Info, Class: class})
	}
	if len(rk.RogueDHCP) > 0 && json.Unmarshal(rk.RogueDHCP, &rogue) != nil {
		rogue = []string{strings.TrimSpace(string(rk.RogueDHCP))}
	}
	return svcs, note, rogue
}

// rogueRow is a rack that saw other DHCP servers.
type rogueRow struct {
	Rack    string
	Servers []string
}

// regionRow is a region controller as the controllers page shows it.
type regionRow struct {
	api.Region
	// Ago is how long since its last heartbeat.
	Ago string
	// This: its address is the one this page was requested from.
	This bool
}

// RackStaleAfter is how long after its last contact a rack is shown as not
// responding.
const RackStaleAfter = 2 * time.Minute

func (h *Handler) controllers(w http.ResponseWriter, r *http.Request, s *session) {
	data := map[string]any{"Title": "Controllers"}
	var racks []api.Rack
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/racks", nil, &racks); err != nil {
		data["Error"] = explain(err)
	}
	now := h.cfg.Now()
	var rs []rackHealth
	var rogue []rogueRow
	for _, rk := range racks {
		rh := rackHealth{Rack: rk}
		rh.Services, rh.ServicesNote, rh.Rogue = rackServices(rk)
		if len(rh.Rogue) > 0 {
			rogue = append(rogue, rogueRow{Rack: rk.Name, Servers: rh.Rogue})
		}
		switch {
		case rk.LastSeen == nil:
			rh.Health, rh.Detail = "Never connected", "registered, no contact since"
		case now.Sub(*rk.LastSeen) > RackStaleAfter:
			rh.Health, rh.Detail = "Not responding", "last contact "+now.Sub(*rk.LastSeen).Round(time.Second).String()+" ago"
		default:
			rh.Health, rh.Detail = "Healthy", "last contact "+now.Sub(*rk.LastSeen).Round(time.Second).String()+" ago"
		}
		n := 0
		for _, sv := range rh.Services {
			if sv.failing() {
				n++
			}
		}
		if n > 0 && rh.Health == "Healthy" {
			rh.Health = "Degraded"
			rh.Detail += fmt.Sprintf("; %d service(s) dead or degraded", n)
		}
		rs = append(rs, rh)
	}
	data["Racks"], data["Rogue"] = rs, rogue
	var regions []api.Region
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/regions", nil, &regions); err != nil {
		data["Error"] = explain(err)
	}
	rr := make([]regionRow, len(regions))
	for i, rg := range regions {
		rr[i] = regionRow{Region: rg, Ago: now.Sub(rg.LastSeen).Round(time.Second).String(), This: rg.Address == r.Host}
	}
	data["Regions"] = rr
	var v api.Version
	_ = h.call(r.Context(), s.key, "GET", "/api/v1/version", nil, &v)
	data["Version"] = v
	data["Host"] = r.Host
	h.render(w, r, s, http.StatusOK, "controllers", data)
}

type vlanRow struct {
	api.VLAN
	Fabric, Primary, Secondary string
	Subnets                    []api.Subnet
}

func (h *Handler) networks(w http.ResponseWriter, r *http.Request, s *session) {
	data := map[string]any{"Title": "Subnets and VLANs"}
	var fabrics []api.Fabric
	var vlans []api.VLAN
	var subnets []api.Subnet
	var racks []api.Rack
	for _, c := range []struct {
		path string
		out  any
	}{{"/api/v1/fabrics", &fabrics}, {"/api/v1/vlans", &vlans}, {"/api/v1/subnets", &subnets}, {"/api/v1/racks", &racks}} {
		if err := h.call(r.Context(), s.key, "GET", c.path, nil, c.out); err != nil {
			data["Error"] = explain(err)
		}
	}
	fabricName := map[int64]string{}
	for _, f := range fabrics {
		fabricName[f.ID] = f.Name
	}
	rackName := map[int64]string{}
	for _, rk := range racks {
		rackName[rk.ID] = rk.Name
	}
	name := func(id int64) string {
		if id == 0 {
			return ""
		}
		if n, ok := rackName[id]; ok {
			return n
		}
		return "rack " + strconv.FormatInt(id, 10)
	}
	var rows []vlanRow
	for _, v := range vlans {
		row := vlanRow{VLAN: v, Fabric: fabricName[v.FabricID], Primary: name(v.PrimaryRack), Secondary: name(v.SecondaryRack)}
		for _, sn := range subnets {
			if sn.VLANID == v.ID {
				row.Subnets = append(row.Subnets, sn)
			}
		}
		rows = append(rows, row)
	}
	data["VLANs"] = rows
	h.render(w, r, s, http.StatusOK, "networks", data)
}

func (h *Handler) bootResources(w http.ResponseWriter, r *http.Request, s *session) {
	data := map[string]any{"Title": "Boot resources"}
	var res []api.BootResource
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/boot-resources", nil, &res); err != nil {
		data["Error"] = explain(err)
	}
	data["Resources"] = res
	if s.user.Admin {
		var st api.ImportStatus
		if err := h.call(r.Context(), s.key, "GET", "/api/v1/boot-resources/import", nil, &st); err == nil {
			data["Import"] = st
		}
	}
	h.render(w, r, s, http.StatusOK, "boot", data)
}

func (h *Handler) importJSON(w http.ResponseWriter, r *http.Request, s *session) {
	var st api.ImportStatus
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/boot-resources/import", nil, &st); err != nil {
		writeJSON(w, status(err), map[string]string{"error": explain(err)})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Handler) startImport(w http.ResponseWriter, r *http.Request, s *session) {
	var st api.ImportStatus
	if err := h.call(r.Context(), s.key, "POST", "/api/v1/boot-resources/import",
		api.ImportRequest{Source: strings.TrimSpace(r.PostFormValue("source"))}, &st); err != nil {
		h.setFlash(s, "Import not started: "+explain(err))
	} else {
		h.setFlash(s, "Import started from "+st.Source+".")
	}
	http.Redirect(w, r, "/ui/boot-resources", http.StatusSeeOther)
}

// vlanDHCPForm is the DHCP settings of a VLAN as the edit form holds them.
type vlanDHCPForm struct {
	DHCPOn                     bool
	PrimaryRack, SecondaryRack int64
}

// dhcpFormOf reads the edit form; a rack select's empty value is no rack.
func dhcpFormOf(r *http.Request) (vlanDHCPForm, error) {
	f := vlanDHCPForm{DHCPOn: r.PostFormValue("dhcp_on") == "on"}
	for _, fld := range []struct {
		name string
		dst  *int64
	}{{"primary_rack", &f.PrimaryRack}, {"secondary_rack", &f.SecondaryRack}} {
		v := strings.TrimSpace(r.PostFormValue(fld.name))
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, api.BadField(fld.name, v, "choose a rack from the list (a rack id), or none")
		}
		*fld.dst = n
	}
	return f, nil
}

// vlanDHCPData loads what the VLAN DHCP pages show: the VLAN, its fabric's
// name and the registered racks to choose from.
func (h *Handler) vlanDHCPData(r *http.Request, s *session) (map[string]any, api.VLAN, error) {
	var v api.VLAN
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/vlans/"+url.PathEscape(r.PathValue("id")), nil, &v); err != nil {
		return nil, v, err
	}
	var racks []api.Rack
	if err := h.call(r.Context(), s.key, "GET", "/api/v1/racks", nil, &racks); err != nil {
		return nil, v, err
	}
	var fabric api.Fabric
	_ = h.call(r.Context(), s.key, "GET", fmt.Sprintf("/api/v1/fabrics/%d", v.FabricID), nil, &fabric)
	rackName := func(id int64) string {
		for _, rk := range racks {
			if rk.ID == id {
				return fmt.Sprintf("%s (id %d)", rk.Name, rk.ID)
			}
		}
		if id == 0 {
			return "none"
		}
		return fmt.Sprintf("rack id %d (not registered)", id)
	}
	title := fmt.Sprintf("DHCP on VLAN %d", v.VID)
	if v.Name != "" {
		title += " (" + v.Name + ")"
	}
	return map[string]any{"Title": title, "V": v, "Fabric": fabric.Name, "Racks": racks, "RackName": rackName,
		"Form": vlanDHCPForm{DHCPOn: v.DHCPOn, PrimaryRack: v.PrimaryRack, SecondaryRack: v.SecondaryRack}}, v, nil
}

// adminOnly renders the refusal of a page only administrators may use.
func (h *Handler) adminOnly(w http.ResponseWriter, r *http.Request, s *session, what string) bool {
	if s.user.Admin {
		return true
	}
	h.render(w, r, s, http.StatusForbidden, "error", map[string]any{"Title": "Administrators only",
		"Error": "Only an administrator can " + what + "; ask one to make the change."})
	return false
}

// vlanDHCPEdit shows the DHCP form of a VLAN.
func (h *Handler) vlanDHCPEdit(w http.ResponseWriter, r *http.Request, s *session) {
	if !h.adminOnly(w, r, s, "change a VLAN's DHCP") {
		return
	}
	data, _, err := h.vlanDHCPData(r, s)
	if err != nil {
		h.render(w, r, s, status(err), "error", map[string]any{"Title": "VLAN", "Error": explain(err)})
		return
	}
	h.render(w, r, s, http.StatusOK, "vlandhcp", data)
}

// vlanDHCPSave confirms (first POST) and then applies (confirm=yes) the
// DHCP settings of a VLAN through the API's VLAN update; the API's
// validation error is shown on the form, with the values entered.
func (h *Handler) vlanDHCPSave(w http.ResponseWriter, r *http.Request, s *session) {
	if !h.adminOnly(w, r, s, "change a VLAN's DHCP") {
		return
	}
	data, v, err := h.vlanDHCPData(r, s)
	if err != nil {
		h.render(w, r, s, status(err), "error", map[string]any{"Title": "VLAN", "Error": explain(err)})
		return
	}
	f, err := dhcpFormOf(r)
	data["Form"] = f
	if err != nil {
		data["Error"] = explain(err)
		h.render(w, r, s, http.StatusBadRequest, "vlandhcp", data)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		data["Confirm"] = true
		h.render(w, r, s, http.StatusOK, "vlandhcp", data)
		return
	}
	body := map[string]any{"dhcp_on": f.DHCPOn, "primary_rack": f.PrimaryRack, "secondary_rack": f.SecondaryRack}
	var out api.VLAN
	if err := h.call(r.Context(), s.key, "PATCH", fmt.Sprintf("/api/v1/vlans/%d", v.ID), body, &out); err != nil {
		h.log.Info("web VLAN DHCP update failed", "username", s.user.Username, "vlan_id", v.ID, "err", err)
		data["Error"] = "DHCP not changed: " + explain(err)
		h.render(w, r, s, status(err), "vlandhcp", data)
		return
	}
	h.log.Info("web VLAN DHCP updated", "username", s.user.Username, "vlan_id", v.ID, "dhcp_on", out.DHCPOn,
		"primary_rack", out.PrimaryRack, "secondary_rack", out.SecondaryRack)
	state := "off"
	if out.DHCPOn {
		state = "on"
	}
	rn := data["RackName"].(func(int64) string)
	h.setFlash(s, fmt.Sprintf("VLAN %d: DHCP is now %s; primary rack %s, secondary rack %s.", out.VID, state,
		rn(out.PrimaryRack), rn(out.SecondaryRack)))
	http.Redirect(w, r, "/ui/networks", http.StatusSeeOther)
}
