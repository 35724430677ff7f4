package store_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ironkit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, "file:"+filepath.Join(dir, "region.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A fabric comes with its untagged VLAN; put a subnet on it.
	fabric, _ := s.CreateFabric(ctx, netmodel.Fabric{Name: "fabric-0"})
	vlan, _ := s.UntaggedVLAN(ctx, fabric.ID)
	subnet, err := s.CreateSubnet(ctx, netmodel.Subnet{
		VLANID: vlan.ID, CIDR: netip.MustParsePrefix("10.1.0.0/24"),
		Gateway: netip.MustParseAddr("10.1.0.1"),
	})
	if err != nil {
		log.Fatal(err)
	}

	m, err := s.CreateMachine(ctx, store.Machine{
		SystemID: "abc123", Hostname: "node1", Architecture: "amd64/generic",
		Interfaces: []store.Interface{{MAC: mustMAC("52:54:00:00:00:01")}},
	}, "admin")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Hostname, m.Status, "version", m.Version)

	// Each transition is one transaction: status, deadline and event.
	m, err = s.Transition(ctx, m.SystemID, store.TransitionRequest{
		Action: lifecycle.ActionCommission, User: "admin", Reason: "new rack",
		Options: lifecycle.Options{Admin: true}, Version: m.Version,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Hostname, m.Status, "deadline set:", !m.StatusDeadline.IsZero())

	// Deciding on a stale version is a conflict, not a lost update.
	_, err = s.Transition(ctx, m.SystemID, store.TransitionRequest{
		Action: lifecycle.ActionAbort, User: "bob", Version: 1,
	})
	fmt.Println(err)

	addr, err := s.AllocateIP(ctx, subnet.ID, store.AllocRequest{InterfaceID: m.Interfaces[0].ID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("allocated", addr.Addr, "to", m.Interfaces[0].Name)

	events, _ := s.Events(ctx, m.SystemID)
	for _, e := range events {
		fmt.Printf("event %s: %q -> %s by %s\n", e.Type, e.From, e.To, e.User)
	}
	// Output:
	// node1 new version 1
	// node1 commissioning deadline set: true
	// machine abc123 changed concurrently (expected version 1): re-read it and retry
	// allocated 10.1.0.2 to eth0
	// event created: "" -> new by admin
	// event commission: "new" -> commissioning by admin
}

// Changes announces committed changes; on PostgreSQL those of every region
// sharing the database, on SQLite those of this Store.
func ExampleStore_Changes() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "ironkit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(ctx, filepath.Join(dir, "region.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	changes, err := s.Changes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.CreateZone(ctx, netmodel.Zone{Name: "row-b"}); err != nil {
		log.Fatal(err)
	}
	c := <-changes
	fmt.Println(c.Kind, c.Op, c.ID)
	// Output:
	// zone insert 2
}
