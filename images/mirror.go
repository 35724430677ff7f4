package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// MirrorIndexPath is where a mirror's index lives, relative to its root.
const MirrorIndexPath = "streams/v1/index.json"

// MirrorFormat is the value of MirrorIndex.Format this package reads and writes.
const MirrorFormat = "ironkit-streams:1"

// MirrorIndex is the one document of an ironkit mirror, a simplified
// simplestreams: products (one per Key), their versions, and each version's
// files with SHA-256, size and a path relative to the mirror root. A mirror
// is any directory or HTTP tree holding MirrorIndexPath and those files; a
// region also serves its complete sets as a mirror (see Store.Handler), so
// regions can import from each other. The format is documented with an
// example in images/README.md.
type MirrorIndex struct {
	Format   string          `json:"format"`
	Updated  time.Time       `json:"updated"`
	Products []MirrorProduct `json:"products"`
}

// MirrorProduct is one boot resource and its versions.
type MirrorProduct struct {
	Key
	Versions []MirrorVersion `json:"versions"`
}

// MirrorVersion is one version's files.
type MirrorVersion struct {
	Version string       `json:"version"`
	Files   []MirrorFile `json:"files"`
}

// MirrorFile is a file with where to find it: Path is relative to the
// mirror root, "/"-separated.
type MirrorFile struct {
	File
	Path string `json:"path"`
}

// Validate checks the format tag, every key, version and file, and that
// paths stay inside the mirror.
func (ix MirrorIndex) Validate() error {
	if ix.Format != MirrorFormat {
		return fmt.Errorf("%w: mirror index format %q; this reader understands %q", ErrInvalid, ix.Format, MirrorFormat)
	}
	for _, p := range ix.Products {
		for _, v := range p.Versions {
			s := Set{Key: p.Key, Version: v.Version, Type: Synced}
			for _, f := range v.Files {
				s.Files = append(s.Files, f.File)
				if f.Path == "" || path.IsAbs(f.Path) || strings.HasPrefix(path.Clean(f.Path), "..") {
					return fmt.Errorf("%w: mirror file %s/%s/%s: path %q must be relative to the mirror root", ErrInvalid, p.Key, v.Version, f.Name, f.Path)
				}
			}
			if err := s.Validate(); err != nil {
				return fmt.Errorf("mirror index: %w", err)
			}
		}
	}
	return nil
}

// Sets returns the index as (incomplete, synced) resource sets.
func (ix MirrorIndex) Sets() []Set {
	var out []Set
	for _, p := range ix.Products {
		for _, v := range p.Versions {
			s := Set{Key: p.Key, Version: v.Version, Type: Synced}
			for _, f := range v.Files {
				s.Files = append(s.Files, f.File)
			}
			out = append(out, s)
		}
	}
	return out
}

// mirrorFromSets builds an index from sets whose files are served under
// pathOf(file).
func mirrorFromSets(sets []Set, updated time.Time, pathOf func(File) string) MirrorIndex {
	ix := MirrorIndex{Format: MirrorFormat, Updated: updated.UTC(), Products: []MirrorProduct{}}
	byKey := map[Key]int{}
	for _, s := range sets {
		i, ok := byKey[s.Key]
		if !ok {
			i = len(ix.Products)
			byKey[s.Key] = i
			ix.Products = append(ix.Products, MirrorProduct{Key: s.Key})
		}
		v := MirrorVersion{Version: s.Version}
		for _, f := range s.Files {
			mf := MirrorFile{File: f}
			if pathOf != nil {
				mf.Path = pathOf(f)
			}
			v.Files = append(v.Files, mf)
		}
		ix.Products[i].Versions = append(ix.Products[i].Versions, v)
	}
	return ix
}

