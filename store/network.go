package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/netmodel"
)

// invalid builds the validation error netmodel uses, for the checks only the
// store can make (a referenced object exists, a name is free).
func invalid(object, field string, value any, format string, args ...any) error {
	return &netmodel.ValidationError{
		Object: object, Field: field, Value: fmt.Sprint(value),
		Reason: fmt.Sprintf(format, args...),
	}
}

// lockForUpdate locks the row on PostgreSQL so that concurrent checks of
// the same parent (overlapping ranges of one subnet, ...) serialise. It is
// FOR NO KEY UPDATE, which does not conflict with the FOR KEY SHARE locks
// that foreign-key checks of concurrent child inserts take (FOR UPDATE
// would, and deadlocks against them). SQLite transactions hold the write
// lock from the start and need nothing.
func (s *Store) lockForUpdate(ctx context.Context, tx *txn, table string, id int64) (bool, error) {
	q := tx.NewSelect().Table(table).Column("id").Where("id = ?", id)
	if s.backend == Postgres {
		q = q.For("NO KEY UPDATE")
	}
	var got int64
	err := q.Scan(ctx, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// exists reports whether table has a row with that id.
func exists(ctx context.Context, db bun.IDB, table string, id int64) (bool, error) {
	return db.NewSelect().Table(table).Where("id = ?", id).Exists(ctx)
}

// --- fabrics ---------------------------------------------------------------

// CreateFabric stores a fabric with its untagged VLAN (vid 0, MTU 1500), as
// every fabric has one. It returns the stored fabric with its ID.
func (s *Store) CreateFabric(ctx context.Context, f netmodel.Fabric) (netmodel.Fabric, error) {
	if err := f.Validate(); err != nil {
		return netmodel.Fabric{}, err
	}
	now := s.now()
	row := &fabricRow{Name: f.Name, Description: f.Description, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return mapUnique(err, f.Name)
		}
		v := &vlanRow{FabricID: row.ID, VID: 0, Name: "untagged", MTU: netmodel.DefaultMTU, CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(v).Exec(ctx); err != nil {
			return err
		}
		tx.changed(KindFabric, row.ID, OpInsert)
		tx.changed(KindVLAN, v.ID, OpInsert)
		return nil
	})
	if err != nil {
		return netmodel.Fabric{}, err
	}
	return row.model(), nil
}

// Fabric returns the fabric with that id.
func (s *Store) Fabric(ctx context.Context, id int64) (netmodel.Fabric, error) {
	row := new(fabricRow)
	if err := s.db.NewSelect().Model(row).Where("id = ?", id).Scan(ctx); err != nil {
		return netmodel.Fabric{}, rowErr(err, "fabric", "id", id)
	}
	return row.model(), nil
}

// Fabrics returns every fabric by id.
func (s *Store) Fabrics(ctx context.Context) ([]netmodel.Fabric, error) {
	var rows []fabricRow
	if err := s.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.Fabric, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// DeleteFabric deletes a fabric and its VLANs; it fails with ErrInUse while
// a VLAN of it still has subnets.
func (s *Store) DeleteFabric(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		res, err := tx.NewDelete().Model((*fabricRow)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			if foreignKeyViolation(err) {
				return fmt.Errorf("fabric %d: %w: delete the subnets on its VLANs first", id, ErrInUse)
			}
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("fabric", "id", id)
		}
		tx.changed(KindFabric, id, OpDelete)
		return nil
	})
}

// --- VLANs -----------------------------------------------------------------

// CreateVLAN stores a VLAN after netmodel.ValidateVLAN against the VLANs of
// all fabrics (vid unique per fabric; a relay VLAN must exist and serve
// DHCP). MTU 0 means netmodel.DefaultMTU.
func (s *Store) CreateVLAN(ctx context.Context, v netmodel.VLAN) (netmodel.VLAN, error) {
	if v.MTU == 0 {
		v.MTU = netmodel.DefaultMTU
	}
	v.ID = 0
	return s.saveVLAN(ctx, v)
}

// UpdateVLAN changes every field of the stored VLAN v.ID to v's (validated
// as CreateVLAN does).
func (s *Store) UpdateVLAN(ctx context.Context, v netmodel.VLAN) (netmodel.VLAN, error) {
	if v.ID == 0 {
		return netmodel.VLAN{}, invalid("vlan", "id", 0, "missing: UpdateVLAN needs the id of a stored VLAN")
	}
	return s.saveVLAN(ctx, v)
}

func (s *Store) saveVLAN(ctx context.Context, v netmodel.VLAN) (netmodel.VLAN, error) {
	if err := v.Validate(); err != nil {
		return netmodel.VLAN{}, err
	}
	now := s.now()
	row := vlanToRow(v)
	row.CreatedAt, row.UpdatedAt = now, now
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		ok, err := s.lockForUpdate(ctx, tx, "fabrics", v.FabricID)
		if err != nil {
			return err
		}
		if !ok {
			return invalid(fmt.Sprintf("vlan vid %d", v.VID), "fabric_id", v.FabricID, "no such fabric: create it first or use an existing fabric's id")
		}
		if v.SpaceID != 0 {
			if ok, err := exists(ctx, tx, "spaces", v.SpaceID); err != nil || !ok {
				if err != nil {
					return err
				}
				return invalid(fmt.Sprintf("vlan vid %d", v.VID), "space_id", v.SpaceID, "no such space: create it first or leave space_id 0")
			}
		}
		var rows []vlanRow
		if err := tx.NewSelect().Model(&rows).Scan(ctx); err != nil {
			return err
		}
		existing := make([]netmodel.VLAN, len(rows))
		for i := range rows {
			existing[i] = rows[i].model()
		}
		if err := netmodel.ValidateVLAN(v, existing); err != nil {
			return err
		}
		op := OpInsert
		if v.ID == 0 {
			if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
				return mapUnique(err, fmt.Sprint(v.VID))
			}
		} else {
			op = OpUpdate
			res, err := tx.NewUpdate().Model(row).ExcludeColumn("created_at").WherePK().Exec(ctx)
			if err != nil {
				return mapUnique(err, fmt.Sprint(v.VID))
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return notFound("vlan", "id", v.ID)
			}
		}
		tx.changed(KindVLAN, row.ID, op)
		return nil
	})
	if err != nil {
		return netmodel.VLAN{}, err
	}
	return row.model(), nil
}

