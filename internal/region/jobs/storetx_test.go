package jobs

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

// TestJobInTransitionTx: a job enqueued through store.TransitionRequest.InTx
// commits with the status change and its event, on both backends; when the
// hook fails after enqueuing, none of the three exists.
func TestJobInTransitionTx(t *testing.T) {
	forBackends(t, func(t *testing.T, b Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		dsn := "file:" + filepath.Join(t.TempDir(), "region.db")
		if b == Postgres {
			dsn = testenv.FreshPostgres(t, "jobs")
		}
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		r := startRunner(t, Config{DB: st.SQLDB(), Backend: b, Machines: newFakeMachines(), Power: newFakePower(), InsertOnly: true})
		mac, _ := net.ParseMAC("52:54:00:dd:00:01")
		m, err := st.CreateMachine(ctx, store.Machine{Hostname: "txjob", Architecture: "amd64/generic",
			Interfaces: []store.Interface{{MAC: mac}}}, "admin")
		if err != nil {
			t.Fatal(err)
		}
		bootJobs := func() int {
			res, err := r.Client().JobList(ctx, river.NewJobListParams().Kinds(BootArgs{}.Kind()).First(100))
			if err != nil {
				t.Fatal(err)
			}
			return len(res.Jobs)
		}
		events := func() int {
			evs, err := st.Events(ctx, m.SystemID)
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}
		ev0 := events()
		enqueue := func(ctx context.Context, tx *sql.Tx, m *store.Machine) error {
			return r.Boot(ctx, tx, m.SystemID, m.Status)
		}
		req := store.TransitionRequest{Action: lifecycle.ActionCommission, User: "admin", Options: lifecycle.Options{Admin: true}}

		boom := errors.New("region died")
		failing := req
		failing.InTx = func(ctx context.Context, tx *sql.Tx, m *store.Machine) error {
			if err := enqueue(ctx, tx, m); err != nil {
				return err
			}
			return boom
		}
		if _, err := st.Transition(ctx, m.SystemID, failing); !errors.Is(err, boom) {
			t.Fatalf("failing hook: err = %v, want %v", err, boom)
		}
		got, err := st.Machine(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != lifecycle.New || events() != ev0 || bootJobs() != 0 {
			t.Fatalf("after a failed hook: status %s, %d events (want %d), %d boot jobs; want New and nothing new",
				got.Status, events(), ev0, bootJobs())
		}

		req.InTx = enqueue
		out, err := st.Transition(ctx, m.SystemID, req)
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != lifecycle.Commissioning || events() != ev0+1 || bootJobs() != 1 {
			t.Fatalf("after the transition: status %s, %d events (want %d), %d boot jobs (want 1)",
				out.Status, events(), ev0+1, bootJobs())
		}
		res, err := r.Client().JobList(ctx, river.NewJobListParams().Kinds(BootArgs{}.Kind()))
		if err != nil {
			t.Fatal(err)
		}
		if args := string(res.Jobs[0].EncodedArgs); !strings.Contains(args, m.SystemID) || !strings.Contains(args, string(lifecycle.Commissioning)) {
			t.Fatalf("boot job args %s; want machine %s in Commissioning", args, m.SystemID)
		}
	})
}
