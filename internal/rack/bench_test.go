package rack_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/store"
)

// benchRegion is a region with n machines (SQLite, or PostgreSQL when
// IRONKIT_TEST_POSTGRES is set) and one registered rack.
func benchRegion(b *testing.B, n int) (*testRegion, int64) {
	b.Helper()
	dsn := sqliteDSN(b)
	if os.Getenv(testenv.PostgresEnv) != "" {
		dsn = testenv.FreshPostgres(b, "rackbench")
	}
	r := startRegion(b, dsn)
	ctx := context.Background()
	for i := range n {
		hw := net.HardwareAddr{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		if _, err := r.svc.Store().CreateMachine(ctx, store.Machine{Hostname: fmt.Sprintf("bench%05d", i), Architecture: "amd64/generic",
			Interfaces: []store.Interface{{MAC: hw}}}, "admin"); err != nil {
			b.Fatal(err)
		}
	}
	reply, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-bench", rack.Version, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r, reply.RackID
}

// The heartbeat's config revision: cached (what a heartbeat costs now)
// against building the config (what every heartbeat cost before).
// make bench-rack runs it with 2,000 machines.
func BenchmarkHeartbeatRevision(b *testing.B) {
	r, id := benchRegion(b, 2000)
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.rpc.ConfigRevision(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.rpc.BuildConfig(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
