package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

func newMachine(t *testing.T, s *store.Store, hostname, mac string) *store.Machine {
	t.Helper()
	m, err := s.CreateMachine(ctxT(t), store.Machine{
		Hostname: hostname, Architecture: "amd64/generic",
		Interfaces: []store.Interface{{MAC: mustMAC(mac)}},
		Power: store.Power{Type: "ipmi", Params: map[string]string{
			"power_address": "10.0.0.9", "power_user": "admin", "power_pass": "s3cr3t-" + hostname,
		}},
	}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMachineCRUD(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		m := newMachine(t, s, "node1", "52:54:00:aa:00:01")
		if len(m.SystemID) != 6 || m.Status != lifecycle.New || m.Version != 1 || m.ZoneID == 0 || m.PoolID == 0 {
			t.Fatalf("created machine = %+v", m)
		}
		if len(m.Interfaces) != 1 || m.Interfaces[0].Name != "eth0" || m.Interfaces[0].ID == 0 {
			t.Fatalf("interfaces = %+v", m.Interfaces)
		}
		got, err := s.Machine(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Power.Params["power_pass"] != "s3cr3t-node1" || got.Power.Params["power_address"] != "10.0.0.9" {
			t.Fatalf("power params read back = %v", got.Power.Params)
		}
		byMAC, err := s.MachineByMAC(ctx, mustMAC("52:54:00:AA:00:01"))
		if err != nil || byMAC.SystemID != m.SystemID {
			t.Fatalf("MachineByMAC = %+v, %v", byMAC, err)
		}
		ifc, err := s.AddInterface(ctx, m.SystemID, store.Interface{MAC: mustMAC("52:54:00:aa:00:02")})
		if err != nil || ifc.Name != "eth1" {
			t.Fatalf("AddInterface = %+v, %v", ifc, err)
		}
		got, _ = s.Machine(ctx, m.SystemID)
		if got.Version != 2 || len(got.Interfaces) != 2 {
			t.Fatalf("after AddInterface: version %d, %d interfaces", got.Version, len(got.Interfaces))
		}

		// Update with the current version succeeds; with a stale one it
		// conflicts and changes nothing.
		got.Inventory = json.RawMessage(`{"cpu":{"count":8},"memory_mib":16384}`)
		got.Power.Params["power_pass"] = "rotated"
		upd, err := s.UpdateMachine(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		var inv map[string]any
		if err := json.Unmarshal(upd.Inventory, &inv); err != nil || inv["memory_mib"] != float64(16384) {
			t.Fatalf("inventory = %s (%v)", upd.Inventory, err)
		}
		stale := *got // still version 2
		stale.Hostname = "renamed"
		if _, err := s.UpdateMachine(ctx, &stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update err = %v, want ErrConflict", err)
		}
		now, _ := s.Machine(ctx, m.SystemID)
		if now.Hostname != "node1" || now.Power.Params["power_pass"] != "rotated" || now.Version != 3 {
			t.Fatalf("after stale update: %+v", now)
		}

		other := newMachine(t, s, "node2", "52:54:00:aa:00:03")
		ms, err := s.Machines(ctx, store.MachineFilter{Status: lifecycle.New})
		if err != nil || len(ms) != 2 || ms[0].Hostname != "node1" || ms[1].SystemID != other.SystemID {
			t.Fatalf("Machines = %v, %v", ms, err)
		}
		if err := s.DeleteMachine(ctx, other.SystemID, "admin"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Machine(ctx, other.SystemID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted machine: err = %v", err)
		}
		if _, err := s.MachineByMAC(ctx, mustMAC("52:54:00:aa:00:03")); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("deleted machine's interface survived")
		}
		evs, _ := s.Events(ctx, other.SystemID)
		if len(evs) != 2 || evs[0].Type != store.EventCreated || evs[1].Type != store.EventDeleted {
			t.Fatalf("events of deleted machine = %+v", evs)
		}
	})
}

// TestPowerSecretsEncryptedAtRest reads the raw row: the password is not
// there in clear, the address is; another region key cannot read it.
func TestPowerSecretsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		m := newMachine(t, s, "secret", "52:54:00:bb:00:01")
		var raw struct {
			Params  string `bun:"power_params"`
			Secrets []byte `bun:"power_secrets"`
		}
		if err := s.DB().NewSelect().Table("machines").Column("power_params", "power_secrets").
			Where("system_id = ?", m.SystemID).Scan(ctx, &raw.Params, &raw.Secrets); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains([]byte(raw.Params), []byte("s3cr3t")) || bytes.Contains(raw.Secrets, []byte("s3cr3t")) {
			t.Fatalf("password stored in clear: params %s secrets %q", raw.Params, raw.Secrets)
		}
		if !bytes.Contains([]byte(raw.Params), []byte("10.0.0.9")) || len(raw.Secrets) < 28 {
			t.Fatalf("raw row: params %s, %d bytes of secrets", raw.Params, len(raw.Secrets))
		}
		// A region with another key fails clearly instead of returning junk.
		other := b.open(t, store.WithRegionKey(bytes.Repeat([]byte{1}, 32)))
		if _, err := other.Machine(ctx, m.SystemID); !errors.Is(err, store.ErrDecrypt) {
			t.Fatalf("read with another key: err = %v, want ErrDecrypt", err)
		}
		// The same database reopened (stored key) reads it.
		again := b.open(t)
		got, err := again.Machine(ctx, m.SystemID)
		if err != nil || got.Power.Params["power_pass"] != "s3cr3t-secret" {
			t.Fatalf("reopened: %v, %v", got, err)
		}
	})
}

