package lifecycle

import "time"

// Default deadlines of in-progress statuses.
const (
	// DefaultDeadline applies to every in-progress status not listed otherwise.
	DefaultDeadline = 30 * time.Minute
	// ShortDeadline applies to Releasing and ExitingRescueMode.
	ShortDeadline = 5 * time.Minute
)

// Deadlines maps an in-progress status to how long a machine may stay in it
// without a heartbeat before EventDeadlineExpired moves it to its Failed
// status. DefaultDeadlines returns a fresh copy a caller may change.
type Deadlines map[Status]time.Duration
