package store

import (
	"context"

	"github.com/uptrace/bun"
)

// This file is what a cache over the store needs (regiond's machine and
// API-key caches): a way for code outside the package to write in a
// transaction whose changes are announced, a synchronous hook on this
// Store's own commits (read-your-writes on the region that wrote), and the
// state of the change feed (a cache may only trust entries filled while
// every change from every Store reaches it).

// Tx is a transaction of RunInTx: bun's transaction, plus Changed to
// announce a change when (and only if) the transaction commits.
type Tx struct {
	bun.Tx
	t *txn
}

// Changed announces a change of an object on commit (PostgreSQL: NOTIFY to
// every Store on the database; SQLite: this Store's subscribers). Code
// outside the store uses its own kinds for its own tables.
func (t Tx) Changed(kind Kind, id string, op Op) { t.t.changed(kind, id, op) }

// RunInTx runs fn in a transaction whose Changed calls are announced when
// it commits. On SQLite it queues with the Store's other writers.
func (s *Store) RunInTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	return s.inTx(ctx, func(ctx context.Context, t *txn) error { return fn(ctx, Tx{Tx: t.Tx, t: t}) })
}

// OnCommit registers fn, called for every change of every transaction this
// Store commits, synchronously in the committing goroutine after the
// commit and before the write returns: a cache invalidated from here never
// serves a write's caller the state from before the write. fn must be fast
// and must not call the Store. Changes from other Stores arrive only
// through Changes.
func (s *Store) OnCommit(fn func(Change)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.hooks = append(s.hooks, fn)
}

func (s *Store) committed(changes []Change) {
	if len(changes) == 0 {
		return
	}
	s.hooksMu.RLock()
	defer s.hooksMu.RUnlock()
	for _, c := range changes {
		for _, h := range s.hooks {
			h(c)
		}
	}
}

// ChangesState reports whether every committed change currently reaches
// Changes subscribers (live) and an epoch that moves whenever some may
// have been lost. On PostgreSQL, live is false until the first Changes
// call has started the LISTEN connection and while that connection is
// lost; the epoch increases at each loss. A cache keeps entries filled
// within one live epoch and serves them only while the epoch is current
// and live. On SQLite it is always (0, false): the broadcaster is
// in-process, and another process (a second regiond, `regiond createadmin`)
// may write the same file without announcing it.
func (s *Store) ChangesState() (epoch uint64, live bool) {
	if s.backend != Postgres {
		return 0, false
	}
	return s.listenEpoch.Load(), s.listenLive.Load()
}
