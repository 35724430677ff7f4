package images

import "errors"

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no such resource set, file or blob.
	ErrNotFound = errors.New("images: not found")
	// ErrInvalid: a key, version, file name, digest or size is malformed.
	ErrInvalid = errors.New("images: invalid")
	// ErrChecksum: bytes did not match the expected SHA-256 or size.
	ErrChecksum = errors.New("images: checksum mismatch")
	// ErrComplete: the set is complete and therefore immutable.
	ErrComplete = errors.New("images: resource set is complete")
	// ErrIncomplete: the set is missing or has unverified files.
	ErrIncomplete = errors.New("images: resource set is incomplete")
	// ErrNoRegion: no region URL answered.
	ErrNoRegion = errors.New("images: no region answered")
	// ErrTooLarge: an upload exceeds the configured maximum size.
	ErrTooLarge = errors.New("images: too large")
)
