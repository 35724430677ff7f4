package store_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// OnCommit sees every change this Store commits (RunInTx's own kinds, and
// an address's machine), after the commit and never for a rollback;
// ChangesState says whether the feed can be trusted.
func TestRunInTxOnCommitAndChangesState(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		var mu sync.Mutex
		var got []store.Change
		s.OnCommit(func(c store.Change) { mu.Lock(); got = append(got, c); mu.Unlock() })
		seen := func(c store.Change) bool { mu.Lock(); defer mu.Unlock(); return slices.Contains(got, c) }

		if _, live := s.ChangesState(); live {
			t.Fatal("ChangesState live before any Changes subscription (or on SQLite)")
		}
		ch, err := s.Changes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, live := s.ChangesState()
		if live != (b.name == store.Postgres) {
			t.Fatalf("ChangesState live = %v on %s after Changes", live, b.name)
		}

		custom := store.Change{Kind: "custom", ID: "x1", Op: store.OpUpdate}
		if err := s.RunInTx(ctx, func(ctx context.Context, tx store.Tx) error {
			tx.Changed(custom.Kind, custom.ID, custom.Op)
			_, err := tx.ExecContext(ctx, "SELECT 1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !seen(custom) {
			t.Fatalf("OnCommit did not see %+v before RunInTx returned: %+v", custom, got)
		}
		if c := next(t, ch); c != custom {
			t.Fatalf("subscriber got %+v, want %+v", c, custom)
		}
		rolledBack := store.Change{Kind: "custom", ID: "rolled-back", Op: store.OpUpdate}
		boom := errors.New("boom")
		if err := s.RunInTx(ctx, func(ctx context.Context, tx store.Tx) error {
			tx.Changed(rolledBack.Kind, rolledBack.ID, rolledBack.Op)
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("RunInTx error %v, want boom", err)
		}
		if seen(rolledBack) {
			t.Fatal("OnCommit saw a rolled-back change")
		}

		// An address on an interface announces the interface's machine.
		m := newMachine(t, s, "hooked", "52:54:00:12:09:01")
		f, err := s.CreateFabric(ctx, netmodel.Fabric{Name: "hooks"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.UntaggedVLAN(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		sn, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: netip.MustParsePrefix("10.69.0.0/24")})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got = nil
		mu.Unlock()
		a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{InterfaceID: m.Interfaces[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		machineChanged := store.Change{Kind: store.KindMachine, ID: m.SystemID, Op: store.OpUpdate}
		if !seen(machineChanged) {
			t.Fatalf("AllocateIP on an interface did not announce its machine: %+v", got)
		}
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := s.ReleaseIP(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if !seen(machineChanged) {
			t.Fatalf("ReleaseIP did not announce the machine: %+v", got)
		}
		if err := s.ReleaseIP(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second ReleaseIP: %v, want ErrNotFound", err)
		}
	})
}
