package simdc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
	"github.com/ironkit/ironkit/lifecycle"
)

// DemoConfig configures RunDemo.
type DemoConfig struct {
	// Dir holds the region's SQLite database and image store.
	Dir string
	// Database overrides the SQLite file in Dir (e.g. a postgres:// DSN).
	Database string
	// Listen is the region API's address (default 127.0.0.1:5240); use
	// 127.0.0.1:0 for any free port.
	Listen string
	// Machines to simulate (default 20).
	Machines int
	// AdminPassword for the "admin" user (required).
	AdminPassword string
	// Out receives the progress view; Terminal redraws it in place (ANSI).
	Out      io.Writer
	Terminal bool
	// Stay keeps the region, rack and machines up after every machine is
	// Deployed, until ctx ends; otherwise RunDemo returns then.
	Stay bool
	// Timeout bounds the whole provisioning (default 5 minutes).
	Timeout time.Duration
	// Hasher for passwords; zero is auth.DefaultHasher().
	Hasher auth.Hasher
	// Logger; nil discards.
	Logger *slog.Logger
	// OnReady is called with the API's base URL once it serves.
	OnReady func(url string)
	// RunRack runs the rack whose rackd config file is at path until ctx
	// ends (cmd/ironkit-demo starts `rackd serve --config path` as a
	// process of its own); nil runs it in this process (RunRack). Either
	// way region and rack talk only over HTTP.
	RunRack func(ctx context.Context, path string) error
	// JobWorkers is how many jobs the region runs at once (default: the
	// region's 20, or one per 20 machines up to 50 when more): each power
	// operation waits for the rack's answer, so a mass deploy needs more
	// than a few at a time. The database pool grows with it.
	JobWorkers int
	// KernelOverTFTP: PXELINUX machines fetch kernel and initrd over TFTP
	// (RackConfig.KernelOverTFTP).
	KernelOverTFTP bool
}

