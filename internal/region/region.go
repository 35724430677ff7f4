// Package region wires the region controller: it opens the store, builds the
// backend, the durable job runner and the HTTP server from one
// config.Config, and runs them together (Service.Run). It also holds the
// administrative operations behind `regiond init`, `createadmin` and
// `secret` so they are testable without a process.
//
// It does not parse flags or read the environment (cmd/regiond does) and
// owns no persistent state; the API cache (api.Cache) it wires is memory
// kept exact by the store's change notifications (followCache).
package region

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/backend"
	"github.com/ironkit/ironkit/internal/region/bootres"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/region/web"
	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/store"
)

// Version is the region's software version.
const Version = "0.1.0"

// Options are what a Service needs besides the config.
type Options struct {
	// Logger; nil discards.
	Logger *slog.Logger
	// Registry receives every collector and is served at /metrics; nil
	// creates a private one (never the global default).
	Registry *prometheus.Registry
	// Power executes power operations; nil runs the power package's drivers
	// from the region (backend.DriverPower).
	Power jobs.PowerExecutor
	// Prober checks claimed addresses on the network before a deployment
	// (the rack RPC: a rack pings them); nil skips the check.
	Prober jobs.ConflictProber
	// Hasher hashes passwords; zero is auth.DefaultHasher().
	Hasher auth.Hasher
	// RPC is mounted at /rpc/v1 (the rack RPC, issue 8); nil mounts nothing.
	RPC http.Handler
	// RackCommands queues operator commands for racks (the rack RPC);
	// nil serves no rack command routes.
	RackCommands api.RackCommands
	// StoreOptions are passed to store.Open.
	StoreOptions []store.Option
	// ImagePeers are base URLs of other regions ("http://region2:5240")
	// whose images directories this region copies boot-resource bytes from
	// (images.StoreConfig.Peers); the metadata itself is shared through the
	// database. Empty: every region needs the bytes on its own disk (or a
	// shared images_dir).
	ImagePeers []string
	// HeartbeatInterval is how often a running region refreshes its
	// last_seen in the regions table; zero is 30 s.
	HeartbeatInterval time.Duration
	// WebPollInterval is how often the web page polls for changes; zero is
	// the web package's default.
	WebPollInterval time.Duration
	// NoCache turns the API's cache off (api.Cache: machines as JSON and
	// API keys in memory, invalidated by the store's change notifications);
	// every request then reads the database. For measurements.
	NoCache bool
}

// Service is a running region: store, backend, jobs and API.
type Service struct {
	cfg    config.Config
	log    *slog.Logger
	st     *store.Store
	be     *backend.Backend
	runner *jobs.Runner
	srv    *api.Server
	boot   *bootres.Service
	images *images.Store
	beat   time.Duration
	cache  *api.Cache // nil with Options.NoCache
}

