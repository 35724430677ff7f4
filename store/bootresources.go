package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/images"
)

// KindBootResource announces a change to a boot-resource set (images
// metadata). The Change's ID is BootResourceChangeID of the set.
const KindBootResource Kind = "boot-resource"

// BootResourceChangeID is the Change.ID of a boot-resource set:
// "<key path>@<version>".
func BootResourceChangeID(key images.Key, version string) string {
	return key.Path() + "@" + version
}

// BootResources is the boot-resource metadata (images.Catalog) kept in the
// store, shared by every region on the database. The bytes are not here:
// they live in each region's images directory (images.Store).
//
// Every method is one transaction (or one statement) and every write
// announces a Change of KindBootResource, which regions pass on to their
// images.Store with Changed.
type BootResources struct {
	s *Store
}

var _ images.Catalog = (*BootResources)(nil)

// BootResources returns the store's boot-resource catalog.
func (s *Store) BootResources() *BootResources { return &BootResources{s: s} }

type bootSetRow struct {
	bun.BaseModel `bun:"table:boot_resource_sets"`

	ID          int64     `bun:"id,pk,autoincrement"`
	OS          string    `bun:"os,notnull"`
	Release     string    `bun:"release_name,notnull"`
	Arch        string    `bun:"arch,notnull"`
	Subarch     string    `bun:"subarch,notnull"`
	Flavour     string    `bun:"flavour,notnull"`
	Version     string    `bun:"version,notnull"`
	Type        string    `bun:"type,notnull"`
	Complete    bool      `bun:"complete,notnull"`
	CompletedAt time.Time `bun:"completed_at,nullzero"`
}

type bootFileRow struct {
	bun.BaseModel `bun:"table:boot_resource_files"`

	SetID  int64  `bun:"set_id,pk"`
	Name   string `bun:"name,pk"`
	Pos    int    `bun:"pos,notnull"`
	SHA256 string `bun:"sha256,notnull"`
	Size   int64  `bun:"size,notnull"`
}

// whereSet is the condition selecting the set (key, version) in
// boot_resource_sets.
const whereSet = "os = ? AND release_name = ? AND arch = ? AND subarch = ? AND flavour = ? AND version = ?"

func setArgs(key images.Key, version string) []any {
	return []any{key.OS, key.Release, key.Arch, key.Subarch, key.Flavour, version}
}

func setNotFound(key images.Key, version string) error {
	return fmt.Errorf("%w: resource %s version %s", images.ErrNotFound, key, version)
}

// lockSet reads the set's row, locking it on PostgreSQL until the
// transaction ends (SQLite transactions hold the write lock already).
func (c *BootResources) lockSet(ctx context.Context, tx *txn, key images.Key, version string) (bootSetRow, bool, error) {
	var row bootSetRow
	q := tx.NewSelect().Model(&row).Where(whereSet, setArgs(key, version)...)
	if c.s.backend == Postgres {
		q = q.For("NO KEY UPDATE")
	}
	err := q.Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	return row, err == nil, err
}

// PutSet implements images.Catalog: it inserts or replaces the whole set.
func (c *BootResources) PutSet(ctx context.Context, set images.Set) error {
	if err := set.Validate(); err != nil {
		return err
	}
	row := &bootSetRow{
		OS: set.Key.OS, Release: set.Key.Release, Arch: set.Key.Arch, Subarch: set.Key.Subarch, Flavour: set.Key.Flavour,
		Version: set.Version, Type: string(set.Type), Complete: set.Complete,
	}
	if !set.CompletedAt.IsZero() {
		row.CompletedAt = set.CompletedAt.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
	}
	err := c.s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		_, had, err := c.lockSet(ctx, tx, set.Key, set.Version)
		if err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(row).
			On("CONFLICT (os, release_name, arch, subarch, flavour, version) DO UPDATE").
			Set("type = EXCLUDED.type").Set("complete = EXCLUDED.complete").Set("completed_at = EXCLUDED.completed_at").
			Returning("id").Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*bootFileRow)(nil)).Where("set_id = ?", row.ID).Exec(ctx); err != nil {
			return err
		}
		if len(set.Files) > 0 {
			files := make([]bootFileRow, len(set.Files))
			for i, f := range set.Files {
				files[i] = bootFileRow{SetID: row.ID, Name: f.Name, Pos: i + 1, SHA256: f.SHA256, Size: f.Size}
			}
			if _, err := tx.NewInsert().Model(&files).Exec(ctx); err != nil {
				return err
			}
		}
		op := OpInsert
		if had {
			op = OpUpdate
		}
		tx.changed(KindBootResource, BootResourceChangeID(set.Key, set.Version), op)
		return nil
	})
	if err != nil && !errors.Is(err, images.ErrInvalid) {
		return fmt.Errorf("store: put boot resource %s version %s: %w", set.Key, set.Version, err)
	}
	return err
}

