package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/sync/errgroup"

	"github.com/ironkit/ironkit/lifecycle"
)

// Job arguments; their Kind is what the river_job table stores.

// BootArgs: PXE-boot a machine into the ephemeral environment while it is
// in Status (Commissioning, Testing, EnteringRescueMode).
type BootArgs struct {
	SystemID string           `json:"system_id"`
	Status   lifecycle.Status `json:"status"`
}

// Kind implements river.JobArgs.
func (BootArgs) Kind() string { return "boot" }

// DeployArgs: claim the machine's addresses, probe them, PXE-boot it to
// install.
type DeployArgs struct {
	SystemID string `json:"system_id"`
}

// Kind implements river.JobArgs.
func (DeployArgs) Kind() string { return "deploy" }

// ReleaseArgs: power a Releasing machine off and free it, or PXE-boot a
// DiskErasing machine to erase its disks.
type ReleaseArgs struct {
	SystemID string `json:"system_id"`
}

// Kind implements river.JobArgs.
func (ReleaseArgs) Kind() string { return "release" }

// FinishArgs: power a machine in Status (Op, no PXE: it boots from disk)
// and then apply Event, e.g. leaving rescue mode: cycle, rescue-exited.
type FinishArgs struct {
	SystemID string           `json:"system_id"`
	Status   lifecycle.Status `json:"status"`
	Op       PowerOp          `json:"op"`
	Event    lifecycle.Action `json:"event"`
}

// Kind implements river.JobArgs.
func (FinishArgs) Kind() string { return "finish" }

type finishWorker struct {
	river.WorkerDefaults[FinishArgs]
	r *Runner
}

func (w *finishWorker) Work(ctx context.Context, job *river.Job[FinishArgs]) error {
	r, a := w.r, job.Args
	if _, ok, err := r.stillIn(ctx, "finish", a.SystemID, a.Status); err != nil || !ok {
		return err
	}
	if _, err := r.cfg.Power.Power(ctx, a.SystemID, PowerRequest{Op: a.Op}); err != nil {
		if final(job.JobRow) {
			return r.fail(ctx, "finish", a.SystemID, a.Status, fmt.Sprintf("power %s: %v (after %d attempts)", a.Op, err, job.Attempt))
		}
		r.count("finish", "retry")
		return err
	}
	err := r.cfg.Machines.Event(ctx, a.SystemID, a.Status, a.Event, fmt.Sprintf("power %s done", a.Op))
	if errors.Is(err, ErrMoved) {
		err = nil
	}
	if err == nil {
		r.count("finish", "ok")
	}
	return err
}

// PowerArgs: one power operation asked for through the API.
type PowerArgs struct {
	SystemID string  `json:"system_id"`
	Op       PowerOp `json:"op"`
	PXE      bool    `json:"pxe,omitempty"`
	// While, when set, makes the operation conditional: it runs only if
	// the machine is still in this status. Jobs of one machine are not
	// ordered, so the power-off queued when a machine returns to Ready
	// could otherwise run (or retry) after a deploy already powered it on.
	While lifecycle.Status `json:"while,omitempty"`
}

// Kind implements river.JobArgs.
func (PowerArgs) Kind() string { return "power" }

// SweepArgs: fail machines whose deadline expired.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "deadline-sweep" }

// InsertOpts makes sweeps unique while one is pending or running, so a slow
// sweep does not pile up.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateScheduled, rivertype.JobStateRetryable}}}
}

// PollArgs: query every machine's power state.
type PollArgs struct{}

// Kind implements river.JobArgs.
func (PollArgs) Kind() string { return "power-poll" }

// InsertOpts makes polls unique while one is pending.
func (PollArgs) InsertOpts() river.InsertOpts { return SweepArgs{}.InsertOpts() }

func (r *Runner) count(kind, outcome string) { r.m.done.WithLabelValues(kind, outcome).Inc() }

// final reports whether this was the job's last attempt.
func final(row *rivertype.JobRow) bool { return row.Attempt >= row.MaxAttempts }

