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
// A transition's job is enqueued inside the transition's transaction
// (store.TransitionRequest.InTx with River's InsertTx): the status change,
// its event and its job commit together or not at all, so a region dying
// mid-action leaves no machine in an in-progress status without a job.
//
// Nothing is cached: every request's token lookup is one indexed query (a
// revoked key stops working on every region at once), and GET
// /api/v1/machines/{id} reads the machine, its interfaces and its region
// data in one query (store.MachineExtra).
package backend
