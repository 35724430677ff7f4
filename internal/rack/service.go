// Package rack is the rack controller (rackd): it registers with a region
// (HMAC over the shared secret, see internal/rpc), pulls its config, serves
// DHCP (dhcpsrv; a failover pair when its VLAN has a primary and a
// secondary rack), TFTP and HTTP boot (pxe) from the image cache (images),
// executes the region's commands (power through the power package's
// drivers, image sync, reconfigure, address checks) and reports lease
// events, heartbeats, interfaces and service health.
//
// All of it runs under one errgroup in Service.Run. The rack keeps its last
// config on disk and serves from it while no region answers; lease events
// queue on disk and are delivered when a region returns. The Client moves
// between region URLs on its own.
//
// It does not own the wire types (internal/rpc), the region side
// (internal/region/rackrpc) nor the servers themselves (dhcpsrv, pxe,
// images, power).
package rack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sync/errgroup"

	"github.com/ironkit/ironkit/dhcpsrv"
	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/pxe"
)

// Version is rackd's software version.
const Version = "0.1.0"

// Config configures a Service.
type Config struct {
	File    File
	Logger  *slog.Logger
	Version string
	// Registerer receives the rack's collectors; nil: none registered.
	Registerer prometheus.Registerer
	// Interfaces lists the rack's interfaces; nil: LocalInterfaces.
	Interfaces func() ([]rpc.Interface, error)
	// Power is the driver registry; nil: power.NewRegistry().
	Power *power.Registry
	// Engine runs drivers; nil: power.NewEngine with the logger.
	Engine *power.Engine
	// DHCP options passed to every dhcpsrv.Server (tests pick ports).
	DHCPOpts []dhcpsrv.Opt
	// Failover timings (zero: dhcpsrv's defaults).
	FailoverHeartbeat, FailoverMaxResponseDelay time.Duration
	// PollWait is how long a command long-poll waits (20s).
	PollWait time.Duration
}

// Service is a running rack.
type Service struct {
	cfg    Config
	log    *slog.Logger
	client *Client
	queue  *leaseQueue
	cache  *images.Cache
	hb     time.Duration
	// lastIfs is the interface inventory of the last heartbeat (control
	// loop only); pollCancel ends the running command long-poll.
	lastIfs    string
	pollCancel context.CancelFunc
	// rogueEvery is how often to look for other DHCP servers (0: never).
	rogueEvery time.Duration
	// reg holds the boot servers' and the image cache's collectors when
	// Config.Registerer is nil; pxeMetrics are the boot servers'.
	reg        *prometheus.Registry
	pxeMetrics *pxe.Metrics

	mu      sync.Mutex
	current *rpc.Config
	health  map[string]rpc.ServiceHealth
	changed chan struct{}
	dhcp    []*dhcpsrv.Server
	// dhcpRegs hold the running DHCP servers' collectors, one registry
	// per server (they are replaced whenever the servers restart).
	dhcpRegs []*prometheus.Registry
	// dhcpIfaces are the interfaces DHCP serves; rogue the other DHCP
	// servers last heard there.
	dhcpIfaces []string
	rogue      []netip.Addr

	// boots caches per-MAC boot lookups (with machine tokens) briefly.
	bootMu    sync.Mutex
	boots     map[string]bootEntry
	bootCalls map[string]*bootCall // lookups in flight, by MAC
}

