package images

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Catalog persists resource-set metadata for the region Store. It is the only
// thing the Store needs from a database; the bytes live in the Store's
// content-addressed directory. ironkit's store package implements it on
// SQLite/PostgreSQL (shared by every region); FileCatalog implements it on a
// JSON file for single-node use and tests.
//
// Implementations must be safe for concurrent use, and each method must be
// atomic (one transaction). Sets are identified by (Key, Version).
type Catalog interface {
	// PutSet inserts or replaces the whole set s (files and Complete flag).
	PutSet(ctx context.Context, s Set) error
	// AddFile adds or replaces file f in the set (key, version), creating an
	// incomplete set of type t when none exists. It fails with ErrComplete
	// if the set is already complete.
	AddFile(ctx context.Context, key Key, version string, t Type, f File) error
	// GetSet returns the set, or an error wrapping ErrNotFound.
	GetSet(ctx context.Context, key Key, version string) (Set, error)
	// ListSets returns every set, complete or not.
	ListSets(ctx context.Context) ([]Set, error)
	// DeleteSet removes the set; an error wrapping ErrNotFound if absent.
	DeleteSet(ctx context.Context, key Key, version string) error
	// MarkComplete records that every file of the set is present and
	// verified, at time at.
	MarkComplete(ctx context.Context, key Key, version string, at time.Time) error
}

// FileCatalog is a Catalog kept in one JSON file, rewritten atomically
// (temporary file, fsync, rename) on every change. It serialises writers
// within one process only: do not share one file between processes; use the
// database-backed catalog for several regions.
type FileCatalog struct {
	path string
	mu   sync.Mutex
	sets map[setID]Set
}

type setID struct {
	Key     Key
	Version string
}

type catalogFile struct {
	Format string `json:"format"`
	Sets   []Set  `json:"sets"`
}

const catalogFormat = "ironkit-images-catalog:1"

// OpenFileCatalog loads (or starts) the catalog stored at path.
func OpenFileCatalog(path string) (*FileCatalog, error) {
	c := &FileCatalog{path: path, sets: map[setID]Set{}}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("images: read catalog %s: %w", path, err)
	}
	var f catalogFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("images: catalog %s is not valid JSON (%v); restore it from backup or remove it and re-import", path, err)
	}
	if f.Format != catalogFormat {
		return nil, fmt.Errorf("images: catalog %s has format %q, want %q", path, f.Format, catalogFormat)
	}
	for _, s := range f.Sets {
		c.sets[setID{s.Key, s.Version}] = s
	}
	return c, nil
}

func (c *FileCatalog) saveLocked() error {
	f := catalogFile{Format: catalogFormat, Sets: make([]Set, 0, len(c.sets))}
	for _, s := range c.sets {
		f.Sets = append(f.Sets, s)
	}
	sortSets(f.Sets)
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.path, b)
}

// PutSet implements Catalog.
func (c *FileCatalog) PutSet(_ context.Context, s Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := setID{s.Key, s.Version}
	old, had := c.sets[id]
	c.sets[id] = s.clone()
	if err := c.saveLocked(); err != nil {
		if had {
			c.sets[id] = old
		} else {
			delete(c.sets, id)
		}
		return err
	}
	return nil
}

// AddFile implements Catalog.
func (c *FileCatalog) AddFile(_ context.Context, key Key, version string, t Type, f File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := setID{key, version}
	old, had := c.sets[id]
	s := old.clone()
	if !had {
		s = Set{Key: key, Version: version, Type: t}
	}
	if s.Complete {
		return fmt.Errorf("%w: %s version %s; upload to a new version instead", ErrComplete, key, version)
	}
	replaced := false
	for i := range s.Files {
		if s.Files[i].Name == f.Name {
			s.Files[i], replaced = f, true
		}
	}
	if !replaced {
		s.Files = append(s.Files, f)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	c.sets[id] = s
	if err := c.saveLocked(); err != nil {
		if had {
			c.sets[id] = old
		} else {
			delete(c.sets, id)
		}
		return err
	}
	return nil
}

// GetSet implements Catalog.
func (c *FileCatalog) GetSet(_ context.Context, key Key, version string) (Set, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sets[setID{key, version}]
	if !ok {
		return Set{}, fmt.Errorf("%w: resource %s version %s", ErrNotFound, key, version)
	}
	return s.clone(), nil
}

// ListSets implements Catalog.
func (c *FileCatalog) ListSets(context.Context) ([]Set, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Set, 0, len(c.sets))
	for _, s := range c.sets {
		out = append(out, s.clone())
	}
	sortSets(out)
	return out, nil
}

// DeleteSet implements Catalog.
func (c *FileCatalog) DeleteSet(_ context.Context, key Key, version string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := setID{key, version}
	old, ok := c.sets[id]
	if !ok {
		return fmt.Errorf("%w: resource %s version %s", ErrNotFound, key, version)
	}
	delete(c.sets, id)
	if err := c.saveLocked(); err != nil {
		c.sets[id] = old
		return err
	}
	return nil
}

// MarkComplete implements Catalog.
func (c *FileCatalog) MarkComplete(_ context.Context, key Key, version string, at time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := setID{key, version}
	old, ok := c.sets[id]
	if !ok {
		return fmt.Errorf("%w: resource %s version %s", ErrNotFound, key, version)
	}
	s := old.clone()
	s.Complete, s.CompletedAt = true, at.UTC()
	c.sets[id] = s
	if err := c.saveLocked(); err != nil {
		c.sets[id] = old
		return err
	}
	return nil
}

// writeFileAtomic replaces path with b: readers see the old or the new
// content, never a mix, even after a crash.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
