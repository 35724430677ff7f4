package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreConfig configures a region Store. Only Dir is required.
type StoreConfig struct {
	// Dir holds the content-addressed bytes. Several regions may share it
	// (NFS, CephFS): writers never collide (see README, "Several regions").
	Dir string
	// Catalog keeps the metadata. Default: a FileCatalog at Dir/catalog.json.
	Catalog Catalog
	// Peers are base URLs of other regions ("http://region2:5240"). When a
	// complete set's bytes are not on this region's disk, Run fetches them
	// from a peer and the blob handler proxies requests to a peer meanwhile.
	Peers []string
	// Logger; default discards.
	Logger *slog.Logger
	// Registerer for Prometheus collectors; nil: not registered.
	Registerer prometheus.Registerer
	// HTTPClient for mirrors and peers; default has connect/header deadlines.
	HTTPClient *http.Client
	// MaxUploadSize bounds one uploaded file; default 64 GiB.
	MaxUploadSize int64
	// Selector picks, from the current complete sets, what a rack needs.
	// Default: everything.
	Selector func(rackID string, current []Set) []Set
	// OnInventory receives every inventory a rack reports (the store package
	// persists it, the API shows it). Reports are also kept in memory.
	OnInventory func(Inventory)
	// OnProgress receives import and replication progress.
	OnProgress ProgressFunc
	// ReplicateInterval: how often Run checks for missing bytes when no
	// change was signalled; default 1 minute.
	ReplicateInterval time.Duration
	// GCGrace: blobs younger than this are never garbage-collected (an
	// upload may be between storing its bytes and recording its file);
	// default 1 hour.
	GCGrace time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Store is the region image store: resource sets in a Catalog, bytes in a
// content-addressed tree, served to racks and other regions by Handler.
type Store struct {
	cfg     StoreConfig
	blobs   *blobStore
	cat     Catalog
	log     *slog.Logger
	fetch   *fetcher
	metrics *metrics

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every change
	inventories map[string]Inventory
	kick        chan struct{}
}

// NewStore opens (creating) the store in cfg.Dir.
func NewStore(cfg StoreConfig) (*Store, error) {
	bs, err := newBlobStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.MaxUploadSize <= 0 {
		cfg.MaxUploadSize = 64 << 30
	}
	if cfg.ReplicateInterval <= 0 {
		cfg.ReplicateInterval = time.Minute
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Catalog == nil {
		c, err := OpenFileCatalog(filepath.Join(cfg.Dir, "catalog.json"))
		if err != nil {
			return nil, err
		}
		cfg.Catalog = c
	}
	for i, p := range cfg.Peers {
		if !strings.HasPrefix(p, "http://") && !strings.HasPrefix(p, "https://") {
			return nil, fmt.Errorf("%w: StoreConfig.Peers[%d]=%q is not an http(s) URL; use e.g. \"http://region2:5240\"", ErrInvalid, i, p)
		}
		cfg.Peers[i] = strings.TrimSuffix(p, "/")
	}
	m, err := newMetrics(cfg.Registerer, "images_region")
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg: cfg, blobs: bs, cat: cfg.Catalog, log: cfg.Logger, metrics: m,
		changed: make(chan struct{}), inventories: map[string]Inventory{}, kick: make(chan struct{}, 1),
	}
	s.fetch = &fetcher{
		client: cfg.HTTPClient, log: cfg.Logger, onProgress: cfg.OnProgress,
		stallTimeout: 60 * time.Second, callEvery: 500 * time.Millisecond, logEvery: 5 * time.Second,
		now: cfg.Now, metrics: m,
	}
	return s, nil
}

// Close releases idle HTTP connections to mirrors and peers. It does not
// close the Catalog, which the caller owns.
func (s *Store) Close() error {
	s.cfg.HTTPClient.CloseIdleConnections()
	return nil
}

// Catalog returns the store's catalog.
func (s *Store) Catalog() Catalog { return s.cat }

// notify wakes long-polling racks and the replicator.
func (s *Store) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Store) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Changed tells the store that the catalog changed behind its back (another
// region wrote to the shared database): racks waiting for a change are woken
// and Run looks for missing bytes. internal calls it on a store change
// notification.
func (s *Store) Changed() { s.notify() }

// UploadSpec is what the uploader claims about a file; the store checks it.
type UploadSpec struct {
	SHA256 string // optional: expected digest
	Size   int64  // optional: expected size; 0 or less means unknown
}

// Upload streams one file of an uploaded (custom) set into the store,
// creating the set (incomplete) if needed. Memory stays flat whatever the
// size: bytes are hashed and written as they arrive, and all-zero regions of
// raw disk images stay sparse on disk. Call Complete once every file is in.
func (s *Store) Upload(ctx context.Context, key Key, version, name string, r io.Reader, spec UploadSpec) (File, error) {
	f := File{Name: name, SHA256: strings.Repeat("0", 64)}
	if err := (Set{Key: key, Version: version, Type: Uploaded, Files: []File{f}}).Validate(); err != nil {
		return File{}, err
	}
	if cur, err := s.cat.GetSet(ctx, key, version); err == nil && cur.Complete {
		return File{}, fmt.Errorf("%w: %s version %s; upload to a new version instead", ErrComplete, key, version)
	}
	if spec.SHA256 != "" {
		if err := ValidDigest(spec.SHA256); err != nil {
			return File{}, err
		}
	}
	size := spec.Size
	if size <= 0 {
		size = -1 // unknown; the digest, if given, still covers an empty file
	}
	m := newMeter(Progress{Name: key.Path() + "/" + version + "/" + name, SHA256: spec.SHA256, Source: "upload", Total: max(size, 0)},
		s.cfg.OnProgress, s.log, s.cfg.Now, 500*time.Millisecond, 5*time.Second)
	got, err := s.blobs.ingest(ctxReader{ctx, r}, spec.SHA256, size, s.cfg.MaxUploadSize, m.add)
	m.finish(err)
	if err != nil {
		if errors.Is(err, ErrChecksum) {
			s.metrics.verifyFailures.Inc()
		}
		return File{}, fmt.Errorf("images: upload %s/%s version %s: %w", key, name, version, err)
	}
	s.metrics.bytes.Add(float64(got.Size))
	now := s.cfg.Now()
	_ = os.Chtimes(s.blobs.path(got.SHA256), now, now) // fresh for GCGrace even when stored once already
	got.Name = name
	if err := s.cat.AddFile(ctx, key, version, Uploaded, got); err != nil {
		return File{}, err
	}
	s.log.Info("image file uploaded", "resource", key.Path(), "version", version, "file", name, "sha256", got.SHA256, "size", got.Size)
	return got, nil
}

// Complete marks a set usable after checking that every file's bytes are
// present with the recorded size (they were verified when stored).
func (s *Store) Complete(ctx context.Context, key Key, version string) error {
	set, err := s.cat.GetSet(ctx, key, version)
	if err != nil {
		return err
	}
	if len(set.Files) == 0 {
		return fmt.Errorf("%w: %s version %s has no files; upload at least one", ErrIncomplete, key, version)
	}
	var missing []string
	for _, f := range set.Files {
		if !s.blobs.has(f.SHA256, f.Size) {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s version %s lacks the bytes of %s; upload or import them again", ErrIncomplete, key, version, strings.Join(missing, ", "))
	}
	if set.Complete {
		return nil
	}
	if err := s.cat.MarkComplete(ctx, key, version, s.cfg.Now()); err != nil {
		return err
	}
	s.log.Info("resource set complete", "resource", key.Path(), "version", version, "files", len(set.Files), "bytes", set.Size())
	s.notify()
	return nil
}

// Delete removes a set from the catalog. Its bytes go at the next GC if no
// other set uses them.
func (s *Store) Delete(ctx context.Context, key Key, version string) error {
	if err := s.cat.DeleteSet(ctx, key, version); err != nil {
		return err
	}
	s.notify()
	return nil
}

// ImportResult counts what an import did.
type ImportResult struct {
	Sets       int   // sets newly completed
	Files      int   // files downloaded
	Bytes      int64 // bytes downloaded (whole files)
	Unchanged  int   // sets already complete
	Incomplete int   // sets left incomplete (see the error)
}

// Import makes every set of the mirror at root (a local directory, file://
// URL or http(s) URL; another region's "<base>/images/v1" works too)
// complete in this store, downloading what is missing with resume and
// verification. keep, if not nil, selects which keys to import. A set is
// marked complete only when all its files are present and verified; a
// failed import can simply be run again and resumes.
func (s *Store) Import(ctx context.Context, root string, keep func(Key) bool) (ImportResult, error) {
	var res ImportResult
	ix, err := ReadMirrorIndex(ctx, s.cfg.HTTPClient, root)
	if err != nil {
		s.metrics.syncs.WithLabelValues("error").Inc()
		return res, err
	}
	srcOf := map[string]string{}
	for _, p := range ix.Products {
		for _, v := range p.Versions {
			for _, f := range v.Files {
				srcOf[f.SHA256] = mirrorFileSource(root, f.Path)
			}
		}
	}
	var errs []error
	for _, set := range ix.Sets() {
		if keep != nil && !keep(set.Key) {
			continue
		}
		cur, err := s.cat.GetSet(ctx, set.Key, set.Version)
		if err == nil && cur.Complete {
			res.Unchanged++
			continue
		}
		if err := s.cat.PutSet(ctx, set); err != nil {
			return res, err
		}
		ok := true
		for _, f := range set.Files {
			if s.blobs.has(f.SHA256, f.Size) {
				continue
			}
			name := set.Key.Path() + "/" + set.Version + "/" + f.Name
			sources := append([]string{srcOf[f.SHA256]}, s.peerBlobURLs(f.SHA256)...)
			if err := s.fetch.fetch(ctx, s.blobs, name, f, sources); err != nil {
				errs = append(errs, err)
				ok = false
				if ctx.Err() != nil {
					break
				}
				continue
			}
			res.Files++
			res.Bytes += f.Size
		}
		if !ok {
			res.Incomplete++
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if err := s.Complete(ctx, set.Key, set.Version); err != nil {
			return res, err
		}
		res.Sets++
	}
	if len(errs) > 0 {
		s.metrics.syncs.WithLabelValues("error").Inc()
		return res, fmt.Errorf("images: import from %s left %d set(s) incomplete (run it again to resume): %w", root, res.Incomplete, errors.Join(errs...))
	}
	s.metrics.syncs.WithLabelValues("ok").Inc()
	s.log.Info("mirror imported", "mirror", root, "sets", res.Sets, "unchanged", res.Unchanged, "files", res.Files, "bytes", res.Bytes)
	return res, nil
}

func (s *Store) peerBlobURLs(sum string) []string {
	out := make([]string, 0, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		out = append(out, p+blobPrefix+sum)
	}
	return out
}

// Replicate fetches, from peer regions, the bytes of every complete set
// that this region's disk lacks. With shared storage or no peers it only
// checks. It returns the number of files fetched.
func (s *Store) Replicate(ctx context.Context) (int, error) {
	sets, err := s.cat.ListSets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	seen := map[string]bool{}
	for _, set := range sets {
		if !set.Complete {
			continue
		}
		for _, f := range set.Files {
			if seen[f.SHA256] || s.blobs.has(f.SHA256, f.Size) {
				continue
			}
			seen[f.SHA256] = true
			if len(s.cfg.Peers) == 0 {
				errs = append(errs, fmt.Errorf("%w: %s/%s (%s) is complete in the catalog but not on this region's disk and no peers are configured; set StoreConfig.Peers or share Dir", ErrNotFound, set.Key, f.Name, f.SHA256))
				continue
			}
			if err := s.fetch.fetch(ctx, s.blobs, set.Key.Path()+"/"+set.Version+"/"+f.Name, f, s.peerBlobURLs(f.SHA256)); err != nil {
				errs = append(errs, err)
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Run replicates missing bytes from peers after every change and every
// ReplicateInterval until ctx ends. Run is optional with one region or
// shared storage.
func (s *Store) Run(ctx context.Context) error {
	s.blobs.gcTmp()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-t.C:
		}
		if n, err := s.Replicate(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("image replication incomplete; will retry", "fetched", n, "err", err)
		} else if n > 0 {
			s.log.Info("image bytes replicated from peers", "files", n)
		}
		t.Reset(s.cfg.ReplicateInterval)
	}
}

// Prune deletes old versions from the catalog: per key, every complete
// version but the newest keep (keep < 1 counts as 1), and incomplete
// versions older than the newest complete one (abandoned imports or
// uploads). Racks only ever get the newest complete version, so older ones
// serve rollback only. Bytes go at the next GC. It returns the sets deleted.
func (s *Store) Prune(ctx context.Context, keep int) ([]Set, error) {
	keep = max(keep, 1)
	sets, err := s.cat.ListSets(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[Key][]Set{}
	for _, set := range sets {
		byKey[set.Key] = append(byKey[set.Key], set)
	}
	var del []Set
	for _, vs := range byKey {
		sortSets(vs) // ascending versions
		kept, newestComplete := 0, ""
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			switch {
			case v.Complete && kept < keep:
				kept++
				if newestComplete == "" {
					newestComplete = v.Version
				}
			case v.Complete, newestComplete != "" && CompareVersions(v.Version, newestComplete) < 0:
				del = append(del, v)
			}
		}
	}
	sortSets(del)
	for _, v := range del {
		if err := s.cat.DeleteSet(ctx, v.Key, v.Version); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		s.log.Info("old resource version pruned", "resource", v.Key.Path(), "version", v.Version, "complete", v.Complete)
	}
	if len(del) > 0 {
		s.notify()
	}
	return del, nil
}

// GC removes blobs no set in the catalog refers to (older than GCGrace),
// and abandoned partial downloads. It returns the number of files removed.
func (s *Store) GC(ctx context.Context) (int, error) {
	sets, err := s.cat.ListSets(ctx)
	if err != nil {
		return 0, err
	}
	keep := map[string]bool{}
	for _, set := range sets {
		for _, f := range set.Files {
			keep[f.SHA256] = true
		}
	}
	return gcBlobs(s.blobs, keep, s.cfg.Now().Add(-s.cfg.GCGrace), s.log)
}

// gcBlobs removes installed blobs not in keep and last modified before
// olderThan, and partials not in keep that nobody is writing.
func gcBlobs(bs *blobStore, keep map[string]bool, olderThan time.Time, log *slog.Logger) (int, error) {
	sums, err := bs.list()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sum := range sums {
		if keep[sum] {
			continue
		}
		st, err := os.Stat(bs.path(sum))
		if err != nil || st.ModTime().After(olderThan) {
			continue
		}
		if err := bs.remove(sum); err != nil {
			return n, err
		}
		log.Info("image file garbage-collected", "sha256", sum, "size", st.Size())
		n++
	}
	parts, err := bs.listPartials()
	if err != nil {
		return n, err
	}
	for _, sum := range parts {
		if keep[sum] {
			continue
		}
		f, err := bs.lockPartial(sum)
		if err != nil {
			continue // being written
		}
		err = os.Remove(bs.partialPath(sum))
		f.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}

// Manifest returns what rack rackID needs: the current complete set of
// every key, through the Selector.
func (s *Store) Manifest(ctx context.Context, rackID string) (Manifest, error) {
	all, err := s.cat.ListSets(ctx)
	if err != nil {
		return Manifest{}, err
	}
	cur := Current(all)
	if s.cfg.Selector != nil {
		cur = s.cfg.Selector(rackID, cur)
	}
	return newManifest(cur), nil
}

// Verify re-hashes every stored blob that the catalog refers to; bad ones
// are removed (the set they belong to stays complete in the catalog; Run or
// Import fetches them again from peers or the mirror). It returns the
// digests that failed.
func (s *Store) Verify(ctx context.Context) ([]string, error) {
	sets, err := s.cat.ListSets(ctx)
	if err != nil {
		return nil, err
	}
	var bad []string
	seen := map[string]bool{}
	for _, set := range sets {
		for _, f := range set.Files {
			if seen[f.SHA256] || !s.blobs.has(f.SHA256, -1) {
				continue
			}
			seen[f.SHA256] = true
			if err := ctx.Err(); err != nil {
				return bad, err
			}
			if err := s.blobs.verify(f.SHA256, f.Size); errors.Is(err, ErrChecksum) {
				s.metrics.verifyFailures.Inc()
				s.log.Error("stored image file is corrupt; removed", "sha256", f.SHA256, "err", err)
				bad = append(bad, f.SHA256)
			} else if err != nil {
				return bad, err
			}
		}
	}
	if len(bad) > 0 && len(s.cfg.Peers) == 0 {
		// Nowhere to fetch them from: the sets stop being usable until
		// the mirror is imported (or the files uploaded) again.
		badSet := map[string]bool{}
		for _, b := range bad {
			badSet[b] = true
		}
		for _, set := range sets {
			for _, f := range set.Files {
				if set.Complete && badSet[f.SHA256] {
					set.Complete, set.CompletedAt = false, time.Time{}
					if err := s.cat.PutSet(ctx, set); err != nil {
						return bad, err
					}
					break
				}
			}
		}
	}
	if len(bad) > 0 {
		s.notify()
	}
	return bad, nil
}

// Inventories returns the last inventory each rack reported, by rack id.
func (s *Store) Inventories() map[string]Inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Inventory, len(s.inventories))
	for k, v := range s.inventories {
		out[k] = v
	}
	return out
}

func (s *Store) recordInventory(inv Inventory) {
	s.mu.Lock()
	s.inventories[inv.Rack] = inv
	s.mu.Unlock()
	if s.cfg.OnInventory != nil {
		s.cfg.OnInventory(inv)
	}
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