// Open opens the database (applying migrations) and builds every part.
func Open(ctx context.Context, cfg config.Config, o Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	st, err := store.Open(ctx, cfg.Database, append([]store.Option{store.WithLogger(o.Logger)}, o.StoreOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("region: open database: %w", err)
	}
	// database/sql keeps only 2 idle connections by default: under load
	// every other request would open a new PostgreSQL connection.
	st.SQLDB().SetMaxIdleConns(cfg.DBConnections)
	if st.Backend() == store.Postgres {
		st.SQLDB().SetMaxOpenConns(cfg.DBConnections)
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 30 * time.Second
	}
	s := &Service{cfg: cfg, log: o.Logger, st: st, beat: o.HeartbeatInterval}
	fail := func(err error) (*Service, error) {
		s.Close()
		return nil, err
	}
	s.boot = bootres.New(o.Logger.With("part", "boot-resources"))
	// Metadata in the store (shared by every region on the database), bytes
	// in images_dir.
	s.images, err = images.NewStore(images.StoreConfig{Dir: cfg.ImagesDir, Catalog: st.BootResources(),
		Peers: append(append([]string(nil), cfg.ImagesPeers...), o.ImagePeers...), Logger: o.Logger.With("part", "images"), Registerer: o.Registry, OnProgress: s.boot.OnProgress})
	if err != nil {
		return fail(fmt.Errorf("region: image store in %s: %w", cfg.ImagesDir, err))
	}
	if err := adoptFileCatalog(ctx, cfg.ImagesDir, st.BootResources(), o.Logger); err != nil {
		return fail(fmt.Errorf("region: move boot-resource metadata from %s into the database: %w", cfg.ImagesDir, err))
	}
	s.boot.Attach(s.images)
	powerTypes := power.NewRegistry(power.WithEnv(power.Env{Logger: o.Logger}))
	// Every region enqueues jobs; one with jobs.disabled works none (its
	// River client is insert-only) and leaves them to the others.
	{
		// River shares the store's *sql.DB on both backends (the store talks
		// to PostgreSQL through pgx's database/sql driver, over which River's
		// leader election works; over bun's pgdriver it did not).
		db, kind := st.SQLDB(), jobs.SQLite
		if st.Backend() == store.Postgres {
			kind = jobs.Postgres
		}
		// The workers' view of machines enqueues nothing itself; the API's
		// backend below enqueues to the runner.
		inner, err := backend.New(backend.Config{Store: st, Logger: o.Logger.With("part", "backend")})
		if err != nil {
			return fail(err)
		}
		pw := o.Power
		if pw == nil {
			pw = inner.NewDriverPower(powerTypes,
				power.NewEngine(power.WithLogger(o.Logger), power.WithMetrics(o.Registry)))
		}
		s.runner, err = jobs.New(ctx, jobs.Config{
			DB: db, Backend: kind, Machines: inner.JobMachines(), Power: pw, Prober: o.Prober,
			Workers: cfg.Jobs.Workers, SweepInterval: cfg.Jobs.SweepInterval.D(),
			PowerPollInterval: cfg.Jobs.PowerPollInterval.D(), RescueAfter: cfg.Jobs.RescueAfter.D(), PowerPollConcurrency: cfg.Jobs.PowerPollConcurrency,
			Logger: o.Logger.With("part", "jobs"), Registerer: o.Registry, InsertOnly: cfg.Jobs.Disabled,
		})
		if err != nil {
			return fail(err)
		}
		s.be, err = backend.New(backend.Config{Store: st, Jobs: s.runner, Power: pw, Logger: o.Logger.With("part", "backend"),
			RootImage: s.boot.RootImage, PowerTypes: powerTypes})
		if err != nil {
			return fail(err)
		}
	}
	if !o.NoCache {
		s.cache = api.NewCache(st.ChangesState)
		st.OnCommit(func(ch store.Change) { invalidate(s.cache, ch) })
	}
	ab := s.be.API()
	ab.BootResources, ab.Images = s.boot, s.images.Handler()
	if o.RackCommands != nil {
		ab.RackCommands = o.RackCommands
	}
	s.srv, err = api.New(api.Config{
		Listen: cfg.Listen, Version: Version, Backend: ab, RPC: o.RPC,
		Logger: o.Logger.With("part", "api"), Registerer: o.Registry, Gatherer: o.Registry,
		Hasher: o.Hasher, ShutdownTimeout: cfg.ShutdownTimeout.D(), SecretParam: backend.SecretParam(powerTypes), Cache: s.cache,
		UI: func(apiHandler http.Handler) (http.Handler, error) {
			return web.New(web.Config{API: apiHandler, Logger: o.Logger.With("part", "web"), PollInterval: o.WebPollInterval})
		},
	})
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// adoptFileCatalog moves boot-resource metadata that a region kept in
// images_dir/catalog.json (before metadata moved to the database) into the
// store, keeping sets the store already has, then renames the file to
// catalog.json.imported so it is not read again.
func adoptFileCatalog(ctx context.Context, dir string, cat images.Catalog, log *slog.Logger) error {
	p := filepath.Join(dir, "catalog.json")
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	fc, err := images.OpenFileCatalog(p)
	if err != nil {
		return err
	}
	sets, err := fc.ListSets(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, set := range sets {
		if _, err := cat.GetSet(ctx, set.Key, set.Version); err == nil {
			continue
		} else if !errors.Is(err, images.ErrNotFound) {
			return err
		}
		if err := cat.PutSet(ctx, set); err != nil {
			return err
		}
		n++
	}
	if err := os.Rename(p, p+".imported"); err != nil {
		return err
	}
	log.Info("boot-resource metadata moved from the images directory into the database",
		"file", p, "sets", len(sets), "added", n, "renamed_to", p+".imported")
	return nil
}

// Run serves the API and works jobs until ctx ends or one of them fails.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.srv.Run(gctx) })
	g.Go(func() error { return s.heartbeat(gctx, s.cfg.Listen) })
	g.Go(func() error { return s.boot.Run(gctx) })
	g.Go(func() error { return s.images.Run(gctx) })
	g.Go(func() error { return s.followBootResources(gctx) })
	g.Go(func() error { return s.followCache(gctx) })
	if s.runner != nil {
		g.Go(func() error { return s.runner.Run(gctx) })
	}
	return g.Wait()
}

// Serve is Run with the API on an existing listener (tests).
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.srv.Serve(gctx, ln) })
	g.Go(func() error { return s.heartbeat(gctx, ln.Addr().String()) })
	g.Go(func() error { return s.boot.Run(gctx) })
	g.Go(func() error { return s.images.Run(gctx) })
	g.Go(func() error { return s.followBootResources(gctx) })
	g.Go(func() error { return s.followCache(gctx) })
	if s.runner != nil {
		g.Go(func() error { return s.runner.Run(gctx) })
	}
	return g.Wait()
}