// TestLifecycleFlow drives a machine from New to Deployed and back to Ready
// and checks the status, the owner, the deadline and one event per step.
func TestLifecycleFlow(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		m := newMachine(t, s, "flow", "52:54:00:cc:00:01")
		steps := []struct {
			action   lifecycle.Action
			want     lifecycle.Status
			owner    string
			deadline bool
		}{
			{lifecycle.ActionCommission, lifecycle.Commissioning, "", true},
			{lifecycle.EventCommissioned, lifecycle.Ready, "", false},
			{lifecycle.ActionAllocate, lifecycle.Allocated, "alice", false},
			{lifecycle.ActionDeploy, lifecycle.Deploying, "alice", true},
			{lifecycle.EventDeployed, lifecycle.Deployed, "alice", false},
			{lifecycle.ActionRelease, lifecycle.Releasing, "alice", true},
			{lifecycle.EventReleased, lifecycle.Ready, "", false},
		}
		_, _, sn := seedNetwork(t, s, "10.21.0.0/24")
		version := m.Version
		for _, st := range steps {
			if st.action == lifecycle.EventDeployed {
				a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{InterfaceID: m.Interfaces[0].ID})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, AllocType: netmodel.AllocSticky,
					Addr: a.Addr.Next(), InterfaceID: m.Interfaces[0].ID}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{
				Action: st.action, User: "alice", Reason: "test " + string(st.action),
				Options: lifecycle.Options{System: true}, Version: version,
			})
			if err != nil {
				t.Fatalf("%s: %v", st.action, err)
			}
			if got.Status != st.want || got.Owner != st.owner || got.StatusDeadline.IsZero() == st.deadline {
				t.Fatalf("%s: status %s owner %q deadline %v; want %s %q deadline=%v", st.action, got.Status, got.Owner, got.StatusDeadline, st.want, st.owner, st.deadline)
			}
			if got.Version != version+1 {
				t.Fatalf("%s: version %d, want %d", st.action, got.Version, version+1)
			}
			version = got.Version
		}
		// Back in Ready: the auto address is freed, the sticky one kept.
		left, _ := s.InterfaceAddresses(ctx, m.Interfaces[0].ID)
		if len(left) != 1 || left[0].AllocType != netmodel.AllocSticky {
			t.Fatalf("addresses after release: %+v; want the sticky one only", left)
		}
		evs, err := s.Events(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != len(steps)+1 {
			t.Fatalf("%d events, want %d", len(evs), len(steps)+1)
		}
		for i, st := range steps {
			e := evs[i+1]
			if e.Type != string(st.action) || e.To != st.want || e.User != "alice" || e.Reason == "" || e.Time.IsZero() {
				t.Fatalf("event %d = %+v", i+1, e)
			}
		}
		// An invalid action is lifecycle's error, and nothing changes.
		_, err = s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionDeploy, User: "bob"})
		var te *lifecycle.TransitionError
		if !errors.Is(err, lifecycle.ErrInvalidTransition) || !errors.As(err, &te) {
			t.Fatalf("deploy from Ready: err = %v", err)
		}
		if evs2, _ := s.Events(ctx, m.SystemID); len(evs2) != len(evs) {
			t.Fatal("a refused transition wrote an event")
		}
		// Stale version: ErrConflict.
		if _, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionAllocate, User: "bob", Version: 1}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale version: err = %v, want ErrConflict", err)
		}
	})
}