// New checks cfg and opens the rack's state (cached config, lease queue,
// image cache).
func New(cfg Config) (*Service, error) {
	if err := cfg.File.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = Version
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = LocalInterfaces
		if cfg.File.Loopback {
			cfg.Interfaces = LocalInterfacesWithLoopback
		}
	}
	if cfg.Power == nil {
		cfg.Power = power.NewRegistry(power.WithEnv(power.Env{Logger: cfg.Logger}))
	}
	if cfg.Engine == nil {
		cfg.Engine = power.NewEngine(power.WithLogger(cfg.Logger))
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = 20 * time.Second
	}
	s := &Service{boots: map[string]bootEntry{}, cfg: cfg, log: cfg.Logger, client: NewClient(cfg.File.Regions, cfg.File.Token, cfg.Logger),
		health: map[string]rpc.ServiceHealth{}, changed: make(chan struct{}, 1), hb: 5 * time.Second}
	if cfg.File.HeartbeatInterval != "" {
		d, err := time.ParseDuration(cfg.File.HeartbeatInterval)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: heartbeat_interval %q: use a duration such as 5s", ErrInvalidConfig, cfg.File.HeartbeatInterval)
		}
		s.hb = d
	}
	s.rogueEvery = 5 * time.Minute
	switch v := cfg.File.RogueDHCPInterval; v {
	case "":
	case "off":
		s.rogueEvery = 0
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: rogue_dhcp_interval %q: use a duration such as 5m, or off", ErrInvalidConfig, v)
		}
		s.rogueEvery = d
	}
	if err := os.MkdirAll(cfg.File.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("rack: state dir %s: %w", cfg.File.StateDir, err)
	}
	var err error
	if s.queue, err = openQueue(filepath.Join(cfg.File.StateDir, "lease-events.jsonl")); err != nil {
		return nil, fmt.Errorf("rack: lease queue: %w", err)
	}
	if b, err := os.ReadFile(s.configPath()); err == nil {
		var c rpc.Config
		if err := json.Unmarshal(b, &c); err == nil {
			s.current = &c
			s.log.Info("serving the cached config until a region answers", "revision", c.Revision)
		}
	}
	s.reg = prometheus.NewRegistry()
	reg := cfg.Registerer
	if reg == nil {
		reg = s.reg
	}
	if s.pxeMetrics, err = pxe.NewMetrics(reg); err != nil {
		return nil, fmt.Errorf("rack: boot server metrics: %w", err)
	}
	if cfg.File.Images != "off" {
		s.cache, err = images.NewCache(images.CacheConfig{Dir: filepath.Join(cfg.File.StateDir, "images"), Regions: cfg.File.Regions,
			RackID: fmt.Sprint(cfg.File.RackID), Logger: cfg.Logger.With("part", "images"), Registerer: reg,
			RetryInterval: 10 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("rack: image cache: %w", err)
		}
	}
	return s, nil
}

func (s *Service) configPath() string { return filepath.Join(s.cfg.File.StateDir, "config.json") }

// Config returns the config the rack serves now (false before any).
func (s *Service) Config() (rpc.Config, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return rpc.Config{}, false
	}
	return *s.current, true
}

// DHCPServers returns the running DHCP servers (tests, status).
func (s *Service) DHCPServers() []*dhcpsrv.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dhcp)
}

// Health returns every service's state, by name.
func (s *Service) Health() []rpc.ServiceHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]rpc.ServiceHealth, 0, len(s.health))
	for _, h := range s.health {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b rpc.ServiceHealth) int { return cmpString(a.Name, b.Name) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Service) setHealth(name, status, info string) {
	s.mu.Lock()
	prev := s.health[name]
	s.health[name] = rpc.ServiceHealth{Name: name, Status: status, Info: info}
	s.mu.Unlock()
	if prev.Status != status {
		s.log.Info("service state", "service", name, "status", status, "info", info)
	}
}

func (s *Service) setConfig(c rpc.Config) {
	s.mu.Lock()
	same := s.current != nil && s.current.Revision == c.Revision
	s.current = &c
	s.mu.Unlock()
	if same {
		return
	}
	b, _ := json.Marshal(c)
	if err := writeAtomic(s.configPath(), b, 0o600); err != nil {
		s.log.Warn("cache config on disk", "err", err)
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Run serves until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.controlLoop(ctx); return nil })
	g.Go(func() error { s.commandLoop(ctx); return nil })
	g.Go(func() error { s.leaseLoop(ctx); return nil })
	g.Go(func() error { return s.dhcpLoop(ctx) })
	if s.rogueEvery > 0 {
		g.Go(func() error { s.rogueLoop(ctx, s.rogueEvery); return nil })
	}
	if err := s.startBoot(ctx, g); err != nil {
		cancel()
		_ = g.Wait()
		return err
	}
	if a := s.cfg.File.MetricsAddr; a != "" && a != "-" {
		if err := s.serveMetrics(ctx, g, a); err != nil {
			cancel()
			_ = g.Wait()
			return err
		}
	}
	if s.cache != nil {
		g.Go(func() error {
			s.setHealth("images", rpc.ServiceRunning, "")
			err := s.cache.Run(ctx)
			if ctx.Err() == nil {
				s.setHealth("images", rpc.ServiceDead, fmt.Sprint(err))
				return err
			}
			return nil
		})
	}
	err := g.Wait()
	if s.cache != nil {
		s.cache.Close()
	}
	return err
}