// stillIn reports whether the machine is in status in; a machine that moved
// on (aborted, done, deleted) means the job has nothing left to do.
func (r *Runner) stillIn(ctx context.Context, kind, id string, in ...lifecycle.Status) (lifecycle.Status, bool, error) {
	st, err := r.cfg.Machines.Status(ctx, id)
	if err != nil {
		return "", false, err
	}
	for _, s := range in {
		if st == s {
			return st, true, nil
		}
	}
	r.log.Info("job has nothing to do: machine moved on", "job", kind, "system_id", id, "status", st)
	r.count(kind, "moved")
	return st, false, nil
}

// fail moves the machine to its Failed status; a machine that moved on
// meanwhile is left alone.
func (r *Runner) fail(ctx context.Context, kind, id string, in lifecycle.Status, reason string) error {
	r.log.Warn("job failed the machine", "job", kind, "system_id", id, "status", in, "reason", reason)
	r.count(kind, "failed")
	err := r.cfg.Machines.Event(ctx, id, in, lifecycle.EventFailed, reason)
	if errors.Is(err, ErrMoved) {
		return nil
	}
	return err
}

// pxeBoot sets the next boot to PXE and powers the machine on, or cycles it
// when it is already on.
func (r *Runner) pxeBoot(ctx context.Context, id string) error {
	st, err := r.cfg.Power.Power(ctx, id, PowerRequest{Op: PowerQuery})
	if err != nil {
		return fmt.Errorf("query power: %w", err)
	}
	op := PowerOn
	if st == StateOn {
		op = PowerCycle
	}
	if _, err := r.cfg.Power.Power(ctx, id, PowerRequest{Op: op, PXE: true}); err != nil {
		return fmt.Errorf("power %s with PXE boot: %w", op, err)
	}
	return nil
}

// bootStep PXE-boots a machine in status in; after the last failed attempt
// the machine goes to its Failed status and the job ends.
func (r *Runner) bootStep(ctx context.Context, row *rivertype.JobRow, kind, id string, in lifecycle.Status) error {
	if err := r.pxeBoot(ctx, id); err != nil {
		if final(row) {
			return r.fail(ctx, kind, id, in, fmt.Sprintf("%s: %v (after %d attempts)", kind, err, row.Attempt))
		}
		r.count(kind, "retry")
		return err // River retries with back-off
	}
	r.count(kind, "ok")
	return nil
}

type bootWorker struct {
	river.WorkerDefaults[BootArgs]
	r *Runner
}

func (w *bootWorker) Work(ctx context.Context, job *river.Job[BootArgs]) error {
	id, st := job.Args.SystemID, job.Args.Status
	if _, ok, err := w.r.stillIn(ctx, "boot", id, st); err != nil || !ok {
		return err
	}
	// The machine then waits for the ephemeral environment's report
	// (metadata endpoints) or the deadline (sweeper); no job blocks meanwhile.
	return w.r.bootStep(ctx, job.JobRow, "boot", id, st)
}

type deployWorker struct {
	river.WorkerDefaults[DeployArgs]
	r *Runner
}

