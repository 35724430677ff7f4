package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ironkit/ironkit/lifecycle"
)

// ErrMoved is returned by Machines.Event when the machine is no longer in
// the expected status.
var ErrMoved = errors.New("machine moved on")

// Backend says which database the *sql.DB talks to.
type Backend string

// Backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Config configures the Runner.
type Config struct {
	// DB is the store's database; Backend names its engine.
	DB      *sql.DB
	Backend Backend
	// Machines, Power (required) and Prober (optional) are what workers use.
	Machines Machines
	Power    PowerExecutor
	Prober   ConflictProber
	// Workers bounds jobs running at once in this process (default 20).
	Workers int
	// SweepInterval: how often the deadline sweeper runs (default 30s).
	SweepInterval time.Duration
	// PowerPollInterval: how often all power states are queried (default
	// 5m); PowerPollConcurrency bounds BMC queries in flight (default 10).
	PowerPollInterval    time.Duration
	PowerPollConcurrency int
	// PowerAttempts: attempts of a power operation job before the machine
	// is marked failed (default 3).
	PowerAttempts int
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the runner's collectors; nil registers none.
	Registerer prometheus.Registerer
	// InsertOnly enqueues jobs but works none and schedules no periodic
	// jobs: an API-only region whose jobs other regions work.
	InsertOnly bool
	// RescueAfter: a job running this long is considered abandoned by a
	// dead region and run again (default 10m). Keep it above the longest
	// job (power operations with retries, a few minutes).
	RescueAfter time.Duration
	// FetchPollInterval is how often idle workers look for new jobs when no
	// notification wakes them (SQLite always polls). Default 1s.
	FetchPollInterval time.Duration
}

// Runner runs the region's jobs. A service: New, then Run(ctx).
type Runner struct {
	cfg    Config
	log    *slog.Logger
	client *river.Client[*sql.Tx]
	m      metrics
	// starting is held for writing while River's client starts: River
	// v0.31.0 races when Insert runs concurrently with Start (the producer's
	// fetch limiter is set up in Start and read by Insert's fetch trigger),
	// so inserts wait for Start to return.
	starting sync.RWMutex
}

type metrics struct {
	done     *prometheus.CounterVec
	polled   *prometheus.CounterVec
	expiries prometheus.Counter
}

// New migrates River's tables and builds the runner.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.DB == nil || cfg.Machines == nil || cfg.Power == nil {
		return nil, errors.New("jobs: Config.DB, Config.Machines and Config.Power are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 20
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 30 * time.Second
	}
	if cfg.PowerPollInterval <= 0 {
		cfg.PowerPollInterval = 5 * time.Minute
	}
	if cfg.PowerPollConcurrency <= 0 {
		cfg.PowerPollConcurrency = 10
	}
	if cfg.PowerAttempts <= 0 {
		cfg.PowerAttempts = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = time.Second
	}
	r := &Runner{cfg: cfg, log: cfg.Logger}
	r.m = metrics{
		done: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ironkit", Subsystem: "region",
			Name: "jobs_completed_total", Help: "Jobs worked, by kind and outcome."}, []string{"kind", "outcome"}),
		polled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ironkit", Subsystem: "region",
			Name: "power_polls_total", Help: "Power-state queries by outcome."}, []string{"outcome"}),
		expiries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ironkit", Subsystem: "region",
			Name: "deadline_expiries_total", Help: "Machines failed by the deadline sweeper."}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.m.done, r.m.polled, r.m.expiries} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("jobs: register metrics: %w", err)
			}
		}
	}

	var driver riverdriver.Driver[*sql.Tx]
	switch cfg.Backend {
	case SQLite:
		driver = riversqlite.New(cfg.DB)
	case Postgres:
		driver = riverdatabasesql.New(cfg.DB)
	default:
		return nil, fmt.Errorf("jobs: Config.Backend %q: use %q or %q", cfg.Backend, SQLite, Postgres)
	}
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("jobs: migrator: %w", err)
	}
	if err := migrateRiver(ctx, cfg, mig); err != nil {
		return nil, fmt.Errorf("jobs: migrate River's tables: %w", err)
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &bootWorker{r: r})
	river.AddWorker(workers, &deployWorker{r: r})
	river.AddWorker(workers, &releaseWorker{r: r})
	river.AddWorker(workers, &powerWorker{r: r})
	river.AddWorker(workers, &finishWorker{r: r})
	river.AddWorker(workers, &sweepWorker{r: r})
	river.AddWorker(workers, &pollWorker{r: r})
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil }, &river.PeriodicJobOpts{ID: "sweep", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(cfg.PowerPollInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PollArgs{}, nil }, &river.PeriodicJobOpts{ID: "power-poll"}),
	}
	if cfg.InsertOnly {
		queues, periodic = nil, nil
	}
	r.client, err = river.NewClient(driver, &river.Config{
		Logger:            cfg.Logger,
		Queues:            queues,
		Workers:           workers,
		FetchPollInterval: cfg.FetchPollInterval,
		FetchCooldown:     min(100*time.Millisecond, cfg.FetchPollInterval),
		// River wants JobTimeout ≤ RescueStuckJobsAfter.
		JobTimeout: min(5*time.Minute, cmp.Or(cfg.RescueAfter, 10*time.Minute)),
		// A killed region's running jobs are rescued by the leader after
		// this long.
		RescueStuckJobsAfter: cmp.Or(cfg.RescueAfter, 10*time.Minute),
		PeriodicJobs:         periodic,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return r, nil
}

// Run works jobs until ctx ends, then lets running jobs finish for up to
// 10 seconds before cancelling them.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.InsertOnly {
		<-ctx.Done()
		return nil
	}
	r.starting.Lock()
	err := r.client.Start(ctx)
	r.starting.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("jobs: start: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.client.Stop(sctx); err != nil {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		if err := r.client.StopAndCancel(cctx); err != nil {
			return fmt.Errorf("jobs: stop: %w", err)
		}
	}
	return nil
}