// TestConcurrentTransitions: many goroutines, on two Stores, try to
// allocate the same Ready machine having read the same version. Exactly one
// wins; the others get ErrConflict (or, having read after the winner, an
// invalid transition); exactly one allocate event is written.
func TestConcurrentTransitions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s1, s2 := b.open(t), b.open(t)
		m := newMachine(t, s1, "race", "52:54:00:dd:00:01")
		for _, a := range []lifecycle.Action{lifecycle.ActionCommission, lifecycle.EventCommissioned} {
			var err error
			if m, err = s1.Transition(ctx, m.SystemID, store.TransitionRequest{Action: a, Options: lifecycle.Options{System: true}}); err != nil {
				t.Fatal(err)
			}
		}
		const n = 8
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := []*store.Store{s1, s2}[i%2]
				_, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{
					Action: lifecycle.ActionAllocate, User: "user" + string(rune('a'+i)), Version: m.Version,
				})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("goroutine %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != n-1 {
			t.Fatalf("%d wins, %d conflicts; want 1 and %d", wins.Load(), conflicts.Load(), n-1)
		}
		evs, _ := s1.Events(ctx, m.SystemID)
		allocs := 0
		for _, e := range evs {
			if e.Type == string(lifecycle.ActionAllocate) {
				allocs++
			}
		}
		final, _ := s2.Machine(ctx, m.SystemID)
		if allocs != 1 || final.Status != lifecycle.Allocated || final.Version != m.Version+1 {
			t.Fatalf("%d allocate events, final %s v%d", allocs, final.Status, final.Version)
		}
	})
}

// TestConcurrentTransitionsUnversioned: callers that pass no version still
// never lose an update: of concurrent deploys of one Allocated machine one
// wins; the others fail with ErrConflict (they read the same version; the
// guarded UPDATE matched nothing) or, having read after the winner,
// lifecycle's invalid transition. One deploy event is written.
func TestConcurrentTransitionsUnversioned(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s1, s2 := b.open(t), b.open(t)
		m := newMachine(t, s1, "race2", "52:54:00:dd:00:02")
		for _, a := range []lifecycle.Action{lifecycle.ActionCommission, lifecycle.EventCommissioned, lifecycle.ActionAllocate} {
			if _, err := s1.Transition(ctx, m.SystemID, store.TransitionRequest{Action: a, User: "alice", Options: lifecycle.Options{System: true}}); err != nil {
				t.Fatal(err)
			}
		}
		const n = 8
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := []*store.Store{s1, s2}[i%2].Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionDeploy, User: "alice"})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrConflict), errors.Is(err, lifecycle.ErrInvalidTransition):
				default:
					t.Errorf("goroutine %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		evs, _ := s1.Events(ctx, m.SystemID)
		deploys := 0
		for _, e := range evs {
			if e.Type == string(lifecycle.ActionDeploy) {
				deploys++
			}
		}
		if wins.Load() != 1 || deploys != 1 {
			t.Fatalf("%d wins, %d deploy events; want 1 and 1", wins.Load(), deploys)
		}
	})
}

