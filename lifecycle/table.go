package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

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
	// Failure maps each in-progress status to its Failed status: what
	// IsInProgress, IsFailed and FailedStatus read. DefaultTable derives the
	// EventFailed and EventDeadlineExpired rules from it; a caller adding an
	// in-progress status adds both the mapping and those rules.
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
	// System: the caller is the region itself reporting an internal event
	// (ActionInfo.Internal). Internal events are refused without it so an
	// API that passes a user's action through cannot fake "deployment-done".
	// A System caller counts as an administrator.
	System bool
}

// testingReturnsTo returns the statuses testing returns to when it passes
// (and that override-failed-testing returns to); from any other status
// testing ends in Ready, as MAAS's NODE_TESTING_RESET_READY_TRANSITIONS says.
func testingReturnsTo() []Status { return []Status{Ready, Reserved, Allocated, Deployed} }

// row is one line of the default table.
type row struct {
	from   Status
	action Action
	rule   Rule
}

func to(s Status) Rule       { return Rule{To: s} }
func remember(s Status) Rule { return Rule{To: s, Remember: true} }
func release() Rule          { return Rule{To: Releasing, EraseTo: DiskErasing} }
func restore(fallback Status, only ...Status) Rule {
	return Rule{To: fallback, Restore: true, RestoreOnly: only}
}