func (w *deployWorker) Work(ctx context.Context, job *river.Job[DeployArgs]) error {
	r, id := w.r, job.Args.SystemID
	if _, ok, err := r.stillIn(ctx, "deploy", id, lifecycle.Deploying); err != nil || !ok {
		return err
	}
	addrs, err := r.cfg.Machines.ClaimIPs(ctx, id)
	if err != nil {
		if final(job.JobRow) {
			return r.fail(ctx, "deploy", id, lifecycle.Deploying, fmt.Sprintf("claim IP addresses: %v", err))
		}
		return err
	}
	if r.cfg.Prober != nil && len(addrs) > 0 {
		inUse, err := r.cfg.Prober.Probe(ctx, id, addrs)
		if err != nil && !final(job.JobRow) {
			return fmt.Errorf("probe addresses: %w", err)
		}
		if len(inUse) > 0 {
			_ = r.cfg.Machines.ReleaseIPs(ctx, id)
			return r.fail(ctx, "deploy", id, lifecycle.Deploying, fmt.Sprintf(
				"address %s already answers on the network: reserve it (ipaddresses) or free it, then deploy again", joinAddrs(inUse)))
		}
	}
	return r.bootStep(ctx, job.JobRow, "deploy", id, lifecycle.Deploying)
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

type releaseWorker struct {
	river.WorkerDefaults[ReleaseArgs]
	r *Runner
}

func (w *releaseWorker) Work(ctx context.Context, job *river.Job[ReleaseArgs]) error {
	r, id := w.r, job.Args.SystemID
	st, ok, err := r.stillIn(ctx, "release", id, lifecycle.Releasing, lifecycle.DiskErasing)
	if err != nil || !ok {
		return err
	}
	if st == lifecycle.DiskErasing {
		// The erase environment boots, erases and signals; the deadline
		// covers a machine that never does.
		return r.bootStep(ctx, job.JobRow, "release", id, lifecycle.DiskErasing)
	}
	if _, err := r.cfg.Power.Power(ctx, id, PowerRequest{Op: PowerOff}); err != nil {
		if final(job.JobRow) {
			return r.fail(ctx, "release", id, lifecycle.Releasing, fmt.Sprintf("power off: %v (after %d attempts)", err, job.Attempt))
		}
		r.count("release", "retry")
		return err
	}
	if err := r.cfg.Machines.ReleaseIPs(ctx, id); err != nil {
		return err
	}
	err = r.cfg.Machines.Event(ctx, id, lifecycle.Releasing, lifecycle.EventReleased, "powered off and released")
	if errors.Is(err, ErrMoved) {
		err = nil
	}
	if err == nil {
		r.count("release", "ok")
	}
	return err
}

type powerWorker struct {
	river.WorkerDefaults[PowerArgs]
	r *Runner
}

func (w *powerWorker) Work(ctx context.Context, job *river.Job[PowerArgs]) error {
	r, a := w.r, job.Args
	if a.While != "" {
		now, err := r.cfg.Machines.Status(ctx, a.SystemID)
		if err != nil {
			return err
		}
		if now != a.While {
			r.log.Debug("power operation superseded", "system_id", a.SystemID, "op", a.Op, "queued_in", a.While, "now", now)
			r.count("power", "superseded")
			return nil
		}
	}
	st, err := r.cfg.Power.Power(ctx, a.SystemID, PowerRequest{Op: a.Op, PXE: a.PXE})
	if err != nil {
		if final(job.JobRow) {
			r.log.Warn("power operation failed", "system_id", a.SystemID, "op", a.Op, "err", err)
			r.count("power", "failed")
			return river.JobCancel(err)
		}
		return err
	}
	r.count("power", "ok")
	return r.cfg.Machines.RecordPowerState(ctx, a.SystemID, st)
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	r *Runner
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	r := w.r
	expired, err := r.cfg.Machines.FailExpired(ctx)
	if err != nil {
		return err
	}
	for _, e := range expired {
		r.m.expiries.Inc()
		r.log.Warn("deadline expired", "system_id", e.SystemID, "status", e.Status)
	}
	r.count("deadline-sweep", "ok")
	return nil
}

type pollWorker struct {
	river.WorkerDefaults[PollArgs]
	r *Runner
}

// pollTimeout bounds one BMC query, so one dead BMC cannot hold a slot.
const pollTimeout = 30 * time.Second

func (w *pollWorker) Work(ctx context.Context, _ *river.Job[PollArgs]) error {
	r := w.r
	ids, err := r.cfg.Machines.PowerTargets(ctx)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.PowerPollConcurrency)
	for _, id := range ids {
		g.Go(func() error {
			qctx, cancel := context.WithTimeout(gctx, pollTimeout)
			defer cancel()
			st, err := r.cfg.Power.Power(qctx, id, PowerRequest{Op: PowerQuery})
			if err != nil {
				r.m.polled.WithLabelValues("error").Inc()
				r.log.Debug("power query failed", "system_id", id, "err", err)
				st = StateUnknown
			} else {
				r.m.polled.WithLabelValues("ok").Inc()
			}
			if err := r.cfg.Machines.RecordPowerState(gctx, id, st); err != nil {
				r.log.Warn("record power state", "system_id", id, "err", err)
			}
			return nil
		})
	}
	_ = g.Wait()
	r.count("power-poll", "ok")
	return nil
}