// BuildMirror turns dir into a mirror: it hashes every file laid out as
//
//	<dir>/<os>/<arch>/<subarch>/<release>/<flavour>/<version>/<file name>
//
// and writes <dir>/streams/v1/index.json (atomically). Symlinks to files
// are followed. Other files are ignored and reported in the returned list
// of skipped paths. Serve dir with
// any HTTP server (or use it as a local path) and import it with
// Store.Import. cmd/ironkit-mirror is the command-line front end.
func BuildMirror(ctx context.Context, dir string, now time.Time) (MirrorIndex, []string, error) {
	var sets []Set
	idx := map[setID]int{}
	var skipped []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "streams" {
				return filepath.SkipDir
			}
			return nil
		}
		parts := strings.Split(rel, "/")
		regular := d.Type().IsRegular()
		if d.Type()&fs.ModeSymlink != 0 {
			// Symlinks to files are followed, so a mirror can point at
			// installed files (e.g. /usr/lib/ipxe) without copying them.
			st, err := os.Stat(p)
			regular = err == nil && st.Mode().IsRegular()
		}
		if len(parts) != 7 || !regular || strings.HasPrefix(d.Name(), ".") {
			skipped = append(skipped, rel)
			return nil
		}
		k := Key{OS: parts[0], Arch: parts[1], Subarch: parts[2], Release: parts[3], Flavour: parts[4]}
		f, err := hashFile(p)
		if err != nil {
			return err
		}
		f.Name = parts[6]
		id := setID{k, parts[5]}
		i, ok := idx[id]
		if !ok {
			i = len(sets)
			idx[id] = i
			sets = append(sets, Set{Key: k, Version: parts[5], Type: Synced})
		}
		sets[i].Files = append(sets[i].Files, f)
		return nil
	})
	if err != nil {
		return MirrorIndex{}, nil, fmt.Errorf("images: build mirror in %s: %w", dir, err)
	}
	sortSets(sets)
	ix := mirrorFromSets(sets, now, nil)
	for pi, p := range ix.Products {
		for vi, v := range p.Versions {
			for fi, f := range v.Files {
				ix.Products[pi].Versions[vi].Files[fi].Path = path.Join(p.Key.Path(), v.Version, f.Name)
			}
		}
	}
	if err := ix.Validate(); err != nil {
		return MirrorIndex{}, nil, fmt.Errorf("images: build mirror in %s: %w; rename the offending directory", dir, err)
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return MirrorIndex{}, nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(MirrorIndexPath)), b); err != nil {
		return MirrorIndex{}, nil, err
	}
	return ix, skipped, nil
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return File{}, err
	}
	return File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// mirrorFileSource resolves a mirror file path against the mirror root
// (a local directory, a file:// URL or an http(s) URL).
func mirrorFileSource(root, rel string) string {
	if p, ok := localPath(root); ok {
		return filepath.Join(p, filepath.FromSlash(rel))
	}
	return strings.TrimSuffix(root, "/") + "/" + rel
}

// ReadMirrorIndex reads and validates the index of the mirror at root (a
// local directory, file:// URL or http(s) URL). The HTTP request has a 60 s
// deadline.
func ReadMirrorIndex(ctx context.Context, client *http.Client, root string) (MirrorIndex, error) {
	if client == nil {
		client = newHTTPClient()
	}
	src := mirrorFileSource(root, MirrorIndexPath)
	var b []byte
	if p, ok := localPath(src); ok {
		var err error
		if b, err = os.ReadFile(p); err != nil {
			return MirrorIndex{}, fmt.Errorf("images: mirror %s: %w; run `ironkit-mirror -dir %s` to build its index", root, err, root)
		}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return MirrorIndex{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return MirrorIndex{}, fmt.Errorf("images: mirror %s: %w", root, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return MirrorIndex{}, fmt.Errorf("images: mirror %s: GET %s: HTTP %s", root, src, resp.Status)
		}
		if b, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20)); err != nil {
			return MirrorIndex{}, fmt.Errorf("images: mirror %s: %w", root, err)
		}
	}
	var ix MirrorIndex
	if err := json.Unmarshal(b, &ix); err != nil {
		return MirrorIndex{}, fmt.Errorf("%w: mirror %s: index is not valid JSON: %v", ErrInvalid, root, err)
	}
	if err := ix.Validate(); err != nil {
		return MirrorIndex{}, errors.Join(fmt.Errorf("images: mirror %s", root), err)
	}
	return ix, nil
}
