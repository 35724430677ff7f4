// Package imagestest holds the behavioural tests every images.Catalog must
// pass, written once so that implementations (images.FileCatalog, the store
// package's database catalog) cannot drift apart. Run them from a test with
// RunCatalogTests.
//
// It owns no catalog of its own and is meant for tests only.
package imagestest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/images"
)

// Digest is the lower-case hex SHA-256 of s: a valid File.SHA256 for tests.
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// RunCatalogTests runs the conformance suite as subtests of t. open must
// return a new, empty catalog for each subtest (and clean it up with
// t.Cleanup).
func RunCatalogTests(t *testing.T, open func(t *testing.T) images.Catalog) {
	for _, tc := range catalogTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var (
	keyA = images.Key{OS: "ubuntu", Release: "noble", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	keyB = images.Key{OS: "custom", Release: "mine", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	keyC = images.Key{OS: "ubuntu", Release: "jammy", Arch: "arm64", Subarch: "generic", Flavour: "generic"}
)

func file(name string, size int64) images.File {
	return images.File{Name: name, SHA256: Digest(name), Size: size}
}

var catalogTests = []struct {
	name string
	fn   func(t *testing.T, c images.Catalog)
}{
	{"Empty", testEmpty},
	{"AddFileCreatesIncompleteSet", testAddFileCreates},
	{"AddFileReplacesInPlace", testAddFileReplaces},
	{"AddFileInvalid", testAddFileInvalid},
	{"MarkCompleteFreezes", testMarkComplete},
	{"PutSetReplacesWholeSet", testPutSet},
	{"PutSetInvalid", testPutSetInvalid},
	{"ListSetsOrder", testListOrder},
	{"DeleteSet", testDelete},
	{"ReturnsCopies", testCopies},
	{"ConcurrentAddFile", testConcurrentAddFile},
}

func testEmpty(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	sets, err := c.ListSets(ctx)
	if err != nil || len(sets) != 0 {
		t.Fatalf("ListSets on an empty catalog = %v, %v; want none", sets, err)
	}
	if _, err := c.GetSet(ctx, keyA, "1"); !errors.Is(err, images.ErrNotFound) {
		t.Errorf("GetSet(missing) err = %v, want ErrNotFound", err)
	}
	if err := c.DeleteSet(ctx, keyA, "1"); !errors.Is(err, images.ErrNotFound) {
		t.Errorf("DeleteSet(missing) err = %v, want ErrNotFound", err)
	}
	if err := c.MarkComplete(ctx, keyA, "1", time.Unix(100, 0)); !errors.Is(err, images.ErrNotFound) {
		t.Errorf("MarkComplete(missing) err = %v, want ErrNotFound", err)
	}
}

func mustGet(t *testing.T, c images.Catalog, key images.Key, version string) images.Set {
	t.Helper()
	s, err := c.GetSet(context.Background(), key, version)
	if err != nil {
		t.Fatalf("GetSet(%s, %s): %v", key, version, err)
	}
	return s
}

func checkFiles(t *testing.T, s images.Set, want ...images.File) {
	t.Helper()
	if len(s.Files) != len(want) || (len(want) > 0 && !reflect.DeepEqual(s.Files, want)) {
		t.Fatalf("set %s version %s files = %+v, want %+v", s.Key, s.Version, s.Files, want)
	}
}

func testAddFileCreates(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	k, r := file("boot-kernel", 10), file("boot-initrd", 20)
	if err := c.AddFile(ctx, keyA, "1", images.Synced, k); err != nil {
		t.Fatal(err)
	}
	if err := c.AddFile(ctx, keyA, "1", images.Uploaded, r); err != nil {
		t.Fatal(err)
	}
	s := mustGet(t, c, keyA, "1")
	if s.Key != keyA || s.Version != "1" || s.Type != images.Synced || s.Complete || !s.CompletedAt.IsZero() {
		t.Fatalf("new set = %+v; want incomplete synced %s version 1 (type fixed by the first AddFile)", s, keyA)
	}
	checkFiles(t, s, k, r)
	if s.Size() != 30 {
		t.Errorf("Size = %d, want 30", s.Size())
	}
}

func testAddFileReplaces(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	for _, f := range []images.File{file("a", 1), file("b", 2), file("c", 3)} {
		if err := c.AddFile(ctx, keyB, "1", images.Uploaded, f); err != nil {
			t.Fatal(err)
		}
	}
	nb := images.File{Name: "b", SHA256: Digest("other"), Size: 99}
	if err := c.AddFile(ctx, keyB, "1", images.Uploaded, nb); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, mustGet(t, c, keyB, "1"), file("a", 1), nb, file("c", 3))
}

func testAddFileInvalid(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	bad := []struct {
		key images.Key
		t   images.Type
		f   images.File
	}{
		{keyA, images.Synced, images.File{Name: "x/y", SHA256: Digest("x")}},
		{keyA, images.Synced, images.File{Name: "x", SHA256: "nothex"}},
		{keyA, images.Synced, images.File{Name: "x", SHA256: Digest("x"), Size: -1}},
		{keyA, "bogus", file("x", 1)},
		{images.Key{OS: "ubuntu"}, images.Synced, file("x", 1)},
	}
	for _, b := range bad {
		if err := c.AddFile(ctx, b.key, "1", b.t, b.f); !errors.Is(err, images.ErrInvalid) {
			t.Errorf("AddFile(%s, %q, %+v) err = %v, want ErrInvalid", b.key, b.t, b.f, err)
		}
	}
	if sets, err := c.ListSets(ctx); err != nil || len(sets) != 0 {
		t.Fatalf("after rejected AddFiles ListSets = %+v, %v; want none", sets, err)
	}
}

func testMarkComplete(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	if err := c.AddFile(ctx, keyB, "1", images.Uploaded, file("root-dd", 10)); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := c.MarkComplete(ctx, keyB, "1", at); err != nil {
		t.Fatal(err)
	}
	s := mustGet(t, c, keyB, "1")
	if !s.Complete || !s.CompletedAt.Equal(at) {
		t.Fatalf("after MarkComplete: complete=%v at=%v, want true at %v", s.Complete, s.CompletedAt, at)
	}
	if err := c.AddFile(ctx, keyB, "1", images.Uploaded, file("x", 1)); !errors.Is(err, images.ErrComplete) {
		t.Fatalf("AddFile to a complete set err = %v, want ErrComplete", err)
	}
	checkFiles(t, mustGet(t, c, keyB, "1"), file("root-dd", 10))
	// Another version of the same key is a separate, open set.
	if err := c.AddFile(ctx, keyB, "2", images.Uploaded, file("x", 1)); err != nil {
		t.Fatalf("AddFile to a new version: %v", err)
	}
}

func testPutSet(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	for _, f := range []images.File{file("a", 1), file("b", 2)} {
		if err := c.AddFile(ctx, keyA, "7", images.Synced, f); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	want := images.Set{Key: keyA, Version: "7", Type: images.Uploaded, Files: []images.File{file("c", 3), file("a", 4)},
		Complete: true, CompletedAt: at}
	if err := c.PutSet(ctx, want); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, c, keyA, "7")
	if got.Type != want.Type || !got.Complete || !got.CompletedAt.Equal(at) {
		t.Fatalf("after PutSet = %+v, want %+v", got, want)
	}
	checkFiles(t, got, want.Files...)
	// Replacing with an incomplete, empty set reopens it.
	if err := c.PutSet(ctx, images.Set{Key: keyA, Version: "7", Type: images.Synced}); err != nil {
		t.Fatal(err)
	}
	got = mustGet(t, c, keyA, "7")
	if got.Complete || got.Type != images.Synced {
		t.Fatalf("after second PutSet = %+v, want incomplete synced", got)
	}
	checkFiles(t, got)
	// A brand-new set.
	if err := c.PutSet(ctx, images.Set{Key: keyC, Version: "1", Type: images.Synced, Files: []images.File{file("k", 1)}}); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, mustGet(t, c, keyC, "1"), file("k", 1))
}

func testPutSetInvalid(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	bad := []images.Set{
		{Key: keyA, Version: "0", Type: "bogus"},
		{Key: keyA, Version: "", Type: images.Synced},
		{Key: keyA, Version: "1", Type: images.Synced, Files: []images.File{file("a", 1), file("a", 2)}},
		{Key: images.Key{OS: "..", Release: "r", Arch: "a", Subarch: "s", Flavour: "f"}, Version: "1", Type: images.Synced},
	}
	for _, s := range bad {
		if err := c.PutSet(ctx, s); !errors.Is(err, images.ErrInvalid) {
			t.Errorf("PutSet(%+v) err = %v, want ErrInvalid", s, err)
		}
	}
	if sets, err := c.ListSets(ctx); err != nil || len(sets) != 0 {
		t.Fatalf("after rejected PutSets ListSets = %+v, %v; want none", sets, err)
	}
}

func testListOrder(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	// Inserted out of order; listed by key path, then version in
	// images.CompareVersions order ("10" after "9").
	puts := []struct {
		key images.Key
		v   string
	}{{keyC, "1"}, {keyA, "10"}, {keyA, "2"}, {keyB, "1"}, {keyA, "1"}, {keyA, "9"}}
	for _, p := range puts {
		if err := c.PutSet(ctx, images.Set{Key: p.key, Version: p.v, Type: images.Synced, Files: []images.File{file(p.v, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := c.ListSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sets {
		got = append(got, fmt.Sprintf("%s@%s:%d", s.Key, s.Version, len(s.Files)))
	}
	want := []string{
		"custom/amd64/generic/mine/generic@1:1",
		"ubuntu/amd64/generic/noble/generic@1:1",
		"ubuntu/amd64/generic/noble/generic@2:1",
		"ubuntu/amd64/generic/noble/generic@9:1",
		"ubuntu/amd64/generic/noble/generic@10:1",
		"ubuntu/arm64/generic/jammy/generic@1:1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListSets = %v, want %v", got, want)
	}
}

func testDelete(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	for _, v := range []string{"1", "2"} {
		if err := c.AddFile(ctx, keyA, v, images.Synced, file("a", 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteSet(ctx, keyA, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSet(ctx, keyA, "1"); !errors.Is(err, images.ErrNotFound) {
		t.Fatalf("GetSet after delete err = %v, want ErrNotFound", err)
	}
	if err := c.DeleteSet(ctx, keyA, "1"); !errors.Is(err, images.ErrNotFound) {
		t.Fatalf("second DeleteSet err = %v, want ErrNotFound", err)
	}
	checkFiles(t, mustGet(t, c, keyA, "2"), file("a", 1))
	// The version can be created again, empty of the old files.
	if err := c.AddFile(ctx, keyA, "1", images.Uploaded, file("b", 2)); err != nil {
		t.Fatal(err)
	}
	s := mustGet(t, c, keyA, "1")
	if s.Type != images.Uploaded {
		t.Errorf("recreated set type = %q, want uploaded", s.Type)
	}
	checkFiles(t, s, file("b", 2))
}

func testCopies(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	if err := c.AddFile(ctx, keyA, "1", images.Synced, file("a", 1)); err != nil {
		t.Fatal(err)
	}
	s := mustGet(t, c, keyA, "1")
	s.Files[0].Size = 1000
	sets, err := c.ListSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sets[0].Files[0].Name = "changed"
	checkFiles(t, mustGet(t, c, keyA, "1"), file("a", 1))
}

func testConcurrentAddFile(t *testing.T, c images.Catalog) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.AddFile(ctx, keyB, "1", images.Uploaded, file(fmt.Sprintf("f%d", i), int64(i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent AddFile: %v", err)
		}
	}
	s := mustGet(t, c, keyB, "1")
	if len(s.Files) != n || s.Size() != n*(n-1)/2 {
		t.Fatalf("after %d concurrent AddFiles: %d files of %d bytes, want %d files of %d bytes", n, len(s.Files), s.Size(), n, n*(n-1)/2)
	}
}