// AddFile implements images.Catalog: it adds or replaces file f, creating
// an incomplete set of type t when none exists, and fails with
// images.ErrComplete when the set is complete.
func (c *BootResources) AddFile(ctx context.Context, key images.Key, version string, t images.Type, f images.File) error {
	err := c.s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		row, had, err := c.lockSet(ctx, tx, key, version)
		if err != nil {
			return err
		}
		if had {
			t = images.Type(row.Type)
		}
		if err := (images.Set{Key: key, Version: version, Type: t, Files: []images.File{f}}).Validate(); err != nil {
			return err
		}
		op := OpUpdate
		if !had {
			// Another region may create it concurrently: insert if absent,
			// then read (and lock) whichever row won.
			row = bootSetRow{OS: key.OS, Release: key.Release, Arch: key.Arch, Subarch: key.Subarch, Flavour: key.Flavour,
				Version: version, Type: string(t)}
			if _, err := tx.NewInsert().Model(&row).
				On("CONFLICT (os, release_name, arch, subarch, flavour, version) DO NOTHING").Exec(ctx); err != nil {
				return err
			}
			if row, had, err = c.lockSet(ctx, tx, key, version); err != nil {
				return err
			} else if !had {
				return fmt.Errorf("set vanished while being created; retry")
			}
			op = OpInsert
		}
		if row.Complete {
			return fmt.Errorf("%w: %s version %s; upload to a new version instead", images.ErrComplete, key, version)
		}
		var pos int
		if err := tx.NewSelect().Model((*bootFileRow)(nil)).ColumnExpr("COALESCE(MAX(pos), 0) + 1").
			Where("set_id = ?", row.ID).Scan(ctx, &pos); err != nil {
			return err
		}
		file := &bootFileRow{SetID: row.ID, Name: f.Name, Pos: pos, SHA256: f.SHA256, Size: f.Size}
		if _, err := tx.NewInsert().Model(file).
			On("CONFLICT (set_id, name) DO UPDATE").Set("sha256 = EXCLUDED.sha256").Set("size = EXCLUDED.size").
			Exec(ctx); err != nil {
			return err
		}
		tx.changed(KindBootResource, BootResourceChangeID(key, version), op)
		return nil
	})
	if err != nil && !errors.Is(err, images.ErrInvalid) && !errors.Is(err, images.ErrComplete) {
		return fmt.Errorf("store: add file %q to boot resource %s version %s: %w", f.Name, key, version, err)
	}
	return err
}

// bootJoinRow is one row of sets LEFT JOIN files.
type bootJoinRow struct {
	bootSetRow `bun:",extend"`

	FileName   sql.NullString `bun:"file_name"`
	FileSHA256 sql.NullString `bun:"file_sha256"`
	FileSize   sql.NullInt64  `bun:"file_size"`
}

