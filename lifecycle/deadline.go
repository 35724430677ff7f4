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

// DefaultDeadlines returns a fresh copy of the default deadlines: 30 minutes
// for every in-progress status of the default table, 5 minutes for
// Releasing and ExitingRescueMode.
func DefaultDeadlines() Deadlines {
	d := Deadlines{}
	for s := range defaultFailure() {
		d[s] = DefaultDeadline
	}
	d[Releasing] = ShortDeadline
	d[ExitingRescueMode] = ShortDeadline
	return d
}

// For returns how long a machine may stay in s without a heartbeat; false
// when s has no deadline.
func (d Deadlines) For(s Status) (time.Duration, bool) {
	dur, ok := d[s]
	return dur, ok && dur > 0
}

// Start returns the deadline of a machine that entered s at now; false when
// s has no deadline (store no deadline then).
func (d Deadlines) Start(s Status, now time.Time) (time.Time, bool) {
	dur, ok := d.For(s)
	if !ok {
		return time.Time{}, false
	}
	return now.Add(dur), true
}

// Extend returns the deadline after a heartbeat at time beat from a machine
// in s whose deadline was current: beat plus the status's deadline, never
// earlier than current (a late-delivered heartbeat does not shorten it).
// False when s has no deadline: a heartbeat from a machine not in progress
// changes nothing.
func (d Deadlines) Extend(s Status, current, beat time.Time) (time.Time, bool) {
	next, ok := d.Start(s, beat)
	if !ok {
		return time.Time{}, false
	}
	if next.Before(current) {
		return current, true
	}
	return next, true
}

// Expired reports whether a machine in s with deadline deadline has
// outlived it at now; the region then applies EventDeadlineExpired.
func (d Deadlines) Expired(s Status, deadline, now time.Time) bool {
	_, ok := d.For(s)
	return ok && !deadline.IsZero() && now.After(deadline)
}