// RunDemo runs a region on SQLite (with the rack RPC), a rack registered
// with the region's shared secret (in this process or, with RunRack, as
// `rackd serve`) and N simulated machines, and drives them through the public API: power on (enlist) →
// commission → Ready → allocate → deploy → Deployed, with a live progress
// view. It returns the per-phase summary once all are Deployed (or keeps
// serving with Stay).
func RunDemo(ctx context.Context, cfg DemoConfig) error {
	if cfg.Dir == "" || cfg.AdminPassword == "" {
		return fmt.Errorf("%w: DemoConfig needs Dir and AdminPassword", ErrConfig)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:5240"
	}
	if cfg.Machines <= 0 {
		cfg.Machines = 20
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hasher == (auth.Hasher{}) {
		cfg.Hasher = auth.DefaultHasher()
	}
	rc := config.Default()
	rc.Database = filepath.Join(cfg.Dir, "regiond.db")
	if cfg.Database != "" {
		rc.Database = cfg.Database
	}
	rc.ImagesDir = filepath.Join(cfg.Dir, "images")
	rc.Listen = cfg.Listen
	rc.Jobs.SweepInterval = config.Duration(2 * time.Second)
	if cfg.JobWorkers > 0 {
		rc.Jobs.Workers = cfg.JobWorkers
	} else {
		rc.Jobs.Workers = max(rc.Jobs.Workers, min(50, cfg.Machines/20))
	}
	// Every job worker may hold a connection while it waits for the rack.
	rc.DBConnections = max(rc.DBConnections, rc.Jobs.Workers+16)
	svc, rpcSrv, err := rackrpc.OpenRegion(ctx, rc, region.Options{Logger: cfg.Logger, Hasher: cfg.Hasher},
		// Every address of 127.0.0.0/8 answers ICMP: a conflict probe of
		// the addresses deployments claim there would fail them all.
		rackrpc.Config{NoAddressProbe: true})
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := region.Init(ctx, svc.Store()); err != nil {
		return err
	}
	if _, err := region.CreateAdmin(ctx, svc.Store(), cfg.Hasher, "admin", "", cfg.AdminPassword); err != nil && !errors.Is(err, api.ErrConflict) {
		return fmt.Errorf("simdc demo: create admin: %w", err)
	}
	secret, err := region.RackSecret(ctx, svc.Store())
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("simdc demo: listen on %s: %w (is a regiond running? use another address)", cfg.Listen, err)
	}
	base := "http://" + ln.Addr().String()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	running := 0
	start := func(f func() error) {
		running++
		go func() { errc <- f() }()
	}
	stopAll := func() error {
		cancel()
		rpcSrv.Stop()
		var errs []error
		for range running {
			errs = append(errs, <-errc)
		}
		return errors.Join(errs...)
	}
	start(func() error { return svc.Serve(ctx, ln) })

	c := &regionClient{base: base, http: &http.Client{Timeout: 2 * time.Minute}}
	defer c.http.CloseIdleConnections()
	var login api.LoginReply
	if err := c.call(ctx, "POST", "/api/v1/login", api.Login{Username: "admin", Password: cfg.AdminPassword}, &login); err != nil {
		return errors.Join(err, stopAll())
	}
	c.key = login.APIKey.Key
	dc, err := New(Config{Machines: cfg.Machines, Logger: cfg.Logger})
	if err != nil {
		return errors.Join(err, stopAll())
	}
	defer dc.Close()
	// The rack: registered with the shared secret over the rack RPC, its
	// config written where `rackd serve --config` reads it, run as its own
	// process when the caller can start one.
	rf, err := RegisterRack(ctx, RackConfig{Regions: []string{base}, Secret: secret, StateDir: filepath.Join(cfg.Dir, "rackd"),
		RelayPort: dc.RelayPort(), KernelOverTFTP: cfg.KernelOverTFTP, Logger: cfg.Logger})
	if err != nil {
		return errors.Join(err, stopAll())
	}
	rackPath := filepath.Join(cfg.Dir, "rackd.yaml")
	if err := rf.Save(rackPath); err != nil {
		return errors.Join(err, stopAll())
	}
	if err := SetupRegion(ctx, base, c.key, RegionSetup{RackID: rf.RackID}); err != nil {
		return errors.Join(err, stopAll())
	}
	runRack := cfg.RunRack
	if runRack == nil {
		runRack = func(ctx context.Context, path string) error {
			f, err := rack.Load(path)
			if err != nil {
				return err
			}
			return RunRack(ctx, f, cfg.Logger)
		}
	}
	start(func() error { return runRack(ctx, rackPath) })
	if err := WaitRack(ctx, base, c.key, rf, time.Minute); err != nil {
		return errors.Join(err, stopAll())
	}
	sim, err := RackOf(rf)
	if err != nil {
		return errors.Join(err, stopAll())
	}
	start(func() error { return dc.Run(ctx, sim) })
	if cfg.OnReady != nil {
		cfg.OnReady(base)
	}
	err = drive(ctx, c, dc, cfg)
	if err == nil && cfg.Stay {
		id := firstID(ctx, c)
		fmt.Fprintf(cfg.Out, "\nAll %d machines deployed. The API stays up at %s (rackd's config: %s); try\n"+
			"  ironctl login demo %s --username admin --password %s\n"+
			"  ironctl machines list\n"+
			"  ironctl machines timeline %s      # the machine's provisioning timeline, from its events\n"+
			"  ironctl events system_id=%s\n"+
			"  ironctl racks list\n"+
			"or GET %s/api/v1/machines/%s/timeline with the API key. Ctrl-C stops the demo.\n",
			cfg.Machines, base, rackPath, base, cfg.AdminPassword, id, id, base, id)
		<-ctx.Done()
	}
	return errors.Join(err, stopAll())
}

