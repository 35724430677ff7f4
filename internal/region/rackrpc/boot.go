package rackrpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
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

// bootArgs go on the ephemeral environment's kernel command line besides
// the purpose, by status (data, not code): what a "commission" boot does
// when the machine is testing or erasing its disks.
var bootArgs = map[lifecycle.Status][]string{
	lifecycle.Testing:     {"ironkit.test=1"},
	lifecycle.DiskErasing: {"ironkit.erase=1"},
}

// installedSinceDeploy reports whether the machine signalled "installed"
// after it last entered Deploying: the image is on its disk, so it boots
// from the disk (purpose local) while the installed system comes up and
// signals "booted". Netbooting the deployment again would loop.
func installedSinceDeploy(ctx context.Context, st *store.Store, systemID string) (bool, error) {
	evs, err := st.Events(ctx, systemID)
	if err != nil {
		return false, err
	}
	var deploy, installed int64
	for _, e := range evs {
		switch {
		case e.To == lifecycle.Deploying && e.From != lifecycle.Deploying:
			deploy = e.ID
		case e.Type == "installed":
			installed = e.ID
		}
	}
	return installed > deploy, nil
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
		Hostname: m.Hostname, Purpose: bootPurpose(m.Status)}, Args: slices.Clone(bootArgs[m.Status])}
	if m.Status == lifecycle.Deploying {
		done, err := installedSinceDeploy(ctx, st, m.SystemID)
		if err != nil {
			return rpc.BootReply{}, err
		}
		if done {
			// No token either: minting one would revoke the one the
			// installed system phones home with.
			out.Purpose = "local"
			return out, nil
		}
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
