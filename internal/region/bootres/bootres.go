// Package bootres is the region's boot-resource service: it wraps an
// images.Store for the API (list, upload, mirror import with live progress)
// and resolves the image a deployment installs. An import runs in this
// service's Run loop, one at a time, and reports per-file progress that the
// API shows while it runs.
//
// It does not store bytes or metadata itself (images keeps the bytes in the
// images directory; the metadata is the store's images.Catalog, shared by
// every region on the database) and does not serve HTTP (api does; the
// images handler is mounted by region). FollowChanges hands the store's
// boot-resource change notifications to the images store.
package bootres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/store"
)

// Service is the boot-resource service. Build it with New, give its
// OnProgress to images.StoreConfig, then Attach the store.
type Service struct {
	log  *slog.Logger
	st   *images.Store
	reqs chan string

	mu     sync.Mutex
	status api.ImportStatus
	files  map[string]api.ImportFile
}

// New returns a service without a store (see Attach).
func New(log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{log: log, reqs: make(chan string, 1), files: map[string]api.ImportFile{}}
}

// Attach sets the images store; call it before Run and before serving.
func (s *Service) Attach(st *images.Store) { s.st = st }

// OnProgress records an images transfer report (images.StoreConfig.OnProgress).
func (s *Service) OnProgress(p images.Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[p.Name] = api.ImportFile{Name: p.Name, Done: p.Done, Total: p.Total, Finished: p.Finished}
}

// Run performs imports as they are requested until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case src := <-s.reqs:
			res, err := s.st.Import(ctx, src, nil)
			s.mu.Lock()
			s.status.Running = false
			s.status.Finished = time.Now().UTC()
			s.status.Sets, s.status.Files, s.status.Bytes = res.Sets, res.Files, res.Bytes
			s.status.Error = ""
			if err != nil {
				s.status.Error = err.Error()
				s.log.Warn("boot resource import failed", "source", src, "err", err)
			}
			s.mu.Unlock()
		}
	}
}

// FollowChanges passes the store's boot-resource change notifications on to
// the images store until changes is closed or ctx ends: another region
// wrote metadata to the shared database, so racks waiting for a change are
// woken and missing bytes are fetched from peers. A KindResync (changes may
// have been missed) counts as a change too.
func (s *Service) FollowChanges(ctx context.Context, changes <-chan store.Change) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-changes:
			if !ok {
				return nil
			}
			if c.Kind == store.KindBootResource || c.Kind == store.KindResync {
				s.st.Changed()
			}
		}
	}
}

// ListBootResources implements api.BootResources.
func (s *Service) ListBootResources(ctx context.Context) ([]api.BootResource, error) {
	sets, err := s.st.Catalog().ListSets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.BootResource, 0, len(sets))
	for _, set := range sets {
		out = append(out, resource(set))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return images.CompareVersions(a.Version, b.Version) < 0
	})
	return out, nil
}

func resource(set images.Set) api.BootResource {
	r := api.BootResource{Name: set.Key.Path(), OS: set.Key.OS, Release: set.Key.Release, Arch: set.Key.Arch,
		Subarch: set.Key.Subarch, Flavour: set.Key.Flavour, Version: set.Version, Type: string(set.Type), Complete: set.Complete}
	for _, f := range set.Files {
		r.Files = append(r.Files, api.BootFile{Name: f.Name, SHA256: f.SHA256, Size: f.Size})
		r.Size += f.Size
	}
	return r
}

