// Command apibench is `make bench-api`: it seeds a region database with N
// machines (PostgreSQL from IRONKIT_TEST_POSTGRES or -database; a fresh
// database is created and dropped), serves the API on loopback and measures
// the full machine list, a 1,000-machine page and single-machine GETs.
//
// Two regions serve the same database in this process: the region as
// regiond runs it (API cache on) and, unless -compare=false, the same region
// with the cache off (every request reads PostgreSQL), measured in the same
// run as the reference.
//
// The load generator is this program, run as a child process (-inprocess
// keeps it in the region's process), in two modes:
//
//   - closed loop (-clients): C goroutines, each a keep-alive HTTP/1.1
//     connection, each sending its next GET when the previous one answered.
//     Throughput and latency are tied: with C clients, the mean latency is
//     C / throughput (Little's law), so the p99 of 500 closed-loop clients
//     can only be below 5 ms if the server answers more than 100,000 GET/s.
//   - open loop (-rate, -conns): requests are scheduled at a fixed total
//     rate R (evenly spaced) and sent over K keep-alive connections (all
//     opened before the clock starts); a request whose connection is busy
//     waits for one. Latency is measured from the request's scheduled send
//     time, not from when it was sent, so queueing in the client is counted
//     (no coordinated omission). A run that cannot keep up shows it as
//     growing latency and as "late" sends.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/store"
)

func main() {
	machines := flag.Int("machines", 10000, "machines to seed")
	clients := flag.String("clients", "500", "closed-loop client counts for single GETs, comma-separated (empty: none)")
	rates := flag.String("rate", "200,500,1000,2000", "open-loop total GET rates per second, comma-separated (empty: none)")
	conns := flag.Int("conns", 500, "keep-alive connections of the open-loop mode")
	duration := flag.Duration("duration", 5*time.Second, "how long each concurrent GET phase runs")
	dsn := flag.String("database", os.Getenv("IRONKIT_TEST_POSTGRES"), "PostgreSQL server DSN (a database is created on it) or a SQLite file path")
	runs := flag.Int("runs", 5, "repetitions of the list measurements (median reported)")
	compare := flag.Bool("compare", true, "also measure a region with the API cache off, in the same run")
	explain := flag.Bool("explain", false, "print EXPLAIN ANALYZE of the list's id queries (PostgreSQL) before measuring")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile (server and load generator: one process) of the cached region's measurements to this file")
	inProcess := flag.Bool("inprocess", false, "run the load generator in this process (default: a child process)")
	lgKind := flag.String("loadgen", "", "internal: run as the load generator child (closed or open)")
	lgTarget := flag.String("target", "", "internal: the load generator's region URL")
	lgIDs := flag.String("ids", "", "internal: the load generator's file of system ids")
	lgN := flag.Int("n", 0, "internal: the load generator's clients (closed) or rate (open)")
	flag.Parse()
	if *lgKind != "" {
		loadgenMain(*lgKind, *lgTarget, *lgIDs, *lgN, *conns, *duration)
		return
	}
	if *dsn == "" {
		log.Fatal("apibench: no database: run it through `make bench-api` (which starts PostgreSQL) or pass -database")
	}
	o := opts{machines: *machines, conns: *conns, dur: *duration, runs: *runs, compare: *compare, cpuprofile: *cpuprofile, explain: *explain, inProcess: *inProcess}
	var err error
	if o.clients, err = ints(*clients); err != nil {
		log.Fatal("apibench: -clients: ", err)
	}
	if o.rates, err = ints(*rates); err != nil {
		log.Fatal("apibench: -rate: ", err)
	}
	if err := run(*dsn, o); err != nil {
		log.Fatal("apibench: ", err)
	}
}

