// Package lifecycle owns the life of a machine as a pure state machine: every
// node status of the MAAS tradition, the actions and internal events that move
// a machine between them, the transition table (data, with override hooks),
// which actions need an administrator, which actions a locked machine refuses,
// the failure mapping from each in-progress status to its Failed status, the
// previous-status memory (mark-fixed, abort of testing, exit from rescue mode)
// and the per-status deadlines that heartbeats extend.
//
// It does no I/O: it neither stores machines, nor powers them, nor writes
// events. The region loads a machine's [State], asks [Table.Apply] (or
// [Apply] for the default table) for the next state, and persists the result
// in the same transaction as the event that explains it. Completion events
// that are not user actions (commissioning done, deployment done, deadline
// expired, …) go through the same table as internal actions, so the whole
// machine is driven through this package.
//
// Semantics follow MAAS src/maasserver/node_status.py and the node actions of
// src/maasserver/node_action.py where the ironkit issue is silent.
package lifecycle
