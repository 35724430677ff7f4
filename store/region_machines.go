package store

// This file is regiond's (internal/region/backend): the paged machine query
// behind GET /api/v1/machines. It reads the store's tables and the region
// tables of migration 20261121050001.

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/lifecycle"
)

// MachinePageQuery selects one page of machines ordered by system id.
type MachinePageQuery struct {
	Status       lifecycle.Status
	Owner        string
	Architecture string
	Hostname     string
	ZoneID       int64
	PoolID       int64
	// MAC matches a machine with an interface of that (lower-case) MAC.
	MAC string
	// Tag matches machines carrying the tag of that name.
	Tag string
	// VisibleTo, when set, keeps Ready machines and those owned by it.
	VisibleTo string
	// After is the system id the page starts after ("": from the start).
	After string
	Limit int
}

// MachinePage returns the machines matching q with their interfaces. It is
// cursor pagination: pass the last system id of a page as After.
func (s *Store) MachinePage(ctx context.Context, q MachinePageQuery) ([]*Machine, error) {
	var rows []machineRow
	sel := pageFilter(s.db.NewSelect().Model(&rows), q)
	if err := sel.Scan(ctx); err != nil {
		return nil, err
	}
	return s.machinesFromRows(ctx, s.db, rows)
}

// MachinePageIDs is MachinePage returning only the system ids, in order:
// one query on the machines table (an index range scan on system_id with
// the filters applied), for a caller that holds the machines themselves in
// a cache.
func (s *Store) MachinePageIDs(ctx context.Context, q MachinePageQuery) ([]string, error) {
	ids := make([]string, 0, max(q.Limit, 0))
	err := pageFilter(s.db.NewSelect().Model((*machineRow)(nil)).Column("system_id"), q).Scan(ctx, &ids)
	return ids, err
}

// pageFilter applies q's filters, order and limit to a select on machines.
func pageFilter(sel *bun.SelectQuery, q MachinePageQuery) *bun.SelectQuery {
	sel = sel.OrderExpr("?TableAlias.system_id")
	if q.After != "" {
		sel = sel.Where("?TableAlias.system_id > ?", q.After)
	}
	if q.Status != "" {
		sel = sel.Where("?TableAlias.status = ?", string(q.Status))
	}
	if q.Owner != "" {
		sel = sel.Where("?TableAlias.owner = ?", q.Owner)
	}
	if q.Architecture != "" {
		sel = sel.Where("?TableAlias.architecture = ?", q.Architecture)
	}
	if q.Hostname != "" {
		sel = sel.Where("?TableAlias.hostname = ?", q.Hostname)
	}
	if q.ZoneID != 0 {
		sel = sel.Where("?TableAlias.zone_id = ?", q.ZoneID)
	}
	if q.PoolID != 0 {
		sel = sel.Where("?TableAlias.pool_id = ?", q.PoolID)
	}
	if q.MAC != "" {
		sel = sel.Where("EXISTS (SELECT 1 FROM interfaces i WHERE i.system_id = ?TableAlias.system_id AND i.mac = ?)", q.MAC)
	}
	if q.Tag != "" {
		sel = sel.Where("EXISTS (SELECT 1 FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.system_id = ?TableAlias.system_id AND t.name = ?)", q.Tag)
	}
	if q.VisibleTo != "" {
		sel = sel.WhereGroup(" AND ", func(g *bun.SelectQuery) *bun.SelectQuery {
			return g.Where("?TableAlias.status = ?", string(lifecycle.Ready)).WhereOr("?TableAlias.owner = ?", q.VisibleTo)
		})
	}
	if q.Limit > 0 {
		sel = sel.Limit(q.Limit)
	}
	return sel
}

// MachineExtra is Machine that also evaluates extra, an SQL expression of
// text type (NULL reads as "") on the machine's row, in the same query, and
// returns its value: regiond reads a machine's region-table data (details,
// tags, addresses as one JSON value) in the machine's own round trip.
// ?TableAlias in extra names the machines table. extra is code, never
// user input.
func (s *Store) MachineExtra(ctx context.Context, systemID, extra string) (*Machine, string, error) {
	return s.loadMachineExtra(ctx, s.db, systemID, extra)
}