type opts struct {
	machines, conns, runs int
	clients, rates        []int
	dur                   time.Duration
	compare, explain      bool
	inProcess             bool
	cpuprofile            string
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func freshDB(server string) (string, func(), error) {
	if _, err := url.Parse(server); err != nil || (len(server) < 8 || server[:8] != "postgres") {
		return server, func() {}, nil
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return "", nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "apibench_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return "", nil, err
	}
	u, _ := url.Parse(server)
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}

var cheapHasher = auth.Hasher{Time: 1, MemoryKiB: 1024, Threads: 1}

func serve(ctx context.Context, dsn, name string, noCache bool, imagesDir string) (*benchRegion, error) {
	cfg := config.Default()
	cfg.Database = dsn
	cfg.ImagesDir = imagesDir
	cfg.Jobs.Disabled = true
	reg := prometheus.NewRegistry()
	svc, err := region.Open(ctx, cfg, region.Options{Hasher: cheapHasher, NoCache: noCache, Registry: reg})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx, ln) }()
	return &benchRegion{name: name, svc: svc, base: "http://" + ln.Addr().String(), cache: svc.Cache(), reg: reg,
		stop: func() { cancel(); <-done; svc.Close() }}, nil
}

type benchRegion struct {
	name  string
	svc   *region.Service
	base  string
	stop  func()
	cache *api.Cache
	reg   *prometheus.Registry
}

// serverGETs reads the server's own latency histogram of single GETs
// (handler start to reply written: no network, no client): cumulative
// counts at or below each bound.
func (r *benchRegion) serverGETs() map[float64]uint64 {
	out := map[float64]uint64{}
	mfs, err := r.reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "ironkit_region_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == "getMachine" {
					for _, b := range m.GetHistogram().GetBucket() {
						out[b.GetUpperBound()] = b.GetCumulativeCount()
					}
					out[math.Inf(1)] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return out
}

// serverShare prints, for the GETs served between before and now, the
// share the server answered within 1 ms and 5 ms.
func (r *benchRegion) serverShare(before map[float64]uint64) string {
	now := r.serverGETs()
	total := now[math.Inf(1)] - before[math.Inf(1)]
	if total == 0 {
		return ""
	}
	pct := func(bound float64) float64 { return 100 * float64(now[bound]-before[bound]) / float64(total) }
	return fmt.Sprintf("; server side (handler): %.2f%% ≤ 1 ms, %.2f%% ≤ 5 ms", pct(0.001), pct(0.005))
}

func run(server string, o opts) error {
	ctx := context.Background()
	dsn, drop, err := freshDB(server)
	if err != nil {
		return err
	}
	defer drop()
	imagesDir, _ := os.MkdirTemp("", "apibench-images")
	defer os.RemoveAll(imagesDir)
	cached, err := serve(ctx, dsn, "cache on", false, imagesDir)
	if err != nil {
		return err
	}
	defer cached.stop()
	st := cached.svc.Store()
	if _, err := region.CreateAdmin(ctx, st, cheapHasher, "bench", "", "bench-password"); err != nil {
		return err
	}
	start := time.Now()
	ids, err := seed(ctx, st, o.machines)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d machines in %s (%s), GOMAXPROCS %d\n", o.machines, time.Since(start).Round(time.Millisecond), st.Backend(), runtime.GOMAXPROCS(0))
	if o.explain && st.Backend() == store.Postgres {
		if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
			return err
		}
		// The statements store.MachinePageIDs builds (bun's rendering,
		// written out): an admin's page, the full list, a user's page.
		for _, q := range []string{
			`SELECT "machine_row"."system_id" FROM "machines" AS "machine_row" ORDER BY "machine_row".system_id LIMIT 1001`,
			`SELECT "machine_row"."system_id" FROM "machines" AS "machine_row" ORDER BY "machine_row".system_id LIMIT 10001`,
			`SELECT "machine_row"."system_id" FROM "machines" AS "machine_row" WHERE ("machine_row".status = 'ready' OR "machine_row".owner = 'bench') ORDER BY "machine_row".system_id LIMIT 1001`,
		} {
			var plan []string
			if err := st.DB().NewRaw("EXPLAIN (ANALYZE, BUFFERS) "+q).Scan(ctx, &plan); err != nil {
				return err
			}
			fmt.Printf("\n%s\n  %s\n", q, strings.Join(plan, "\n  "))
		}
	}
	regions := []*benchRegion{cached}
	if o.compare {
		uncached, err := serve(ctx, dsn, "cache off", true, imagesDir)
		if err != nil {
			return err
		}
		defer uncached.stop()
		regions = append(regions, uncached)
	}
	// The seed's 10,000 notifications may have overrun the cache's
	// subscription (it then resets, which is what it should do).
	hc := &http.Client{Timeout: 60 * time.Second}
	key, err := login(hc, cached.base)
	if err != nil {
		return err
	}
	for _, r := range regions {
		if err := measureRegion(r, key, ids, o); err != nil {
			return err
		}
	}
	return nil
}

