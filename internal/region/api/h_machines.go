package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/lifecycle"
)

// Page sizes of machine lists.
const (
	DefaultPageSize = 1000
	MaxPageSize     = 10000
)

// EncodeCursor is the opaque cursor of a page starting after a system id.
func EncodeCursor(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("m:" + after))
}

// DecodeCursor reverses EncodeCursor.
func DecodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && strings.HasPrefix(string(b), "m:") && systemIDRE.MatchString(string(b[2:])) {
		return string(b[2:]), nil
	}
	return "", BadField("cursor", c, "use the next value of a previous page unchanged")
}

func (s *Server) listMachines(r *Request) (any, error) {
	qv := r.URL.Query()
	q := MachineQuery{
		Hostname: qv.Get("hostname"), Architecture: qv.Get("architecture"), Zone: qv.Get("zone"),
		Pool: qv.Get("pool"), Tag: qv.Get("tag"), MAC: strings.ToLower(qv.Get("mac")),
	}
	if st := qv.Get("status"); st != "" {
		status, err := lifecycle.ParseStatus(st)
		if err != nil {
			return nil, BadField("status", st, fmt.Sprintf("use one of %v", lifecycle.Statuses()))
		}
		q.Status = status
	}
	limit, err := r.QueryInt("limit", DefaultPageSize)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, BadField("limit", strconv.Itoa(limit), fmt.Sprintf("use 1 to %d", MaxPageSize))
	}
	if c := qv.Get("cursor"); c != "" {
		if q.After, err = DecodeCursor(c); err != nil {
			return nil, err
		}
	}
	q.Owner = qv.Get("owner")
	if !r.Principal.IsAdmin() {
		q.VisibleTo = r.Principal.Username
	}
	q.Limit = limit + 1
	if ids, ok := s.cfg.Backend.Machines.(MachineIDs); ok && s.cfg.Cache.enabledNow() {
		return s.listMachinesCached(r, q, limit, ids)
	}
	ms, err := s.cfg.Backend.Machines.ListMachines(r.Context(), q)
	if err != nil {
		return nil, err
	}
	page := MachinePage{Machines: ms}
	if len(ms) > limit {
		page.Machines = ms[:limit]
		page.Next = EncodeCursor(ms[limit-1].SystemID)
	}
	if page.Machines == nil {
		page.Machines = []Machine{}
	}
	for i := range page.Machines {
		s.present(r.Principal, &page.Machines[i])
	}
	return page, nil
}

// present prepares a machine for a reply: secrets removed, allowed actions
// computed for the caller.
func (s *Server) present(p auth.Principal, m *Machine) {
	m.PowerParameters = RedactPowerParameters(m.PowerType, m.PowerParameters, s.cfg.SecretParam)
	m.StatusTitle = m.Status.Title()
	m.AllowedActions = lifecycle.Allowed(lifecycle.State{Status: m.Status, Previous: m.PreviousStatus, Locked: m.Locked},
		lifecycle.Options{Admin: p.IsAdmin()})
	if m.AllowedActions == nil {
		m.AllowedActions = []lifecycle.Action{}
	}
	if m.Tags == nil {
		m.Tags = []string{}
	}
	if m.MACAddresses == nil {
		m.MACAddresses = []string{}
	}
	if m.IPAddresses == nil {
		m.IPAddresses = []string{}
	}
}

// secretWords mark power parameter names that hold secrets; a parameter
// containing one is write-only even if the driver's schema forgot to say so.
var secretWords = []string{"pass", "secret", "token", "community", "key"}

// IsSecretParam reports whether a power parameter name looks secret.
func IsSecretParam(name string) bool {
	l := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// RedactPowerParameters returns params without the secret ones.
func RedactPowerParameters(powerType string, params map[string]string, secret func(powerType, name string) bool) map[string]string {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]string, len(params))
	for k, v := range params {
		if IsSecretParam(k) || (secret != nil && secret(powerType, k)) {
			continue
		}
		out[k] = v
	}
	return out
}

// visibleMachine loads a machine the caller may see, or answers 404.
func (s *Server) visibleMachine(r *Request) (Machine, error) {
	id, err := r.SystemID()
	if err != nil {
		return Machine{}, err
	}
	m, err := s.cfg.Backend.Machines.GetMachine(r.Context(), id)
	if err != nil {
		return Machine{}, err
	}
	if !auth.CanSee(r.Principal, machineView(m)) {
		return Machine{}, NotFound("machine " + id)
	}
	return m, nil
}

