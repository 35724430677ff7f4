package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Server) listIPs(r *Request) (any, error) {
	subnet, err := r.QueryInt("subnet_id", 0)
	if err != nil {
		return nil, err
	}
	return orEmpty(s.cfg.Backend.IPAddresses.ListIPAddresses(r.Context(), int64(subnet)))
}

func (s *Server) reserveIP(r *Request) (any, error) {
	var req IPReserve
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	if req.SubnetID <= 0 {
		return nil, BadField("subnet_id", strconv.FormatInt(req.SubnetID, 10), "name the subnet to reserve in")
	}
	return s.cfg.Backend.IPAddresses.ReserveIP(r.Context(), r.Principal, req)
}

func (s *Server) releaseIP(r *Request) (any, error) {
	id, err := r.ID("id")
	if err != nil {
		return nil, err
	}
	return nil, s.cfg.Backend.IPAddresses.ReleaseIP(r.Context(), r.Principal, id)
}

func (s *Server) getRack(r *Request) (any, error) {
	id, err := r.ID("id")
	if err != nil {
		return nil, err
	}
	return s.cfg.Backend.Racks.GetRack(r.Context(), id)
}

func (s *Server) deleteRack(r *Request) (any, error) {
	id, err := r.ID("id")
	if err != nil {
		return nil, err
	}
	return nil, s.cfg.Backend.Racks.DeleteRack(r.Context(), id)
}

func (s *Server) listEvents(r *Request) (any, error) {
	q := EventQuery{Type: r.URL.Query().Get("type")}
	q.SystemID = r.URL.Query().Get("system_id")
	var err error
	if q.Limit, err = r.QueryInt("limit", 100); err != nil {
		return nil, err
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return nil, BadField("limit", strconv.Itoa(q.Limit), fmt.Sprintf("use 1 to %d", MaxPageSize))
	}
	if since := r.URL.Query().Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return nil, BadField("since", since, "use an RFC 3339 time such as 2026-11-21T10:00:00Z")
		}
		q.Since = t
	}
	if !r.Principal.IsAdmin() {
		q.VisibleTo = r.Principal.Username
	}
	return orEmpty(s.cfg.Backend.Events.ListEvents(r.Context(), q))
}

func (s *Server) enlist(r *Request) (any, error) {
	var e Enlist
	if err := r.Decode(&e); err != nil {
		return nil, err
	}
	if e.Architecture == "" {
		return nil, BadField("architecture", "", "report the architecture, e.g. amd64/generic")
	}
	if len(e.MACAddresses) == 0 {
		return nil, BadField("mac_addresses", "", "report at least the boot interface's MAC address")
	}
	if err := ValidateMACs("mac_addresses", e.MACAddresses); err != nil {
		return nil, err
	}
	if e.Hostname != "" && !hostnameRE.MatchString(e.Hostname) {
		return nil, BadField("hostname", e.Hostname, "use lower-case letters, digits and hyphens (a DNS label)")
	}
	m, err := s.cfg.Backend.Metadata.Enlist(r.Context(), e)
	if err != nil {
		return nil, err
	}
	// The enlisting environment is anonymous: it learns its id, nothing else.
	return Machine{SystemID: m.SystemID, Hostname: m.Hostname, Status: m.Status, StatusTitle: m.Status.Title(),
		Architecture: m.Architecture, MACAddresses: m.MACAddresses, Created: m.Created, Updated: m.Updated,
		Tags: []string{}, IPAddresses: []string{}}, nil
}

func (s *Server) scripts(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	return orEmpty(s.cfg.Backend.Metadata.CommissioningScripts(r.Context(), id))
}

func (s *Server) commissioningResult(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	var res CommissioningResult
	if err := r.Decode(&res); err != nil {
		return nil, err
	}
	if res.Inventory.CPU.Count < 0 || res.Inventory.MemoryMiB < 0 {
		return nil, BadField("inventory", "", "cpu.count and memory_mib cannot be negative")
	}
	for i, n := range res.Inventory.NICs {
		macs := []string{n.MAC}
		if err := ValidateMACs(fmt.Sprintf("inventory.nics[%d].mac", i), macs); err != nil {
			return nil, err
		}
		res.Inventory.NICs[i].MAC = macs[0]
	}
	return nil, s.cfg.Backend.Metadata.CommissioningResult(r.Context(), id, res)
}

func (s *Server) heartbeat(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	return nil, s.cfg.Backend.Metadata.Heartbeat(r.Context(), id)
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) deployInstructions(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	return s.cfg.Backend.Metadata.DeployInstructions(r.Context(), id, baseURL(r.Request))
}

func (s *Server) nocloud(pick func(DeployInstructions) string) rawFunc {
	return func(w http.ResponseWriter, r *Request) error {
		id, err := r.SystemID()
		if err != nil {
			return err
		}
		d, err := s.cfg.Backend.Metadata.DeployInstructions(r.Context(), id, baseURL(r.Request))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err = io.WriteString(w, pick(d))
		return err
	}
}

// Signals the ephemeral environment may send.
var signals = []string{"installed", "booted", "erased", "tested", "failed"}

func (s *Server) signal(r *Request) (any, error) {
	id, err := r.SystemID()
	if err != nil {
		return nil, err
	}
	var sig Signal
	if err := r.Decode(&sig); err != nil {
		return nil, err
	}
	ok := false
	for _, v := range signals {
		ok = ok || v == sig.Status
	}
	if !ok {
		return nil, BadField("status", sig.Status, "use "+strings.Join(signals, ", "))
	}
	return nil, s.cfg.Backend.Metadata.Signal(r.Context(), id, sig)
}
