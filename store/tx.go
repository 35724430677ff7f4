package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/uptrace/bun"
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
	btx, err := s.db.BeginTx(ctx, nil)
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
			payload, _ := json.Marshal(pgMessage{Change: c})
			if _, err = btx.ExecContext(ctx, "SELECT pg_notify(?, ?)", pgChannel, string(payload)); err != nil {
				return fmt.Errorf("store: notify: %w", err)
			}
		}
	}
	if err = btx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if s.backend == SQLite {
		for _, c := range tx.changes {
			s.changes.publish(c)
		}
	}
	return nil
}