// readSets reads the sets matching where (every set when where is empty)
// with their files, in one statement.
func (c *BootResources) readSets(ctx context.Context, where string, args ...any) ([]images.Set, error) {
	q := "SELECT s.id, s.os, s.release_name, s.arch, s.subarch, s.flavour, s.version, s.type, s.complete, s.completed_at," +
		" f.name AS file_name, f.sha256 AS file_sha256, f.size AS file_size" +
		" FROM boot_resource_sets AS s LEFT JOIN boot_resource_files AS f ON f.set_id = s.id"
	if where != "" {
		q += " WHERE " + where
	}
	q += " ORDER BY s.id, f.pos"
	var rows []bootJoinRow
	if err := c.s.db.NewRaw(q, args...).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	var out []images.Set
	lastID := int64(-1)
	for _, r := range rows {
		if r.ID != lastID {
			lastID = r.ID
			set := images.Set{
				Key:     images.Key{OS: r.OS, Release: r.Release, Arch: r.Arch, Subarch: r.Subarch, Flavour: r.Flavour},
				Version: r.Version, Type: images.Type(r.Type), Complete: r.Complete, Files: []images.File{},
			}
			if !r.CompletedAt.IsZero() {
				set.CompletedAt = r.CompletedAt.UTC()
			}
			out = append(out, set)
		}
		if r.FileName.Valid {
			last := &out[len(out)-1]
			last.Files = append(last.Files, images.File{Name: r.FileName.String, SHA256: r.FileSHA256.String, Size: r.FileSize.Int64})
		}
	}
	return out, nil
}

// GetSet implements images.Catalog.
func (c *BootResources) GetSet(ctx context.Context, key images.Key, version string) (images.Set, error) {
	sets, err := c.readSets(ctx, "s.os = ? AND s.release_name = ? AND s.arch = ? AND s.subarch = ? AND s.flavour = ? AND s.version = ?",
		setArgs(key, version)...)
	if err != nil {
		return images.Set{}, fmt.Errorf("store: get boot resource %s version %s: %w", key, version, err)
	}
	if len(sets) == 0 {
		return images.Set{}, setNotFound(key, version)
	}
	return sets[0], nil
}

// ListSets implements images.Catalog: every set, ordered by key path, then
// version (images.CompareVersions, as images.FileCatalog orders them).
func (c *BootResources) ListSets(ctx context.Context) ([]images.Set, error) {
	sets, err := c.readSets(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("store: list boot resources: %w", err)
	}
	if sets == nil {
		sets = []images.Set{}
	}
	sort.Slice(sets, func(i, j int) bool {
		if a, b := sets[i].Key.Path(), sets[j].Key.Path(); a != b {
			return a < b
		}
		return images.CompareVersions(sets[i].Version, sets[j].Version) < 0
	})
	return sets, nil
}

// DeleteSet implements images.Catalog.
func (c *BootResources) DeleteSet(ctx context.Context, key images.Key, version string) error {
	err := c.s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		row, had, err := c.lockSet(ctx, tx, key, version)
		if err != nil {
			return err
		}
		if !had {
			return setNotFound(key, version)
		}
		if _, err := tx.NewDelete().Model((*bootFileRow)(nil)).Where("set_id = ?", row.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*bootSetRow)(nil)).Where("id = ?", row.ID).Exec(ctx); err != nil {
			return err
		}
		tx.changed(KindBootResource, BootResourceChangeID(key, version), OpDelete)
		return nil
	})
	if err != nil && !errors.Is(err, images.ErrNotFound) {
		return fmt.Errorf("store: delete boot resource %s version %s: %w", key, version, err)
	}
	return err
}

// MarkComplete implements images.Catalog.
func (c *BootResources) MarkComplete(ctx context.Context, key images.Key, version string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
	err := c.s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		res, err := tx.NewUpdate().Model((*bootSetRow)(nil)).
			Set("complete = ?", true).Set("completed_at = ?", at).
			Where(whereSet, setArgs(key, version)...).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return setNotFound(key, version)
		}
		tx.changed(KindBootResource, BootResourceChangeID(key, version), OpUpdate)
		return nil
	})
	if err != nil && !errors.Is(err, images.ErrNotFound) {
		return fmt.Errorf("store: mark boot resource %s version %s complete: %w", key, version, err)
	}
	return err
}
