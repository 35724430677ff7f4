package rackrpc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// tokenPhases maps the statuses whose boot runs the ephemeral environment
// against the metadata API (so the rack's boot lookup carries a machine
// token) to the statuses that token stays valid in: the phase of that boot
// (data, not code). Commissioning goes on into testing in the same boot;
// entering rescue mode ends in rescue mode. Once the machine's status leaves
// them (Ready after commissioning, Deployed, a release, an abort) the token
// stops working. Ready, Deployed and the rest boot without a token.
var tokenPhases = map[lifecycle.Status][]lifecycle.Status{
	lifecycle.Commissioning:      {lifecycle.Commissioning, lifecycle.Testing},
	lifecycle.Testing:            {lifecycle.Testing},
	lifecycle.DiskErasing:        {lifecycle.DiskErasing},
	lifecycle.Deploying:          {lifecycle.Deploying},
	lifecycle.EnteringRescueMode: {lifecycle.EnteringRescueMode, lifecycle.RescueMode},
	lifecycle.RescueMode:         {lifecycle.RescueMode},
}

// tokenStatuses is how a token's valid statuses are stored
// (machine_tokens.statuses): comma-delimited with a leading and trailing
// comma, so one LIKE finds a status on SQLite and PostgreSQL alike.
func tokenStatuses(phase []lifecycle.Status) string {
	var b strings.Builder
	b.WriteByte(',')
	for _, st := range phase {
		b.WriteString(string(st))
		b.WriteByte(',')
	}
	return b.String()
}

// ErrNotServing is a boot lookup from a rack that does not serve the VLAN
// the machine boots on.
var ErrNotServing = errors.New("rackrpc: the rack does not serve the machine's VLAN")

// bootPurpose is how a machine in status st boots.
func bootPurpose(st lifecycle.Status) string {
	if p, ok := purposeOf[st]; ok {
		return p
	}
	if st == lifecycle.New || st == lifecycle.Ready {
		return "poweroff"
	}
	return "local"
}

// boot answers how one MAC boots now, minting a machine token when the
// machine's status needs the metadata API. The token never appears in
// logs; only its hash is stored. Only a rack serving the VLAN the machine
// boots on gets an answer about a known machine.
func (s *Server) boot(w http.ResponseWriter, r *http.Request, rack int64) {
	var req rpc.BootRequest
	if err := readJSON(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	mac, err := net.ParseMAC(req.MAC)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad-request", "mac "+req.MAC+": "+err.Error()+": send a MAC such as 52:54:00:12:34:56")
		return
	}
	reply, err := s.BootForRack(r.Context(), rack, mac)
	if errors.Is(err, ErrNotServing) {
		s.log.Warn("boot lookup refused", "rack_id", rack, "mac", mac.String(), "err", err)
		writeErr(w, http.StatusForbidden, "not-serving", err.Error())
		return
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if reply.Token != "" {
		s.log.Info("machine token issued for boot", "rack_id", rack, "system_id", reply.SystemID, "status_purpose", reply.Purpose)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, reply)
}

// BootFor is how the machine owning mac boots now, whoever asks. For a
// status in which the boot needs the metadata API it mints a machine token
// valid in that boot's phase (tokenPhases) and revokes the machine's earlier
// ones (rotation: one live token per machine).
func (s *Server) BootFor(ctx context.Context, mac net.HardwareAddr) (rpc.BootReply, error) {
	return s.BootForRack(ctx, 0, mac)
}

// BootForRack is BootFor asked by rack (0: no rack check). A rack answers
// for a known machine only when it serves the VLAN of the interface the
// machine boots from (as primary or secondary, or a VLAN relayed to one it
// serves); while that VLAN is unknown (never commissioned, no VLAN set), any
// rack serving DHCP on some VLAN may, as may a rack that reported a lease
// for the MAC. Otherwise it fails with ErrNotServing.
func (s *Server) BootForRack(ctx context.Context, rack int64, mac net.HardwareAddr) (rpc.BootReply, error) {
	st, _ := s.deps()
	m, err := st.MachineByMAC(ctx, mac)
	if errors.Is(err, store.ErrNotFound) {
		return rpc.BootReply{}, nil
	}
	if err != nil {
		return rpc.BootReply{}, err
	}
	if rack != 0 {
		if err := s.servesBoot(ctx, rack, m, mac); err != nil {
			return rpc.BootReply{}, err
		}
	}
	out := rpc.BootReply{Known: true, BootMachine: rpc.BootMachine{MAC: mac.String(), SystemID: m.SystemID,
		Hostname: m.Hostname, Purpose: bootPurpose(m.Status)}}
	if local, err := s.bootDetails(ctx, m, &out); err != nil || local {
		return out, err
	}
	phase, ok := tokenPhases[m.Status]
	if !ok {
		return out, nil
	}
	tok, hash, err := auth.NewToken(auth.MachineToken)
	if err != nil {
		return rpc.BootReply{}, err
	}
	err = s.db().RunInTx(ctx, nil, func(ctx context.Context, tx bunTx) error {
		if _, err := tx.NewRaw(`DELETE FROM machine_tokens WHERE system_id = ?`, m.SystemID).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewRaw(`INSERT INTO machine_tokens (token_hash, system_id, created_at, statuses) VALUES (?, ?, ?, ?)`,
			hash, m.SystemID, time.Now().UTC(), tokenStatuses(phase)).Exec(ctx)
		return err
	})
	if err != nil {
		return rpc.BootReply{}, err
	}
	out.Token, out.MetadataPath = tok, "/api/v1/metadata/"+m.SystemID
	return out, nil
}

// extraOf is what the ephemeral environment does besides its purpose, by
// status: the kernel command line words the rack renders (data, not code).
var extraOf = map[lifecycle.Status][]string{
	lifecycle.Testing:     {"ironkit.test=1"},
	lifecycle.DiskErasing: {"ironkit.erase=1"},
}

// bootDetails adds the status's kernel command line words to out and, for
// a deploying machine whose ephemeral environment signalled "installed"
// after its latest deploy, turns the boot local (the installed system
// boots from disk, as MAAS stops netbooting a deployed machine); local
// reports the latter (no token is minted then).
func (s *Server) bootDetails(ctx context.Context, m *store.Machine, out *rpc.BootReply) (local bool, err error) {
	out.Extra = extraOf[m.Status]
	if m.Status != lifecycle.Deploying {
		return false, nil
	}
	var types []string
	err = s.db().NewRaw(`SELECT type FROM events WHERE system_id = ? AND type IN ('deploy', 'installed') ORDER BY id DESC LIMIT 1`,
		m.SystemID).Scan(ctx, &types)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("rackrpc: machine %s: latest deploy event: %w", m.SystemID, err)
	}
	if len(types) == 1 && types[0] == "installed" {
		out.Purpose = "local"
		return true, nil
	}
	return false, nil
}