func firstID(ctx context.Context, c *regionClient) string {
	var page api.MachinePage
	if c.call(ctx, "GET", "/api/v1/machines?limit=1", nil, &page) != nil || len(page.Machines) == 0 {
		return "SYSTEM_ID"
	}
	return page.Machines[0].SystemID
}

// drive powers the machines on and moves them along through the API,
// drawing progress, until every machine is Deployed.
func drive(ctx context.Context, c *regionClient, dc *Datacenter, cfg DemoConfig) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	began := time.Now()
	for _, m := range dc.Machines() {
		m.PowerOn()
	}
	// The actions run on a pool of their own, as many operators' clients
	// would: the loop keeps watching while they are on their way.
	g, gctx := errgroup.WithContext(ctx)
	actions := make(chan func(context.Context) error)
	for range 32 {
		g.Go(func() error {
			for act := range actions {
				if err := act(gctx); err != nil {
					return err
				}
			}
			return nil
		})
	}
	stop := func(err error) error {
		close(actions)
		return errors.Join(err, g.Wait())
	}
	// failed ends the pool once an action failed or the time is up.
	failed := func(done int) error {
		err := stop(nil) // the failed action's error, if one failed
		if err == nil {
			err = fmt.Errorf("simdc demo: %d of %d machines deployed after %s: %w", done, cfg.Machines, time.Since(began).Round(time.Second), context.Cause(gctx))
		}
		return err
	}
	send := func(act func(context.Context) error) bool {
		select {
		case actions <- act:
			return true
		case <-gctx.Done():
			return false
		}
	}
	acted := map[string]bool{} // system id + action done
	interval := 500 * time.Millisecond
	if !cfg.Terminal {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		var page api.MachinePage
		if err := c.call(ctx, "GET", "/api/v1/machines?limit=10000", nil, &page); err != nil {
			return stop(err)
		}
		done := 0
		for _, m := range page.Machines {
			sent := true
			switch {
			case m.Status == lifecycle.New && !acted[m.SystemID+"commission"]:
				acted[m.SystemID+"commission"] = true
				sent = send(func(ctx context.Context) error {
					return c.call(ctx, "POST", "/api/v1/machines/"+url.PathEscape(m.SystemID)+"/actions/commission", nil, nil)
				})
			case m.Status == lifecycle.Ready && !acted[m.SystemID+"deploy"]:
				acted[m.SystemID+"deploy"] = true
				sent = send(func(ctx context.Context) error {
					var got api.Machine
					err := c.call(ctx, "POST", "/api/v1/machines/allocate", api.AllocateRequest{Hostname: m.Hostname}, &got)
					if err != nil {
						return err
					}
					return c.call(ctx, "POST", "/api/v1/machines/"+url.PathEscape(got.SystemID)+"/actions/deploy",
						api.ActionRequest{OSystem: "ubuntu", DistroSeries: "noble"}, nil)
				})
			case m.Status == lifecycle.Deployed:
				done++
			}
			if !sent {
				return failed(done)
			}
		}
		draw(cfg, page.Machines, dc, time.Since(began), false)
		if done == cfg.Machines {
			if err := stop(nil); err != nil {
				return err
			}
			draw(cfg, page.Machines, dc, time.Since(began), true)
			fmt.Fprintf(cfg.Out, "\n%d machines New → Deployed in %s (from power-on to the last deployment-done)\n", cfg.Machines, time.Since(began).Round(10*time.Millisecond))
			st := dc.Stats()
			fmt.Fprintf(cfg.Out, "network boots retried: DHCP timeouts %d, DHCP NAKs %d, TFTP errors %d, HTTP errors %d; rack's boot lookup failed: configs without a token %d, enlistments of known machines %d; other %d\n",
				st.DHCPTimeouts, st.DHCPNAKs, st.TFTPErrors, st.HTTPErrors, st.Tokenless, st.StaleEnlist, st.Other)
			return summary(ctx, c, cfg.Out, page.Machines)
		}
		select {
		case <-gctx.Done(): // an action failed, or the time is up
			return failed(done)
		case <-tick.C:
		}
	}
}