// fakeClock is a settable clock for deadline tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		clock := &fakeClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
		s := b.open(t, store.WithClock(clock.Now))
		a := newMachine(t, s, "slow", "52:54:00:ee:00:01")
		bm := newMachine(t, s, "beating", "52:54:00:ee:00:02")
		for _, m := range []*store.Machine{a, bm} {
			got, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionCommission, User: "admin", Options: lifecycle.Options{Admin: true}})
			if err != nil {
				t.Fatal(err)
			}
			if want := clock.Now().Add(lifecycle.DefaultDeadline); !got.StatusDeadline.Equal(want) {
				t.Fatalf("deadline %v, want %v", got.StatusDeadline, want)
			}
		}
		clock.Add(20 * time.Minute)
		hb, err := s.Heartbeat(ctx, bm.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		if want := clock.Now().Add(lifecycle.DefaultDeadline); !hb.StatusDeadline.Equal(want) {
			t.Fatalf("heartbeat deadline %v, want %v", hb.StatusDeadline, want)
		}
		if exp, _ := s.ExpiredMachines(ctx, 0); len(exp) != 0 {
			t.Fatalf("expired too early: %v", exp)
		}
		clock.Add(15 * time.Minute) // a: 35 min in, b: 15 min since heartbeat
		exp, err := s.ExpiredMachines(ctx, 0)
		if err != nil || len(exp) != 1 || exp[0].SystemID != a.SystemID {
			t.Fatalf("ExpiredMachines = %v, %v; want [slow]", exp, err)
		}
		failed, err := s.FailExpired(ctx, 10)
		if err != nil || len(failed) != 1 || failed[0].Status != lifecycle.FailedCommissioning || !failed[0].StatusDeadline.IsZero() {
			t.Fatalf("FailExpired = %v, %v", failed, err)
		}
		evs, _ := s.Events(ctx, a.SystemID)
		last := evs[len(evs)-1]
		if last.Type != string(lifecycle.EventDeadlineExpired) || last.From != lifecycle.Commissioning || last.To != lifecycle.FailedCommissioning {
			t.Fatalf("expiry event = %+v", last)
		}
		if again, _ := s.FailExpired(ctx, 10); len(again) != 0 {
			t.Fatalf("second FailExpired failed %v", again)
		}
		// SetDeadline marks a deadline by hand.
		if err := s.SetDeadline(ctx, bm.SystemID, clock.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if exp, _ := s.ExpiredMachines(ctx, 0); len(exp) != 1 || exp[0].SystemID != bm.SystemID {
			t.Fatalf("after SetDeadline: %v", exp)
		}
	})
}

func TestAllocateMachine(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s1, s2 := b.open(t), b.open(t)
		const n = 4
		for i := range n {
			m := newMachine(t, s1, "pool"+string(rune('a'+i)), "52:54:00:ff:00:0"+string(rune('1'+i)))
			for _, a := range []lifecycle.Action{lifecycle.ActionCommission, lifecycle.EventCommissioned} {
				if _, err := s1.Transition(ctx, m.SystemID, store.TransitionRequest{Action: a, Options: lifecycle.Options{System: true}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var mu sync.Mutex
		got := map[string]string{}
		var wg sync.WaitGroup
		for i := range n + 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := []*store.Store{s1, s2}[i%2]
				user := "u" + string(rune('a'+i))
				m, err := s.AllocateMachine(ctx, store.Constraints{Architecture: "amd64/generic"}, user, "test")
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("AllocateMachine: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if prev, dup := got[m.SystemID]; dup {
					t.Errorf("machine %s allocated to %s and %s", m.SystemID, prev, user)
				}
				got[m.SystemID] = user
			}()
		}
		wg.Wait()
		if len(got) != n {
			t.Fatalf("allocated %d machines, want %d", len(got), n)
		}
		ms, _ := s1.Machines(ctx, store.MachineFilter{Status: lifecycle.Allocated})
		for _, m := range ms {
			if m.Owner != got[m.SystemID] {
				t.Fatalf("machine %s owner %q, allocator %q", m.SystemID, m.Owner, got[m.SystemID])
			}
		}
	})
}