// servesBoot checks that rack may answer for machine m booting from mac.
func (s *Server) servesBoot(ctx context.Context, rack int64, m *store.Machine, mac net.HardwareAddr) error {
	st, _ := s.deps()
	var vlanID int64
	for _, ifc := range m.Interfaces {
		if ifc.MAC.String() == mac.String() {
			vlanID = ifc.VLANID
		}
	}
	vlans, err := s.allVLANs(ctx, st)
	if err != nil {
		return err
	}
	if ServesVLAN(vlans, rack, vlanID) {
		return nil
	}
	if vlanID == 0 {
		// Unknown VLAN: a rack that handed the MAC a lease is where it boots.
		n, err := s.db().NewSelect().Table("rack_lease_events").Where("rack_id = ? AND mac = ?", rack, mac.String()).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		return fmt.Errorf("%w: rack %d serves DHCP on no VLAN and handed %s no lease: make it primary or secondary rack of the machine's VLAN", ErrNotServing, rack, mac)
	}
	return fmt.Errorf("%w: machine %s boots from %s on VLAN %d, which rack %d neither serves (primary or secondary) nor relays to a VLAN it serves: ask a rack of that VLAN, or set the VLAN's primary_rack/secondary_rack",
		ErrNotServing, m.SystemID, mac, vlanID, rack)
}

// ServesVLAN reports whether rack may answer boots on VLAN vlanID: it is
// the primary or secondary rack of that VLAN (with DHCP on), or of the VLAN
// that VLAN is relayed to. vlanID 0 (unknown) is served by any rack serving
// DHCP on some VLAN. Pure: the tests table it.
func ServesVLAN(vlans []netmodel.VLAN, rack, vlanID int64) bool {
	byID := make(map[int64]netmodel.VLAN, len(vlans))
	for _, v := range vlans {
		byID[v.ID] = v
	}
	serves := func(v netmodel.VLAN) bool {
		return v.DHCPOn && rack != 0 && (v.PrimaryRack == rack || v.SecondaryRack == rack)
	}
	if vlanID == 0 {
		for _, v := range vlans {
			if serves(v) {
				return true
			}
		}
		return false
	}
	v, ok := byID[vlanID]
	if !ok {
		return false
	}
	if serves(v) {
		return true
	}
	if relay, ok := byID[v.RelayVLANID]; ok && v.RelayVLANID != 0 && serves(relay) {
		return true
	}
	return false
}

// allVLANs lists every VLAN of every fabric.
func (s *Server) allVLANs(ctx context.Context, st *store.Store) ([]netmodel.VLAN, error) {
	fabrics, err := st.Fabrics(ctx)
	if err != nil {
		return nil, err
	}
	var all []netmodel.VLAN
	for _, f := range fabrics {
		vs, err := st.VLANs(ctx, f.ID)
		if err != nil {
			return nil, err
		}
		all = append(all, vs...)
	}
	return all, nil
}
