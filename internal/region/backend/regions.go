package backend

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/store"
)

// RegionAliveWithin is how recently a region must have refreshed its
// last_seen to be listed as alive.
const RegionAliveWithin = 2 * time.Minute

type regionRow struct {
	bun.BaseModel `bun:"table:regions"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Hostname  string    `bun:"hostname,notnull"`
	Address   string    `bun:"address,notnull"`
	Version   string    `bun:"version,notnull"`
	StartedAt time.Time `bun:"started_at,notnull"`
	LastSeen  time.Time `bun:"last_seen,notnull"`
}

// RegisterRegion records a region controller as started now. A region is
// identified by its hostname and listen address: a restarted regiond on
// the same host and address updates its row (version, started_at,
// last_seen) instead of adding one. It returns the region's id.
func (b *Backend) RegisterRegion(ctx context.Context, hostname, address, version string) (int64, error) {
	t := now()
	r := regionRow{Hostname: hostname, Address: address, Version: version, StartedAt: t, LastSeen: t}
	var got regionRow
	// In a store transaction: on SQLite it queues with the store's other
	// writers instead of polling for the lock (which a busy region, e.g.
	// one enlisting thousands of machines, could hold past busy_timeout).
	err := b.st.RunInTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.NewInsert().Model(&r).
			On("CONFLICT (hostname, address) DO UPDATE").
			Set("version = EXCLUDED.version, started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen").
			Exec(ctx); err != nil {
			return err
		}
		return tx.NewSelect().Model(&got).Where("hostname = ? AND address = ?", hostname, address).Scan(ctx)
	})
	return got.ID, err
}

// TouchRegion refreshes a registered region's last_seen; a region whose
// row was deleted meanwhile reports api.ErrNotFound.
func (b *Backend) TouchRegion(ctx context.Context, id int64) error {
	var n int64
	err := b.st.RunInTx(ctx, func(ctx context.Context, tx store.Tx) error {
		res, err := tx.NewUpdate().Model((*regionRow)(nil)).Set("last_seen = ?", now()).Where("id = ?", id).Exec(ctx)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("region %d", id)
	}
	return nil
}

// ListRegions implements api.Regions.
func (b *Backend) ListRegions(ctx context.Context) ([]api.Region, error) {
	var rows []regionRow
	if err := b.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	t := now()
	out := make([]api.Region, len(rows))
	for i, r := range rows {
		out[i] = api.Region{ID: r.ID, Hostname: r.Hostname, Address: r.Address, Version: r.Version,
			StartedAt: r.StartedAt.UTC(), LastSeen: r.LastSeen.UTC(), Alive: t.Sub(r.LastSeen) <= RegionAliveWithin}
	}
	return out, nil
}
