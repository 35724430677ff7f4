package rackrpc

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// purposeOf is how a machine in a status boots (data, not code).
var purposeOf = map[lifecycle.Status]string{
	lifecycle.Commissioning:      "commission",
	lifecycle.Testing:            "commission",
	lifecycle.Deploying:          "deploy",
	lifecycle.Deployed:           "local",
	lifecycle.DiskErasing:        "commission",
	lifecycle.EnteringRescueMode: "rescue",
	lifecycle.RescueMode:         "rescue",
}

// BuildConfig is the config rack serves: its VLANs (primary or secondary,
// and those relayed to them), their subnets, ranges and managed static
// addresses (DHCP leases and discovered addresses are the racks' own
// reports, not config), the partner racks' addresses and every machine's
// boot purpose.
func (s *Server) BuildConfig(ctx context.Context, rack int64) (rpc.Config, error) {
	gen, _, fp, err := s.snapshot(ctx)
	if err != nil {
		return rpc.Config{}, err
	}
	base, err := s.buildBase(ctx, rack)
	if err != nil {
		return rpc.Config{}, err
	}
	e := s.remember(rack, gen, fp, base)
	cfg := base.Config
	if cfg.Racks, err = s.partnerInfos(ctx, base.partners); err != nil {
		return cfg, err
	}
	cfg.Revision = revision(e.base, cfg.Racks)
	return cfg, nil
}

// baseConfig is a rack's config without the partner racks' addresses
// (which change with heartbeats) and revision.
type baseConfig struct {
	rpc.Config
	partners []int64
}

func (s *Server) buildBase(ctx context.Context, rack int64) (baseConfig, error) {
	s.rev.builds.Add(1)
	st, _ := s.deps()
	cfg := rpc.Config{RackID: rack, Hosts: map[int64]rpc.Host{}}
	all, err := s.allVLANs(ctx, st)
	if err != nil {
		return baseConfig{}, err
	}
	served := map[int64]bool{}
	partners := map[int64]bool{rack: true}
	for _, v := range all {
		if v.DHCPOn && (v.PrimaryRack == rack || v.SecondaryRack == rack) {
			served[v.ID] = true
			partners[v.PrimaryRack], partners[v.SecondaryRack] = true, true
		}
	}
	keep := map[int64]bool{}
	for _, v := range all {
		if served[v.ID] || (v.RelayVLANID != 0 && served[v.RelayVLANID]) {
			keep[v.ID] = true
			cfg.VLANs = append(cfg.VLANs, v)
		}
	}
	subnets, err := st.Subnets(ctx)
	if err != nil {
		return baseConfig{}, err
	}
	for _, sn := range subnets {
		if !keep[sn.VLANID] {
			continue
		}
		cfg.Subnets = append(cfg.Subnets, sn)
		rs, err := st.IPRanges(ctx, sn.ID)
		if err != nil {
			return baseConfig{}, err
		}
		cfg.Ranges = append(cfg.Ranges, rs...)
		as, err := st.Addresses(ctx, sn.ID)
		if err != nil {
			return baseConfig{}, err
		}
		for _, a := range as {
			if a.AllocType != netmodel.AllocDHCP && a.AllocType != netmodel.AllocDiscovered {
				cfg.Static = append(cfg.Static, a)
			}
		}
	}
	ms, err := st.Machines(ctx, store.MachineFilter{})
	if err != nil {
		return baseConfig{}, err
	}
	for _, m := range ms {
		purpose := bootPurpose(m.Status)
		for _, ifc := range m.Interfaces {
			cfg.Hosts[ifc.ID] = rpc.Host{MAC: ifc.MAC.String(), Hostname: m.Hostname}
			cfg.Machines = append(cfg.Machines, rpc.BootMachine{MAC: ifc.MAC.String(), SystemID: m.SystemID,
				Hostname: m.Hostname, Purpose: purpose})
		}
	}
	delete(partners, 0)
	out := baseConfig{Config: cfg}
	for id := range partners {
		out.partners = append(out.partners, id)
	}
	slices.Sort(out.partners)
	return out, nil
}

