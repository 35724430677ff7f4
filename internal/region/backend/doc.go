// Package backend implements the region's API backends (api.Backend) and
// the job runner's view of machines (jobs.Machines) over the store. It owns
// the region tables of store migration 20261121050001 (users, API keys,
// machine and rack tokens, racks, tags, machine details), which it reads and
// writes through the store's bun database, and the translation between the
// API's JSON types and the store's models.
//
// It does not decide lifecycle transitions (lifecycle does, applied by
// store.Transition in one transaction with an event), does not talk to BMCs
// (jobs.PowerExecutor does) and does not serve HTTP (api does).
//
// Transitions commit first and their jobs are enqueued right after: a
// region that dies in between leaves a machine in an in-progress status
// without a job, which the deadline sweeper then fails, so the machine never
// hangs; store.Transition owns its transaction, so the job cannot join it.
package backend
