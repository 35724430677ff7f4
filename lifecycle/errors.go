package lifecycle

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; every error Apply returns is a *TransitionError wrapping
// exactly one of them.
var (
	// ErrInvalidTransition: the action is not valid in the machine's status.
	ErrInvalidTransition = errors.New("invalid transition")
	// ErrLocked: the machine is locked and the action would change it.
	ErrLocked = errors.New("machine is locked")
	// ErrAdminRequired: the action needs an administrator.
	ErrAdminRequired = errors.New("action requires an administrator")
)

// TransitionError names the status, the action and the actions allowed from
// there (sorted), and wraps ErrInvalidTransition, ErrLocked or
// ErrAdminRequired.
type TransitionError struct {
	Status  Status
	Action  Action
	Locked  bool
	Allowed []Action
	Err     error
}

// Error names the status, the action, what is wrong and what the caller may
// do instead.
func (e *TransitionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lifecycle: cannot %s a machine in status %s", e.Action, e.Status.Title())
	if e.Locked {
		b.WriteString(" (locked)")
	}
	switch {
	case errors.Is(e.Err, ErrAdminRequired):
		fmt.Fprintf(&b, ": %s needs an administrator", e.Action)
	case errors.Is(e.Err, ErrLocked):
		b.WriteString(": the machine is locked; unlock it first")
	default:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.Allowed) == 0 {
		fmt.Fprintf(&b, "; no action is allowed from %s", e.Status.Title())
	} else {
		names := make([]string, len(e.Allowed))
		for i, a := range e.Allowed {
			names[i] = string(a)
		}
		fmt.Fprintf(&b, "; allowed from %s: %s", e.Status.Title(), strings.Join(names, ", "))
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *TransitionError) Unwrap() error { return e.Err }
