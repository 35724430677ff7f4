package api

import (
	"slices"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
)

// Timeline is a machine's provisioning history as status phases, built
// from its events (GET /api/v1/machines/{system_id}/timeline).
type Timeline struct {
	SystemID string           `json:"system_id"`
	Hostname string           `json:"hostname"`
	Status   lifecycle.Status `json:"status"`
	Phases   []TimelinePhase  `json:"phases"`
	// TotalSeconds is from the first event to the end of the last phase
	// (now for the current one).
	TotalSeconds float64 `json:"total_seconds"`
}

// TimelinePhase is one stay in a status.
type TimelinePhase struct {
	Status lifecycle.Status `json:"status"`
	Start  time.Time        `json:"start"`
	// End is when the machine left the status; absent for the current one.
	End             *time.Time `json:"end,omitempty"`
	DurationSeconds float64    `json:"duration_seconds"`
	// Steps are the events within the phase, the one that entered it first.
	Steps []TimelineStep `json:"steps"`
}

// TimelineStep is one event of a phase.
type TimelineStep struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	// OffsetSeconds is the time since the phase started.
	OffsetSeconds float64 `json:"offset_seconds"`
	Actor         string  `json:"actor,omitempty"`
	Message       string  `json:"message,omitempty"`
}

// BuildTimeline turns a machine's events (any order) into phases: an event
// with a to_status different from the current one starts a phase; every
// other event is a step of the current phase. The last phase is open and
// measured up to now. It is a pure function.
func BuildTimeline(m Machine, events []Event, now time.Time) Timeline {
	evs := slices.Clone(events)
	slices.SortStableFunc(evs, func(a, b Event) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return compareInt(a.ID, b.ID)
	})
	t := Timeline{SystemID: m.SystemID, Hostname: m.Hostname, Status: m.Status, Phases: []TimelinePhase{}}
	for _, e := range evs {
		cur := len(t.Phases) - 1
		if cur < 0 || (e.ToStatus != "" && e.ToStatus != t.Phases[cur].Status) {
			if cur >= 0 {
				end := e.Created
				t.Phases[cur].End = &end
				t.Phases[cur].DurationSeconds = end.Sub(t.Phases[cur].Start).Seconds()
			}
			st := e.ToStatus
			if st == "" {
				st = e.FromStatus
			}
			t.Phases = append(t.Phases, TimelinePhase{Status: st, Start: e.Created, Steps: []TimelineStep{}})
			cur++
		}
		p := &t.Phases[cur]
		p.Steps = append(p.Steps, TimelineStep{Type: e.Type, At: e.Created, OffsetSeconds: e.Created.Sub(p.Start).Seconds(),
			Actor: e.Actor, Message: e.Message})
	}
	if n := len(t.Phases); n > 0 {
		last := &t.Phases[n-1]
		last.DurationSeconds = max(0, now.Sub(last.Start).Seconds())
		t.TotalSeconds = max(0, now.Sub(t.Phases[0].Start).Seconds())
	}
	return t
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Server) machineTimeline(r *Request) (any, error) {
	m, err := s.visibleMachine(r)
	if err != nil {
		return nil, err
	}
	evs, err := s.cfg.Backend.Events.ListEvents(r.Context(), EventQuery{SystemID: m.SystemID, Limit: MaxPageSize})
	if err != nil {
		return nil, err
	}
	return BuildTimeline(m, evs, time.Now()), nil
}