// TestTransitionResultMatchesStored: what Transition returns (built without
// re-reading the row) is what a fresh read returns.
func TestTransitionResultMatchesStored(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		m := newMachine(t, s, "same", "52:54:00:dd:00:09")
		for _, a := range []lifecycle.Action{lifecycle.ActionCommission, lifecycle.EventCommissioned, lifecycle.ActionAllocate, lifecycle.ActionDeploy} {
			got, err := s.Transition(ctx, m.SystemID, store.TransitionRequest{Action: a, User: "carol", Options: lifecycle.Options{System: true}})
			if err != nil {
				t.Fatal(err)
			}
			read, err := s.Machine(ctx, m.SystemID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, read) {
				t.Fatalf("%s: returned\n%+v\nstored\n%+v", a, got, read)
			}
		}
	})
}

// TestFailExpiredConcurrently: two regions sweep expired deadlines at once;
// every expired machine fails exactly once, with one event.
func TestFailExpiredConcurrently(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		clock := &fakeClock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
		s1 := b.open(t, store.WithClock(clock.Now))
		s2 := b.open(t, store.WithClock(clock.Now))
		const n = 10
		for i := range n {
			m := newMachine(t, s1, fmt.Sprintf("sweep%d", i), fmt.Sprintf("52:54:00:ab:00:%02x", i))
			if _, err := s1.Transition(ctx, m.SystemID, store.TransitionRequest{Action: lifecycle.ActionCommission, User: "admin", Options: lifecycle.Options{Admin: true}}); err != nil {
				t.Fatal(err)
			}
		}
		clock.Add(lifecycle.DefaultDeadline + time.Minute)
		var mu sync.Mutex
		failed := map[string]int{}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ms, err := []*store.Store{s1, s2}[i%2].FailExpired(ctx, 3)
					if err != nil {
						t.Errorf("FailExpired: %v", err)
						return
					}
					if len(ms) == 0 {
						return
					}
					mu.Lock()
					for _, m := range ms {
						failed[m.SystemID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(failed) != n {
			t.Fatalf("%d machines failed, want %d", len(failed), n)
		}
		for id, k := range failed {
			if k != 1 {
				t.Errorf("machine %s failed %d times", id, k)
			}
			evs, _ := s1.Events(ctx, id)
			if last := evs[len(evs)-1]; last.Type != string(lifecycle.EventDeadlineExpired) || len(evs) != 3 {
				t.Errorf("machine %s events %+v", id, evs)
			}
		}
	})
}

func TestCreateMachineRetriesCollidingGeneratedID(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ids := []string{"aaaaaa", "aaaaaa", "aaaaaa", "bbbbbb"}
		var n int
		gen := func() string { id := ids[n%len(ids)]; n++; return id }
		s := b.open(t, store.WithSystemIDGenerator(gen))
		ctx := t.Context()
		first, err := s.CreateMachine(ctx, store.Machine{Architecture: "amd64/generic"}, "admin")
		if err != nil || first.SystemID != "aaaaaa" || first.Hostname != "node-aaaaaa" {
			t.Fatalf("first machine: %+v, %v", first, err)
		}
		// The next two generated ids collide; the third is free.
		second, err := s.CreateMachine(ctx, store.Machine{Architecture: "amd64/generic"}, "admin")
		if err != nil {
			t.Fatalf("a colliding generated id must be retried, got %v", err)
		}
		if second.SystemID != "bbbbbb" || second.Hostname != "node-bbbbbb" {
			t.Fatalf("second machine = %s/%s, want bbbbbb/node-bbbbbb", second.SystemID, second.Hostname)
		}
		// A caller-chosen id that is taken is the caller's error, not retried.
		_, err = s.CreateMachine(ctx, store.Machine{SystemID: "bbbbbb", Hostname: "other", Architecture: "amd64/generic"}, "admin")
		var dup *store.DuplicateError
		if !errors.As(err, &dup) || dup.Field != "system_id" {
			t.Fatalf("explicit duplicate id: got %v, want a DuplicateError on system_id", err)
		}
	})
}
