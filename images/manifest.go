package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Manifest is what a region tells a rack to hold: one complete set per key.
// ETag changes whenever the content does; racks long-poll on it.
type Manifest struct {
	ETag string `json:"etag"`
	Sets []Set  `json:"sets"`
}

func newManifest(sets []Set) Manifest {
	if sets == nil {
		sets = []Set{}
	}
	// CompletedAt is not part of what a rack must act on.
	b, _ := json.Marshal(struct {
		S []Set `json:"s"`
	}{sets})
	sum := sha256.Sum256(b)
	return Manifest{ETag: hex.EncodeToString(sum[:16]), Sets: sets}
}

// Inventory is a rack's report of what it holds against what it was told
// to hold.
type Inventory struct {
	Rack         string      `json:"rack"`
	At           time.Time   `json:"at"`
	ManifestETag string      `json:"manifest_etag"`
	Sets         []SetStatus `json:"sets"`
	StoredBytes  int64       `json:"stored_bytes"`  // verified bytes on disk
	MissingFiles int         `json:"missing_files"` // files needed but absent
	MissingBytes int64       `json:"missing_bytes"`
	LastError    string      `json:"last_error,omitempty"`
}

// SetStatus is one needed set in an Inventory.
type SetStatus struct {
	Key      Key      `json:"key"`
	Version  string   `json:"version"`
	Complete bool     `json:"complete"`          // every file present and verified: servable
	Missing  []string `json:"missing,omitempty"` // names of files not yet present
}
