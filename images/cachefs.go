package images

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// FS returns a read-only fs.FS of what Open serves: files of complete,
// verified sets by logical path, and a directory for every path prefix, so
// http.FileServerFS, fs.WalkDir and TFTP handlers work on it (it passes
// testing/fstest). Files report their logical name and size in Stat and
// implement io.Seeker and io.ReaderAt.
func (c *Cache) FS() fs.FS { return cacheFS{c} }

type cacheFS struct{ c *Cache }

func (f cacheFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f.c.mu.RLock()
	file, isFile := f.c.index[name]
	var entries []fs.DirEntry
	if !isFile {
		entries = f.c.childrenLocked(name)
	}
	f.c.mu.RUnlock()
	if isFile {
		osf, err := f.c.blobs.open(file.SHA256)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		st, err := osf.Stat()
		if err != nil {
			osf.Close()
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &cacheFile{f: osf, info: fileInfo{name: path.Base(name), size: file.Size, mode: 0o444, mod: st.ModTime()}}, nil
	}
	if entries == nil && name != "." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &cacheDir{info: fileInfo{name: path.Base(name), mode: fs.ModeDir | 0o555}, entries: entries}, nil
}

// childrenLocked lists the direct children of directory dir ("." for the
// root), sorted; nil if dir has none. c.mu must be held.
func (c *Cache) childrenLocked(dir string) []fs.DirEntry {
	seen := map[string]bool{}
	var out []fs.DirEntry
	for name, f := range c.index {
		rel := name
		if dir != "." {
			var ok bool
			if rel, ok = strings.CutPrefix(name, dir+"/"); !ok {
				continue
			}
		}
		first, rest, isDir := strings.Cut(rel, "/")
		_ = rest
		if seen[first] {
			continue
		}
		seen[first] = true
		info := fileInfo{name: first, size: f.Size, mode: 0o444}
		if isDir {
			info = fileInfo{name: first, mode: fs.ModeDir | 0o555}
		} else if st, err := os.Stat(c.blobs.path(f.SHA256)); err == nil {
			info.mod = st.ModTime()
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// cacheFile is an open cached file under its logical name.
type cacheFile struct {
	f    *os.File
	info fileInfo
}

func (f *cacheFile) Stat() (fs.FileInfo, error)                   { return f.info, nil }
func (f *cacheFile) Read(p []byte) (int, error)                   { return f.f.Read(p) }
func (f *cacheFile) ReadAt(p []byte, off int64) (int, error)      { return f.f.ReadAt(p, off) }
func (f *cacheFile) Seek(offset int64, whence int) (int64, error) { return f.f.Seek(offset, whence) }
func (f *cacheFile) Close() error                                 { return f.f.Close() }

// cacheDir is a directory snapshot taken at Open.
type cacheDir struct {
	info    fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *cacheDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *cacheDir) Close() error               { return nil }
func (d *cacheDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *cacheDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return slices.Clone(rest[:n]), nil
}
