package lifecycle

import "fmt"

// Action is something that moves a machine: a user action (commission,
// deploy, …) or an internal event the region reports (commissioning done,
// deadline expired, …). Its value is a stable lower-case, hyphenated name.
type Action string

// User actions, as offered by the API.
const (
	ActionCommission            Action = "commission"
	ActionTest                  Action = "test"
	ActionAbort                 Action = "abort"
	ActionAllocate              Action = "allocate"
	ActionDeploy                Action = "deploy"
	ActionRelease               Action = "release" // Options.Erase erases the disks first
	ActionMarkBroken            Action = "mark-broken"
	ActionMarkFixed             Action = "mark-fixed"
	ActionRescueMode            Action = "rescue-mode"
	ActionExitRescueMode        Action = "exit-rescue-mode"
	ActionLock                  Action = "lock"
	ActionUnlock                Action = "unlock"
	ActionOverrideFailedTesting Action = "override-failed-testing"
	ActionRetire                Action = "retire"
)

// Internal events: reported by the region (from the ephemeral environment,
// the rack, the power driver or the deadline checker), never offered to users.
// They go through the same table so the whole life of a machine is data.
const (
	// EventCommissioned: commissioning scripts finished successfully.
	EventCommissioned Action = "commissioning-done"
	// EventTested: hardware tests passed; back to where testing started.
	EventTested Action = "testing-done"
	// EventDeployed: the installed system booted from disk.
	EventDeployed Action = "deployment-done"
	// EventReleased: the machine is off and its resources are freed.
	EventReleased Action = "release-done"
	// EventErased: disk erasure finished; the release is complete.
	EventErased Action = "erase-done"
	// EventRescueEntered: the rescue environment is up.
	EventRescueEntered Action = "rescue-entered"
	// EventRescueExited: rescue mode is over; back to where it started.
	EventRescueExited Action = "rescue-exited"
	// EventFailed: the in-progress operation reported failure.
	EventFailed Action = "failed"
	// EventDeadlineExpired: the in-progress status outlived its deadline.
	EventDeadlineExpired Action = "deadline-expired"
	// EventMissing: the machine can no longer be found.
	EventMissing Action = "missing"
	// EventFound: a missing machine is back; it returns to where it was.
	EventFound Action = "found"
	// EventReserved: the region holds a Ready machine for imminent use.
	EventReserved Action = "reserved"
)

var actionOrder = [...]Action{
	ActionCommission, ActionTest, ActionAbort, ActionAllocate, ActionDeploy,
	ActionRelease, ActionMarkBroken, ActionMarkFixed, ActionRescueMode,
	ActionExitRescueMode, ActionLock, ActionUnlock, ActionOverrideFailedTesting,
	ActionRetire,
	EventCommissioned, EventTested, EventDeployed, EventReleased, EventErased,
	EventRescueEntered, EventRescueExited, EventFailed, EventDeadlineExpired,
	EventMissing, EventFound, EventReserved,
}

// Actions returns every action and internal event in a stable order, user
// actions first. The slice is the caller's to modify.
func Actions() []Action { return append([]Action(nil), actionOrder[:]...) }

// String returns the stored name of the action.
func (a Action) String() string { return string(a) }

// ParseAction returns the action or internal event with the stored name s.
func ParseAction(s string) (Action, error) {
	for _, a := range actionOrder {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("lifecycle: unknown action %q: use one of %v", s, actionOrder)
}

// ActionInfo describes an action independently of the status it applies to.
type ActionInfo struct {
	// Admin: only administrators may perform it (Options.Admin).
	Admin bool
	// RefusedWhenLocked: a locked machine refuses it with ErrLocked.
	RefusedWhenLocked bool
	// Internal: an event the region reports, not offered to users; it is
	// left out of the "allowed actions" a user sees.
	Internal bool
}
