package lifecycle

// LockChange says what a transition does to the lock flag.
type LockChange int

const (
	// LockKeep leaves the lock flag as it is.
	LockKeep LockChange = iota
	// LockSet locks the machine; it fails with ErrLocked if already locked.
	LockSet
	// LockClear unlocks the machine; it is invalid on an unlocked machine.
	LockClear
)

// Rule is one entry of the transition table: what an action does to a
// machine in a given status.
type Rule struct {
	// To is the target status. Ignored when Restore picks the previous status.
	To Status
	// EraseTo, when set, is the target instead of To if Options.Erase is set
	// (release with disk erasure).
	EraseTo Status
	// Restore sends the machine back to its remembered previous status when
	// that status is set and, if RestoreOnly is non-empty, listed there;
	// otherwise the machine goes to To.
	Restore bool
	// RestoreOnly limits Restore to these previous statuses (e.g. mark-fixed
	// returns only to Deployed; anything else goes to Ready).
	RestoreOnly []Status
	// Remember records the current status as the previous status before
	// moving (testing, rescue mode, mark-broken).
	Remember bool
	// Lock changes the lock flag (lock, unlock).
	Lock LockChange
}

// Table is the transition table plus the per-action properties. It is plain
// data: DefaultTable returns a fresh copy a caller may modify (add a rule,
// drop an action, make an action admin-only) before use. A Table is safe for
// concurrent use once no one modifies it.
type Table struct {
	// Rules maps a status and an action to what happens; a missing entry
	// means the action is invalid in that status.
	Rules map[Status]map[Action]Rule
	// Actions holds the properties of every action the table knows.
	Actions map[Action]ActionInfo
	// Failure maps each in-progress status to its Failed status. It is what
	// EventFailed and EventDeadlineExpired use, and what IsInProgress reads.
	Failure map[Status]Status
}

// State is the part of a machine the lifecycle decides on.
type State struct {
	Status Status
	// Previous is the remembered status to return to (see Rule.Remember);
	// empty when none.
	Previous Status
	// Locked machines refuse destructive actions (ActionInfo.RefusedWhenLocked).
	Locked bool
}

// Options qualify an action.
type Options struct {
	// Erase: on release, erase the disks first (DiskErasing).
	Erase bool
	// Admin: the caller is an administrator.
	Admin bool
}
