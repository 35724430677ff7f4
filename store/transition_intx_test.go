package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

// TestTransitionInTx: the InTx hook's writes commit with the status change
// and its event, and a failing hook rolls all three back.
func TestTransitionInTx(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		if _, err := s.SQLDB().ExecContext(ctx, "CREATE TABLE intx_jobs (system_id TEXT NOT NULL, status TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		m := newMachine(t, s, "intx", "52:54:00:cc:10:01")
		jobs := func() int {
			var n int
			if err := s.SQLDB().QueryRowContext(ctx, "SELECT count(*) FROM intx_jobs WHERE system_id = '"+m.SystemID+"'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		enqueue := func(ctx context.Context, tx *sql.Tx, got *store.Machine) error {
			q := "INSERT INTO intx_jobs (system_id, status) VALUES ($1, $2)"
			if b.name == store.SQLite {
				q = "INSERT INTO intx_jobs (system_id, status) VALUES (?, ?)"
			}
			_, err := tx.ExecContext(ctx, q, got.SystemID, string(got.Status))
			return err
		}
		evs0, err := s.Events(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}

		// The hook fails after writing: nothing of the transition stays.
		boom := errors.New("enqueue failed")
		_, err = s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionCommission, User: "alice", Options: lifecycle.Options{Admin: true},
			InTx: func(ctx context.Context, tx *sql.Tx, got *store.Machine) error {
				if got.Status != lifecycle.Commissioning {
					t.Errorf("hook saw status %s, want Commissioning", got.Status)
				}
				if err := enqueue(ctx, tx, got); err != nil {
					return err
				}
				return boom
			}})
		if !errors.Is(err, boom) {
			t.Fatalf("failing hook: err = %v, want %v", err, boom)
		}
		after, err := s.Machine(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Status != m.Status || after.Version != m.Version {
			t.Fatalf("after a failed hook: status %s version %d; want %s %d", after.Status, after.Version, m.Status, m.Version)
		}
		if evs, _ := s.Events(ctx, m.SystemID); len(evs) != len(evs0) {
			t.Fatalf("after a failed hook: %d events, want %d", len(evs), len(evs0))
		}
		if n := jobs(); n != 0 {
			t.Fatalf("after a failed hook: %d hook rows, want 0", n)
		}

		// The hook succeeds: status, event and its row all commit.
		got, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionCommission, User: "alice", Options: lifecycle.Options{Admin: true}, InTx: enqueue})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != lifecycle.Commissioning {
			t.Fatalf("status %s, want Commissioning", got.Status)
		}
		evs, _ := s.Events(ctx, m.SystemID)
		if len(evs) != len(evs0)+1 || evs[len(evs)-1].To != lifecycle.Commissioning {
			t.Fatalf("events %+v; want one more, to Commissioning", evs)
		}
		if n := jobs(); n != 1 {
			t.Fatalf("%d hook rows, want 1", n)
		}
	})
}

// TestMachineInterfacesOneQuery: Machine (one query, interfaces as JSON)
// returns the same interfaces, in id order with their VLANs, as the
// page query (a separate interfaces query).
func TestMachineInterfacesOneQuery(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		_, vlan, _ := seedNetwork(t, s, "10.22.0.0/24")
		m := newMachine(t, s, "ifaces", "52:54:00:cc:20:01")
		for i, mac := range []string{"52:54:00:cc:20:03", "52:54:00:cc:20:02"} {
			ifc := store.Interface{Name: "eth" + string(rune('1'+i)), MAC: mustMAC(mac)}
			if i == 0 {
				ifc.VLANID = vlan.ID
			}
			if _, err := s.AddInterface(ctx, m.SystemID, ifc); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Machine(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.MachinePage(ctx, store.MachinePageQuery{Hostname: "ifaces"})
		if err != nil || len(page) != 1 {
			t.Fatalf("page: %v %v", page, err)
		}
		want := page[0].Interfaces
		if len(got.Interfaces) != 3 || fmt.Sprint(got.Interfaces) != fmt.Sprint(want) {
			t.Fatalf("Machine interfaces %v; want %v", got.Interfaces, want)
		}
		if got.Interfaces[1].VLANID != vlan.ID || got.Interfaces[1].MAC.String() != "52:54:00:cc:20:03" || got.Interfaces[2].VLANID != 0 {
			t.Fatalf("interfaces %v: want eth1 on VLAN %d, eth2 on none", got.Interfaces, vlan.ID)
		}
		if _, err := s.Machine(ctx, "nosuch"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown machine: %v", err)
		}
	})
}