// UploadBootResource implements api.BootResources: one file of a custom
// set; complete marks the set complete after it.
func (s *Service) UploadBootResource(ctx context.Context, u api.BootUpload, body io.Reader) (api.BootResource, error) {
	key := images.Key{OS: u.OS, Release: u.Release, Arch: u.Arch, Subarch: u.Subarch, Flavour: u.Flavour}
	if _, err := s.st.Upload(ctx, key, u.Version, u.Name, body, images.UploadSpec{Size: u.Size, SHA256: u.SHA256}); err != nil {
		return api.BootResource{}, mapErr(err)
	}
	if u.Complete {
		if err := s.st.Complete(ctx, key, u.Version); err != nil {
			return api.BootResource{}, mapErr(err)
		}
	}
	set, err := s.st.Catalog().GetSet(ctx, key, u.Version)
	if err != nil {
		return api.BootResource{}, mapErr(err)
	}
	return resource(set), nil
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, images.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, images.ErrInvalid), errors.Is(err, images.ErrChecksum):
		return fmt.Errorf("%w: %w", api.ErrInvalid, err)
	case errors.Is(err, images.ErrComplete), errors.Is(err, images.ErrIncomplete):
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return err
}

// StartImport implements api.BootResources: queue an import of the mirror
// at source; one import runs at a time.
func (s *Service) StartImport(_ context.Context, source string) (api.ImportStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status.Running {
		return api.ImportStatus{}, fmt.Errorf("an import from %s is running: wait for it (GET /api/v1/boot-resources/import): %w", s.status.Source, api.ErrConflict)
	}
	select {
	case s.reqs <- source:
	default:
		return api.ImportStatus{}, fmt.Errorf("an import is queued: %w", api.ErrConflict)
	}
	s.status = api.ImportStatus{Running: true, Source: source, Started: time.Now().UTC()}
	clear(s.files)
	return s.snapshot(), nil
}

// ImportStatus implements api.BootResources.
func (s *Service) ImportStatus(context.Context) (api.ImportStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot(), nil
}

func (s *Service) snapshot() api.ImportStatus {
	st := s.status
	st.Progress = nil
	for _, f := range s.files {
		st.Progress = append(st.Progress, f)
		st.Done += f.Done
		st.Total += f.Total
	}
	slices.SortFunc(st.Progress, func(a, b api.ImportFile) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return st
}

// rootImageNames are the files a deployment writes to disk, in preference
// order.
var rootImageNames = []string{"root.tar.xz", "root.tgz", "squashfs", "root-image.tar.gz", "root.img"}

// ImageURL resolves the root image of the newest complete set for os,
// release and arch: base + the images handler's blob path, and its SHA-256.
func (s *Service) ImageURL(ctx context.Context, base, osName, release, arch string) (string, string, error) {
	url, sum, _, err := s.RootImage(ctx, base, osName, release, arch)
	return url, sum, err
}

// RootImage resolves the root image of the newest complete set for os,
// release and arch: its URL on the region (base + the images handler's
// blob path), its SHA-256, and its path in a rack's image cache (the set's
// key path and the file name, "<os>/<arch>/<subarch>/<release>/<flavour>/<file>",
// what a rack's HTTP boot server serves once it synced the set).
func (s *Service) RootImage(ctx context.Context, base, osName, release, arch string) (url, sum, rackPath string, err error) {
	sets, err := s.st.Catalog().ListSets(ctx)
	if err != nil {
		return "", "", "", err
	}
	var best *images.Set
	for i := range sets {
		set := &sets[i]
		if !set.Complete || set.Key.OS != osName || set.Key.Release != release || set.Key.Arch != arch {
			continue
		}
		if best == nil || images.CompareVersions(set.Version, best.Version) > 0 {
			best = set
		}
	}
	if best == nil {
		return "", "", "", fmt.Errorf("no complete boot resource %s/%s/%s: import or upload one (ironctl boot-resources import): %w",
			osName, release, arch, api.ErrConflict)
	}
	for _, n := range rootImageNames {
		for _, f := range best.Files {
			if f.Name == n {
				return base + images.BlobPath(f.SHA256), f.SHA256, best.Key.Path() + "/" + f.Name, nil
			}
		}
	}
	return "", "", "", fmt.Errorf("boot resource %s version %s has no root image (%v): %w", best.Key.Path(), best.Version, rootImageNames, api.ErrConflict)
}
