package store_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// next returns the next change, failing after a deadline.
func next(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("changes channel closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change within 10s")
	}
	return store.Change{}
}

func TestChanges(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		subCtx, cancel := context.WithCancel(ctx)
		ch, err := s.Changes(subCtx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.CreateFabric(ctx, netmodel.Fabric{Name: "watched"})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Change{Kind: store.KindFabric, ID: strconv.FormatInt(f.ID, 10), Op: store.OpInsert}
		if c := next(t, ch); c != want {
			t.Fatalf("first change %+v, want %+v", c, want)
		}
		if c := next(t, ch); c.Kind != store.KindVLAN || c.Op != store.OpInsert {
			t.Fatalf("second change %+v, want the untagged VLAN's insert", c)
		}
		// A transaction that rolls back announces nothing.
		if _, err := s.CreateMachine(ctx, store.Machine{Hostname: "bad_name", Architecture: "amd64/generic"}, "admin"); err == nil {
			t.Fatal("bad machine stored")
		}
		m := newMachine(t, s, "watched", "52:54:00:12:00:01")
		if c := next(t, ch); c != (store.Change{Kind: store.KindMachine, ID: m.SystemID, Op: store.OpInsert}) {
			t.Fatalf("change %+v, want the machine's insert", c)
		}
		if b.name == store.Postgres {
			// Another Store (another regiond) sharing the database is heard.
			other := b.open(t)
			z, err := other.CreateZone(ctx, netmodel.Zone{Name: "elsewhere"})
			if err != nil {
				t.Fatal(err)
			}
			if c := next(t, ch); c != (store.Change{Kind: store.KindZone, ID: strconv.FormatInt(z.ID, 10), Op: store.OpInsert}) {
				t.Fatalf("change from the other store %+v", c)
			}
		}
		cancel()
		select {
		case _, ok := <-ch:
			for ok { // drain anything in flight
				_, ok = <-ch
			}
		case <-time.After(10 * time.Second):
			t.Fatal("channel not closed after its context ended")
		}
		// Close ends every subscription.
		ch2, err := s.Changes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case _, ok := <-ch2:
			if ok {
				t.Fatal("change after Close")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("channel not closed by Close")
		}
		if _, err := s.Changes(ctx); err == nil {
			t.Fatal("Changes on a closed Store succeeded")
		}
	})
}

// TestChangesSurviveListenerLoss kills the PostgreSQL session that LISTENs:
// subscribers are told to resync (changes may have been missed), and once
// the driver has reconnected, changes flow again.
func TestChangesSurviveListenerLoss(t *testing.T) {
	t.Parallel()
	b := postgresBackend(t)
	reportBackend(t, store.Postgres)
	ctx := ctxT(t)
	s := b.open(t, store.WithLogger(slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ch, err := s.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch0, live := s.ChangesState()
	if !live {
		t.Fatal("ChangesState not live after Changes")
	}
	res, err := s.DB().ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("terminated %d listening sessions, want 1", n)
	}
	if c := next(t, ch); c.Kind != store.KindResync {
		t.Fatalf("after losing the listener got %+v, want resync", c)
	}
	// The loss moved the epoch: a cache drops what it filled before.
	if epoch, _ := s.ChangesState(); epoch == epoch0 {
		t.Fatal("ChangesState epoch unchanged after the listener was lost")
	}
	// Once the driver has reconnected, a new change arrives. Drain what
	// comes (the reconnect's resync, changes made before the new LISTEN
	// took effect) until the latest change shows up.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		z, err := s.CreateZone(ctx, netmodel.Zone{Name: "z" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.FormatInt(z.ID, 10)
		wait := time.After(300 * time.Millisecond)
	drain:
		for {
			select {
			case c := <-ch:
				if c.Kind == store.KindZone && c.ID == want {
					return
				}
			case <-wait:
				break drain
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no change delivered within 15s of losing the listener")
		}
	}
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
