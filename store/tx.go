package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/uptrace/bun"
	"modernc.org/sqlite"
)

// txn is a transaction that also collects the changes it makes, announced
// when (and only if) it commits.
type txn struct {
	bun.Tx
	changes []Change
}

func (t *txn) changed(kind Kind, id any, op Op) {
	var sid string
	switch v := id.(type) {
	case string:
		sid = v
	case int64:
		sid = strconv.FormatInt(v, 10)
	default:
		sid = fmt.Sprint(v)
	}
	c := Change{Kind: kind, ID: sid, Op: op}
	for _, old := range t.changes {
		if old == c {
			return
		}
	}
	t.changes = append(t.changes, c)
}

// inTx runs fn in a transaction: all of it commits or none of it does. On
// PostgreSQL the changes are NOTIFYed inside the transaction (delivered on
// commit); on SQLite they are published after the commit.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx *txn) error) (err error) {
	if s.writers != nil {
		// SQLite runs one write transaction at a time and lets waiters poll
		// for the lock (busy_timeout), which starves some under load. Queue
		// this Store's writers here instead, in order and cancellably; only
		// other processes still meet the busy timeout.
		select {
		case s.writers <- struct{}{}:
			defer func() { <-s.writers }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	btx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &txn{Tx: btx}
	defer func() {
		if err != nil {
			_ = btx.Rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	if s.backend == Postgres {
		for _, c := range tx.changes {
			payload, _ := json.Marshal(c)
			if _, err = btx.ExecContext(ctx, "SELECT pg_notify(?, ?)", pgChannel, string(payload)); err != nil {
				return fmt.Errorf("store: notify: %w", err)
			}
		}
	}
	if err = btx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.committed(tx.changes)
	if s.backend == SQLite {
		for _, c := range tx.changes {
			s.changes.publish(c)
		}
	}
	return nil
}

// sqliteBusyPatience is how long begin keeps retrying a SQLite database
// that another process holds locked, beyond the DSN's busy_timeout.
const sqliteBusyPatience = 30 * time.Second

// begin starts a transaction. On SQLite, BEGIN IMMEDIATE waits busy_timeout
// for another process's write transaction; if that was not enough, begin
// retries (with jittered sleeps, until ctx ends or sqliteBusyPatience has
// passed) rather than fail a request because another process was busy.
func (s *Store) begin(ctx context.Context) (bun.Tx, error) {
	start := time.Now()
	for {
		tx, err := s.db.BeginTx(ctx, nil)
		if err == nil || s.backend != SQLite || !sqliteBusy(err) || time.Since(start) > sqliteBusyPatience {
			return tx, err
		}
		select {
		case <-ctx.Done():
			return tx, err
		case <-time.After(time.Duration(1+rand.IntN(10)) * time.Millisecond):
		}
	}
}

// sqliteBusy reports SQLITE_BUSY (any extended code).
func sqliteBusy(err error) bool {
	var sqErr *sqlite.Error
	return errors.As(err, &sqErr) && sqErr.Code()&0xff == 5
}