type rackStatusRow struct {
	RackID         int64     `bun:"rack_id"`
	Name           string    `bun:"name"`
	Address        string    `bun:"address"`
	Interfaces     string    `bun:"interfaces"`
	Services       string    `bun:"services"`
	RogueDHCP      string    `bun:"rogue_dhcp"`
	ConfigRevision string    `bun:"config_revision"`
	Heartbeat      time.Time `bun:"heartbeat"`
}

// RackStatus is a rack's last heartbeat as the region saw it.
type RackStatus struct {
	rpc.RackInfo
	// Address is where the last heartbeat came from (reported, not identity).
	Address        string
	Interfaces     []rpc.Interface
	Services       []rpc.ServiceHealth
	RogueDHCP      []netip.Addr
	ConfigRevision string
	Heartbeat      time.Time
	Alive          bool
}

func (s *Server) rackInfos(ctx context.Context) ([]RackStatus, error) {
	var rows []rackStatusRow
	err := s.db().NewSelect().TableExpr("rack_status AS s").Join("JOIN racks AS r ON r.id = s.rack_id").
		ColumnExpr("s.rack_id, r.name, s.address, s.interfaces, s.services, s.rogue_dhcp, s.config_revision, s.heartbeat").
		OrderExpr("s.rack_id").Scan(ctx, &rows)
	if err != nil {
		return nil, err
	}
	out := make([]RackStatus, 0, len(rows))
	now := time.Now()
	for _, r := range rows {
		rs := RackStatus{RackInfo: rpc.RackInfo{ID: r.RackID, Name: r.Name}, Address: r.Address,
			ConfigRevision: r.ConfigRevision, Heartbeat: r.Heartbeat, Alive: now.Sub(r.Heartbeat) < s.cfg.DeadAfter}
		_ = json.Unmarshal([]byte(r.Interfaces), &rs.Interfaces)
		_ = json.Unmarshal([]byte(r.Services), &rs.Services)
		_ = json.Unmarshal([]byte(r.RogueDHCP), &rs.RogueDHCP)
		for _, ifc := range rs.Interfaces {
			rs.Addresses = append(rs.Addresses, ifc.Addresses...)
		}
		out = append(out, rs)
	}
	return out, nil
}

// Racks returns every rack that ever sent a heartbeat: addresses, services,
// liveness (the rack view; a rack silent for DeadAfter is not Alive).
func (s *Server) Racks(ctx context.Context) ([]RackStatus, error) { return s.rackInfos(ctx) }