// controlLoop heartbeats and pulls the config whenever its revision moves.
func (s *Service) controlLoop(ctx context.Context) {
	t := time.NewTicker(s.hb)
	defer t.Stop()
	for {
		s.heartbeat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) heartbeat(ctx context.Context) {
	ifs, err := s.cfg.Interfaces()
	if err != nil {
		s.log.Warn("list interfaces", "err", err)
	}
	s.refreshDHCPHealth()
	// When the rack's addresses change (a VPN reconnect, a new lease), its
	// open connections may be bound to an address it no longer has: drop
	// them, and restart the command long-poll, so every call dials from the
	// new address at once instead of hanging until its timeout.
	if key := fmt.Sprint(ifs); key != s.lastIfs {
		if s.lastIfs != "" {
			s.log.Info("interfaces changed; reconnecting to the region")
			s.client.CloseIdleConnections()
			s.mu.Lock()
			if s.pollCancel != nil {
				s.pollCancel()
			}
			s.mu.Unlock()
		}
		s.lastIfs = key
	}
	cur, _ := s.Config()
	s.mu.Lock()
	rogue := slices.Clone(s.rogue)
	s.mu.Unlock()
	hb := rpc.Heartbeat{Version: s.cfg.Version, Interfaces: ifs, Services: s.Health(), ConfigRevision: cur.Revision, RogueDHCP: rogue}
	var reply rpc.HeartbeatReply
	if err := s.client.Do(ctx, http.MethodPost, rpc.PathHeartbeat, hb, &reply, 10*time.Second); err != nil {
		if ctx.Err() == nil {
			s.setHealth("region", rpc.ServiceDegraded, err.Error())
			s.log.Warn("heartbeat failed; serving the cached config", "err", err)
		}
		return
	}
	s.setHealth("region", rpc.ServiceRunning, s.client.URL())
	if reply.ConfigRevision != cur.Revision {
		s.pull(ctx)
	}
}

func (s *Service) pull(ctx context.Context) {
	var c rpc.Config
	if err := s.client.Do(ctx, http.MethodGet, rpc.PathConfig, nil, &c, 30*time.Second); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("pull config", "err", err)
		}
		return
	}
	s.log.Info("config pulled", "revision", c.Revision, "vlans", len(c.VLANs), "subnets", len(c.Subnets))
	s.setConfig(c)
}

// commandLoop long-polls for commands and runs them.
func (s *Service) commandLoop(ctx context.Context) {
	backoff := 200 * time.Millisecond
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		var cmds []rpc.Command
		path := fmt.Sprintf("%s?wait=%d", rpc.PathCommands, int(s.cfg.PollWait/time.Second))
		pctx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.pollCancel = cancel
		s.mu.Unlock()
		err := s.client.Do(pctx, http.MethodGet, path, nil, &cmds, s.cfg.PollWait+15*time.Second)
		// Read before cancel(), which would make it always true: a poll
		// failing on its own (the region answering errors, e.g. while its
		// database is down) must back off, not spin.
		restarted := pctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if restarted {
				continue // restarted on purpose (interfaces changed)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		for _, c := range cmds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := s.execute(ctx, c)
				// A result that cannot be delivered is dropped: the
				// region's deadline passes and it retries elsewhere.
				if err := s.client.Do(ctx, http.MethodPost, rpc.PathResults, []rpc.Result{res}, nil, 10*time.Second); err != nil && ctx.Err() == nil {
					s.log.Warn("deliver command result", "command", c.ID, "err", err)
				}
			}()
		}
	}
}

// execute runs one command.
func (s *Service) execute(ctx context.Context, c rpc.Command) rpc.Result {
	ctx, cancel := context.WithDeadline(ctx, c.Deadline)
	defer cancel()
	data, err := s.run(ctx, c)
	res := rpc.Result{ID: c.ID, OK: err == nil}
	if err != nil {
		res.Error = err.Error()
		s.log.Warn("command failed", "command", c.ID, "kind", c.Kind, "err", err)
	} else if data != nil {
		res.Data, _ = json.Marshal(data)
	}
	return res
}

