package admission_test

import (
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

// mustSchedule adds a window to s, from start to end after clk's now.
func mustSchedule(t *testing.T, s *admission.Schedule, clk *clock, start, end time.Duration, readOnly bool) *pw.MaintenanceWindow {
	t.Helper()
	w, err := s.Add(pw.MaintenanceCreate{Start: clk.Now().Add(start), End: clk.Now().Add(end), ReadOnly: readOnly})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return w
}

// Retry-After is when a write may succeed: a client sent back at the end of
// the window in force, while a read-only window that overlaps or abuts it
// keeps writes refused, is only refused again (found in review: Retry was
// the end of the window in force).
func TestRetryAfterCoversChainedReadOnlyWindows(t *testing.T) {
	for name, tc := range map[string]struct {
		next [2]time.Duration // the second read-only window, from now
		want time.Duration
	}{
		"overlapping": {next: [2]time.Duration{30 * time.Minute, 2 * time.Hour}, want: 2 * time.Hour},
		"abutting":    {next: [2]time.Duration{time.Hour, 3 * time.Hour}, want: 3 * time.Hour},
		"after a gap": {next: [2]time.Duration{time.Hour + time.Second, 3 * time.Hour}, want: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			s, err := admission.NewSchedule("", clk.Now)
			if err != nil {
				t.Fatal(err)
			}
			mustSchedule(t, s, clk, -time.Minute, time.Hour, true)
			mustSchedule(t, s, clk, tc.next[0], tc.next[1], true)
			mustSchedule(t, s, clk, 30*time.Minute, 5*time.Hour, false) // announced only: writes go on
			err = s.ReadOnly()
			if pw.ErrorCode(err) != pw.EMAINTENANCE {
				t.Fatalf("in a read-only window: %v", err)
			}
			if got := err.(*pw.Error).Retry; got != tc.want {
				t.Fatalf("Retry = %v, want %v", got, tc.want)
			}
			clk.Add(tc.want)
			if err := s.ReadOnly(); err != nil {
				t.Fatalf("at the Retry given, writes are still refused: %v", err)
			}
		})
	}
}
