package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
)

// WithLifecycle sets the transition table Transition decides with (default
// lifecycle.DefaultTable()).
func WithLifecycle(t lifecycle.Table) Option {
	return func(c *config) { c.table = t }
}

// WithDeadlines sets how long each in-progress status may last without a
// heartbeat (default lifecycle.DefaultDeadlines()).
func WithDeadlines(d lifecycle.Deadlines) Option {
	return func(c *config) { c.deadlines = d }
}

// TransitionRequest is an action on a machine.
type TransitionRequest struct {
	Action  lifecycle.Action
	Options lifecycle.Options
	// User and Reason go into the event.
	User   string
	Reason string
	// Owner is who an allocate action allocates the machine to (default
	// User).
	Owner string
	// Version, when non-zero, is the machine version the caller decided on;
	// if the machine changed since, Transition fails with ErrConflict.
	Version int64
	// InTx, when set, runs inside the transition's transaction after the
	// status change and its event are written, with the underlying
	// *sql.Tx and the machine as it will be once committed (e.g. to
	// enqueue a River job with InsertTx). If it fails, the transaction
	// rolls back: the status change, the event and whatever InTx wrote
	// are all undone, and Transition returns its error. On SQLite the
	// transaction holds the database's write lock, so InTx must use tx
	// (never another connection) for every statement.
	InTx func(ctx context.Context, tx *sql.Tx, m *Machine) error
}

// ownerless statuses clear the owner on entry and free the machine's auto
// addresses (the machine is back in the pool; netmodel.AllocAuto addresses
// live from deployment to release).
var ownerless = map[lifecycle.Status]bool{
	lifecycle.New:     true,
	lifecycle.Ready:   true,
	lifecycle.Retired: true,
}

