package imagestest_test

import (
	"path/filepath"
	"testing"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/images/imagestest"
)

// TestFileCatalog runs the conformance suite against images.FileCatalog
// (images' own TestFileCatalog checks what it persists across a reopen).
func TestFileCatalog(t *testing.T) {
	imagestest.RunCatalogTests(t, func(t *testing.T) images.Catalog {
		c, err := images.OpenFileCatalog(filepath.Join(t.TempDir(), "catalog.json"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}