// defaultRows is the transition table, one line per (status, action). The
// failure events (EventFailed, EventDeadlineExpired) and unlock are added by
// DefaultTable from the failure mapping and for every status.
func defaultRows() []row {
	markBroken := remember(Broken)
	rescue := remember(EnteringRescueMode)
	test := remember(Testing)
	commission := remember(Commissioning)
	missing := remember(Missing)
	return []row{
		{New, ActionCommission, commission},
		{New, ActionMarkBroken, markBroken},
		{New, ActionRescueMode, rescue},
		{New, ActionRetire, to(Retired)},
		{New, EventMissing, missing},

		// Abort returns to where commissioning started (New when unknown).
		{Commissioning, ActionAbort, restore(New)},
		{Commissioning, ActionMarkBroken, markBroken},
		{Commissioning, EventCommissioned, to(Ready)},
		{Commissioning, EventMissing, missing},

		{FailedCommissioning, ActionCommission, commission},
		{FailedCommissioning, ActionTest, test},
		{FailedCommissioning, ActionMarkBroken, markBroken},
		{FailedCommissioning, ActionRescueMode, rescue},
		{FailedCommissioning, ActionRetire, to(Retired)},
		{FailedCommissioning, EventMissing, missing},

		{Missing, ActionCommission, commission},
		{Missing, ActionMarkBroken, markBroken},
		{Missing, ActionRetire, to(Retired)},
		{Missing, EventFound, restore(New)},

		{Ready, ActionCommission, commission},
		{Ready, ActionTest, test},
		{Ready, ActionAllocate, to(Allocated)},
		{Ready, ActionMarkBroken, markBroken},
		{Ready, ActionRescueMode, rescue},
		{Ready, ActionRetire, to(Retired)},
		{Ready, EventReserved, to(Reserved)},
		{Ready, EventMissing, missing},

		{Reserved, ActionAllocate, to(Allocated)},
		{Reserved, ActionRelease, release()},
		{Reserved, ActionTest, test},
		{Reserved, ActionMarkBroken, markBroken},
		{Reserved, ActionRescueMode, rescue},
		{Reserved, ActionRetire, to(Retired)},
		{Reserved, EventMissing, missing},

		{Allocated, ActionDeploy, to(Deploying)},
		{Allocated, ActionRelease, release()},
		{Allocated, ActionTest, test},
		{Allocated, ActionMarkBroken, markBroken},
		{Allocated, ActionRescueMode, rescue},
		{Allocated, EventMissing, missing},

		{Deploying, ActionAbort, to(Allocated)},
		{Deploying, ActionRelease, release()},
		{Deploying, ActionMarkBroken, markBroken},
		{Deploying, EventDeployed, to(Deployed)},
		{Deploying, EventMissing, missing},

		{Deployed, ActionRelease, release()},
		{Deployed, ActionTest, test},
		{Deployed, ActionMarkBroken, markBroken},
		{Deployed, ActionRescueMode, rescue},
		{Deployed, ActionLock, Rule{To: Deployed, Lock: LockSet}},
		{Deployed, EventMissing, missing},

		{FailedDeployment, ActionDeploy, to(Deploying)},
		{FailedDeployment, ActionRelease, release()},
		{FailedDeployment, ActionTest, test},
		{FailedDeployment, ActionMarkBroken, markBroken},
		{FailedDeployment, ActionRescueMode, rescue},
		{FailedDeployment, EventMissing, missing},

		{Releasing, ActionMarkBroken, markBroken},
		{Releasing, EventReleased, to(Ready)},
		{Releasing, EventMissing, missing},

		{FailedReleasing, ActionRelease, release()},
		{FailedReleasing, ActionTest, test},
		{FailedReleasing, ActionMarkBroken, markBroken},
		{FailedReleasing, EventMissing, missing},

		// Aborting an erasure leaves the disks in an unknown state.
		{DiskErasing, ActionAbort, to(FailedDiskErasing)},
		{DiskErasing, ActionMarkBroken, markBroken},
		{DiskErasing, EventErased, to(Ready)},
		{DiskErasing, EventMissing, missing},

		{FailedDiskErasing, ActionRelease, release()},
		{FailedDiskErasing, ActionTest, test},
		{FailedDiskErasing, ActionMarkBroken, markBroken},
		{FailedDiskErasing, ActionRescueMode, rescue},
		{FailedDiskErasing, EventMissing, missing},

		{EnteringRescueMode, ActionExitRescueMode, to(ExitingRescueMode)},
		{EnteringRescueMode, ActionMarkBroken, markBroken},
		{EnteringRescueMode, EventRescueEntered, to(RescueMode)},

		{RescueMode, ActionExitRescueMode, to(ExitingRescueMode)},
		{RescueMode, ActionMarkBroken, markBroken},

		// A retry keeps the status remembered on the first attempt.
		{FailedEnteringRescueMode, ActionRescueMode, to(EnteringRescueMode)},
		{FailedEnteringRescueMode, ActionExitRescueMode, to(ExitingRescueMode)},
		{FailedEnteringRescueMode, ActionMarkBroken, markBroken},

		{ExitingRescueMode, ActionMarkBroken, markBroken},
		{ExitingRescueMode, EventRescueExited, restore(Ready)},

		{FailedExitingRescueMode, ActionExitRescueMode, to(ExitingRescueMode)},
		{FailedExitingRescueMode, ActionMarkBroken, markBroken},

		{Testing, ActionAbort, restore(Ready)},
		{Testing, ActionMarkBroken, markBroken},
		{Testing, EventTested, restore(Ready, testingReturnsTo()...)},
		{Testing, EventMissing, missing},

		// A retest keeps the status remembered on the first attempt.
		{FailedTesting, ActionTest, to(Testing)},
		{FailedTesting, ActionOverrideFailedTesting, restore(Ready, testingReturnsTo()...)},
		{FailedTesting, ActionCommission, commission},
		{FailedTesting, ActionMarkBroken, markBroken},
		{FailedTesting, ActionRescueMode, rescue},
		{FailedTesting, ActionRetire, to(Retired)},
		{FailedTesting, EventMissing, missing},

		// A machine that broke while Deployed goes back to Deployed.
		{Broken, ActionMarkFixed, restore(Ready, Deployed)},
		{Broken, ActionCommission, commission},
		{Broken, ActionTest, test},
		{Broken, ActionRelease, release()},
		{Broken, ActionRescueMode, rescue},
		{Broken, ActionRetire, to(Retired)},

		{Retired, ActionCommission, commission},
		{Retired, ActionTest, test},
		{Retired, ActionMarkBroken, markBroken},
		{Retired, ActionRescueMode, rescue},
	}
}

