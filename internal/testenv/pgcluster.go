package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// PGCluster is a throwaway PostgreSQL cluster of the test's own (initdb +
// pg_ctl on a free loopback port), which the test may stop and start again
// on the same port and data directory, e.g. to check that a service
// survives a database outage. Unlike PostgresDSN's shared server it may be
// taken down without disturbing other tests.
type PGCluster struct {
	t    testing.TB
	bin  string // directory of initdb, pg_ctl
	dir  string // data and socket parent (owned by postgres when root)
	port int
}

// pgBinDir finds the directory holding initdb and pg_ctl: IRONKIT_TEST_PGBIN,
// then PATH, then /usr/lib/postgresql/*/bin (newest last wins).
func pgBinDir() string {
	if d := os.Getenv("IRONKIT_TEST_PGBIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best := ""
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			best = d
		}
	}
	return best
}

// NewPGCluster initialises and starts a cluster (trust auth, fsync off),
// or skips t when the PostgreSQL server binaries are missing. The cluster
// is stopped and removed when the test ends.
func NewPGCluster(t testing.TB) *PGCluster {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		t.Skipf("skipping: PostgreSQL server binaries (initdb, pg_ctl) not found; `apt-get install postgresql` or set IRONKIT_TEST_PGBIN")
	}
	dir, err := os.MkdirTemp("", "ironkit-pgc")
	if err != nil {
		t.Fatal(err)
	}
	c := &PGCluster{t: t, bin: bin, dir: dir}
	for _, d := range []string{c.data(), c.sock()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if IsRoot() {
		// initdb refuses root: the cluster belongs to the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			t.Skipf("skipping: running as root and no postgres user to own the cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{dir, c.data(), c.sock()} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if out, err := c.cmd(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c.Start()
	return c
}

func (c *PGCluster) data() string { return filepath.Join(c.dir, "data") }
func (c *PGCluster) sock() string { return filepath.Join(c.dir, "sock") }

func (c *PGCluster) cmd(name string, args ...string) *exec.Cmd {
	// pg_ctl bounds its own waits (-t); initdb finishes on its own.
	if IsRoot() {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (c *PGCluster) pgctl(args ...string) error {
	full := append([]string{"-D", c.data(), "-w", "-t", "30"}, args...)
	out, err := c.cmd(filepath.Join(c.bin, "pg_ctl"), full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
	return nil
}

// DSN is the cluster's postgres database (user postgres, no password).
func (c *PGCluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the cluster's loopback TCP port.
func (c *PGCluster) Port() int { return c.port }

// Start starts the (stopped) cluster on its port and waits until it
// accepts connections.
func (c *PGCluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.sock())
	if err := c.pgctl("-l", filepath.Join(c.dir, "log"), "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		c.t.Fatalf("start PostgreSQL: %v\n%s", err, log)
	}
}

// Stop stops the cluster the way a crash or an operator would: mode
// "immediate" (no shutdown checkpoint, clients cut off) or "fast".
func (c *PGCluster) Stop(mode string) {
	c.t.Helper()
	if err := c.pgctl("stop", "-m", mode); err != nil {
		c.t.Fatalf("stop PostgreSQL: %v", err)
	}
}
