package lifecycle

import "errors"

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
