package images

import (
	"errors"
	"testing"
	"time"
)

func TestWindowBounds(t *testing.T) {
	utc := time.UTC
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("skipping: no tzdata for Europe/Paris: %v", err)
	}
	d := func(s string, loc *time.Location) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name         string
		window       string
		loc          *time.Location
		now          string
		open         bool
		opens, close string
	}{
		{"before", "04:00-05:00", utc, "2026-01-10 03:59:59", false, "2026-01-10 04:00:00", "2026-01-10 05:00:00"},
		{"at opening", "04:00-05:00", utc, "2026-01-10 04:00:00", true, "2026-01-10 04:00:00", "2026-01-10 05:00:00"},
		{"inside", "04:00-05:00", utc, "2026-01-10 04:30:00", true, "2026-01-10 04:00:00", "2026-01-10 05:00:00"},
		{"at closing is outside", "04:00-05:00", utc, "2026-01-10 05:00:00", false, "2026-01-11 04:00:00", "2026-01-11 05:00:00"},
		{"after", "04:00-05:00", utc, "2026-01-10 23:00:00", false, "2026-01-11 04:00:00", "2026-01-11 05:00:00"},
		{"across midnight, late", "23:30-01:00", utc, "2026-01-10 23:45:00", true, "2026-01-10 23:30:00", "2026-01-11 01:00:00"},
		{"across midnight, early", "23:30-01:00", utc, "2026-01-11 00:30:00", true, "2026-01-10 23:30:00", "2026-01-11 01:00:00"},
		{"across midnight, outside", "23:30-01:00", utc, "2026-01-11 12:00:00", false, "2026-01-11 23:30:00", "2026-01-12 01:00:00"},
		{"month end", "04:00-05:00", utc, "2026-01-31 06:00:00", false, "2026-02-01 04:00:00", "2026-02-01 05:00:00"},
		{"seconds", "04:00:10-04:00:20", utc, "2026-01-10 04:00:15", true, "2026-01-10 04:00:10", "2026-01-10 04:00:20"},
		// 2026-03-29 02:00 Paris clocks jump to 03:00: wall clock is kept.
		{"DST spring forward", "04:00-05:00", paris, "2026-03-29 01:00:00", false, "2026-03-29 04:00:00", "2026-03-29 05:00:00"},
		{"local zone", "04:00-05:00", paris, "2026-07-01 04:10:00", true, "2026-07-01 04:00:00", "2026-07-01 05:00:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWindow(tc.window, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			now := d(tc.now, tc.loc)
			if got := w.Contains(now); got != tc.open {
				t.Errorf("Contains(%s) = %v, want %v", tc.now, got, tc.open)
			}
			o, c := w.Bounds(now)
			if !o.Equal(d(tc.opens, tc.loc)) || !c.Equal(d(tc.close, tc.loc)) {
				t.Errorf("Bounds(%s) = %s..%s, want %s..%s", tc.now, o, c, tc.opens, tc.close)
			}
		})
	}
}

func TestParseWindowErrors(t *testing.T) {
	for _, s := range []string{"", "04:00", "04:00-04:00", "25:00-01:00", "4-5", "04:00-xx"} {
		if _, err := ParseWindow(s, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWindow(%q) error = %v, want ErrInvalid", s, err)
		}
	}
	w, err := ParseWindow(" 04:00 - 05:30 ", nil)
	if err != nil || w.String() != "04:00-05:30" {
		t.Errorf("ParseWindow = %v, %v; want 04:00-05:30", w, err)
	}
}