func measureRegion(r *benchRegion, key string, ids []string, o opts) error {
	fmt.Printf("\n== region with the API %s ==\n", r.name)
	tr := &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 1000}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	get := func(path string) (time.Duration, int, error) {
		req, _ := http.NewRequest("GET", r.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		nb, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		return time.Since(t0), int(nb), nil
	}
	measure := func(name, path string) error {
		var ds []time.Duration
		var size int
		for range o.runs + 1 {
			d, nb, err := get(path)
			if err != nil {
				return err
			}
			ds = append(ds, d)
			size = nb
		}
		first := ds[0]
		ds = ds[1:] // the first run fills caches and opens the connection
		slices.Sort(ds)
		fmt.Printf("%-32s median %8s  min %8s  max %8s  (%d runs, %d bytes; first, cold: %s)\n", name, ds[len(ds)/2].Round(10*time.Microsecond),
			ds[0].Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond), len(ds), size, first.Round(10*time.Microsecond))
		return nil
	}
	if r.cache != nil && o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := measure(fmt.Sprintf("full list (%d machines)", len(ids)), fmt.Sprintf("/api/v1/machines?limit=%d", api.MaxPageSize)); err != nil {
		return err
	}
	if err := measure("page of 1000 machines", "/api/v1/machines?limit=1000"); err != nil {
		return err
	}
	// Warm every machine into the cache the way a user would find it: one
	// GET each would take long; the full list fills it.
	for _, c := range o.clients {
		if err := r.phase("closed", c, key, ids, o); err != nil {
			return err
		}
	}
	for _, rate := range o.rates {
		if err := r.phase("open", rate, key, ids, o); err != nil {
			return err
		}
	}
	if r.cache != nil {
		h, m := r.cache.Stats()
		fmt.Printf("cache: %d hits, %d misses\n", h, m)
	}
	return nil
}

