package rack_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/store"
)

// PostgreSQL stops for 10 s under a running region and rack and comes
// back: the region recovers without a restart. Its API answers again, jobs
// run (a power job through the rack to a BMC), the rack's heartbeats land
// again, and change notifications flow again (the store's LISTEN
// connection reconnects: a subscriber from before the outage sees a new
// machine, and the rack's config follows it).
func TestRegionSurvivesPostgresOutage(t *testing.T) {
	pg := testenv.NewPGCluster(t)
	ctx := context.Background()
	r := startRegion(t, pg.DSN())
	adm := adminKey(t, r)
	bmc := newBMC(t)
	sid := addMachine(t, r.svc.Store(), "pg-node", "52:54:00:00:70:01", bmc)
	rk := startRack(t, []string{r.url}, r.secret, "rack-pg", nil)
	rk.ifs.set(lo("127.0.0.1/8"))
	alive(t, r, rk.file.RackID)
	changes, err := r.svc.Store().Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("RACK_DEBUG") != "" {
			t.Logf("region log:\n%s\nrack log:\n%s", r.logs, rk.logs)
		}
	})
	api200 := func() bool {
		code, _ := adm.Do("GET", "/machines/"+sid, nil, nil)
		return code == http.StatusOK
	}
	powered := func(op string, want bool) {
		t.Helper()
		if code, body := adm.Do("POST", "/machines/"+sid+"/actions/"+op, nil, nil); code != http.StatusOK {
			t.Fatalf("%s: %d %s", op, code, body)
		}
		eventually(t, 30*time.Second, "the "+op+" job to reach the BMC", func() bool { return bmc.PoweredOn() == want })
	}
	powered("power-on", true)

	pg.Stop("immediate")
	stopped := time.Now()
	// The API fails fast meanwhile (no hang), and the region keeps running.
	hc := &http.Client{Timeout: 15 * time.Second}
	req, _ := http.NewRequest("GET", r.url+"/api/v1/machines/"+sid, nil)
	req.Header.Set("Authorization", "Bearer "+adm.Key)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("API during the outage: %v (want a quick error reply)", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Errorf("API during the outage: HTTP %d, want 5xx", resp.StatusCode)
	}
	time.Sleep(10*time.Second - time.Since(stopped))
	select {
	case <-r.served:
		t.Fatalf("the region stopped during the outage")
	default:
	}
	pg.Start()
	back := time.Now()
	eventually(t, 30*time.Second, "the API to answer again", api200)
	apiAt := time.Since(back)
	// Heartbeats land again.
	eventually(t, 30*time.Second, "a rack heartbeat after the outage", func() bool {
		rs, err := r.rpc.Racks(ctx)
		return err == nil && len(rs) == 1 && rs[0].Heartbeat.After(back)
	})
	hbAt := time.Since(back)
	// Jobs run.
	powered("power-off", false)
	jobAt := time.Since(back)
	// Notifications flow again once the store's LISTEN connection is back
	// (changes committed before that are announced as one resync): a
	// machine created then reaches a subscriber from before the outage,
	// and the rack's config.
	eventually(t, 30*time.Second, "the change listener to reconnect", func() bool {
		return strings.Contains(r.logs.String(), "change listener reconnected")
	})
	listenAt := time.Since(back)
	var m api.Machine
	if code, body := adm.Do("POST", "/machines", api.MachineCreate{Hostname: "pg-after", Architecture: "amd64/generic",
		MACAddresses: []string{"52:54:00:00:70:02"}}, &m); code != http.StatusCreated {
		t.Fatalf("create a machine after the outage: %d %s", code, body)
	}
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case c, ok := <-changes:
			if !ok {
				t.Fatal("the change subscription closed during the outage")
			}
			seen = c.Kind == store.KindMachine && c.ID == m.SystemID
		case <-deadline:
			t.Fatal("no change notification for the machine created after the outage")
		}
	}
	notifyAt := time.Since(back)
	eventually(t, 20*time.Second, "the new machine in the rack's config", func() bool {
		c, ok := rk.svc.Config()
		if !ok {
			return false
		}
		for _, x := range c.Machines {
			if x.SystemID == m.SystemID {
				return true
			}
		}
		return false
	})
	for _, h := range rk.svc.Health() {
		if h.Name == "region" && h.Status != rpc.ServiceRunning {
			t.Errorf("rack's region service: %+v", h)
		}
	}
	select {
	case <-r.served:
		t.Fatalf("the region stopped")
	default:
	}
	// The rack backed off meanwhile instead of spinning on failed polls
	// (it once sent ~2,000 a second).
	if n := strings.Count(r.logs.String(), "path=/rpc/v1/commands"); n > 60 {
		t.Errorf("%d failed command polls during the 10 s outage, want a backed-off few", n)
	}
	t.Logf("after PostgreSQL returned (10 s outage): API answered in %s, rack heartbeat landed in %s, power job done in %s, LISTEN reconnected in %s, a new change notified at %s",
		apiAt.Round(time.Millisecond), hbAt.Round(time.Millisecond), jobAt.Round(time.Millisecond), listenAt.Round(time.Millisecond), notifyAt.Round(time.Millisecond))
}