func machineView(m Machine) auth.MachineView {
	return auth.MachineView{Owner: m.Owner, Ready: m.Status == lifecycle.Ready}
}

func (s *Server) getMachine(r *Request) (any, error) {
	if s.cfg.Cache.enabledNow() {
		return s.getMachineCached(r)
	}
	m, err := s.visibleMachine(r)
	if err != nil {
		return nil, err
	}
	s.present(r.Principal, &m)
	return m, nil
}

func (s *Server) createMachine(r *Request) (any, error) {
	var c MachineCreate
	if err := r.Decode(&c); err != nil {
		return nil, err
	}
	if err := ValidateMachineCreate(c); err != nil {
		return nil, err
	}
	m, err := s.cfg.Backend.Machines.CreateMachine(r.Context(), r.Principal, c)
	if err != nil {
		return nil, err
	}
	s.present(r.Principal, &m)
	return m, nil
}

var (
	macRE      = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// ValidateMACs checks and normalizes MAC addresses in place.
func ValidateMACs(field string, macs []string) error {
	for i, m := range macs {
		macs[i] = strings.ToLower(strings.ReplaceAll(m, "-", ":"))
		if !macRE.MatchString(macs[i]) {
			return BadField(fmt.Sprintf("%s[%d]", field, i), m, "use six hex pairs such as 52:54:00:12:34:56")
		}
	}
	return nil
}

// ValidateMachineCreate checks a create request.
func ValidateMachineCreate(c MachineCreate) error {
	if c.Hostname != "" && !hostnameRE.MatchString(c.Hostname) {
		return BadField("hostname", c.Hostname, "use lower-case letters, digits and hyphens (a DNS label)")
	}
	if c.Architecture == "" {
		return BadField("architecture", "", "set the architecture, e.g. amd64/generic")
	}
	if len(c.MACAddresses) == 0 {
		return BadField("mac_addresses", "", "give at least the MAC address the machine PXE-boots from")
	}
	if err := ValidateMACs("mac_addresses", c.MACAddresses); err != nil {
		return err
	}
	switch c.Status {
	case "", lifecycle.New, lifecycle.Deployed:
	default:
		return BadField("status", string(c.Status), "use new (default) or deployed (import an already-deployed machine)")
	}
	if c.Status != lifecycle.Deployed && (len(c.IPAddresses) > 0 || c.Owner != "") {
		return BadField("status", string(c.Status), "ip_addresses and owner are only for importing a deployed machine: set status to deployed")
	}
	return nil
}

func (s *Server) updateMachine(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	var u MachineUpdate
	if err := r.Decode(&u); err != nil {
		return nil, err
	}
	if u.Hostname != nil && !hostnameRE.MatchString(*u.Hostname) {
		return nil, BadField("hostname", *u.Hostname, "use lower-case letters, digits and hyphens (a DNS label)")
	}
	m, err := s.cfg.Backend.Machines.UpdateMachine(r.Context(), r.Principal, id, u)
	if err != nil {
		return nil, err
	}
	s.present(r.Principal, &m)
	return m, nil
}

func (s *Server) deleteMachine(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	return nil, s.cfg.Backend.Machines.DeleteMachine(r.Context(), r.Principal, id)
}

func (s *Server) machineAction(r *Request) (any, error) {
	action := r.PathValue("action")
	if !slices.Contains(MachineActions, action) {
		return nil, BadField("action", action, fmt.Sprintf("use one of %s", strings.Join(MachineActions, ", ")))
	}
	m, err := s.visibleMachine(r)
	if err != nil {
		return nil, err
	}
	if !r.Principal.IsAdmin() && m.Owner != r.Principal.Username {
		// A user acts on their own machines; a Ready machine they do not own
		// can only be allocated.
		return nil, forbidden(fmt.Sprintf("machine %s is not yours: allocate it first", m.SystemID))
	}
	var req ActionRequest
	if r.ContentLength != 0 {
		if err := r.Decode(&req); err != nil {
			return nil, err
		}
	}
	m, err = s.cfg.Backend.Machines.Act(r.Context(), r.Principal, m.SystemID, action, req)
	if err != nil {
		return nil, err
	}
	s.present(r.Principal, &m)
	return m, nil
}

func (s *Server) allocate(r *Request) (any, error) {
	var req AllocateRequest
	if r.ContentLength != 0 {
		if err := r.Decode(&req); err != nil {
			return nil, err
		}
	}
	if req.MinCPUCount < 0 {
		return nil, BadField("min_cpu_count", strconv.Itoa(req.MinCPUCount), "use 0 or more")
	}
	if req.MinMemoryMiB < 0 {
		return nil, BadField("min_memory_mib", strconv.FormatInt(req.MinMemoryMiB, 10), "use 0 or more")
	}
	m, err := s.cfg.Backend.Machines.Allocate(r.Context(), r.Principal, req)
	if err != nil {
		return nil, err
	}
	s.present(r.Principal, &m)
	return m, nil
}

func (s *Server) issueToken(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	tok, err := s.cfg.Backend.Machines.IssueMachineToken(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return MachineToken{SystemID: id, Token: tok}, nil
}

// getMachineCached is getMachine from the Cache: no database round trip on
// a hit.
func (s *Server) getMachineCached(r *Request) (any, error) {
	c := s.cfg.Cache
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	e, ok := c.machine(id)
	if !ok {
		t := c.machineTicket(id)
		m, err := s.cfg.Backend.Machines.GetMachine(r.Context(), id)
		if err != nil {
			return nil, err
		}
		e = c.putMachine(t, m)
	}
	if !auth.CanSee(r.Principal, e.view) {
		return nil, NotFound("machine " + id)
	}
	b, err := e.encoded(s, r.Principal.IsAdmin())
	if err != nil {
		return nil, err
	}
	return rawJSON(b), nil
}

// maxMissesByID is how many machines of a cached list page are read one by
// one when missing from the cache; more and the page is read whole.
const maxMissesByID = 16

// listMachinesCached answers a page from the Cache: the page's system ids
// from one indexed query (filters, visibility and order stay the
// database's), the machines' JSON from memory. Missing machines are read
// one by one when few, else the page is read whole and cached.
func (s *Server) listMachinesCached(r *Request, q MachineQuery, limit int, ids MachineIDs) (any, error) {
	c := s.cfg.Cache
	ctx := r.Context()
	t := c.machineTicket("")
	list, err := ids.ListMachineIDs(ctx, q)
	if err != nil {
		return nil, err
	}
	entries, missing := c.machinesOf(list)
	if len(missing) > maxMissesByID {
		ms, err := s.cfg.Backend.Machines.ListMachines(ctx, q)
		if err != nil {
			return nil, err
		}
		entries, list = entries[:0], list[:0]
		for _, m := range ms {
			entries = append(entries, c.putMachine(t, m))
			list = append(list, m.SystemID)
		}
	} else {
		for _, i := range missing {
			id := list[i]
			t := c.machineTicket(id)
			m, err := s.cfg.Backend.Machines.GetMachine(ctx, id)
			if errors.Is(err, ErrNotFound) {
				continue // deleted since the ids were read
			}
			if err != nil {
				return nil, err
			}
			entries[i] = c.putMachine(t, m)
		}
	}
	next := ""
	if len(list) > limit {
		entries = entries[:limit]
		next = EncodeCursor(list[limit-1])
	}
	// A machine may have changed since the ids were read; the caller sees
	// only what it may see now.
	entries = slices.DeleteFunc(entries, func(e *cachedMachine) bool { return e == nil || !auth.CanSee(r.Principal, e.view) })
	admin := r.Principal.IsAdmin()
	size := 0
	encs := make([][]byte, len(entries))
	for i, e := range entries {
		if encs[i], err = e.encoded(s, admin); err != nil {
			return nil, err
		}
		size += len(encs[i]) + 1
	}
	buf := make([]byte, 0, size+64)
	buf = append(buf, `{"machines":[`...)
	for i, b := range encs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	buf = append(buf, ']')
	if next != "" {
		buf = append(buf, `,"next":"`...)
		buf = append(buf, next...) // base64url: nothing to escape
		buf = append(buf, '"')
	}
	buf = append(buf, '}')
	return rawJSON(buf), nil
}
