package rackrpc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

// tokenStatuses are the statuses whose boot runs the ephemeral environment
// against the metadata API, so the rack's boot lookup carries a machine
// token (data, not code). Ready, Deployed and the rest boot without one.
var tokenStatuses = map[lifecycle.Status]bool{
	lifecycle.Commissioning:      true,
	lifecycle.Testing:            true,
	lifecycle.DiskErasing:        true,
	lifecycle.Deploying:          true,
	lifecycle.EnteringRescueMode: true,
	lifecycle.RescueMode:         true,
}

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
// logs; only its hash is stored.
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
	reply, err := s.BootFor(r.Context(), mac)
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

// BootFor is how the machine owning mac boots now. For a status in which
// the boot needs the metadata API it mints a machine token and revokes the
// machine's earlier ones (rotation: one live token per machine).
func (s *Server) BootFor(ctx context.Context, mac net.HardwareAddr) (rpc.BootReply, error) {
	st, _ := s.deps()
	m, err := st.MachineByMAC(ctx, mac)
	if errors.Is(err, store.ErrNotFound) {
		return rpc.BootReply{}, nil
	}
	if err != nil {
		return rpc.BootReply{}, err
	}
	out := rpc.BootReply{Known: true, BootMachine: rpc.BootMachine{MAC: mac.String(), SystemID: m.SystemID,
		Hostname: m.Hostname, Purpose: bootPurpose(m.Status)}}
	if local, err := s.bootDetails(ctx, m, &out); err != nil || local {
		return out, err
	}
	if !tokenStatuses[m.Status] {
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
		_, err := tx.NewRaw(`INSERT INTO machine_tokens (token_hash, system_id, created_at) VALUES (?, ?, ?)`,
			hash, m.SystemID, time.Now().UTC()).Exec(ctx)
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