// phase runs one concurrent GET phase (closed loop with n clients, or
// open loop at n GETs/s) and prints its line with the server-side share.
// The load generator runs in a child process (this program, -loadgen)
// unless -inprocess: its goroutines, allocations and garbage collections
// then do not share the region's heap and scheduler, as real clients would
// not.
func (r *benchRegion) phase(kind string, n int, key string, ids []string, o opts) error {
	before := r.serverGETs()
	var line string
	var err error
	if o.inProcess {
		line, err = loadgen(kind, r.base, key, ids, n, o.conns, o.dur)
	} else {
		line, err = loadgenChild(kind, r.base, key, ids, n, o.conns, o.dur)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s%s\n", line, r.serverShare(before))
	return nil
}

func loadgen(kind, base, key string, ids []string, n, conns int, dur time.Duration) (string, error) {
	if kind == "closed" {
		return closedLoop(base, key, ids, n, dur)
	}
	return openLoop(base, key, ids, conns, n, dur)
}

// loadgenChild runs loadgen in a child process.
func loadgenChild(kind, base, key string, ids []string, n, conns int, dur time.Duration) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "apibench-ids")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(strings.Join(ids, "\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*dur+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-loadgen", kind, "-target", base, "-ids", f.Name(),
		"-n", strconv.Itoa(n), "-conns", strconv.Itoa(conns), "-duration", dur.String())
	cmd.Env = append(os.Environ(), "APIBENCH_KEY="+key)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("load generator: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// loadgenMain is the child process of loadgenChild.
func loadgenMain(kind, base, idsFile string, n, conns int, dur time.Duration) {
	b, err := os.ReadFile(idsFile)
	if err != nil {
		log.Fatal("apibench -loadgen: ", err)
	}
	line, err := loadgen(kind, base, os.Getenv("APIBENCH_KEY"), strings.Split(string(b), "\n"), n, conns, dur)
	if err != nil {
		log.Fatal("apibench -loadgen: ", err)
	}
	fmt.Println(line)
}

func quantile(lat []time.Duration, p float64) time.Duration {
	return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
}

// closedLoop runs C clients sending GETs back to back and returns the
// result line.
func closedLoop(base, key string, ids []string, clients int, dur time.Duration) (string, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients + 10, MaxConnsPerHost: clients + 10}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	get := func(path string) (time.Duration, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		return time.Since(t0), nil
	}
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for i := c; time.Now().Before(deadline); i += clients {
				d, err := get("/api/v1/machines/" + ids[i%len(ids)])
				if err != nil {
					bad++
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		return "", fmt.Errorf("no successful GET (%d errors)", errs)
	}
	return fmt.Sprintf("closed loop, %4d clients, %s: %7d GETs (%6.0f/s), %d errors, p50 %9s p90 %9s p99 %9s max %9s",
		clients, dur, len(lat), float64(len(lat))/dur.Seconds(), errs, quantile(lat, .5), quantile(lat, .9), quantile(lat, .99), lat[len(lat)-1].Round(10*time.Microsecond)), nil
}

// openLoop sends GETs at a fixed total rate over conns keep-alive
// connections, measuring each from its scheduled send time.
func openLoop(base, key string, ids []string, conns, rate int, dur time.Duration) (string, error) {
	n := int(float64(rate) * dur.Seconds())
	interval := time.Second / time.Duration(rate)
	type result struct {
		lat  time.Duration
		late bool
		err  bool
	}
	// One transport per connection: each worker owns exactly one
	// keep-alive connection, opened before the clock starts.
	clients := make([]*http.Client, conns)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}, Timeout: 60 * time.Second}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	do := func(c *http.Client, path string) error {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
	var wg sync.WaitGroup
	for i, c := range clients { // open every connection
		wg.Add(1)
		go func() { defer wg.Done(); _ = do(c, "/api/v1/machines/"+ids[i%len(ids)]) }()
	}
	wg.Wait()
	sched := make(chan int, n)
	for i := range n {
		sched <- i
	}
	close(sched)
	results := make([]result, n)
	t0 := time.Now().Add(20 * time.Millisecond)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range sched {
				at := t0.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				sent := time.Now()
				err := do(c, "/api/v1/machines/"+ids[(i*7919)%len(ids)])
				results[i] = result{lat: time.Since(at), late: sent.Sub(at) > time.Millisecond, err: err != nil}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var lat []time.Duration
	errs, late := 0, 0
	for _, r := range results {
		if r.err {
			errs++
			continue
		}
		if r.late {
			late++
		}
		lat = append(lat, r.lat)
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return "", fmt.Errorf("open loop: no successful GET (%d errors)", errs)
	}
	return fmt.Sprintf("open loop,   %4d conns, %5d/s target, %7d GETs in %s (%6.0f/s achieved), %d errors, %d sent >1 ms late, p50 %9s p90 %9s p99 %9s p99.9 %9s max %9s",
		conns, rate, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), errs, late,
		quantile(lat, .5), quantile(lat, .9), quantile(lat, .99), quantile(lat, .999), lat[len(lat)-1].Round(10*time.Microsecond)), nil
}

func login(hc *http.Client, base string) (string, error) {
	body := `{"username":"bench","password":"bench-password"}`
	resp, err := hc.Post(base+"/api/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var lr api.LoginReply
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || lr.APIKey.Key == "" {
		return "", fmt.Errorf("login: HTTP %d %v", resp.StatusCode, err)
	}
	return lr.APIKey.Key, nil
}

// seed creates n machines with one interface each through the store, eight
// at a time.
func seed(ctx context.Context, st *store.Store, n int) ([]string, error) {
	ids := make([]string, n)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				mac := net.HardwareAddr{0x52, 0x54, 0x01, byte(i >> 16), byte(i >> 8), byte(i)}
				var m *store.Machine
				var err error
				// Random 6-character system ids collide now and then at this
				// scale (the store reports it as a duplicate): retry.
				for range 3 {
					m, err = st.CreateMachine(ctx, store.Machine{Hostname: fmt.Sprintf("bench-%05d", i), Architecture: "amd64/generic",
						Interfaces: []store.Interface{{MAC: mac}}, Power: store.Power{Type: "ipmi",
							Params: map[string]string{"power_address": fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), "power_user": "admin", "power_pass": "secret"}}}, "bench")
					if !errors.Is(err, store.ErrDuplicate) {
						break
					}
				}
				if err != nil {
					errc <- err
					return
				}
				ids[i] = m.SystemID
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	return ids, nil
}
