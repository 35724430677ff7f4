package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func randBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// oneByteReader forces many short reads through the pipeline.
type shortReader struct {
	r io.Reader
	n int
}

func (s shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

func TestCopyHashWrite(t *testing.T) {
	for _, n := range []int{0, 1, copyBufSize - 1, copyBufSize, copyBufSize + 1, 5*copyBufSize + 123} {
		data := randBytes(n, uint64(n))
		for _, short := range []int{0, 7777} {
			var src io.Reader = bytes.NewReader(data)
			if short > 0 {
				src = shortReader{src, short}
			}
			var dst bytes.Buffer
			h := sha256.New()
			seen := 0
			got, err := copyHashWrite(&dst, h, src, func(k int) { seen += k })
			if err != nil || got != int64(n) || seen != n {
				t.Fatalf("n=%d: copied %d (seen %d), err %v", n, got, seen, err)
			}
			if !bytes.Equal(dst.Bytes(), data) || hex.EncodeToString(h.Sum(nil)) != digest(data) {
				t.Fatalf("n=%d: content or digest differs", n)
			}
		}
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestCopyHashWriteWriteError(t *testing.T) {
	_, err := copyHashWrite(&failWriter{after: 2 * copyBufSize}, sha256.New(), bytes.NewReader(make([]byte, 20*copyBufSize)), nil)
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("err = %v, want disk full", err)
	}
}

func TestSparseWriter(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// 64 MiB: zeros with a few non-zero islands, ending in zeros.
	size := 64 << 20
	data := make([]byte, size)
	copy(data[10:], "hello")
	copy(data[20<<20:], randBytes(100000, 1))
	w := &sparseWriter{f: f}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("sparse file content differs")
	}
	st, _ := f.Stat()
	if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 2<<20 {
		t.Errorf("file uses %d bytes on disk for %d bytes of mostly zeros; want it sparse", blocks, size)
	}
}

func TestIngestDedupAndVerify(t *testing.T) {
	bs, err := newBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(3<<20, 2)
	f1, err := bs.ingest(bytes.NewReader(data), "", -1, 0, nil)
	if err != nil || f1.SHA256 != digest(data) || f1.Size != int64(len(data)) {
		t.Fatalf("ingest = %+v, %v", f1, err)
	}
	f2, err := bs.ingest(bytes.NewReader(data), digest(data), int64(len(data)), 0, nil)
	if err != nil || f2 != f1 {
		t.Fatalf("second ingest = %+v, %v", f2, err)
	}
	sums, _ := bs.list()
	if len(sums) != 1 {
		t.Fatalf("identical content stored %d times, want once", len(sums))
	}
	if _, err := bs.ingest(bytes.NewReader(data), sum1, -1, 0, nil); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong digest: err = %v, want ErrChecksum", err)
	}
	if _, err := bs.ingest(bytes.NewReader(data), "", -1, 1<<20, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: err = %v, want ErrTooLarge", err)
	}
	ents, _ := os.ReadDir(filepath.Join(bs.root, "tmp"))
	if len(ents) != 0 {
		t.Fatalf("failed ingests left %d temporary files", len(ents))
	}
	// Flip a byte on disk: verify catches it and removes the blob.
	p := bs.path(f1.SHA256)
	b, _ := os.ReadFile(p)
	b[12345] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bs.verify(f1.SHA256, f1.Size); !errors.Is(err, ErrChecksum) {
		t.Fatalf("verify of a flipped byte = %v, want ErrChecksum", err)
	}
	if bs.has(f1.SHA256, -1) {
		t.Fatal("corrupt blob still installed")
	}
}

func TestFileCatalog(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "catalog.json")
	c, err := OpenFileCatalog(p)
	if err != nil {
		t.Fatal(err)
	}
	k := Key{"custom", "mine", "amd64", "generic", "generic"}
	if err := c.AddFile(ctx, k, "1", Uploaded, File{Name: "root-dd", SHA256: sum1, Size: 10}); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkComplete(ctx, k, "1", time.Unix(100, 0)); err != nil {
		t.Fatal(err)
	}
	if err := c.AddFile(ctx, k, "1", Uploaded, File{Name: "x", SHA256: sum1}); !errors.Is(err, ErrComplete) {
		t.Fatalf("AddFile to a complete set: %v, want ErrComplete", err)
	}
	if err := c.PutSet(ctx, Set{Key: k, Version: "0", Type: "bogus"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutSet invalid: %v", err)
	}
	c2, err := OpenFileCatalog(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c2.GetSet(ctx, k, "1")
	if err != nil || !s.Complete || len(s.Files) != 1 || s.Type != Uploaded {
		t.Fatalf("reopened catalog: %+v, %v", s, err)
	}
	if err := c2.DeleteSet(ctx, k, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.GetSet(ctx, k, "1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if err := c2.DeleteSet(ctx, k, "1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

func TestHoleReader(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 128 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	islands := map[int64][]byte{0: randBytes(5000, 3), 70 << 20: randBytes(1<<20, 4), size - 100: randBytes(100, 5)}
	want := make([]byte, size)
	for off, b := range islands {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], b)
	}
	st, _ := f.Stat()
	rs := servable(f, st)
	if _, ok := rs.(*holeReader); !ok {
		t.Fatalf("servable chose %T for a sparse file", rs)
	}
	got, err := io.ReadAll(shortReader{rs, 100000})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("full read: %d bytes, %v; content equal: %v", len(got), err, bytes.Equal(got, want))
	}
	// Ranges across region boundaries, as ServeContent does them.
	for _, r := range [][2]int64{{4000, 2000}, {70<<20 - 10, 30}, {size - 200, 200}, {1 << 20, 5}} {
		if _, err := rs.Seek(r[0], io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, r[1])
		if _, err := io.ReadFull(rs, b); err != nil || !bytes.Equal(b, want[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %v: %v", r, err)
		}
	}
	dense, _ := os.Create(filepath.Join(dir, "dense"))
	defer dense.Close()
	_, _ = dense.Write(randBytes(1<<20, 6))
	st, _ = dense.Stat()
	if rs := servable(dense, st); rs != io.ReadSeeker(dense) {
		t.Fatalf("servable chose %T for a dense file; want the *os.File (sendfile)", rs)
	}
}

// errAfter returns its data, then err.
type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, e.err
	}
	return n, err
}

// A read error mid-stream is returned with the bytes copied so far, all of
// them written and hashed (the hasher has finished when copyHashWrite
// returns: resume hashes the prefix on disk, so they must agree).
func TestCopyHashWriteReadError(t *testing.T) {
	data := randBytes(3*copyBufSize+5, 9)
	reset := errors.New("connection reset")
	var dst bytes.Buffer
	h := sha256.New()
	n, err := copyHashWrite(&dst, h, shortReader{&errAfter{bytes.NewReader(data), reset}, 50000}, nil)
	if !errors.Is(err, reset) || n != int64(len(data)) {
		t.Fatalf("copied %d, err %v; want %d, %v", n, err, len(data), reset)
	}
	if !bytes.Equal(dst.Bytes(), data) || hex.EncodeToString(h.Sum(nil)) != digest(data) {
		t.Fatal("written bytes or digest differ from what was read")
	}
}