// Transition applies an action to a machine in one transaction: lifecycle
// decides the next state (an invalid action fails with a
// *lifecycle.TransitionError), and the status change, its deadline, the
// owner (set by allocate, cleared on return to New, Ready or Retired, when
// the machine's auto addresses are freed too) and an event row commit
// together or not at all, with whatever req.InTx does. Optimistic
// concurrency: the machine row is updated only if its version is still the
// one read, so of two concurrent conflicting changes one fails with
// ErrConflict instead of being lost.
func (s *Store) Transition(ctx context.Context, systemID string, req TransitionRequest) (*Machine, error) {
	var out *Machine
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		m, err := s.loadMachine(ctx, tx, systemID)
		if err != nil {
			return err
		}
		if req.Version != 0 && m.Version != req.Version {
			return &ConflictError{Object: "machine", Key: systemID, Version: req.Version}
		}
		out, err = s.applyTransition(ctx, tx, m, req, time.Time{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyTransition moves m (as read in tx) by req. If expiredBefore is set,
// the update also requires the deadline to be still before it, so a
// heartbeat that landed meanwhile wins.
func (s *Store) applyTransition(ctx context.Context, tx *txn, m *Machine, req TransitionRequest, expiredBefore time.Time) (*Machine, error) {
	next, err := s.cfg.table.Apply(m.State(), req.Action, req.Options)
	if err != nil {
		return nil, fmt.Errorf("machine %s (%s): %w", m.SystemID, m.Hostname, err)
	}
	now := s.now()
	var deadline any // NULL unless the new status has one
	var deadlineT time.Time
	if d, ok := s.cfg.deadlines.Start(next.Status, now); ok {
		deadline, deadlineT = d, d
	}
	owner := m.Owner
	if req.Action == lifecycle.ActionAllocate {
		owner = req.Owner
		if owner == "" {
			owner = req.User
		}
	}
	if ownerless[next.Status] {
		owner = ""
	}
	q := tx.NewUpdate().Model((*machineRow)(nil)).
		Set("status = ?", string(next.Status)).
		Set("previous_status = ?", string(next.Previous)).
		Set("locked = ?", next.Locked).
		Set("owner = ?", owner).
		Set("status_deadline = ?", deadline).
		Set("version = version + 1").
		Set("updated_at = ?", now).
		Where("system_id = ? AND version = ?", m.SystemID, m.Version)
	if !expiredBefore.IsZero() {
		q = q.Where("status_deadline < ?", expiredBefore)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, &ConflictError{Object: "machine", Key: m.SystemID, Version: m.Version}
	}
	if ownerless[next.Status] && !ownerless[m.Status] {
		if err := freeAutoAddresses(ctx, tx, m.SystemID); err != nil {
			return nil, err
		}
	}
	ev := &eventRow{
		SystemID: m.SystemID, Type: string(req.Action), FromStatus: string(m.Status),
		ToStatus: string(next.Status), Username: req.User, Reason: req.Reason, CreatedAt: now,
	}
	if err := insertEvent(ctx, tx, ev); err != nil {
		return nil, err
	}
	tx.changed(KindMachine, m.SystemID, OpUpdate)
	// The row is now exactly m plus what this update set (the version
	// guard proves nobody else changed it): no need to read it back.
	out := *m
	out.Status, out.PreviousStatus, out.Locked = next.Status, next.Previous, next.Locked
	out.Owner, out.StatusDeadline = owner, deadlineT
	out.Version, out.UpdatedAt = m.Version+1, now
	if req.InTx != nil {
		if err := req.InTx(ctx, tx.Tx.Tx, &out); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// Heartbeat extends the deadline of a machine in an in-progress status
// (lifecycle.Deadlines.Extend: now plus the status's deadline, never
// shorter). It does not change the version: a heartbeat does not conflict
// with user actions. A machine with no deadline is returned unchanged.
func (s *Store) Heartbeat(ctx context.Context, systemID string) (*Machine, error) {
	var out *Machine
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		m, err := s.loadMachine(ctx, tx, systemID)
		if err != nil {
			return err
		}
		d, ok := s.cfg.deadlines.Extend(m.Status, m.StatusDeadline, s.now())
		if !ok {
			out = m
			return nil
		}
		if _, err := tx.NewUpdate().Model((*machineRow)(nil)).
			Set("status_deadline = ?", d).
			Where("system_id = ? AND status = ?", systemID, string(m.Status)).
			Exec(ctx); err != nil {
			return err
		}
		// The deadline is part of what the API shows of the machine.
		tx.changed(KindMachine, systemID, OpUpdate)
		out, err = s.loadMachine(ctx, tx, systemID)
		return err
	})
	return out, err
}

// SetDeadline sets (or, with the zero time, clears) a machine's status
// deadline, e.g. to give one deployment more time.
func (s *Store) SetDeadline(ctx context.Context, systemID string, deadline time.Time) error {
	var v any
	if !deadline.IsZero() {
		v = deadline.UTC()
	}
	return s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		res, err := tx.NewUpdate().Model((*machineRow)(nil)).
			Set("status_deadline = ?", v).
			Where("system_id = ?", systemID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("machine", "system_id", systemID)
		}
		tx.changed(KindMachine, systemID, OpUpdate)
		return nil
	})
}

// ExpiredMachines returns up to limit machines (all when limit ≤ 0) whose
// status deadline has passed, earliest first.
func (s *Store) ExpiredMachines(ctx context.Context, limit int) ([]*Machine, error) {
	var rows []machineRow
	q := s.db.NewSelect().Model(&rows).
		Where("status_deadline IS NOT NULL AND status_deadline < ?", s.now()).
		Order("status_deadline")
	if limit > 0 {
		q = q.Limit(limit)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	return s.machinesFromRows(ctx, s.db, rows)
}

// FailExpired moves up to limit machines whose deadline has passed to their
// Failed status (lifecycle.EventDeadlineExpired), each with an event, and
// returns them. On PostgreSQL the rows are claimed with FOR UPDATE SKIP
// LOCKED, so regions running it at once split the work instead of
// colliding; a heartbeat committed before the claim wins.
func (s *Store) FailExpired(ctx context.Context, limit int) ([]*Machine, error) {
	if limit <= 0 {
		limit = 100
	}
	var failed []*Machine
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		failed = failed[:0]
		now := s.now()
		var rows []machineRow
		q := tx.NewSelect().Model(&rows).
			Where("status_deadline IS NOT NULL AND status_deadline < ?", now).
			Order("status_deadline").Limit(limit)
		if s.backend == Postgres {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		ms, err := s.machinesFromRows(ctx, tx, rows)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !s.cfg.deadlines.Expired(m.Status, m.StatusDeadline, now) {
				continue // not in progress any more (stale deadline)
			}
			out, err := s.applyTransition(ctx, tx, m, TransitionRequest{
				Action:  lifecycle.EventDeadlineExpired,
				Options: lifecycle.Options{System: true},
				Reason:  fmt.Sprintf("%s deadline %s expired", m.Status.Title(), m.StatusDeadline.Format(time.RFC3339)),
			}, now)
			if errors.Is(err, ErrConflict) {
				continue // a heartbeat or an action got there first
			}
			if err != nil {
				return err
			}
			failed = append(failed, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return failed, nil
}

// Constraints select a machine to allocate; zero fields match any.
type Constraints struct {
	Architecture string
	ZoneID       int64
	PoolID       int64
	Hostname     string
}

// AllocateMachine picks a Ready machine matching c and allocates it to user
// in one transaction. On PostgreSQL candidates are claimed with FOR UPDATE
// SKIP LOCKED, so concurrent allocations never pick the same machine. It
// fails with ErrNotFound when no Ready machine matches.
func (s *Store) AllocateMachine(ctx context.Context, c Constraints, user, reason string) (*Machine, error) {
	var out *Machine
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var rows []machineRow
		q := tx.NewSelect().Model(&rows).Where("status = ?", string(lifecycle.Ready)).
			Where("locked = ?", false).Order("hostname").Limit(1)
		if c.Architecture != "" {
			q = q.Where("architecture = ?", c.Architecture)
		}
		if c.ZoneID != 0 {
			q = q.Where("zone_id = ?", c.ZoneID)
		}
		if c.PoolID != 0 {
			q = q.Where("pool_id = ?", c.PoolID)
		}
		if c.Hostname != "" {
			q = q.Where("hostname = ?", c.Hostname)
		}
		if s.backend == Postgres {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx); err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("no Ready machine matches %+v: %w", c, ErrNotFound)
		}
		ms, err := s.machinesFromRows(ctx, tx, rows)
		if err != nil {
			return err
		}
		out, err = s.applyTransition(ctx, tx, ms[0], TransitionRequest{
			Action: lifecycle.ActionAllocate, User: user, Reason: reason,
		}, time.Time{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// freeAutoAddresses deletes the auto addresses of a machine's interfaces.
func freeAutoAddresses(ctx context.Context, tx *txn, systemID string) error {
	var ids []int64
	err := tx.NewDelete().Model((*ipAddressRow)(nil)).
		Where("alloc_type = ?", string(netmodel.AllocAuto)).
		Where("interface_id IN (?)", tx.NewSelect().Model((*interfaceRow)(nil)).Column("id").Where("system_id = ?", systemID)).
		Returning("id").
		Scan(ctx, &ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		tx.changed(KindIPAddress, id, OpDelete)
	}
	return nil
}
