// Command apibench is `make bench-api`: it seeds a region database with N
// machines (PostgreSQL from IRONKIT_TEST_POSTGRES or -database; a fresh
// database is created and dropped), serves the API on loopback and measures
// the full machine list, a 1,000-machine page and single-machine GETs under
// C concurrent clients. The load generator is this program: C goroutines,
// each a keep-alive HTTP/1.1 client, issuing GETs back to back; latencies
// are measured per request on the client side.
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
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/store"
)

func main() {
	machines := flag.Int("machines", 10000, "machines to seed")
	clients := flag.Int("clients", 500, "concurrent clients for single GETs")
	duration := flag.Duration("duration", 5*time.Second, "how long the concurrent GET phase runs")
	dsn := flag.String("database", os.Getenv("IRONKIT_TEST_POSTGRES"), "PostgreSQL server DSN (a database is created on it) or a SQLite file path")
	runs := flag.Int("runs", 5, "repetitions of the list measurements (median reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		profile = func() func() {
			_ = pprof.StartCPUProfile(f)
			return func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	if *dsn == "" {
		log.Fatal("apibench: no database: run it through `make bench-api` (which starts PostgreSQL) or pass -database")
	}
	if err := run(*dsn, *machines, *clients, *runs, *duration); err != nil {
		log.Fatal("apibench: ", err)
	}
}

// profile starts CPU profiling (when -cpuprofile is set) and returns its stop.
var profile = func() func() { return func() {} }

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

func run(server string, n, clients, runs int, dur time.Duration) error {
	ctx := context.Background()
	dsn, drop, err := freshDB(server)
	if err != nil {
		return err
	}
	defer drop()
	cfg := config.Default()
	cfg.Database = dsn
	cfg.ImagesDir, _ = os.MkdirTemp("", "apibench-images")
	defer os.RemoveAll(cfg.ImagesDir)
	cfg.Jobs.Disabled = true
	svc, err := region.Open(ctx, cfg, region.Options{Hasher: auth.Hasher{Time: 1, MemoryKiB: 1024, Threads: 1}})
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := region.CreateAdmin(ctx, svc.Store(), auth.Hasher{Time: 1, MemoryKiB: 1024, Threads: 1}, "bench", "", "bench-password"); err != nil {
		return err
	}
	start := time.Now()
	ids, err := seed(ctx, svc.Store(), n)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d machines in %s (%s)\n", n, time.Since(start).Round(time.Millisecond), svc.Store().Backend())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: clients + 10, MaxConnsPerHost: clients + 10}
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	key, err := login(hc, base)
	if err != nil {
		return err
	}
	get := func(path string) (time.Duration, int, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
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
		for range runs + 1 {
			d, nb, err := get(path)
			if err != nil {
				return err
			}
			ds = append(ds, d)
			size = nb
		}
		ds = ds[1:] // the first run warms caches and connections
		slices.Sort(ds)
		fmt.Printf("%-32s median %8s  min %8s  max %8s  (%d runs, %d bytes)\n", name, ds[len(ds)/2].Round(10*time.Microsecond),
			ds[0].Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond), len(ds), size)
		return nil
	}
	defer profile()()
	if err := measure(fmt.Sprintf("full list (%d machines)", n), fmt.Sprintf("/api/v1/machines?limit=%d", api.MaxPageSize)); err != nil {
		return err
	}
	if err := measure("page of 1000 machines", "/api/v1/machines?limit=1000"); err != nil {
		return err
	}

	// Concurrent single GETs.
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
				d, _, err := get("/api/v1/machines/" + ids[i%len(ids)])
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
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return fmt.Errorf("no successful GET (%d errors)", errs)
	}
	q := func(p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(10 * time.Microsecond)
	}
	fmt.Printf("single GET, %d clients, %s: %d requests (%.0f/s), %d errors, p50 %s p90 %s p99 %s max %s\n",
		clients, dur, len(lat), float64(len(lat))/dur.Seconds(), errs, q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	tr.CloseIdleConnections()
	return nil
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
