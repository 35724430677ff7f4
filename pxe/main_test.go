package pxe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer is a slog handler target tests can search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLog waits until the log contains every string in want.
func (l *logBuffer) waitLog(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := l.String()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bootRoot makes a file root: random files of the given sizes, a subdirectory,
// a symlink inside and one pointing out of the root, and a secret file outside.
func bootRoot(t *testing.T, sizes map[string]int) (dir string, sums map[string][32]byte) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "root")
	sums = map[string][32]byte{}
	for name, size := range sizes {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		_, _ = rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sums[name] = sha256.Sum256(b)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("outside the root"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink("../secret", filepath.Join(dir, "escape")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "abs-escape")))
	must(t, os.Symlink(filepath.Join(base, "secret"), filepath.Join(dir, "dir", "deep-escape")))
	if _, ok := sizes["small.bin"]; ok {
		must(t, os.Symlink("small.bin", filepath.Join(dir, "inside-link")))
	}
	return dir, sums
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
