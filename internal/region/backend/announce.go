package backend

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/store"
)

// Kinds of changes to the region tables, announced through the store like
// its own (the region's api.Cache follows them). Every write that changes
// what the API shows of a machine, or who a token belongs to, announces
// one: a machine's details, tags and power state as store.KindMachine with
// its system id; a renamed or deleted tag (shown in many machines) as
// KindTag; a revoked key or a deleted user as KindAPIKeys.
const (
	KindTag     store.Kind = "tag"
	KindAPIKeys store.Kind = "api-keys"
)

// announced runs one write statement in a store transaction that, if the
// statement changed a row, announces the change on commit. It returns the
// rows affected.
func (b *Backend) announced(ctx context.Context, kind store.Kind, id any, op store.Op,
	stmt func(ctx context.Context, db bun.IDB) (sql.Result, error)) (int64, error) {
	var n int64
	err := b.st.RunInTx(ctx, func(ctx context.Context, tx store.Tx) error {
		res, err := stmt(ctx, tx)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n > 0 {
			tx.Changed(kind, fmt.Sprint(id), op)
		}
		return nil
	})
	return n, err
}