func (s *Service) run(ctx context.Context, c rpc.Command) (any, error) {
	switch c.Kind {
	case rpc.CmdPower, rpc.CmdSetBoot:
		var a rpc.PowerArgs
		if err := json.Unmarshal(c.Args, &a); err != nil {
			return nil, fmt.Errorf("command %d: args: %w", c.ID, err)
		}
		return s.power(ctx, a)
	case rpc.CmdSyncImages:
		if s.cache == nil {
			return nil, errors.New("the image cache is off on this rack (images: off)")
		}
		r := s.cache.SyncNow(ctx)
		return map[string]any{"fetched": r.Fetched, "bytes": r.Bytes}, r.Err
	case rpc.CmdReconfigure:
		s.pull(ctx)
		cur, _ := s.Config()
		return map[string]string{"revision": cur.Revision}, nil
	case rpc.CmdCheckIPs:
		var a rpc.CheckIPsArgs
		if err := json.Unmarshal(c.Args, &a); err != nil {
			return nil, fmt.Errorf("command %d: args: %w", c.ID, err)
		}
		inUse, err := checkIPs(ctx, a.Addrs)
		return rpc.CheckIPsResult{InUse: inUse}, err
	}
	return nil, fmt.Errorf("command %d: unknown kind %q: upgrade rackd to the region's version", c.ID, c.Kind)
}

func (s *Service) power(ctx context.Context, a rpc.PowerArgs) (any, error) {
	drv, err := s.cfg.Power.Open(a.Type, a.Params)
	if err != nil {
		return nil, fmt.Errorf("machine %s: %w", a.SystemID, err)
	}
	defer drv.Close()
	t := power.Target{Name: a.Hostname, Driver: drv}
	if a.Op == "query" {
		st, err := s.cfg.Engine.Query(ctx, t)
		return rpc.PowerResult{State: string(st)}, err
	}
	req := power.Request{Action: power.Action(a.Op)}
	if a.PXE {
		req.Boot = &power.BootOverride{Device: power.BootPXE}
	}
	res, err := s.cfg.Engine.Do(ctx, t, req)
	if err != nil {
		return nil, err
	}
	return rpc.PowerResult{State: string(res.State)}, nil
}

// leaseLoop delivers queued lease events in batches.
func (s *Service) leaseLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.queue.notify:
		}
		for s.queue.len() > 0 && ctx.Err() == nil {
			batch := s.queue.peek(500)
			if err := s.client.Do(ctx, http.MethodPost, rpc.PathLeases, rpc.LeaseBatch{Events: batch}, nil, 10*time.Second); err != nil {
				break // offline: keep them, retry on the next tick
			}
			if err := s.queue.drop(len(batch)); err != nil {
				s.log.Warn("lease queue", "err", err)
			}
		}
	}
}

// hook queues a lease event (dhcpsrv calls it after the lease is durable).
func (s *Service) hook(e dhcpsrv.LeaseEvent) {
	l := e.Lease
	if e.Type == dhcpsrv.EventCommit || e.Type == dhcpsrv.EventRenew {
		s.forgetBoot(l.MAC.String())
	}
	if err := s.queue.push(rpc.LeaseEvent{Type: e.Type.String(), Addr: l.Addr, MAC: l.MAC.String(), Host: l.Hostname,
		Subnet: l.Subnet, Start: l.Start, Expiry: l.Expiry}); err != nil {
		s.log.Warn("queue lease event", "err", err)
	}
}