// heartbeat registers this region in the regions table (identity: the
// host's name and the listen address, so a restarted regiond keeps its row)
// and refreshes its last_seen every HeartbeatInterval until ctx ends. A
// failed refresh is logged and retried on the next tick; a row deleted
// meanwhile is registered again.
func (s *Service) heartbeat(ctx context.Context, addr string) error {
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("region: host name for the regions table: %w", err)
	}
	id, err := s.be.RegisterRegion(ctx, host, addr, Version)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("region: register %s (%s) in the regions table: %w", host, addr, err)
	}
	s.log.Info("region registered", "id", id, "hostname", host, "address", addr)
	t := time.NewTicker(s.beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := s.be.TouchRegion(ctx, id)
		if errors.Is(err, api.ErrNotFound) {
			id, err = s.be.RegisterRegion(ctx, host, addr, Version)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("region heartbeat failed; retrying on the next tick", "id", id, "err", err)
		}
	}
}

// followBootResources wakes the images store whenever boot-resource
// metadata changes in the store (another region imported, uploaded or
// pruned), until ctx ends.
func (s *Service) followBootResources(ctx context.Context) error {
	changes, err := s.st.Changes(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // shutting down while the listener connected
		}
		return fmt.Errorf("region: follow boot-resource changes: %w", err)
	}
	return s.boot.FollowChanges(ctx, changes)
}

// Handler is the API's http.Handler.
func (s *Service) Handler() http.Handler { return s.srv.Handler() }

// Backend is the region's backend (admin operations, tests).
func (s *Service) Backend() *backend.Backend { return s.be }

// Cache is the API's cache (nil with Options.NoCache).
func (s *Service) Cache() *api.Cache { return s.cache }

// Store is the region's store.
func (s *Service) Store() *store.Store { return s.st }

// Close releases the database pools; call it after Run returned.
func (s *Service) Close() error {
	var errs []error
	if s.images != nil {
		errs = append(errs, s.images.Close())
	}
	if s.st != nil {
		errs = append(errs, s.st.Close())
	}
	return errors.Join(errs...)
}