// defaultActions: who may do what. Lock and unlock are for the owner; every
// other user action changes the machine and so is refused while it is locked.
func defaultActions() map[Action]ActionInfo {
	user := func(admin bool) ActionInfo { return ActionInfo{Admin: admin, RefusedWhenLocked: true} }
	m := map[Action]ActionInfo{
		ActionCommission:            user(true),
		ActionTest:                  user(true),
		ActionAbort:                 user(true),
		ActionAllocate:              user(false),
		ActionDeploy:                user(false),
		ActionRelease:               user(false),
		ActionMarkBroken:            user(false),
		ActionMarkFixed:             user(true),
		ActionRescueMode:            user(true),
		ActionExitRescueMode:        user(true),
		ActionLock:                  {},
		ActionUnlock:                {},
		ActionOverrideFailedTesting: user(true),
		ActionRetire:                user(true),
	}
	for _, a := range actionOrder {
		if _, ok := m[a]; !ok {
			m[a] = ActionInfo{Internal: true}
		}
	}
	return m
}

// defaultFailure is MAAS's NODE_FAILURE_STATUS_TRANSITIONS.
func defaultFailure() map[Status]Status {
	return map[Status]Status{
		Commissioning:      FailedCommissioning,
		Deploying:          FailedDeployment,
		Releasing:          FailedReleasing,
		DiskErasing:        FailedDiskErasing,
		EnteringRescueMode: FailedEnteringRescueMode,
		ExitingRescueMode:  FailedExitingRescueMode,
		Testing:            FailedTesting,
	}
}

// DefaultTable returns a fresh copy of ironkit's transition table; the
// caller may modify it. Failure events and unlock are derived: EventFailed
// and EventDeadlineExpired move every status of Failure to its Failed
// status, and unlock is valid in every status (on a locked machine).
func DefaultTable() Table {
	t := Table{
		Rules:   make(map[Status]map[Action]Rule, len(statusTitles)),
		Actions: defaultActions(),
		Failure: defaultFailure(),
	}
	for _, st := range statusTitles {
		t.Rules[st.s] = map[Action]Rule{ActionUnlock: {To: st.s, Lock: LockClear}}
	}
	for _, r := range defaultRows() {
		t.Rules[r.from][r.action] = r.rule
	}
	for from, failed := range t.Failure {
		t.Rules[from][EventFailed] = to(failed)
		t.Rules[from][EventDeadlineExpired] = to(failed)
	}
	return t
}

// Clone returns a deep copy of t, to modify without affecting t.
func (t Table) Clone() Table {
	c := Table{
		Rules:   make(map[Status]map[Action]Rule, len(t.Rules)),
		Actions: maps.Clone(t.Actions),
		Failure: maps.Clone(t.Failure),
	}
	for s, rules := range t.Rules {
		m := make(map[Action]Rule, len(rules))
		for a, r := range rules {
			r.RestoreOnly = slices.Clone(r.RestoreOnly)
			m[a] = r
		}
		c.Rules[s] = m
	}
	return c
}

// Validate checks that the table only names defined statuses, that every
// action it uses has ActionInfo, and that every rule has a target. Call it
// after modifying a table.
func (t Table) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("lifecycle: table: "+format, args...))
	}
	for _, from := range slices.Sorted(maps.Keys(t.Rules)) {
		if !from.Valid() {
			bad("rules from undefined status %q: remove them or use one of %v", from, Statuses())
		}
		rules := t.Rules[from]
		for _, a := range slices.Sorted(maps.Keys(rules)) {
			r := rules[a]
			if _, ok := t.Actions[a]; !ok {
				bad("%s/%s: action %q has no entry in Actions: add one", from, a, a)
			}
			if !r.To.Valid() {
				bad("%s/%s: target %q is not a status: use one of %v", from, a, r.To, Statuses())
			}
			if r.EraseTo != "" && !r.EraseTo.Valid() {
				bad("%s/%s: erase target %q is not a status", from, a, r.EraseTo)
			}
			for _, s := range r.RestoreOnly {
				if !s.Valid() {
					bad("%s/%s: restore-only status %q is not a status", from, a, s)
				}
			}
			if len(r.RestoreOnly) > 0 && !r.Restore {
				bad("%s/%s: RestoreOnly without Restore: set Restore or drop RestoreOnly", from, a)
			}
		}
	}
	for _, from := range slices.Sorted(maps.Keys(t.Failure)) {
		if failed := t.Failure[from]; !from.Valid() || !failed.Valid() {
			bad("failure mapping %q → %q names an undefined status", from, failed)
		}
	}
	return errors.Join(errs...)
}
