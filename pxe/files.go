package pxe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no file or generated content answers the name.
	ErrNotFound = errors.New("pxe: file not found")
	// ErrInvalidName: the requested name is refused (traversal, encoding
	// tricks, control bytes, too long).
	ErrInvalidName = errors.New("pxe: invalid file name")
)

// MaxNameLen is the longest name either server accepts, in bytes.
const MaxNameLen = 255

// File is an open file (or generated content) with what HTTP caching needs.
type File struct {
	// Body is read from and seeked in; an *os.File lets the HTTP server
	// use sendfile.
	Body    io.ReadSeekCloser
	Size    int64
	ModTime time.Time
	// ETag is the quoted entity tag. Empty: the HTTP server derives a weak
	// one from Size and ModTime.
	ETag string
}

// Files is where both servers read files from: a directory (DirFiles) today,
// the rack's image cache later. name is already cleaned by CleanName
// (slash-separated, relative, no ".."). Open returns an error wrapping
// ErrNotFound when there is no such file. ctx bounds the open only (the
// servers cancel it once Open returns): the Body must stay readable after.
type Files interface {
	Open(ctx context.Context, name string) (*File, error)
}

// CleanName validates a requested name and returns it relative to the root.
// See the package documentation for what is refused; every refusal wraps
// ErrInvalidName and says why.
func CleanName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidName, truncate(name, 64), why)
	}
	if len(name) > MaxNameLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameLen))
	}
	n := strings.TrimPrefix(name, "/")
	if n == "" {
		return bad("empty")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("contains a control byte")
		case c == '\\':
			return bad("contains a backslash")
		case c == '%' && i+2 < len(n) && isHex(n[i+1]) && isHex(n[i+2]):
			return bad("contains a percent-encoded byte")
		}
	}
	for _, part := range strings.Split(n, "/") {
		switch part {
		case "":
			return bad("has an empty path component (\"//\" or a trailing \"/\")")
		case ".", "..":
			return bad("has a \"" + part + "\" component")
		}
	}
	return n, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// DirFiles serves the regular files under a directory. It opens them through
// os.Root, so symlinks may point anywhere inside the root but never out of it.
type DirFiles struct {
	root *os.Root
}

// NewDirFiles opens dir as a root. Close it when done.
func NewDirFiles(dir string) (*DirFiles, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("pxe: open file root %q: %w (the directory must exist and be readable)", dir, err)
	}
	return &DirFiles{root: r}, nil
}

// Close releases the root directory.
func (d *DirFiles) Close() error { return d.root.Close() }

// Open opens name (as returned by CleanName) under the root. Directories,
// devices and names escaping the root are refused.
func (d *DirFiles) Open(_ context.Context, name string) (*File, error) {
	f, err := d.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		// os.Root reports escapes ("path escapes from parent") as plain errors.
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidName, name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, name)
	}
	return &File{Body: f, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// BytesFile wraps generated content as a File.
func BytesFile(b []byte, modTime time.Time) *File {
	return &File{Body: nopCloser{bytes.NewReader(b)}, Size: int64(len(b)), ModTime: modTime}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