// VLAN returns the VLAN with that id.
func (s *Store) VLAN(ctx context.Context, id int64) (netmodel.VLAN, error) {
	row := new(vlanRow)
	if err := s.db.NewSelect().Model(row).Where("id = ?", id).Scan(ctx); err != nil {
		return netmodel.VLAN{}, rowErr(err, "vlan", "id", id)
	}
	return row.model(), nil
}

// VLANs returns the VLANs of a fabric (all VLANs for fabricID 0) by id.
func (s *Store) VLANs(ctx context.Context, fabricID int64) ([]netmodel.VLAN, error) {
	var rows []vlanRow
	q := s.db.NewSelect().Model(&rows).Order("id")
	if fabricID != 0 {
		q = q.Where("fabric_id = ?", fabricID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.VLAN, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UntaggedVLAN returns the fabric's VLAN with vid 0.
func (s *Store) UntaggedVLAN(ctx context.Context, fabricID int64) (netmodel.VLAN, error) {
	row := new(vlanRow)
	if err := s.db.NewSelect().Model(row).Where("fabric_id = ? AND vid = 0", fabricID).Scan(ctx); err != nil {
		return netmodel.VLAN{}, rowErr(err, "untagged vlan of fabric", "id", fabricID)
	}
	return row.model(), nil
}

// --- spaces, zones, pools --------------------------------------------------

// CreateSpace stores a space.
func (s *Store) CreateSpace(ctx context.Context, sp netmodel.Space) (netmodel.Space, error) {
	if err := sp.Validate(); err != nil {
		return netmodel.Space{}, err
	}
	now := s.now()
	row := &spaceRow{Name: sp.Name, Description: sp.Description, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return mapUnique(err, sp.Name)
		}
		tx.changed(KindSpace, row.ID, OpInsert)
		return nil
	})
	if err != nil {
		return netmodel.Space{}, err
	}
	return row.model(), nil
}

// Spaces returns every space by id.
func (s *Store) Spaces(ctx context.Context) ([]netmodel.Space, error) {
	var rows []spaceRow
	if err := s.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.Space, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// DefaultName is the name of the zone and the resource pool every database
// starts with and new machines are placed in.
const DefaultName = "default"

// CreateZone stores an availability zone.
func (s *Store) CreateZone(ctx context.Context, z netmodel.Zone) (netmodel.Zone, error) {
	if err := z.Validate(); err != nil {
		return netmodel.Zone{}, err
	}
	now := s.now()
	row := &zoneRow{Name: z.Name, Description: z.Description, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return mapUnique(err, z.Name)
		}
		tx.changed(KindZone, row.ID, OpInsert)
		return nil
	})
	if err != nil {
		return netmodel.Zone{}, err
	}
	return row.model(), nil
}

// Zones returns every zone by id (the "default" zone first).
func (s *Store) Zones(ctx context.Context) ([]netmodel.Zone, error) {
	var rows []zoneRow
	if err := s.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.Zone, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// ZoneByName returns the zone called name.
func (s *Store) ZoneByName(ctx context.Context, name string) (netmodel.Zone, error) {
	row := new(zoneRow)
	if err := s.db.NewSelect().Model(row).Where("name = ?", name).Scan(ctx); err != nil {
		return netmodel.Zone{}, rowErr(err, "zone", "name", name)
	}
	return row.model(), nil
}

// CreateResourcePool stores a resource pool.
func (s *Store) CreateResourcePool(ctx context.Context, p netmodel.ResourcePool) (netmodel.ResourcePool, error) {
	if err := p.Validate(); err != nil {
		return netmodel.ResourcePool{}, err
	}
	now := s.now()
	row := &poolRow{Name: p.Name, Description: p.Description, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return mapUnique(err, p.Name)
		}
		tx.changed(KindResourcePool, row.ID, OpInsert)
		return nil
	})
	if err != nil {
		return netmodel.ResourcePool{}, err
	}
	return row.model(), nil
}

// ResourcePools returns every resource pool by id (the "default" pool first).
func (s *Store) ResourcePools(ctx context.Context) ([]netmodel.ResourcePool, error) {
	var rows []poolRow
	if err := s.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.ResourcePool, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// ResourcePoolByName returns the resource pool called name.
func (s *Store) ResourcePoolByName(ctx context.Context, name string) (netmodel.ResourcePool, error) {
	row := new(poolRow)
	if err := s.db.NewSelect().Model(row).Where("name = ?", name).Scan(ctx); err != nil {
		return netmodel.ResourcePool{}, rowErr(err, "resource pool", "name", name)
	}
	return row.model(), nil
}

// rowErr maps sql.ErrNoRows to a *NotFoundError.
func rowErr(err error, object, key string, value any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(object, key, value)
	}
	return err
}
