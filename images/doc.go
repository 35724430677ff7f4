// Package images owns ironkit's boot images: what they are (boot resources
// keyed by os / release / architecture / subarchitecture / kernel flavour,
// each version a set of files with SHA-256 and size; versions order by
// CompareVersions, numbers numerically), where their bytes
// live (a content-addressed tree on disk, identical files stored once), and
// how they move: imported into a region from a mirror, uploaded as custom
// images, copied between regions, and synced to each rack's cache.
//
// Region side: Store keeps metadata in a Catalog (a small interface; the
// store package implements it on the database, FileCatalog on a JSON file)
// and bytes under StoreConfig.Dir. Store.Import reads a mirror in the
// ironkit-streams format (MirrorIndex; BuildMirror and cmd/ironkit-mirror
// make one from a directory). Store.Upload streams custom images of any size
// with flat memory. Store.Handler serves racks and peer regions over HTTP
// (content-addressed blobs with Range, manifests with long-poll,
// inventories, uploads, a mirror view). Store.Run copies bytes from peer
// regions so any region can serve any complete resource.
//
// Rack side: Cache (CacheConfig + Run) syncs what the region's manifest
// lists from any region that answers, resuming with HTTP Range, verifying
// SHA-256 beside the write, installing by rename, several files at once
// (CacheConfig.Parallel), collecting what is no longer listed, on
// change or within a daily Window, under a bandwidth cap, and reports its
// Inventory. Cache.Open and Cache.FS serve only files of complete, verified
// sets, by logical path "<os>/<arch>/<subarch>/<release>/<flavour>/<file>"
// and bootloaders by bare name.
//
// Not here: serving files to machines over TFTP/HTTP boot (package pxe),
// database tables (package store), authentication of the HTTP endpoints and
// wiring into regiond/rackd (internal).
//
// Design notes, the mirror format, the multi-region design and benchmark
// figures are in README.md next to this file.
package images
