package rack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/power/powersim"
)

// nsForward listens on addr (ip:port, port 0 picks one) inside h's
// namespace and forwards every connection to target, dialled from the
// root namespace (where the regiond processes and PostgreSQL listen on
// loopback). A target that is gone (a killed regiond) closes the
// forwarded connection at once, as a dead host would. It returns the
// address it listens on.
func nsForward(t *testing.T, h *testenv.Host, addr, target string) string {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.DialTimeout("tcp", target, 3*time.Second)
				if err != nil {
					return
				}
				defer up.Close()
				track(c, true)
				track(up, true)
				defer track(c, false)
				defer track(up, false)
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
				c.Close()
				up.Close()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// nsBMC is a simulated IPMI BMC listening inside h's namespace.
func nsBMC(t *testing.T, h *testenv.Host, ip string) *powersim.IPMIBMC {
	t.Helper()
	var b *powersim.IPMIBMC
	if err := h.Do(func() (err error) {
		b, err = powersim.NewIPMI(powersim.WithIPMIAddr(ip+":0"), powersim.WithIPMICredentials("admin", "password"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// nsRackAt registers a rackd in h's namespace against urls; like nsRack.
func nsRackAt(t *testing.T, h *testenv.Host, urls []string, secret, name string, edit func(*rack.File)) (string, rack.File) {
	t.Helper()
	return nsRack(t, h, &testRegion{url: strings.Join(urls, ","), secret: secret}, name, edit)
}

// The HA scenario in one piece: 3 regiond on one PostgreSQL and 2
// rackd serving one VLAN as primary and secondary (network namespaces).
// Deploy jobs are in flight (slow BMCs behind the racks) when the regiond
// running them is killed with SIGKILL: every deployment still finishes
// (the jobs are rescued by another region, the racks move to another
// region URL, and the ephemeral environment's signals complete them
// through the metadata API). Then the primary rack is killed with SIGKILL:
// the secondary serves the client its same address within 5 s, and the
// lease is in the region's IPAM.
func TestHADeployAndRackFailover(t *testing.T) {
	testenv.RequireRoot(t, "two rackd, simulated BMCs and udhcpc in network namespaces")
	testenv.RequireBinaries(t, "ip", "udhcpc")
	dsn := freshPostgres(t)
	bin := buildRegiond(t)
	ctx := context.Background()
	st, secret := initRegionDB(t, dsn)
	seg := testenv.NewSegment(t)
	gw := seg.AddHost(t, "10.89.0.1/24") // region forwarders and BMCs
	hostA := seg.AddHost(t, "10.89.0.2/24")
	hostB := seg.AddHost(t, "10.89.0.3/24")
	cli := seg.AddHost(t, "")

	addrs, procs := startRegionds(t, bin, dsn, 3)
	var urls []string
	for _, a := range addrs {
		urls = append(urls, "http://"+nsForward(t, gw, "10.89.0.1:0", a))
	}
	noBoot := func(f *rack.File) { f.TFTPAddr, f.HTTPAddr = "-", "-" }
	cfgA, fA := nsRackAt(t, hostA, urls, secret, "ha-primary", noBoot)
	cfgB, fB := nsRackAt(t, hostB, urls, secret, "ha-secondary", noBoot)
	dhcpNetwork(t, st, "10.89.0.0/24", fA.RackID, fB.RackID)
	pA := serveRack(t, hostA, cfgA)
	pB := serveRack(t, hostB, cfgB)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("primary rackd:\n%s\nsecondary rackd:\n%s", tail(pA.Output(), 4000), tail(pB.Output(), 4000))
		}
	})
	rackAlive := func(id int64) bool {
		var hb time.Time
		err := st.DB().NewSelect().Table("rack_status").Column("heartbeat").Where("rack_id = ?", id).Scan(ctx, &hb)
		return err == nil && time.Since(hb) < 3*time.Second
	}
	eventually(t, 30*time.Second, "both racks heartbeating", func() bool { return rackAlive(fA.RackID) && rackAlive(fB.RackID) })

	// Deployments: machines in Deploying with a deploy job each; every BMC
	// drops its first packet, so jobs stay in flight for a while.
	const n = 6
	var bmcs []*powersim.IPMIBMC
	var ids []string
	for i := range n {
		b := nsBMC(t, gw, "10.89.0.1")
		b.SetFaults(powersim.Faults{DropNext: 1})
		bmcs = append(bmcs, b)
		id := addMachine(t, st, fmt.Sprintf("hadep%02d", i), fmt.Sprintf("52:54:00:00:89:%02x", i), b)
		if _, err := st.DB().NewRaw("UPDATE machines SET status = ?, owner = 'admin' WHERE system_id = ?", string(lifecycle.Deploying), id).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	enq, err := jobs.New(ctx, jobs.Config{DB: st.SQLDB(), Backend: jobs.Postgres, InsertOnly: true,
		Machines: nopMachines{}, Power: nopPower{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := enq.Deploy(ctx, nil, id); err != nil {
			t.Fatal(err)
		}
	}
	victim, running := regionRunning(t, st, procs, "deploy", 30*time.Second)
	procs[victim].Kill()
	killed := time.Now()
	eventually(t, 80*time.Second, "every deploy job completed", func() bool {
		left, _ := st.DB().NewSelect().Table("river_job").Where("kind = 'deploy' AND state <> 'completed'").Count(ctx)
		return left == 0
	})
	jobsDone := time.Since(killed)
	for i, b := range bmcs {
		if !b.PoweredOn() {
			t.Errorf("machine %s: BMC off after its deploy job completed", ids[i])
		}
	}
	// The ephemeral environment of each machine: its boot (rendered by a
	// rack: boot lookup with a rack token) carries a machine token, with
	// which it signals "installed" then "booted" to a surviving region.
	survivor := "http://" + addrs[(victim+1)%3]
	for _, id := range ids {
		m, err := st.Machine(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		boot := bootLookup(t, survivor, fA.Token, m.Interfaces[0].MAC.String())
		if boot.Token == "" || boot.Purpose != "deploy" {
			t.Fatalf("machine %s boot lookup: %+v", id, boot.BootMachine)
		}
		for _, sig := range []string{"installed", "booted"} {
			if code, body := call(t, "POST", survivor+"/api/v1/metadata/"+id+"/signal", boot.Token, `{"status":"`+sig+`"}`); code != http.StatusNoContent {
				t.Fatalf("machine %s signal %s: %d %s", id, sig, code, body)
			}
		}
		if m, err := st.Machine(ctx, id); err != nil || m.Status != lifecycle.Deployed {
			t.Fatalf("machine %s after its signals: %v %v", id, m.Status, err)
		}
		// The deployment's token ended with it.
		if code, _ := call(t, "POST", survivor+"/api/v1/metadata/"+id+"/heartbeat", boot.Token, ""); code != http.StatusUnauthorized {
			t.Errorf("machine %s: deploy token still accepted once deployed (HTTP %d)", id, code)
		}
	}
	t.Logf("regiond %d killed with %d deploy jobs running: all %d jobs completed %s later; all machines deployed",
		victim+1, running, n, jobsDone.Round(time.Millisecond))

	// The racks talk to region 1 first; if it survived, kill it too: both
	// racks move on to the region left, on their own.
	if victim != 0 {
		procs[0].Kill()
	}
	for _, p := range []*testenv.Process{pA, pB} {
		eventually(t, 15*time.Second, "the racks to move to another region", func() bool {
			return strings.Contains(p.Output(), "region switched")
		})
	}

	// Rack failover with the surviving region.
	dhcpState := func(id int64) string {
		var s string
		_ = st.DB().NewSelect().Table("rack_status").Column("services").Where("rack_id = ?", id).Scan(ctx, &s)
		var hs []rpc.ServiceHealth
		_ = json.Unmarshal([]byte(s), &hs)
		for _, h := range hs {
			if h.Name == "dhcp" {
				return h.Status + " " + h.Info
			}
		}
		return ""
	}
	eventually(t, 30*time.Second, "both racks' DHCP in failover state normal", func() bool {
		return strings.Contains(dhcpState(fA.RackID), "[normal]") && strings.Contains(dhcpState(fB.RackID), "[normal]")
	})
	ip1, _ := lease(t, cli, 15*time.Second)
	mac := hostMAC(t, cli)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	pA.Kill()
	ip2, _ := lease(t, cli, 15*time.Second)
	took := time.Since(start)
	if ip2 != ip1 {
		t.Errorf("after failover the client got %s, had %s: the lease was not kept", ip2, ip1)
	}
	if took > 5*time.Second {
		t.Errorf("the secondary took %s to serve (want ≤ 5s)", took)
	}
	// The lease reached the region's IPAM (as a dhcp address with the MAC).
	eventually(t, 20*time.Second, "the client's lease in IPAM", func() bool {
		var n int
		n, _ = st.DB().NewSelect().Table("ip_addresses").Where("ip = ? AND alloc_type = 'dhcp' AND comment LIKE ?", ip1, "%"+mac).Count(ctx)
		return n == 1
	})
	if _, err := netip.ParseAddr(ip1); err != nil {
		t.Fatal(err)
	}
	t.Logf("secondary rack served %s %s after the primary's SIGKILL", ip2, took.Round(time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