// dhcpLoop (re)starts the DHCP servers whenever the config changes.
func (s *Service) dhcpLoop(ctx context.Context) error {
	var stop context.CancelFunc = func() {}
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	var lastKey string
	kick := time.NewTicker(min(s.hb, 10*time.Second)) // interfaces may gain or change addresses
	defer kick.Stop()
	for {
		cur, ok := s.Config()
		if ok {
			ifs, _ := s.cfg.Interfaces()
			o := DHCPOptions{Interfaces: ifs, Only: s.cfg.File.DHCPInterfaces,
				LeaseDir: filepath.Join(s.cfg.File.StateDir, "leases"), FailoverPort: s.cfg.File.FailoverPort,
				Heartbeat: s.cfg.FailoverHeartbeat, MaxResponseDelay: s.cfg.FailoverMaxResponseDelay}
			if s.cfg.File.HTTPAddr != "-" {
				o.HTTPURL, o.HTTPPort = s.cfg.File.HTTPURL, portOf(s.httpAddr(), "5248")
			}
			cfgs, err := BuildDHCP(cur, o)
			// Restart the servers only when what they serve changes: the
			// config's revision also moves with every machine's status.
			built, _ := json.Marshal(cfgs)
			key := fmt.Sprintf("%s|%v|%v", built, ifs, err)
			if key != lastKey {
				lastKey = key
				stop()
				wg.Wait()
				s.mu.Lock()
				s.dhcp, s.dhcpIfaces, s.dhcpRegs = nil, nil, nil
				for _, c := range cfgs {
					s.dhcpIfaces = append(s.dhcpIfaces, c.Interfaces...)
				}
				s.mu.Unlock()
				switch {
				case err != nil:
					s.setHealth("dhcp", rpc.ServiceDead, err.Error())
				case len(cfgs) == 0:
					s.setHealth("dhcp", rpc.ServiceOff, "this rack serves DHCP on no VLAN")
				default:
					sctx, cancel := context.WithCancel(ctx)
					stop = cancel
					for _, c := range cfgs {
						opts := []dhcpsrv.Opt{dhcpsrv.WithLogger(s.log.With("part", "dhcp")), dhcpsrv.WithLeaseHook(s.hook)}
						if a := s.cfg.File.DHCPListen; a != "" {
							opts = append(opts, dhcpsrv.WithListenAddr(a))
						}
						if p := s.cfg.File.DHCPRelayPort; p != 0 {
							opts = append(opts, dhcpsrv.WithPorts(68, p))
						}
						// Each server's collectors, labelled with its
						// interfaces, in a registry of its own: a restart
						// replaces them instead of registering twice.
						dreg := prometheus.NewRegistry()
						opts = append(opts, dhcpsrv.WithRegisterer(prometheus.WrapRegistererWith(
							prometheus.Labels{"interfaces": strings.Join(c.Interfaces, ",")}, dreg)))
						opts = append(opts, s.cfg.DHCPOpts...)
						srv, err := dhcpsrv.New(c, opts...)
						if err != nil {
							s.setHealth("dhcp", rpc.ServiceDead, err.Error())
							continue
						}
						s.mu.Lock()
						s.dhcp = append(s.dhcp, srv)
						s.dhcpRegs = append(s.dhcpRegs, dreg)
						s.mu.Unlock()
						wg.Add(1)
						go func() {
							defer wg.Done()
							if err := srv.Run(sctx); err != nil && sctx.Err() == nil {
								s.setHealth("dhcp", rpc.ServiceDead, err.Error())
								s.log.Error("dhcp server stopped", "err", err)
							}
						}()
					}
					s.setHealth("dhcp", rpc.ServiceRunning, fmt.Sprintf("%d server(s), interfaces %v", len(cfgs), cfgs[0].Interfaces))
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		case <-kick.C:
		}
	}
}

// refreshDHCPHealth adds each running server's failover state to the
// "dhcp" service's info (what the region's rack view shows).
func (s *Service) refreshDHCPHealth() {
	srvs := s.DHCPServers()
	if len(srvs) == 0 {
		return
	}
	s.mu.Lock()
	h := s.health["dhcp"]
	s.mu.Unlock()
	if h.Status != rpc.ServiceRunning {
		return
	}
	var states []string
	for _, srv := range srvs {
		states = append(states, srv.FailoverState().String())
	}
	s.setHealth("dhcp", rpc.ServiceRunning, fmt.Sprintf("%d server(s), failover %v", len(srvs), states))
}

// Gather collects the rack's metrics: the boot servers' and the image
// cache's (when Config.Registerer is nil; otherwise they are on that
// registerer) and the running DHCP servers'. It is what metrics_addr
// serves at /metrics.
func (s *Service) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	gs := prometheus.Gatherers{s.reg}
	for _, r := range s.dhcpRegs {
		gs = append(gs, r)
	}
	s.mu.Unlock()
	return gs.Gather()
}

// serveMetrics listens on addr and serves Gather at /metrics until ctx
// ends.
func (s *Service) serveMetrics(ctx context.Context, g *errgroup.Group, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.setHealth("metrics", rpc.ServiceDead, err.Error())
		return fmt.Errorf("rack: metrics_addr %s: %w (use a free address, or - to turn metrics off)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.setHealth("metrics", rpc.ServiceRunning, ln.Addr().String())
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("rack: metrics: %w", err)
		}
		return nil
	})
	return nil
}