// Client exposes River's client (job inspection in tests and tools).
func (r *Runner) Client() *river.Client[*sql.Tx] { return r.client }

// insert enqueues a job, inside tx when it is not nil (so the job exists
// if and only if the transition that needs it commits).
//
// Only Insert (outside a transaction) pokes the local producer and so must
// wait for Start; InsertTx does not, and must not wait: on SQLite the
// caller's transaction holds the write lock Start may need.
func (r *Runner) insert(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	var err error
	if tx != nil {
		_, err = r.client.InsertTx(ctx, tx, args, opts)
	} else {
		r.starting.RLock()
		_, err = r.client.Insert(ctx, args, opts)
		r.starting.RUnlock()
	}
	if err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// Boot enqueues the PXE boot of a machine now in status (Commissioning,
// Testing, EnteringRescueMode) into the ephemeral environment.
func (r *Runner) Boot(ctx context.Context, tx *sql.Tx, systemID string, status lifecycle.Status) error {
	return r.insert(ctx, tx, BootArgs{SystemID: systemID, Status: status}, &river.InsertOpts{MaxAttempts: r.cfg.PowerAttempts})
}

// Deploy enqueues deployment of a machine now in Deploying.
func (r *Runner) Deploy(ctx context.Context, tx *sql.Tx, systemID string) error {
	return r.insert(ctx, tx, DeployArgs{SystemID: systemID}, &river.InsertOpts{MaxAttempts: r.cfg.PowerAttempts})
}

// Release enqueues release of a machine now in Releasing or DiskErasing.
func (r *Runner) Release(ctx context.Context, tx *sql.Tx, systemID string) error {
	return r.insert(ctx, tx, ReleaseArgs{SystemID: systemID}, &river.InsertOpts{MaxAttempts: r.cfg.PowerAttempts})
}

// Finish enqueues a power operation on a machine in status followed by the
// internal event ev (leaving rescue mode: PowerCycle, EventRescueExited).
func (r *Runner) Finish(ctx context.Context, tx *sql.Tx, systemID string, status lifecycle.Status, op PowerOp, ev lifecycle.Action) error {
	return r.insert(ctx, tx, FinishArgs{SystemID: systemID, Status: status, Op: op, Event: ev}, &river.InsertOpts{MaxAttempts: r.cfg.PowerAttempts})
}

// Power enqueues a plain power operation (power on/off from the API) with
// retries; it changes no status.
func (r *Runner) Power(ctx context.Context, tx *sql.Tx, systemID string, op PowerOp, pxe bool) error {
	return r.insert(ctx, tx, PowerArgs{SystemID: systemID, Op: op, PXE: pxe}, &river.InsertOpts{MaxAttempts: r.cfg.PowerAttempts})
}

// PowerOffWhile enqueues a power-off, with retries, that applies only while
// the machine stays in status (the machine went back to the pool, failed, or
// was aborted). It changes no status, and a later action that powers the
// machine on wins whatever order the jobs run in.
func (r *Runner) PowerOffWhile(ctx context.Context, tx *sql.Tx, systemID string, status lifecycle.Status) error {
	return r.insert(ctx, tx, PowerArgs{SystemID: systemID, Op: PowerOff, While: status}, &river.InsertOpts{MaxAttempts: r.cfg.PowerAttempts})
}

// SweepNow enqueues an immediate deadline sweep.
func (r *Runner) SweepNow(ctx context.Context) error { return r.insert(ctx, nil, SweepArgs{}, nil) }

// PollNow enqueues an immediate power-state poll.
func (r *Runner) PollNow(ctx context.Context) error { return r.insert(ctx, nil, PollArgs{}, nil) }

// riverMigrateLockKey serialises River's migrations between regions.
const riverMigrateLockKey = 0x69726f6e726976 // "ironriv"

// migrateRiver applies River's migrations. On PostgreSQL several regions
// starting at once would race creating the same types (seen: duplicate key
// in pg_type_typname_nsp_index), so each holds a session advisory lock on
// a connection of its own while migrating (River's migrations cannot share
// one transaction: one adds an enum value another then uses).
func migrateRiver(ctx context.Context, cfg Config, mig *rivermigrate.Migrator[*sql.Tx]) error {
	if cfg.Backend != Postgres {
		_, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	conn, err := cfg.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(riverMigrateLockKey)); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(riverMigrateLockKey)) //nolint:errcheck // closing the session releases it anyway
	_, err = mig.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}
