// Package store is ironkit's persistence: the region's state in one SQLite
// file (single node, the default) or in PostgreSQL (any number of regiond
// processes sharing one database), through github.com/uptrace/bun with one
// code path for both.
//
// It owns:
//   - the schema, as embedded versioned migrations (bun/migrate; one
//     template per migration renders each backend's column types), applied
//     by Open under a lock so that regions starting together migrate once;
//   - bun models of fabrics, VLANs, spaces, subnets, IP ranges, static
//     addresses, zones, resource pools, machines (with interfaces, power
//     settings, inventory, status deadline, lock flag and version), events
//     and secrets, and the operations on them, each one transaction;
//   - machine transitions: lifecycle decides, the store commits the status
//     change and its event together, with optimistic concurrency (a version
//     column) turning a concurrent conflicting change into ErrConflict;
//     deadlines and their expiry;
//   - IP allocation: netmodel's Allocator chooses, a partial unique index on
//     (subnet, ip) (discovered addresses excluded) decides, and a lost race
//     is retried, so no address is ever handed out twice, across goroutines,
//     connections and processes;
//   - secrets: the rack shared secret and the region key, which encrypts
//     secret power parameters at rest (AES-256-GCM);
//   - change notifications (Changes): LISTEN/NOTIFY on PostgreSQL, an
//     in-process broadcaster on SQLite.
//
// It does not own the rules: lifecycle decides transitions and deadlines,
// netmodel validates the network model and chooses addresses; the store
// reuses their errors (*lifecycle.TransitionError, *netmodel.ValidationError,
// netmodel.ErrExhausted) and adds its own sentinels (ErrNotFound,
// ErrConflict, ErrDuplicate, ErrInUse, ErrDecrypt). It does not run
// background work either: FailExpired and AllocateMachine are single
// transactions a caller schedules. Durable job queues (River) can share the
// database through SQLDB.
//
// # DSNs
//
//	file:/var/lib/ironkit/region.db           SQLite (WAL, foreign keys, busy timeout added)
//	/var/lib/ironkit/region.db                SQLite, same
//	postgres://ironkit@db.example/ironkit     PostgreSQL (pgx's database/sql driver)
//
// # Performance
//
// Figures (median of 3 runs, 2 shared cores, -count 3; noisy: other jobs
// share the machine) are in README.md next to this file, with the command.
package store
