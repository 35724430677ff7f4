package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
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

// pgListener owns one LISTEN connection per Store (outside the pool) and
// feeds the broadcaster; it reconnects when the connection is lost.
type pgListener struct {
	cfg    *pgx.ConnConfig
	cancel context.CancelFunc
	done   chan struct{}
}

// startPGListener starts the listener once per Store. LISTEN has been
// acknowledged by the server when it returns, so every change committed
// afterwards is delivered.
func (s *Store) startPGListener(ctx context.Context) error {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pgClosed {
		return errors.New("store is closed")
	}
	if s.pgListen != nil {
		return nil
	}
	conn, err := listen(ctx, s.pgConfig)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &pgListener{cfg: s.pgConfig, cancel: cancel, done: make(chan struct{})}
	s.listenLive.Store(true)
	go l.run(lctx, conn, s.changes, s.cfg.logger, &s.listenEpoch, &s.listenLive)
	s.pgListen = l
	return nil
}

// listen opens a connection and LISTENs on pgChannel, within 10 seconds.
func listen(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (l *pgListener) run(ctx context.Context, conn *pgx.Conn, b *broadcaster, log *slog.Logger, epoch *atomic.Uint64, live *atomic.Bool) {
	defer close(l.done)
	defer func() { epoch.Add(1); live.Store(false) }()
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		if conn == nil {
			var err error
			if conn, err = listen(ctx, l.cfg); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("change listener cannot reconnect", "err", err, "retry_in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			live.Store(true)
			log.Info("change listener reconnected")
			// Whatever was committed while we were away is gone.
			b.resync()
		}
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("change listener lost its connection; subscribers resync", "err", err)
			epoch.Add(1)
			live.Store(false)
			_ = conn.Close(context.Background())
			conn = nil
			b.resync()
			continue
		}
		log.Debug("change notification", "payload", n.Payload)
		var c Change
		if json.Unmarshal([]byte(n.Payload), &c) == nil {
			b.publish(c)
		}
	}
}

func (l *pgListener) close() {
	l.cancel()
	<-l.done
}
