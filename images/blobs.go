package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// blobStore is a content-addressed tree on disk, shared by the region Store
// and the rack Cache:
//
//	<root>/blobs/sha256/<first two hex digits>/<sha256>   complete, verified
//	<root>/partial/<sha256>                               resumable download
//	<root>/tmp/                                           uploads in flight
//
// A file is renamed into blobs/ only after its SHA-256 and size were
// verified, so anything under blobs/ is servable and identical content is
// stored once. Every writer uses its own temporary name (uploads) or holds
// an exclusive flock (partials), so several processes may share the tree.
type blobStore struct {
	root string
}

func newBlobStore(root string) (*blobStore, error) {
	if root == "" {
		return nil, fmt.Errorf("%w: image directory is empty; set Dir to a writable directory", ErrInvalid)
	}
	for _, d := range []string{"blobs/sha256", "partial", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("images: create %s: %w", filepath.Join(root, d), err)
		}
	}
	return &blobStore{root: root}, nil
}

func (b *blobStore) path(sum string) string {
	return filepath.Join(b.root, "blobs", "sha256", sum[:2], sum)
}

func (b *blobStore) partialPath(sum string) string {
	return filepath.Join(b.root, "partial", sum)
}

// has reports whether the blob is installed with the given size (size < 0:
// any size).
func (b *blobStore) has(sum string, size int64) bool {
	if ValidDigest(sum) != nil {
		return false
	}
	st, err := os.Stat(b.path(sum))
	return err == nil && st.Mode().IsRegular() && (size < 0 || st.Size() == size)
}

func (b *blobStore) open(sum string) (*os.File, error) {
	if err := ValidDigest(sum); err != nil {
		return nil, err
	}
	f, err := os.Open(b.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: blob %s", ErrNotFound, sum)
	}
	return f, err
}

// list returns the digests of installed blobs.
func (b *blobStore) list() ([]string, error) {
	var out []string
	top := filepath.Join(b.root, "blobs", "sha256")
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && ValidDigest(d.Name()) == nil {
			out = append(out, d.Name())
		}
		return nil
	})
	return out, err
}

// listPartials returns the digests of partial downloads.
func (b *blobStore) listPartials() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(b.root, "partial"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if ValidDigest(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (b *blobStore) remove(sum string) error {
	err := os.Remove(b.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// install renames a verified file into place. If the blob already exists
// (same content, another writer) the new copy is dropped: stored once.
func (b *blobStore) install(tmp, sum string, durable bool) error {
	dst := b.path(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("images: install blob %s: %w", sum, err)
	}
	if !durable {
		return nil
	}
	return syncDir(filepath.Dir(dst))
}

// verify re-hashes an installed blob; a mismatching blob is removed and
// ErrChecksum returned, so the next sync fetches it again.
func (b *blobStore) verify(sum string, size int64) error {
	f, err := b.open(sum)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	f.Close()
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum || (size >= 0 && n != size) {
		_ = b.remove(sum)
		return fmt.Errorf("%w: blob %s on disk hashes to %s (%d bytes); removed, it will be fetched again", ErrChecksum, sum, got, n)
	}
	return nil
}

// ingest streams r into the store, hashing as it goes (memory stays flat
// whatever the size), and installs it under its digest. If wantSHA is not
// empty the digest must match; if wantSize >= 0 the size must match; at
// most maxSize bytes are accepted (maxSize <= 0: no limit).
func (b *blobStore) ingest(r io.Reader, wantSHA string, wantSize, maxSize int64, onRead func(int)) (File, error) {
	f, err := os.CreateTemp(filepath.Join(b.root, "tmp"), "upload-*")
	if err != nil {
		return File{}, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	defer f.Close()
	// Locked so that gcTmp in another process sharing the tree leaves it be.
	_ = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if maxSize > 0 {
		r = io.LimitReader(r, maxSize+1)
	}
	h := sha256.New()
	sw := &sparseWriter{f: f, writeback: true}
	n, err := copyHashWrite(sw, h, r, onRead)
	if err != nil {
		return File{}, err
	}
	if maxSize > 0 && n > maxSize {
		return File{}, fmt.Errorf("%w: upload exceeds the %d-byte limit; raise the store's MaxUploadSize", ErrTooLarge, maxSize)
	}
	if err := sw.finish(); err != nil {
		return File{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA != "" && sum != wantSHA {
		return File{}, fmt.Errorf("%w: received %d bytes hashing to %s, expected %s; send the file again", ErrChecksum, n, sum, wantSHA)
	}
	if wantSize >= 0 && n != wantSize {
		return File{}, fmt.Errorf("%w: received %d bytes, expected %d; send the file again", ErrChecksum, n, wantSize)
	}
	if err := f.Sync(); err != nil {
		return File{}, err
	}
	if b.has(sum, n) {
		return File{SHA256: sum, Size: n}, nil // stored once
	}
	if err := b.install(tmp, sum, true); err != nil {
		return File{}, err
	}
	return File{SHA256: sum, Size: n}, nil
}

// lockPartial opens (creating) the partial file for sum and takes an
// exclusive, non-blocking flock on it. The lock dies with the process, so a
// partial left by a killed process is free again.
func (b *blobStore) lockPartial(sum string) (*os.File, error) {
	f, err := os.OpenFile(b.partialPath(sum), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("images: partial %s is being downloaded by another process: %w", sum, err)
	}
	return f, nil
}

// sparseWriter writes sequentially at off with pwrite, skipping all-zero
// chunks so raw disk images stay sparse on disk. finish extends the file to
// its logical size. A crash leaves a file whose size is the end of the last
// non-zero write: a valid prefix to resume from.
type sparseWriter struct {
	f   *os.File
	off int64
	// writeback, when set, starts the kernel writing dirty pages to disk
	// every writebackEvery bytes (sync_file_range, non-blocking), so the
	// fsync before install finds little left to flush.
	writeback bool
	kicked    int64
}

const writebackEvery = 16 << 20

const sparseChunk = 64 << 10

var zeroChunk [sparseChunk]byte // read-only

func (w *sparseWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), sparseChunk)
		if !bytes.Equal(p[:c], zeroChunk[:c]) {
			// Coalesce consecutive non-zero chunks into one pwrite.
			e := c
			for e < len(p) {
				c2 := min(len(p)-e, sparseChunk)
				if bytes.Equal(p[e:e+c2], zeroChunk[:c2]) {
					break
				}
				e += c2
			}
			c = e
			if _, err := w.f.WriteAt(p[:c], w.off); err != nil {
				return n, err
			}
		}
		w.off += int64(c)
		n += c
		p = p[c:]
	}
	if w.writeback && w.off-w.kicked >= writebackEvery {
		_ = unix.SyncFileRange(int(w.f.Fd()), w.kicked, w.off-w.kicked, unix.SYNC_FILE_RANGE_WRITE)
		w.kicked = w.off
	}
	return n, nil
}

func (w *sparseWriter) finish() error {
	st, err := w.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < w.off {
		return w.f.Truncate(w.off)
	}
	return nil
}

// gcTmp removes leftovers of uploads interrupted by a crash: temporary
// files nobody holds a lock on.
func (b *blobStore) gcTmp() {
	ents, _ := os.ReadDir(filepath.Join(b.root, "tmp"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "upload-") {
			continue
		}
		p := filepath.Join(b.root, "tmp", e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			_ = os.Remove(p)
		}
		f.Close()
	}
}
