package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/images/imagestest"
	"github.com/ironkit/ironkit/store"
)

// TestBootResourcesConformance runs images' catalog conformance suite (the
// one images.FileCatalog passes) against the store's catalog on both
// backends.
func TestBootResourcesConformance(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		imagestest.RunCatalogTests(t, func(t *testing.T) images.Catalog {
			var nb backend
			if b.name == store.SQLite {
				nb = sqliteBackend(t)
			} else {
				nb = postgresBackend(t)
			}
			return nb.open(t).BootResources()
		})
	})
}

// TestBootResourcesSharedAndAnnounced: two Stores on one database (two
// regions) see each other's sets, and every write is announced as a
// KindBootResource change (on PostgreSQL to the other Store too).
func TestBootResourcesSharedAndAnnounced(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, other := b.open(t), b.open(t)
		watch := a
		if b.name == store.Postgres {
			watch = other // NOTIFY reaches every Store on the database
		}
		ch, err := watch.Changes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := images.Key{OS: "ubuntu", Release: "noble", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
		id := store.BootResourceChangeID(key, "1")
		expect := func(op store.Op) {
			t.Helper()
			for {
				select {
				case c := <-ch:
					if c.Kind == store.KindBootResource && c.ID == id && c.Op == op {
						return
					}
				case <-ctx.Done():
					t.Fatalf("no %s change %s %s announced", store.KindBootResource, id, op)
				}
			}
		}
		cat := a.BootResources()
		f := images.File{Name: "boot-kernel", SHA256: imagestest.Digest("k"), Size: 1}
		if err := cat.AddFile(ctx, key, "1", images.Synced, f); err != nil {
			t.Fatal(err)
		}
		expect(store.OpInsert)
		if err := cat.MarkComplete(ctx, key, "1", time.Unix(100, 0)); err != nil {
			t.Fatal(err)
		}
		expect(store.OpUpdate)
		s, err := other.BootResources().GetSet(ctx, key, "1")
		if err != nil || !s.Complete || len(s.Files) != 1 || s.Files[0] != f {
			t.Fatalf("other region's GetSet = %+v, %v; want the complete set with %+v", s, err, f)
		}
		if err := other.BootResources().DeleteSet(ctx, key, "1"); err != nil {
			t.Fatal(err)
		}
		if b.name == store.Postgres {
			expect(store.OpDelete)
		}
		if _, err := cat.GetSet(ctx, key, "1"); err == nil {
			t.Fatal("set deleted by the other region is still there")
		}
	})
}
