package images

import (
	"fmt"
	"strings"
	"time"
)

// Window is a daily period during which scheduled syncs may run, in wall
// clock time of Location: "04:00-05:00", or across midnight "23:30-01:00".
// A transfer still running when the window closes is stopped and resumes
// at the next opening. Manual syncs (Cache.SyncNow) ignore the window.
type Window struct {
	Start, End time.Duration // offsets from midnight, wall clock, in [0, 24h)
	Location   *time.Location
}

// ParseWindow parses "HH:MM-HH:MM" (seconds optional: "HH:MM:SS").
// A nil loc means UTC.
func ParseWindow(s string, loc *time.Location) (Window, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Window{}, fmt.Errorf("%w: sync window %q; write it as HH:MM-HH:MM, e.g. 04:00-05:00", ErrInvalid, s)
	}
	start, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return Window{}, fmt.Errorf("%w: sync window %q: start: %v", ErrInvalid, s, err)
	}
	end, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return Window{}, fmt.Errorf("%w: sync window %q: end: %v", ErrInvalid, s, err)
	}
	w := Window{Start: start, End: end, Location: loc}
	return w, w.Validate()
}

func parseClock(s string) (time.Duration, error) {
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second, nil
		}
	}
	return 0, fmt.Errorf("%q is not HH:MM or HH:MM:SS", s)
}

// Validate checks the bounds.
func (w Window) Validate() error {
	day := 24 * time.Hour
	if w.Start < 0 || w.Start >= day || w.End < 0 || w.End >= day {
		return fmt.Errorf("%w: sync window bounds %v-%v must be within a day", ErrInvalid, w.Start, w.End)
	}
	if w.Start == w.End {
		return fmt.Errorf("%w: sync window opens and closes at the same time (%v); leave the window unset to sync at any time", ErrInvalid, w.Start)
	}
	return nil
}

func (w Window) loc() *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// at returns the wall-clock time offset d on the day y-m-d (d may exceed
// the month; time.Date normalises).
func at(y int, m time.Month, day int, off time.Duration, loc *time.Location) time.Time {
	h := int(off / time.Hour)
	mi := int(off % time.Hour / time.Minute)
	s := int(off % time.Minute / time.Second)
	return time.Date(y, m, day, h, mi, s, 0, loc)
}

// Bounds returns the occurrence of the window that contains t (opens <= t <
// closes), or else the next one (t < opens).
func (w Window) Bounds(t time.Time) (opens, closes time.Time) {
	loc := w.loc()
	y, m, d := t.In(loc).Date()
	for off := -1; off <= 2; off++ {
		o := at(y, m, d+off, w.Start, loc)
		endDay := d + off
		if w.End <= w.Start {
			endDay++
		}
		c := at(y, m, endDay, w.End, loc)
		if c.After(t) {
			return o, c
		}
	}
	panic("unreachable: a daily window always has an occurrence within two days")
}

// Contains reports whether the window is open at t.
func (w Window) Contains(t time.Time) bool {
	o, _ := w.Bounds(t)
	return !t.Before(o)
}

func (w Window) String() string {
	f := func(d time.Duration) string {
		s := fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
		if sec := int(d % time.Minute / time.Second); sec != 0 {
			s += fmt.Sprintf(":%02d", sec)
		}
		return s
	}
	return f(w.Start) + "-" + f(w.End)
}
