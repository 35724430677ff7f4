// Command quickstart is what `make run` runs until regiond exists: it opens
// a SQLite database, builds a small network, enlists a few machines and
// drives one through its whole life (commission, allocate, deploy, release)
// with lifecycle deciding and store committing each step with its event,
// allocating addresses as it goes, and prints what it did.
//
//	go run ./examples/quickstart            # a fresh database under $TMPDIR
//	go run ./examples/quickstart -db x.db   # or a file of your choosing
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

func main() {
	db := flag.String("db", "", "SQLite database file (default: a new one under "+os.TempDir()+")")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *db); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "ironkit-quickstart-")
		if err != nil {
			return err
		}
		path = filepath.Join(dir, "region.db")
	}
	s, err := store.Open(ctx, "file:"+path)
	if err != nil {
		return err
	}
	defer s.Close()
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("ironkit quickstart: SQLite database %s", path)

	// --- network ---------------------------------------------------------
	p("\nnetwork (netmodel validates, store keeps)")
	fabric, err := s.CreateFabric(ctx, netmodel.Fabric{Name: "fabric-0", Description: "quickstart"})
	if err != nil {
		return fmt.Errorf("%w (this database already has a quickstart network: run without -db for a fresh one)", err)
	}
	untagged, err := s.UntaggedVLAN(ctx, fabric.ID)
	if err != nil {
		return err
	}
	p("  fabric   %s (id %d), untagged VLAN id %d, MTU %d", fabric.Name, fabric.ID, untagged.ID, untagged.MTU)
	vlan, err := s.CreateVLAN(ctx, netmodel.VLAN{FabricID: fabric.ID, VID: 100, Name: "provisioning"})
	if err != nil {
		return err
	}
	p("  vlan     vid %d %q on %s", vlan.VID, vlan.Name, fabric.Name)
	subnet, err := s.CreateSubnet(ctx, netmodel.Subnet{
		VLANID: vlan.ID, Name: "provisioning", CIDR: netip.MustParsePrefix("10.10.0.0/24"),
		Gateway: netip.MustParseAddr("10.10.0.1"), DNSServers: []netip.Addr{netip.MustParseAddr("10.10.0.2")},
	})
	if err != nil {
		return err
	}
	p("  subnet   %s gateway %s on vid %d", subnet.CIDR, subnet.Gateway, vlan.VID)
	for _, r := range []netmodel.IPRange{
		{SubnetID: subnet.ID, Type: netmodel.RangeReserved, Start: netip.MustParseAddr("10.10.0.2"), End: netip.MustParseAddr("10.10.0.9"), Comment: "routers, DNS"},
		{SubnetID: subnet.ID, Type: netmodel.RangeDynamic, Start: netip.MustParseAddr("10.10.0.100"), End: netip.MustParseAddr("10.10.0.199"), Comment: "DHCP for enlisting machines"},
	} {
		r, err := s.CreateIPRange(ctx, r)
		if err != nil {
			return err
		}
		p("  range    %-8s %s-%s (%s)", r.Type, r.Start, r.End, r.Comment)
	}
	// Bad input is refused with the field, the value and the fix.
	_, err = s.CreateVLAN(ctx, netmodel.VLAN{FabricID: fabric.ID, VID: 5000})
	p("  refused  %v", err)
	_, err = s.CreateIPRange(ctx, netmodel.IPRange{SubnetID: subnet.ID, Type: netmodel.RangeDynamic,
		Start: netip.MustParseAddr("10.10.0.150"), End: netip.MustParseAddr("10.10.0.220")})
	p("  refused  %v", err)

	// --- machines --------------------------------------------------------
	p("\nmachines (power passwords encrypted at rest with the region key)")
	var machines []*store.Machine
	for i := 1; i <= 3; i++ {
		mac, _ := net.ParseMAC(fmt.Sprintf("52:54:00:00:10:%02x", i))
		m, err := s.CreateMachine(ctx, store.Machine{
			Hostname: fmt.Sprintf("node-%02d", i), Architecture: "amd64/generic",
			Interfaces: []store.Interface{{MAC: mac, VLANID: vlan.ID}},
			Power: store.Power{Type: "ipmi", Params: map[string]string{
				"power_address": fmt.Sprintf("10.99.0.%d", 10+i), "power_user": "admin", "power_pass": "secret",
			}},
		}, "admin")
		if err != nil {
			return err
		}
		machines = append(machines, m)
		p("  %s  system id %s  %s  %s  %s via %s", m.Hostname, m.SystemID, m.Status, m.Interfaces[0].MAC, m.Power.Type, m.Power.Params["power_address"])
	}
	mac := machines[0].Interfaces[0].MAC
	_, err = s.CreateMachine(ctx, store.Machine{Hostname: "node-99", Architecture: "amd64/generic",
		Interfaces: []store.Interface{{MAC: mac}}}, "admin")
	p("  refused  %v", err)

	// --- one machine's life ----------------------------------------------
	m := machines[0]
	p("\nlife of %s (lifecycle decides; each step is one transaction with its event)", m.Hostname)
	admin := lifecycle.Options{Admin: true}
	region := lifecycle.Options{System: true} // internal events come from the region
	step := func(action lifecycle.Action, user string, opts lifecycle.Options, reason string) error {
		before := m.Status
		next, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{
			Action: action, Options: opts, User: user, Reason: reason, Version: m.Version,
		})
		if err != nil {
			return err
		}
		m = next
		extra := ""
		if !m.StatusDeadline.IsZero() {
			extra = "  deadline " + m.StatusDeadline.Local().Format("15:04:05")
		}
		if m.Owner != "" {
			extra += "  owner " + m.Owner
		}
		p("  %-20s %-13s -> %-13s v%d%s", action, before, m.Status, m.Version, extra)
		return nil
	}
	steps := []struct {
		action lifecycle.Action
		user   string
		opts   lifecycle.Options
		reason string
	}{
		{lifecycle.ActionCommission, "admin", admin, "new hardware"},
		{lifecycle.EventCommissioned, "", region, "inventory received"},
		{lifecycle.ActionAllocate, "alice", lifecycle.Options{}, "web tier"},
		{lifecycle.ActionDeploy, "alice", lifecycle.Options{}, "ubuntu/noble"},
		{lifecycle.EventDeployed, "", region, "booted from disk"},
		{lifecycle.ActionRelease, "alice", lifecycle.Options{}, "done"},
		{lifecycle.EventReleased, "", region, "powered off"},
	}
	for _, st := range steps {
		if st.action == lifecycle.EventDeployed {
			// Deployment claims the machine's address.
			a, err := s.AllocateIP(ctx, subnet.ID, store.AllocRequest{InterfaceID: m.Interfaces[0].ID})
			if err != nil {
				return err
			}
			p("  %-20s %s (%s) on %s", "allocate address", a.Addr, a.AllocType, m.Interfaces[0].Name)
		}
		if err := step(st.action, st.user, st.opts, st.reason); err != nil {
			return err
		}
	}
	addrs, err := s.InterfaceAddresses(ctx, m.Interfaces[0].ID)
	if err != nil {
		return err
	}
	p("  %-20s %d auto addresses left on %s after release", "free addresses", len(addrs), m.Interfaces[0].Name)
	// Invalid actions and stale versions are refused; nothing is written.
	_, err = s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionDeploy, User: "bob"})
	p("  refused  %v", err)
	_, err = s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionAllocate, User: "bob", Version: 1})
	p("  refused  %v", err)

	events, err := s.Events(ctx, m.SystemID)
	if err != nil {
		return err
	}
	p("\nevents of %s", m.Hostname)
	for _, e := range events {
		who := e.User
		if who == "" {
			who = "region"
		}
		change := string(e.To)
		if e.From != "" {
			change = string(e.From) + " -> " + string(e.To)
		}
		p("  %s  %-18s %-29s by %-6s %s", e.Time.Local().Format("15:04:05.000"), e.Type, change, who, e.Reason)
	}

	// --- addresses for the rest ------------------------------------------
	p("\nstatic addresses (the allocator skips the gateway, reserved and dynamic ranges)")
	for _, other := range machines[1:] {
		a, err := s.AllocateIP(ctx, subnet.ID, store.AllocRequest{Type: netmodel.AllocSticky, InterfaceID: other.Interfaces[0].ID})
		if err != nil {
			return err
		}
		p("  %s  %s (%s)", other.Hostname, a.Addr, a.AllocType)
	}
	all, err := s.Machines(ctx, store.MachineFilter{})
	if err != nil {
		return err
	}
	var summary []string
	for _, m := range all {
		summary = append(summary, m.Hostname+"="+string(m.Status))
	}
	p("\ndone: %s; database kept at %s", strings.Join(summary, " "), path)
	return nil
}
