package lifecycle

import (
	"slices"
	"sync"
)

// defaultTable is built once and never modified; Apply and the other
// package-level functions read it.
var defaultTable = sync.OnceValue(DefaultTable)

// Apply applies action a to a machine in state s using the default table.
// See Table.Apply.
func Apply(s State, a Action, o Options) (State, error) { return defaultTable().Apply(s, a, o) }

// Allowed returns the actions the caller may apply to s with the default
// table. See Table.Allowed.
func Allowed(s State, o Options) []Action { return defaultTable().Allowed(s, o) }

// IsInProgress reports whether s is an in-progress status of the default
// table (one with a Failed status and a deadline).
func IsInProgress(s Status) bool { return defaultTable().IsInProgress(s) }

// FailedStatus returns the Failed status an in-progress status maps to in
// the default table.
func FailedStatus(s Status) (Status, bool) { return defaultTable().FailedStatus(s) }

// IsFailed reports whether s is the Failed status of some in-progress status
// in the default table.
func IsFailed(s Status) bool { return defaultTable().IsFailed(s) }

// Apply returns the state a machine in state s reaches by action a, or a
// *TransitionError wrapping ErrInvalidTransition (a is not valid in
// s.Status, or a is an internal event and o.System is false),
// ErrAdminRequired, or ErrLocked. Apply never modifies t or s.
//
// Previous-status memory: a rule with Remember records s.Status as the new
// Previous; a rule with Restore moves to s.Previous (when allowed by
// RestoreOnly, else to the rule's To) and clears Previous.
func (t Table) Apply(s State, a Action, o Options) (State, error) {
	info, known := t.Actions[a]
	rule, ok := t.Rules[s.Status][a]
	if !known || !ok || (info.Internal && !o.System) {
		return s, t.errorFor(s, a, o, ErrInvalidTransition)
	}
	if info.Admin && !o.Admin && !o.System {
		return s, t.errorFor(s, a, o, ErrAdminRequired)
	}
	if s.Locked && (info.RefusedWhenLocked || rule.Lock == LockSet) {
		return s, t.errorFor(s, a, o, ErrLocked)
	}
	if rule.Lock == LockClear && !s.Locked {
		return s, t.errorFor(s, a, o, ErrInvalidTransition)
	}

	next := s
	next.Status = rule.To
	if o.Erase && rule.EraseTo != "" {
		next.Status = rule.EraseTo
	}
	if rule.Restore {
		if s.Previous != "" && (len(rule.RestoreOnly) == 0 || slices.Contains(rule.RestoreOnly, s.Previous)) {
			next.Status = s.Previous
		}
		next.Previous = ""
	}
	if rule.Remember {
		next.Previous = s.Status
	}
	switch rule.Lock {
	case LockSet:
		next.Locked = true
	case LockClear:
		next.Locked = false
	}
	return next, nil
}

// Allowed returns, sorted by name, the actions the caller described by o may
// apply to s: the user actions with a rule for s.Status (internal events too
// when o.System), minus admin actions for non-admins, minus actions a locked
// machine refuses, minus lock on a locked and unlock on an unlocked machine.
func (t Table) Allowed(s State, o Options) []Action {
	var out []Action
	for a, rule := range t.Rules[s.Status] {
		info, ok := t.Actions[a]
		switch {
		case !ok,
			info.Internal && !o.System,
			info.Admin && !o.Admin && !o.System,
			s.Locked && (info.RefusedWhenLocked || rule.Lock == LockSet),
			!s.Locked && rule.Lock == LockClear:
			continue
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// IsInProgress reports whether s is an in-progress status: one that has a
// Failed status in t.Failure (and so a deadline).
func (t Table) IsInProgress(s Status) bool {
	_, ok := t.Failure[s]
	return ok
}

// FailedStatus returns the Failed status of in-progress status s.
func (t Table) FailedStatus(s Status) (Status, bool) {
	f, ok := t.Failure[s]
	return f, ok
}

// IsFailed reports whether s is the Failed status of an in-progress status.
func (t Table) IsFailed(s Status) bool {
	for _, f := range t.Failure {
		if f == s {
			return true
		}
	}
	return false
}

func (t Table) errorFor(s State, a Action, o Options, sentinel error) error {
	return &TransitionError{
		Status:  s.Status,
		Action:  a,
		Locked:  s.Locked,
		Allowed: t.Allowed(s, o),
		Err:     sentinel,
	}
}
