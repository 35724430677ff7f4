package api

import (
	"testing"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
)

func TestBuildTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	m := Machine{SystemID: "abc123", Hostname: "sim-001", Status: lifecycle.Deployed}
	// Newest first, as ListEvents returns them; two share a timestamp.
	evs := []Event{
		{ID: 7, Type: "deployment-done", FromStatus: lifecycle.Deploying, ToStatus: lifecycle.Deployed, Created: at(30)},
		{ID: 6, Type: "installed", Created: at(25), Message: "wrote 1 MiB"},
		{ID: 5, Type: "deploy", FromStatus: lifecycle.Allocated, ToStatus: lifecycle.Deploying, Created: at(20)},
		{ID: 4, Type: "allocate", FromStatus: lifecycle.Ready, ToStatus: lifecycle.Allocated, Created: at(20)},
		{ID: 3, Type: "commissioning-done", FromStatus: lifecycle.Commissioning, ToStatus: lifecycle.Ready, Created: at(12)},
		{ID: 2, Type: "commission", FromStatus: lifecycle.New, ToStatus: lifecycle.Commissioning, Created: at(2)},
		{ID: 1, Type: "created", ToStatus: lifecycle.New, Created: at(0)},
	}
	tl := BuildTimeline(m, evs, at(40))
	type phase struct {
		st    lifecycle.Status
		dur   float64
		steps int
		open  bool
	}
	want := []phase{
		{lifecycle.New, 2, 1, false},
		{lifecycle.Commissioning, 10, 1, false},
		{lifecycle.Ready, 8, 1, false},
		{lifecycle.Allocated, 0, 1, false},
		{lifecycle.Deploying, 10, 2, false},
		{lifecycle.Deployed, 10, 1, true},
	}
	if len(tl.Phases) != len(want) {
		t.Fatalf("got %d phases %+v, want %d", len(tl.Phases), tl.Phases, len(want))
	}
	for i, w := range want {
		p := tl.Phases[i]
		if p.Status != w.st || p.DurationSeconds != w.dur || len(p.Steps) != w.steps || (p.End == nil) != w.open {
			t.Errorf("phase %d = %s %.1fs %d steps open=%v, want %+v", i, p.Status, p.DurationSeconds, len(p.Steps), p.End == nil, w)
		}
	}
	if s := tl.Phases[4].Steps[1]; s.Type != "installed" || s.OffsetSeconds != 5 || s.Message != "wrote 1 MiB" {
		t.Errorf("installed step: %+v", s)
	}
	if tl.TotalSeconds != 40 || tl.SystemID != "abc123" || tl.Status != lifecycle.Deployed {
		t.Errorf("timeline: total %v id %s status %s", tl.TotalSeconds, tl.SystemID, tl.Status)
	}
	if empty := BuildTimeline(m, nil, at(1)); len(empty.Phases) != 0 || empty.TotalSeconds != 0 {
		t.Errorf("no events: %+v", empty)
	}
}