func (s *Server) config(w http.ResponseWriter, r *http.Request, rack int64) {
	cfg, err := s.BuildConfig(r.Context(), rack)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, rack int64) {
	var hb rpc.Heartbeat
	if err := readJSON(r, &hb); err != nil {
		writeErr(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	ctx := r.Context()
	ifs, _ := json.Marshal(orEmpty(hb.Interfaces))
	svc, _ := json.Marshal(orEmpty(hb.Services))
	rogue, _ := json.Marshal(orEmpty(hb.RogueDHCP))
	now := time.Now().UTC()
	db := s.db()
	_, err := db.NewRaw(`INSERT INTO rack_status (rack_id, address, interfaces, services, rogue_dhcp, config_revision, heartbeat)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (rack_id) DO UPDATE SET address = EXCLUDED.address, interfaces = EXCLUDED.interfaces,
services = EXCLUDED.services, rogue_dhcp = EXCLUDED.rogue_dhcp, config_revision = EXCLUDED.config_revision, heartbeat = EXCLUDED.heartbeat`,
		rack, remoteIP(r), string(ifs), string(svc), string(rogue), hb.ConfigRevision, now).Exec(ctx)
	if err == nil {
		_, err = db.NewUpdate().Table("racks").Set("last_seen = ?", now).Set("version = ?", hb.Version).Where("id = ?", rack).Exec(ctx)
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	for _, a := range hb.RogueDHCP {
		s.log.Warn("rogue DHCP server reported", "rack_id", rack, "server", a)
	}
	rev, err := s.ConfigRevision(ctx, rack)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rpc.HeartbeatReply{ConfigRevision: rev})
}

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

type commandRow struct {
	ID       int64     `bun:"id"`
	Kind     string    `bun:"kind"`
	Args     string    `bun:"args"`
	State    string    `bun:"state"`
	Deadline time.Time `bun:"deadline"`
	Result   string    `bun:"result"`
	Error    string    `bun:"error"`
}

// Command states.
const (
	statePending   = "pending"
	stateDelivered = "delivered"
	stateDone      = "done"
	stateFailed    = "failed"
)

// poll long-polls for the rack's pending commands; each is handed out once
// (a conditional UPDATE), whichever region the poll reaches.
func (s *Server) poll(w http.ResponseWriter, r *http.Request, rack int64) {
	wait := s.cfg.PollWait
	if v, err := strconv.Atoi(r.URL.Query().Get("wait")); err == nil && v >= 0 && time.Duration(v)*time.Second < wait {
		wait = time.Duration(v) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		woken := s.wake.commands(rack)
		cmds, err := s.claim(ctx, rack)
		if err != nil && ctx.Err() == nil {
			writeErr(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		if len(cmds) > 0 {
			writeJSON(w, http.StatusOK, cmds)
			return
		}
		select {
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, []rpc.Command{})
			return
		case <-s.stopped:
			writeJSON(w, http.StatusOK, []rpc.Command{})
			return
		case <-woken:
		case <-t.C:
		}
	}
}

// claim hands out up to 16 of the rack's pending commands in one
// statement: the outer state check makes a row another region claimed
// meanwhile drop out (PostgreSQL rechecks it on the locked row; SQLite
// writes one at a time), so each command is delivered once.
func (s *Server) claim(ctx context.Context, rack int64) ([]rpc.Command, error) {
	var rows []commandRow
	now := time.Now().UTC()
	err := s.db().NewRaw(`UPDATE rack_commands SET state = ? WHERE state = ? AND id IN (
		SELECT id FROM rack_commands WHERE rack_id = ? AND state = ? AND deadline > ? ORDER BY id LIMIT 16)
		RETURNING id, kind, args, state, deadline, result, error`,
		stateDelivered, statePending, rack, statePending, now).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	slices.SortFunc(rows, func(a, b commandRow) int { return cmp.Compare(a.ID, b.ID) })
	out := make([]rpc.Command, 0, len(rows))
	for _, c := range rows {
		cmd := rpc.Command{ID: c.ID, Kind: c.Kind, Deadline: c.Deadline}
		if c.Args != "" {
			cmd.Args = json.RawMessage(c.Args)
		}
		out = append(out, cmd)
	}
	return out, nil
}

func (s *Server) results(w http.ResponseWriter, r *http.Request, rack int64) {
	var rs []rpc.Result
	if err := readJSON(r, &rs); err != nil {
		writeErr(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	for _, res := range rs {
		state := stateDone
		if !res.OK {
			state = stateFailed
		}
		if _, err := s.db().NewUpdate().Table("rack_commands").Set("state = ?", state).Set("result = ?", string(res.Data)).
			Set("error = ?", res.Error).Set("done_at = ?", time.Now().UTC()).
			Where("id = ? AND rack_id = ? AND state = ?", res.ID, rack, stateDelivered).Exec(r.Context()); err != nil {
			writeErr(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		s.wake.result(res.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request, rack int64) {
	var b rpc.LeaseBatch
	if err := readJSON(r, &b); err != nil {
		writeErr(w, http.StatusBadRequest, "bad-request", err.Error())
		return
	}
	err := s.db().RunInTx(r.Context(), nil, func(ctx context.Context, tx bunTx) error {
		for _, e := range b.Events {
			if _, err := tx.NewRaw(`INSERT INTO rack_lease_events (rack_id, seq, type, addr, mac, hostname, subnet, start_at, expiry)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rack_id, seq) DO NOTHING`,
				rack, int64(e.Seq), e.Type, e.Addr.String(), e.MAC, e.Host, e.Subnet, e.Start.UTC(), e.Expiry.UTC()).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	// Then IPAM, in sequence order; on a failure the rack resends the
	// batch (event rows are deduplicated, IPAM is idempotent).
	evs := slices.Clone(b.Events)
	slices.SortStableFunc(evs, func(a, b rpc.LeaseEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, e := range evs {
		if err := s.ApplyLease(r.Context(), e); err != nil {
			writeErr(w, http.StatusInternalServerError, "internal", "lease "+e.Addr.String()+" to "+e.MAC+": "+err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// Lease is one lease event the region holds.
type Lease struct {
	RackID int64
	rpc.LeaseEvent
}

// Leases returns the lease events racks reported, oldest first.
func (s *Server) Leases(ctx context.Context) ([]Lease, error) {
	var rows []struct {
		RackID   int64     `bun:"rack_id"`
		Seq      int64     `bun:"seq"`
		Type     string    `bun:"type"`
		Addr     string    `bun:"addr"`
		MAC      string    `bun:"mac"`
		Hostname string    `bun:"hostname"`
		Subnet   string    `bun:"subnet"`
		StartAt  time.Time `bun:"start_at"`
		Expiry   time.Time `bun:"expiry"`
	}
	if err := s.db().NewSelect().Table("rack_lease_events").Column("rack_id", "seq", "type", "addr", "mac", "hostname", "subnet", "start_at", "expiry").
		Order("rack_id", "seq").Scan(ctx, &rows); err != nil {
		return nil, err
	}
	out := make([]Lease, 0, len(rows))
	for _, r := range rows {
		a, _ := netip.ParseAddr(r.Addr)
		out = append(out, Lease{RackID: r.RackID, LeaseEvent: rpc.LeaseEvent{Seq: uint64(r.Seq), Type: r.Type, Addr: a, MAC: r.MAC,
			Host: r.Hostname, Subnet: r.Subnet, Start: r.StartAt, Expiry: r.Expiry}})
	}
	return out, nil
}

// Enqueue adds a command for rack and returns its id; the rack picks it up
// on its next poll.
func (s *Server) Enqueue(ctx context.Context, rack int64, kind string, args any) (int64, error) {
	var raw string
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return 0, err
		}
		raw = string(b)
	}
	var id int64
	now := time.Now().UTC()
	// Finished commands are kept an hour (to read results, to debug), then
	// swept on the way.
	if _, err := s.db().NewDelete().Table("rack_commands").Where("state IN (?) AND deadline < ?",
		bunIn([]string{stateDone, stateFailed}), now.Add(-time.Hour)).Exec(ctx); err != nil {
		s.log.Warn("sweep finished rack commands", "err", err)
	}
	err := s.db().NewRaw(`INSERT INTO rack_commands (rack_id, kind, args, state, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		rack, kind, raw, statePending, now.Add(s.cfg.CommandTimeout), now).Scan(ctx, &id)
	if err != nil {
		return 0, fmt.Errorf("rackrpc: enqueue %s for rack %d: %w", kind, rack, err)
	}
	s.wake.enqueued(rack)
	return id, nil
}

// Wait waits for command id's result until ctx ends or its deadline passes.
func (s *Server) Wait(ctx context.Context, id int64) (rpc.Result, error) {
	// A result stored by this region wakes the waiter at once; one stored
	// by another region (the rack's call reached it) is read on the tick.
	t := time.NewTicker(10 * s.cfg.PollInterval)
	defer t.Stop()
	woken := s.wake.waitResult(id)
	defer s.wake.forget(id)
	for {
		var c commandRow
		if err := s.db().NewSelect().Table("rack_commands").Column("id", "kind", "args", "state", "deadline", "result", "error").
			Where("id = ?", id).Scan(ctx, &c); err != nil {
			return rpc.Result{}, fmt.Errorf("rackrpc: command %d: %w", id, err)
		}
		switch c.State {
		case stateDone, stateFailed:
			s.commands.WithLabelValues(c.Kind, c.State).Inc()
			return rpc.Result{ID: id, OK: c.State == stateDone, Error: c.Error, Data: json.RawMessage(c.Result)}, nil
		}
		if time.Now().After(c.Deadline) {
			s.commands.WithLabelValues(c.Kind, "timeout").Inc()
			// Expire it so a late rack does not run it.
			_, _ = s.db().NewUpdate().Table("rack_commands").Set("state = ?", stateFailed).Set("error = ?", "deadline passed").
				Where("id = ? AND state IN (?)", id, bunIn([]string{statePending, stateDelivered})).Exec(context.WithoutCancel(ctx))
			return rpc.Result{}, fmt.Errorf("rackrpc: command %d (%s): no result by its deadline %s", id, c.Kind, c.Deadline.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return rpc.Result{}, ctx.Err()
		case <-woken:
			woken = s.wake.waitResult(id)
		case <-t.C:
		}
	}
}
