// Package testenv is the harness ironkit's tests use to reach real things:
// root-only network namespaces with veth pairs and bridges, external binaries
// (dhclient, atftp, ipmi_sim, qemu, ...) started and stopped by PID, and the
// throwaway PostgreSQL server that `make test` starts.
//
// Tests that need something missing skip with a message that names it and
// says how to get it; they never skip silently.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"
)

// PostgresEnv is the environment variable holding the DSN of the PostgreSQL
// server tests may use (set by scripts/with-postgres.sh, which `make test` runs).
const PostgresEnv = "IRONKIT_TEST_POSTGRES"

// IsRoot reports whether the test process runs as root.
func IsRoot() bool { return os.Geteuid() == 0 }

// RequireRoot skips t unless it runs as root, naming what needs root.
func RequireRoot(t testing.TB, what string) {
	t.Helper()
	if !IsRoot() {
		t.Skipf("skipping: %s needs root (network namespaces, raw sockets or privileged ports); run `make test` as root", what)
	}
}

// RequireBinaries skips t unless every named program is on PATH.
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Skipf("skipping: %v not installed; `make test-deps` (as root) installs them", missing)
	}
}

// PostgresDSN returns the DSN of the test PostgreSQL server, or skips t with a
// message saying how to provide one.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skipf("skipping PostgreSQL: %s is not set; `make test` starts a throwaway server and sets it", PostgresEnv)
	}
	return dsn
}

// RandomName returns prefix followed by 6 random hex characters; short enough
// for interface names (15 bytes) when prefix has at most 8.
func RandomName(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
