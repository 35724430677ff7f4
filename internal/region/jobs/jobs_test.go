package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's connection opener outlives a test until Close; the
		// pools are closed in cleanups that run after goleak's check of a
		// single test but before the package-level check.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// openDB returns a fresh database of the backend: a SQLite file, or a new
// PostgreSQL database on the test server (dropped afterwards).
func openDB(t *testing.T, b Backend, path string) *sql.DB {
	t.Helper()
	switch b {
	case SQLite:
		if path == "" {
			path = filepath.Join(t.TempDir(), "region.db")
		}
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	default:
		if path == "" {
			path = testenv.FreshPostgres(t, "jobs")
		}
		db, err := sql.Open("pgx", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

func forBackends(t *testing.T, f func(t *testing.T, b Backend)) {
	for _, b := range []Backend{SQLite, Postgres} {
		t.Run(string(b), func(t *testing.T) { f(t, b) })
	}
}

// fakeMachines is the machine state the workers see; it applies events with
// the real lifecycle table.
type fakeMachines struct {
	mu       sync.Mutex
	status   map[string]lifecycle.Status
	deadline map[string]time.Time
	power    map[string]PowerState
	ips      map[string][]netip.Addr
	reasons  map[string]string
	next     byte
}

func newFakeMachines() *fakeMachines {
	return &fakeMachines{status: map[string]lifecycle.Status{}, deadline: map[string]time.Time{},
		power: map[string]PowerState{}, ips: map[string][]netip.Addr{}, reasons: map[string]string{}, next: 10}
}

func (f *fakeMachines) set(id string, s lifecycle.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[id] = s
}

func (f *fakeMachines) get(id string) (lifecycle.Status, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[id], f.reasons[id]
}

func (f *fakeMachines) Status(_ context.Context, id string) (lifecycle.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.status[id]
	if !ok {
		return "", fmt.Errorf("machine %s not found", id)
	}
	return s, nil
}

func (f *fakeMachines) Event(_ context.Context, id string, in lifecycle.Status, ev lifecycle.Action, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status[id] != in {
		return ErrMoved
	}
	st, err := lifecycle.Apply(lifecycle.State{Status: in}, ev, lifecycle.Options{System: true})
	if err != nil {
		return err
	}
	f.status[id] = st.Status
	f.reasons[id] = reason
	delete(f.deadline, id)
	return nil
}

func (f *fakeMachines) FailExpired(context.Context) ([]Expiry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Expiry
	for id, d := range f.deadline {
		if d.Before(time.Now()) {
			st, err := lifecycle.Apply(lifecycle.State{Status: f.status[id]}, lifecycle.EventDeadlineExpired, lifecycle.Options{System: true})
			if err != nil {
				return nil, err
			}
			out = append(out, Expiry{SystemID: id, Status: f.status[id]})
			f.status[id] = st.Status
			delete(f.deadline, id)
		}
	}
	return out, nil
}

func (f *fakeMachines) PowerTargets(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.status {
		out = append(out, id)
	}
	return out, nil
}

func (f *fakeMachines) RecordPowerState(_ context.Context, id string, s PowerState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.power[id] = s
	return nil
}

func (f *fakeMachines) ClaimIPs(_ context.Context, id string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	a := netip.AddrFrom4([4]byte{10, 77, 0, f.next})
	f.ips[id] = []netip.Addr{a}
	return f.ips[id], nil
}

func (f *fakeMachines) ReleaseIPs(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ips, id)
	return nil
}

// fakePower records operations, can fail, and tracks concurrency.
type fakePower struct {
	mu       sync.Mutex
	ops      map[string][]string
	state    map[string]PowerState
	fail     bool
	delay    time.Duration
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func newFakePower() *fakePower {
	return &fakePower{ops: map[string][]string{}, state: map[string]PowerState{}}
}

func (p *fakePower) Power(ctx context.Context, id string, req PowerRequest) (PowerState, error) {
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for {
		m := p.maxSeen.Load()
		if n <= m || p.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return StateUnknown, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	op := string(req.Op)
	if req.PXE {
		op += "+pxe"
	}
	p.ops[id] = append(p.ops[id], op)
	if p.fail {
		return StateUnknown, errors.New("BMC 10.77.1.1: connection refused")
	}
	switch req.Op {
	case PowerOn, PowerCycle:
		p.state[id] = StateOn
	case PowerOff:
		p.state[id] = StateOff
	}
	if s, ok := p.state[id]; ok {
		return s, nil
	}
	return StateOff, nil
}

func (p *fakePower) opsOf(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.ops[id], ",")
}

type fakeProber struct{ inUse map[netip.Addr]bool }

func (f fakeProber) Probe(_ context.Context, _ string, addrs []netip.Addr) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range addrs {
		if f.inUse[a] {
			out = append(out, a)
		}
	}
	return out, nil
}

func startRunner(t *testing.T, cfg Config) *Runner {
	t.Helper()
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	if cfg.PowerPollInterval == 0 {
		cfg.PowerPollInterval = time.Hour
	}
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestLifecycleJobs(t *testing.T) {
	forBackends(t, func(t *testing.T, b Backend) {
		t.Parallel()
		ms, pw := newFakeMachines(), newFakePower()
		ctx := context.Background()
		ms.set("com1", lifecycle.Commissioning)
		ms.set("dep1", lifecycle.Deploying)
		ms.set("dep2", lifecycle.Deploying)
		ms.set("rel1", lifecycle.Releasing)
		ms.set("era1", lifecycle.DiskErasing)
		ms.set("gone", lifecycle.Ready)
		ms.set("exit1", lifecycle.ExitingRescueMode)
		pw.state["com1"] = StateOn
		conflict := netip.AddrFrom4([4]byte{10, 77, 0, 11}) // the first address ClaimIPs hands out
		r := startRunner(t, Config{DB: openDB(t, b, ""), Backend: b, Machines: ms, Power: pw,
			Prober: fakeProber{inUse: map[netip.Addr]bool{conflict: true}}})
		// dep1 gets the conflicting address, dep2 the next one.
		if err := r.Deploy(ctx, nil, "dep1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "dep1 failed", func() bool { s, _ := ms.get("dep1"); return s == lifecycle.FailedDeployment })
		for _, enq := range []func() error{
			func() error { return r.Boot(ctx, nil, "com1", lifecycle.Commissioning) },
			func() error { return r.Deploy(ctx, nil, "dep2") },
			func() error { return r.Release(ctx, nil, "rel1") },
			func() error { return r.Release(ctx, nil, "era1") },
			func() error { return r.Boot(ctx, nil, "gone", lifecycle.Commissioning) },
			func() error { return r.Power(ctx, nil, "gone", PowerOff, false) },
			func() error {
				return r.Finish(ctx, nil, "exit1", lifecycle.ExitingRescueMode, PowerCycle, lifecycle.EventRescueExited)
			},
		} {
			if err := enq(); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "commissioning power cycle", func() bool { return pw.opsOf("com1") == "query,cycle+pxe" })
		eventually(t, "deploy power on", func() bool { return pw.opsOf("dep2") == "query,on+pxe" })
		eventually(t, "release to Ready", func() bool { s, _ := ms.get("rel1"); return s == lifecycle.Ready })
		eventually(t, "erase PXE boot", func() bool { return pw.opsOf("era1") == "query,on+pxe" })
		eventually(t, "power job", func() bool { return pw.opsOf("gone") == "off" })
		eventually(t, "rescue exited", func() bool { s, _ := ms.get("exit1"); return s == lifecycle.Ready })
		if pw.opsOf("exit1") != "cycle" {
			t.Errorf("exit rescue ops %q", pw.opsOf("exit1"))
		}
		if s, _ := ms.get("com1"); s != lifecycle.Commissioning {
			t.Errorf("com1 should wait in Commissioning for its results, is %s", s)
		}
		if s, _ := ms.get("era1"); s != lifecycle.DiskErasing {
			t.Errorf("era1 should wait in DiskErasing, is %s", s)
		}
		if _, reason := ms.get("dep1"); !strings.Contains(reason, conflict.String()) {
			t.Errorf("dep1 failure reason %q does not name %s", reason, conflict)
		}
		if pw.opsOf("dep1") != "" {
			t.Errorf("dep1 was powered despite the address conflict: %s", pw.opsOf("dep1"))
		}
		if pw.opsOf("rel1") != "off" {
			t.Errorf("rel1 ops %q", pw.opsOf("rel1"))
		}
		ms.mu.Lock()
		_, held := ms.ips["rel1"]
		_, held1 := ms.ips["dep1"]
		ms.mu.Unlock()
		if held || held1 {
			t.Error("released or failed machine still holds addresses")
		}
		if strings.Contains(pw.opsOf("gone"), "pxe") {
			t.Errorf("a Ready machine was PXE-booted by a stale commission job: %s", pw.opsOf("gone"))
		}
	})
}

func TestPowerFailureFailsMachine(t *testing.T) {
	forBackends(t, func(t *testing.T, b Backend) {
		t.Parallel()
		ms, pw := newFakeMachines(), newFakePower()
		pw.fail = true
		ms.set("com1", lifecycle.Commissioning)
		r := startRunner(t, Config{DB: openDB(t, b, ""), Backend: b, Machines: ms, Power: pw, PowerAttempts: 2})
		if err := r.Boot(context.Background(), nil, "com1", lifecycle.Commissioning); err != nil {
			t.Fatal(err)
		}
		eventually(t, "FailedCommissioning", func() bool { s, _ := ms.get("com1"); return s == lifecycle.FailedCommissioning })
		if _, reason := ms.get("com1"); !strings.Contains(reason, "connection refused") || !strings.Contains(reason, "2 attempts") {
			t.Errorf("reason %q", reason)
		}
	})
}

func TestDeadlineSweeper(t *testing.T) {
	forBackends(t, func(t *testing.T, b Backend) {
		t.Parallel()
		ms, pw := newFakeMachines(), newFakePower()
		now := time.Now()
		ms.set("late", lifecycle.Commissioning)
		ms.set("early", lifecycle.Deploying)
		ms.deadline["late"] = now.Add(-time.Minute)
		ms.deadline["early"] = now.Add(time.Hour)
		startRunner(t, Config{DB: openDB(t, b, ""), Backend: b, Machines: ms, Power: pw, SweepInterval: time.Hour})
		// RunOnStart: the first sweep runs as soon as a leader is elected.
		eventually(t, "sweep", func() bool { s, _ := ms.get("late"); return s == lifecycle.FailedCommissioning })
		if s, _ := ms.get("early"); s != lifecycle.Deploying {
			t.Errorf("machine before its deadline was failed: %s", s)
		}
	})
}

func TestPowerPollBoundedFanOut(t *testing.T) {
	forBackends(t, func(t *testing.T, b Backend) {
		t.Parallel()
		ms, pw := newFakeMachines(), newFakePower()
		pw.delay = 20 * time.Millisecond
		for i := range 24 {
			ms.set(fmt.Sprintf("m%02d", i), lifecycle.Deployed)
		}
		r := startRunner(t, Config{DB: openDB(t, b, ""), Backend: b, Machines: ms, Power: pw, PowerPollConcurrency: 4})
		if err := r.PollNow(context.Background()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "all polled", func() bool { ms.mu.Lock(); defer ms.mu.Unlock(); return len(ms.power) == 24 })
		if m := pw.maxSeen.Load(); m > 4 || m < 2 {
			t.Errorf("max BMC queries in flight %d, want 2..4", m)
		}
	})
}

// A job enqueued by one region that stops before working it is worked by the
// next region to start on the same database: jobs are rows, not memory.
func TestJobSurvivesRegionRestart(t *testing.T) {
	forBackends(t, func(t *testing.T, b Backend) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "region.db")
		if b == Postgres {
			path = testenv.FreshPostgres(t, "jobs")
		}
		ms, pw := newFakeMachines(), newFakePower()
		ms.set("rel1", lifecycle.Releasing)
		first, err := New(context.Background(), Config{DB: openDB(t, b, path), Backend: b, Machines: ms, Power: pw})
		if err != nil {
			t.Fatal(err)
		}
		// The first region enqueues and "crashes" before starting workers.
		if err := first.Release(context.Background(), nil, "rel1"); err != nil {
			t.Fatal(err)
		}
		startRunner(t, Config{DB: openDB(t, b, path), Backend: b, Machines: ms, Power: pw})
		eventually(t, "second region works the job", func() bool { s, _ := ms.get("rel1"); return s == lifecycle.Ready })
	})
}

func TestEnqueueInTransaction(t *testing.T) {
	ms, pw := newFakeMachines(), newFakePower()
	db := openDB(t, SQLite, "")
	r, err := New(context.Background(), Config{DB: db, Backend: SQLite, Machines: ms, Power: pw})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE kind = 'deploy'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Deploy(ctx, tx, "dep1"); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	if n := count(); n != 0 {
		t.Fatalf("rolled-back transition left %d deploy jobs", n)
	}
	tx, _ = db.BeginTx(ctx, nil)
	if err := r.Deploy(ctx, tx, "dep1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("committed transition: %d deploy jobs", n)
	}
	if _, err := New(ctx, Config{DB: db, Backend: "mysql", Machines: ms, Power: pw}); err == nil {
		t.Fatal("unknown backend accepted")
	}
}

// The power-off queued when a machine went back to Ready must not switch it
// off once it has moved on (allocated and deploying): jobs of one machine run
// in no particular order, and a late power-off would strand the deployment.
func TestPowerOffWhileIsSupersededByLaterStatus(t *testing.T) {
	ms, pw := newFakeMachines(), newFakePower()
	ms.set("moved", lifecycle.Deploying) // went Ready → Allocated → Deploying meanwhile
	ms.set("stayed", lifecycle.Ready)
	r := startRunner(t, Config{DB: openDB(t, SQLite, ""), Backend: SQLite, Machines: ms, Power: pw})
	ctx := context.Background()
	for _, id := range []string{"moved", "stayed"} {
		if err := r.PowerOffWhile(ctx, nil, id, lifecycle.Ready); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the current power-off runs", func() bool { return pw.opsOf("stayed") != "" })
	if got := pw.opsOf("stayed"); got != "off" {
		t.Errorf("machine still in Ready: power ops %q, want off", got)
	}
	// Both jobs were inserted before either ran; by the time the current one
	// ran, the superseded one has had the same chance.
	eventually(t, "both power jobs finish", func() bool {
		var n int
		_ = r.cfg.DB.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE kind = 'power' AND state = 'completed'").Scan(&n)
		return n == 2
	})
	if got := pw.opsOf("moved"); got != "" {
		t.Errorf("machine that moved on to Deploying got power ops %q, want none", got)
	}
}
