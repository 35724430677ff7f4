package lifecycle

import (
	"testing"
	"time"
)

func TestDefaultDeadlines(t *testing.T) {
	d := DefaultDeadlines()
	for _, s := range Statuses() {
		got, ok := d.For(s)
		want := time.Duration(0)
		switch {
		case s == Releasing || s == ExitingRescueMode:
			want = 5 * time.Minute
		case IsInProgress(s):
			want = 30 * time.Minute
		}
		if ok != (want > 0) || got != want {
			t.Errorf("For(%s) = %v, %v; want %v", s, got, ok, want)
		}
	}
}

func TestDeadlineHeartbeat(t *testing.T) {
	d := DefaultDeadlines()
	d[Deploying] = 40 * time.Minute // configurable, as MAAS's 40-minute deploy
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

	start, ok := d.Start(Deploying, t0)
	if !ok || !start.Equal(t0.Add(40*time.Minute)) {
		t.Fatalf("Start = %v, %v", start, ok)
	}
	tests := []struct {
		name    string
		status  Status
		current time.Time
		beat    time.Time
		want    time.Time
		wantOK  bool
	}{
		{"a heartbeat pushes the deadline", Deploying, start, t0.Add(10 * time.Minute), t0.Add(50 * time.Minute), true},
		{"a stale heartbeat never shortens it", Deploying, start, t0.Add(-5 * time.Minute), start, true},
		{"releasing extends by 5 minutes", Releasing, t0.Add(5 * time.Minute), t0.Add(4 * time.Minute), t0.Add(9 * time.Minute), true},
		{"no deadline outside in-progress statuses", Deployed, time.Time{}, t0, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := d.Extend(tt.status, tt.current, tt.beat)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("Extend = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if d.Expired(Deploying, start, start) || !d.Expired(Deploying, start, start.Add(time.Second)) {
		t.Error("Expired is wrong around the deadline")
	}
	if d.Expired(Deployed, start, start.Add(time.Hour)) {
		t.Error("a deployed machine expired")
	}
	if DefaultDeadlines()[Deploying] != DefaultDeadline {
		t.Error("changing a copy changed the defaults")
	}
	delete(d, Testing)
	if _, ok := d.Start(Testing, t0); ok {
		t.Error("a removed deadline still applies")
	}
}