// statusOrder is the progress view's column order.
var statusOrder = []lifecycle.Status{lifecycle.New, lifecycle.Commissioning, lifecycle.Ready, lifecycle.Allocated,
	lifecycle.Deploying, lifecycle.Deployed, lifecycle.FailedCommissioning, lifecycle.FailedDeployment}

func draw(cfg DemoConfig, ms []api.Machine, dc *Datacenter, elapsed time.Duration, final bool) {
	if !cfg.Terminal && !final {
		// Not a terminal: one line per view.
		count := map[lifecycle.Status]int{}
		for _, m := range ms {
			count[m.Status]++
		}
		line := fmt.Sprintf("%6s", elapsed.Round(time.Second))
		for _, s := range statusOrder {
			if count[s] > 0 {
				line += fmt.Sprintf("  %s %d", s, count[s])
			}
		}
		fmt.Fprintln(cfg.Out, line)
		return
	}
	var b strings.Builder
	if cfg.Terminal {
		b.WriteString("\x1b[H\x1b[2J")
	}
	count := map[lifecycle.Status]int{}
	byHost := map[string]api.Machine{}
	for _, m := range ms {
		count[m.Status]++
		byHost[m.Hostname] = m
	}
	fmt.Fprintf(&b, "ironkit demo: %d simulated machines, %s\n", cfg.Machines, elapsed.Round(100*time.Millisecond))
	for _, s := range statusOrder {
		if n := count[s]; n > 0 || !lifecycle.IsFailed(s) {
			fmt.Fprintf(&b, "  %-20s %4d %s\n", s.Title(), n, strings.Repeat("█", (n*50+cfg.Machines-1)/cfg.Machines))
		}
	}
	fmt.Fprintf(&b, "  %-20s %4d\n\n", "not enlisted yet", cfg.Machines-len(ms))
	fmt.Fprintf(&b, "%-8s %-12s %-20s %-14s %-9s %s\n", "HOST", "SYSTEM_ID", "REGION STATUS", "MACHINE", "FIRMWARE", "BMC")
	for _, m := range dc.Machines() {
		st := m.Status()
		rm := byHost[st.Hostname]
		status := "-"
		if rm.SystemID != "" {
			status = rm.Status.Title()
		}
		phase := string(st.Phase)
		if st.Err != nil {
			phase += " (" + st.Err.Error() + ")"
		}
		fmt.Fprintf(&b, "%-8s %-12s %-20s %-14s %-9s %s\n", st.Hostname, or(rm.SystemID, "-"), status, phase, m.spec.Firmware, m.spec.BMC)
	}
	fmt.Fprint(cfg.Out, b.String())
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// summary prints each phase's median and maximum duration over all
// machines, from their timelines.
func summary(ctx context.Context, c *regionClient, w io.Writer, ms []api.Machine) error {
	durs := map[lifecycle.Status][]float64{}
	for _, m := range ms {
		var tl api.Timeline
		if err := c.call(ctx, "GET", "/api/v1/machines/"+url.PathEscape(m.SystemID)+"/timeline", nil, &tl); err != nil {
			return err
		}
		for _, p := range tl.Phases {
			if p.End != nil {
				durs[p.Status] = append(durs[p.Status], p.DurationSeconds)
			}
		}
	}
	fmt.Fprintf(w, "\n%-14s %8s %8s %8s\n", "PHASE", "P50", "P99", "MAX")
	for _, s := range statusOrder {
		d := durs[s]
		if len(d) == 0 {
			continue
		}
		sort.Float64s(d)
		fmt.Fprintf(w, "%-14s %7.2fs %7.2fs %7.2fs\n", s, d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1])
	}
	return nil
}
