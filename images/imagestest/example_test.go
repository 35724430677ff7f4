package imagestest_test

import (
	"fmt"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/images/imagestest"
)

// Digest gives tests a valid SHA-256 for a file's metadata.
func ExampleDigest() {
	f := images.File{Name: "boot-kernel", SHA256: imagestest.Digest("kernel bytes"), Size: 12}
	fmt.Println(f.Validate() == nil, len(f.SHA256))
	// Output: true 64
}
