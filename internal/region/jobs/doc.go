// Package jobs owns the region's durable work: commissioning, deployment and
// release of machines, the deadline sweeper and power-state polling. Jobs are
// rows in the region's database, so they survive a regiond crash and run on
// whichever regiond of an HA group picks them up first.
//
// # Decision: River
//
// The queue is River (github.com/riverqueue/river v0.31.0) over the store's
// own *sql.DB: riverdriver/riversqlite on SQLite and
// riverdriver/riverdatabasesql on PostgreSQL (through pgx's database/sql
// driver, jackc/pgx/v5/stdlib). All River modules are pinned at v0.31.0.
// Why: River already implements what a hand-written queue would need —
// FOR UPDATE SKIP LOCKED fetching on PostgreSQL, retries with back-off,
// leader election (the leader rescues jobs of a killed region and schedules
// periodic jobs exactly once per group), unique jobs and its own migrations —
// and it fits both of our backends through database/sql, so one code path
// serves the single-node SQLite install and the PostgreSQL HA install.
// Measured by the lead: over bun's pgdriver River's leader election fails
// ("there is no parameter $2"); over pgx stdlib it works, which is why the
// store uses pgx stdlib. River's tables are created by rivermigrate when the
// Runner is built; they are prefixed river_ and never clash with the store's.
//
// # What it does not own
//
// Machine state lives in the store; workers reach it through the Machines
// interface, power through PowerExecutor (the rack RPC will implement it by
// routing to a rack; PowerViaDrivers is the single-node default), and IP
// conflict probing through ConflictProber (a rack's job; optional). Waiting
// for the ephemeral environment is not a blocked job: the status deadline in
// the database is the wait, the metadata endpoints complete it, and the
// sweeper fails it on expiry.
package jobs
