package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// Kind names the kind of object a Change is about.
type Kind string

// Kinds of objects whose changes are announced.
const (
	KindMachine      Kind = "machine"
	KindFabric       Kind = "fabric"
	KindVLAN         Kind = "vlan"
	KindSpace        Kind = "space"
	KindSubnet       Kind = "subnet"
	KindIPRange      Kind = "ip-range"
	KindIPAddress    Kind = "ip-address"
	KindZone         Kind = "zone"
	KindResourcePool Kind = "resource-pool"
	// KindResync says the subscriber may have missed changes (it fell
	// behind, or the PostgreSQL listener reconnected): reload what you cache.
	KindResync Kind = "resync"
)

// Op says what happened to the object.
type Op string

// Operations.
const (
	OpInsert Op = "insert"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Change announces that an object was committed. It carries no data: the
// subscriber reads what it needs. Changes are hints for caches and waiters;
// the database stays the truth.
type Change struct {
	Kind Kind   `json:"k"`
	ID   string `json:"id"` // system id of a machine, numeric id otherwise
	Op   Op     `json:"op"`
}

// subscriberBuffer is how many changes a subscriber may fall behind before
// it gets KindResync instead of the changes it missed.
const subscriberBuffer = 256

// Changes subscribes to committed changes until ctx ends or the Store is
// closed; then the channel is closed. Every change committed after Changes
// returns is delivered, on PostgreSQL from any Store sharing the database
// (LISTEN/NOTIFY, sent in the writing transaction so only committed changes
// are announced), on SQLite from this Store (an in-process broadcaster: a
// SQLite database has one writer process). A subscriber that falls behind
// gets one Change of KindResync in place of what it missed.
func (s *Store) Changes(ctx context.Context) (<-chan Change, error) {
	if s.backend == Postgres {
		if err := s.startPGListener(ctx); err != nil {
			return nil, fmt.Errorf("store: listen for changes: %w", err)
		}
	}
	ch, ok := s.changes.subscribe(ctx)
	if !ok {
		return nil, errors.New("store: Changes on a closed Store")
	}
	return ch, nil
}

// broadcaster fans changes out to subscribers without ever blocking the
// publisher.
type broadcaster struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
}

type subscriber struct {
	ch     chan Change
	lagged bool // dropped changes; owes a KindResync
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
}

func (b *broadcaster) subscribe(ctx context.Context) (<-chan Change, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	sub := &subscriber{ch: make(chan Change, subscriberBuffer)}
	b.subs[sub] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-b.done:
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[sub]; ok {
			delete(b.subs, sub)
			close(sub.ch)
		}
	}()
	return sub.ch, true
}

func (b *broadcaster) publish(c Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		if sub.lagged {
			select {
			case sub.ch <- Change{Kind: KindResync}:
				sub.lagged = false
			default:
				continue
			}
		}
		select {
		case sub.ch <- c:
		default:
			sub.lagged = true
		}
	}
}

// resync tells every subscriber to reload (changes may have been lost).
func (b *broadcaster) resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		sub.lagged = true
		select {
		case sub.ch <- Change{Kind: KindResync}:
			sub.lagged = false
		default:
		}
	}
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	close(b.done)
	for sub := range b.subs {
		delete(b.subs, sub)
		close(sub.ch)
	}
}

// pgChannel is the NOTIFY channel changes travel on.
const pgChannel = "ironkit_changes"

// pgListener owns one LISTEN connection per Store and feeds the broadcaster.
type pgListener struct {
	ln     *pgdriver.Listener
	closed atomic.Bool
	done   chan struct{}

	mu      sync.Mutex
	markers map[string]chan struct{}
}

// pgMessage is a NOTIFY payload: a Change, or a marker a starting listener
// sends itself to learn that LISTEN is in effect.
type pgMessage struct {
	Change
	Marker string `json:"marker,omitempty"`
}

// startPGListener starts the listener once per Store and returns when the
// server is known to deliver notifications to it.
func (s *Store) startPGListener(ctx context.Context) error {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pgListen != nil {
		return nil
	}
	l := &pgListener{
		ln:      pgdriver.NewListener(s.db),
		done:    make(chan struct{}),
		markers: map[string]chan struct{}{},
	}
	if err := l.ln.Listen(ctx, pgChannel); err != nil {
		_ = l.ln.Close()
		return err
	}
	go l.run(s.changes, s.cfg.logger)
	// LISTEN is sent but not yet acknowledged: notify ourselves until our
	// marker comes back, so a Change committed after we return is seen.
	if err := s.awaitMarker(ctx, l); err != nil {
		l.close()
		return err
	}
	s.pgListen = l
	return nil
}

func (s *Store) awaitMarker(ctx context.Context, l *pgListener) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	marker := hex.EncodeToString(b[:])
	seen := make(chan struct{})
	l.mu.Lock()
	l.markers[marker] = seen
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.markers, marker)
		l.mu.Unlock()
	}()
	payload, _ := json.Marshal(pgMessage{Marker: marker})
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := pgdriver.Notify(ctx, s.db, pgChannel, string(payload)); err != nil {
			return err
		}
		select {
		case <-seen:
			return nil
		case <-tick.C:
		case <-deadline.C:
			return errors.New("LISTEN not confirmed within 10s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *pgListener) run(b *broadcaster, log *slog.Logger) {
	defer close(l.done)
	ctx := context.Background()
	for {
		_, payload, err := l.ln.ReceiveTimeout(ctx, time.Minute)
		if l.closed.Load() {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // quiet channel
			}
			// The driver replaces a broken connection and re-LISTENs, but
			// whatever was sent meanwhile is gone.
			log.Warn("change listener lost its connection; subscribers resync", "err", err)
			b.resync()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var m pgMessage
		if json.Unmarshal([]byte(payload), &m) != nil {
			continue
		}
		if m.Marker != "" {
			l.mu.Lock()
			if ch, ok := l.markers[m.Marker]; ok {
				close(ch)
				delete(l.markers, m.Marker)
			}
			l.mu.Unlock()
			continue
		}
		b.publish(m.Change)
	}
}

func (l *pgListener) close() {
	l.closed.Store(true)
	_ = l.ln.Close()
	<-l.done
}
