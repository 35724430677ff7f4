package rack_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/power/powersim"
	"github.com/ironkit/ironkit/store"
)

// freshPostgres creates a database of its own on the test server.
func freshPostgres(t *testing.T) string {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "rackha_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", dsn); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	u, _ := url.Parse(dsn)
	u.Path = "/" + name
	return u.String()
}

var regiondBin struct {
	once sync.Once
	path string
	err  error
}

// nopMachines and nopPower satisfy an insert-only runner, which calls
// neither.
type nopMachines struct{ jobs.Machines }
type nopPower struct{ jobs.PowerExecutor }

func buildRegiond(t *testing.T) string {
	t.Helper()
	regiondBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "regiond-bin")
		if err != nil {
			regiondBin.err = err
			return
		}
		regiondBin.path = filepath.Join(dir, "regiond")
		if out, err := exec.Command("go", "build", "-o", regiondBin.path, "github.com/ironkit/ironkit/cmd/regiond").CombinedOutput(); err != nil {
			regiondBin.err = fmt.Errorf("go build cmd/regiond: %v\n%s", err, out)
		}
	})
	if regiondBin.err != nil {
		t.Fatal(regiondBin.err)
	}
	return regiondBin.path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Three regiond processes share one PostgreSQL and a rack lists all three.
// Power jobs run on the regions' workers and reach the BMCs through the
// rack; one regiond is killed with SIGKILL mid-work: the rack moves to
// another region on its own and every job still finishes (a killed
// region's running jobs are rescued after jobs.rescue_after).
func TestRegionsHAKillOne(t *testing.T) {
	if testenv.IsRoot() && os.Getenv(testenv.PostgresEnv) != "" {
		// TestHADeployAndRackFailover runs the same scenario (with deploy
		// jobs, rackd processes and rack failover) when root: keep the
		// package's time budget.
		t.Skip("skipping: covered by TestHADeployAndRackFailover, which runs as root")
	}
	dsn := freshPostgres(t)
	bin := buildRegiond(t)
	ctx := context.Background()
	st, secret := initRegionDB(t, dsn)
	addrs, procs := startRegionds(t, bin, dsn, 3)
	var urls []string
	for _, a := range addrs {
		urls = append(urls, "http://"+a)
	}
	rk := startRack(t, urls, secret, "rack-ha", nil)
	rk.ifs.set(lo("127.0.0.1/8"))

	const n = 12
	var bmcs []*powersim.IPMIBMC
	var ids []string
	for i := range n {
		b := newBMC(t)
		// A slow BMC (a dropped packet, retried) keeps jobs in flight.
		b.SetFaults(powersim.Faults{DropNext: 1})
		bmcs = append(bmcs, b)
		ids = append(ids, addMachine(t, st, fmt.Sprintf("ha%02d", i), fmt.Sprintf("52:54:00:00:10:%02x", i), b))
	}
	// An insert-only runner enqueues the jobs, as an API-only region would.
	enq, err := jobs.New(ctx, jobs.Config{DB: st.SQLDB(), Backend: jobs.Postgres, InsertOnly: true,
		Machines: nopMachines{}, Power: nopPower{}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the rack's first heartbeat", func() bool {
		var c int
		_ = st.DB().NewSelect().Table("rack_status").ColumnExpr("count(*)").Scan(ctx, &c)
		return c == 1
	})
	for _, id := range ids {
		if err := enq.Power(ctx, nil, id, jobs.PowerOn, false); err != nil {
			t.Fatal(err)
		}
	}
	// Kill regiond 1 once it is working a job (its client id is in the
	// running job's attempted_by).
	victim, running := regionRunning(t, st, procs, "power", 20*time.Second)
	procs[victim].Kill() // SIGKILL, mid-work
	start := time.Now()
	var left int
	eventually(t, 100*time.Second, "every power job completed", func() bool {
		left, _ = st.DB().NewSelect().Table("river_job").Where("kind = 'power' AND state <> 'completed'").Count(ctx)
		return left == 0
	})
	var retried int
	retried, _ = st.DB().NewSelect().Table("river_job").Where("kind = 'power' AND attempt > 1").Count(ctx)
	for i, b := range bmcs {
		if !b.PoweredOn() {
			t.Errorf("machine %s: BMC still off after its job completed", ids[i])
		}
	}
	t.Logf("all %d power jobs completed %s after regiond %d was killed with %d of them running (%d ran more than once)",
		n, time.Since(start).Round(time.Millisecond), victim+1, running, retried)
	// The rack talks to regiond 1 first; if it is still up, kill it too: the
	// rack moves on to the one left.
	if victim != 0 {
		procs[0].Kill()
	}
	eventually(t, 15*time.Second, "the rack to move to another region", func() bool {
		return strings.Contains(rk.logs.String(), "region switched")
	})
}

// regionRunning waits until one of procs (regiond processes on st's
// database) is running a River job of kind, and returns its index: the
// running job's attempted_by names the River client, which each regiond
// logs at start; and how many such jobs were running.
func regionRunning(t *testing.T, st *store.Store, procs []*testenv.Process, kind string, d time.Duration) (int, int) {
	t.Helper()
	var running []string
	eventually(t, d, "a region to be running "+kind+" jobs", func() bool {
		running = nil
		_ = st.DB().NewSelect().Table("river_job").ColumnExpr("attempted_by[array_length(attempted_by, 1)]").
			Where("state = 'running' AND kind = ?", kind).Scan(context.Background(), &running)
		return len(running) > 0
	})
	for i, p := range procs {
		if strings.Contains(p.Output(), running[0]) {
			return i, len(running)
		}
	}
	t.Fatalf("no regiond logged River client %s", running[0])
	return -1, 0
}

// initRegionDB opens dsn, initialises the region's schema and keys, and
// returns the store (closed at the end of the test) and the rack secret.
func initRegionDB(t *testing.T, dsn string) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := region.Init(ctx, st); err != nil {
		t.Fatal(err)
	}
	secret, err := region.RackSecret(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return st, secret
}

// startRegionds starts n regiond processes of bin on dsn, each on its own
// loopback port, and waits until each answers; it returns their
// addresses (host:port) and processes.
func startRegionds(t *testing.T, bin, dsn string, n int) ([]string, []*testenv.Process) {
	t.Helper()
	var addrs []string
	var procs []*testenv.Process
	for range n {
		addr := freePort(t)
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "IRONKIT_REGIOND_DATABASE="+dsn, "IRONKIT_REGIOND_LISTEN="+addr,
			"IRONKIT_REGIOND_IMAGES_DIR="+t.TempDir(), "IRONKIT_REGIOND_JOBS_RESCUE_AFTER=10s",
			"IRONKIT_REGIOND_JOBS_SWEEP_INTERVAL=1s", fmt.Sprintf("IRONKIT_REGIOND_URL=http://%s", addr))
		p := testenv.Start(t, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("regiond %s:\n%s", addr, tail(p.Output(), 4000))
			}
		})
		procs = append(procs, p)
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		eventually(t, 30*time.Second, "regiond "+a+" to answer", func() bool {
			resp, err := http.Get("http://" + a + "/api/v1/version")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == 200
		})
	}
	return addrs, procs
}
