package admission_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// During a handover two processes serve one data directory and an
// operator's cancel lands on either. Each used to read maintenance.json
// only at start, so the old process went on refusing writes for a window
// the new one had cancelled (found in review). Now each reloads the file
// when it changed: the lists at once, the hot path within
// ScheduleRecheckInterval.
func TestAWindowCancelledThroughOneProcessIsNotEnforcedByTheOther(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maintenance.json")
	clk := newClock()
	oldProc := mustNewSchedule(t, path, clk)
	w := mustSchedule(t, oldProc, clk, -time.Minute, time.Hour, true)
	newProc := mustNewSchedule(t, path, clk) // the new binary starts
	if err := newProc.Delete(w.ID); err != nil {
		t.Fatal(err)
	}
	if ws := oldProc.Windows(); len(ws) != 0 {
		t.Fatalf("the other process still lists the cancelled window: %+v", ws)
	}
	clk.Add(admission.ScheduleRecheckInterval)
	if err := oldProc.ReadOnly(); err != nil {
		t.Fatalf("window %s cancelled, yet the other process still refuses writes: %v", w.ID, err)
	}
	// And the other way: a window scheduled through one is enforced by both.
	mustSchedule(t, newProc, clk, -time.Minute, time.Hour, true)
	clk.Add(admission.ScheduleRecheckInterval)
	if err := oldProc.ReadOnly(); pw.ErrorCode(err) != pw.EMAINTENANCE {
		t.Fatalf("a read-only window scheduled through the other process: %v", err)
	}
}

// Each process used to save its own list over the file, so that a window
// scheduled through one (and acknowledged 201) was lost when the other
// saved (found in review). Add and Delete now read, change and write the
// file under an exclusive lock: none is lost, even when both processes
// schedule at once.
func TestNoWindowIsLostWhenTwoProcessesScheduleAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maintenance.json")
	clk := newClock()
	procs := []*admission.Schedule{mustNewSchedule(t, path, clk), mustNewSchedule(t, path, clk)}
	const each = pw.MaintenanceWindowsMax / 2
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i, s := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				start := clk.Now().Add(time.Duration(i*each+j+1) * time.Hour)
				if _, err := s.Add(pw.MaintenanceCreate{Start: start, End: start.Add(time.Minute)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	next := mustNewSchedule(t, path, clk) // the binary after
	if got := len(next.Windows()); got != 2*each {
		t.Fatalf("maintenance.json has %d windows; %d were acknowledged", got, 2*each)
	}
}

func mustNewSchedule(t *testing.T, path string, clk *clock) *admission.Schedule {
	t.Helper()
	s, err := admission.NewSchedule(path, clk.Now)
	if err != nil {
		t.Fatalf("NewSchedule: %v", err)
	}
	return s
}

// An empty or damaged maintenance.json (left by a crash before the writes
// were synced, or edited by hand) used to stop serve from starting at all
// (found in review). It is moved aside for the operator, and the schedule
// starts with no windows; the next window scheduled writes a new file.
func TestAnUnreadableScheduleIsSetAsideAndTheServerStarts(t *testing.T) {
	for name, content := range map[string]string{"empty": "", "damaged": `[{"id":"mw_1","start":`} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "maintenance.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			clk := newClock()
			s := mustNewSchedule(t, path, clk)
			if ws := s.Windows(); len(ws) != 0 {
				t.Fatalf("windows from an unreadable file: %+v", ws)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("the unreadable file is not kept aside: %v", aside)
			}
			if b, err := os.ReadFile(aside[0]); err != nil || string(b) != content {
				t.Fatalf("the file kept aside: %q, %v", b, err)
			}
			w := mustSchedule(t, s, clk, time.Hour, 2*time.Hour, true)
			if ws := mustNewSchedule(t, path, clk).Windows(); len(ws) != 1 || ws[0].ID != w.ID {
				t.Fatalf("after scheduling again, the file has %+v", ws)
			}
			if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) != 0 {
				t.Fatalf("a temporary file is left: %v", tmp)
			}
		})
	}
}

// A file damaged while the server runs (the server never writes one: its
// writes are synced, then renamed into place) changes nothing in force,
// and the next change starts from the windows last read and keeps the
// damaged file aside.
func TestAScheduleDamagedWhileServingKeepsTheWindowsLastRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maintenance.json")
	clk := newClock()
	s := mustNewSchedule(t, path, clk)
	w := mustSchedule(t, s, clk, -time.Minute, time.Hour, true)
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Add(admission.ScheduleRecheckInterval)
	if err := s.ReadOnly(); pw.ErrorCode(err) != pw.EMAINTENANCE {
		t.Fatalf("the window in force, after the file was damaged: %v", err)
	}
	mustSchedule(t, s, clk, time.Hour, 2*time.Hour, false)
	if ws := mustNewSchedule(t, path, clk).Windows(); len(ws) != 2 || ws[0].ID != w.ID {
		t.Fatalf("after a change, the file has %+v", ws)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("the damaged file is not kept aside: %v", aside)
	}
}

// A window in year 9999 was accepted (found in review): a typo in the year
// that would hold one of the MaintenanceWindowsMax places for ever.
func TestAWindowStartsWithinTheHorizon(t *testing.T) {
	clk := newClock()
	s := mustNewSchedule(t, "", clk)
	start := clk.Now().Add(pw.MaintenanceHorizonMax + time.Second)
	_, err := s.Add(pw.MaintenanceCreate{Start: start, End: start.Add(time.Hour)})
	if pe, ok := err.(*pw.Error); !ok || pe.Code != pw.EINVALID || pe.Field != "start" {
		t.Fatalf("a window starting past the horizon: %v", err)
	}
	mustSchedule(t, s, clk, pw.MaintenanceHorizonMax, pw.MaintenanceHorizonMax+time.Hour, false)
}

// A window is announced before it begins: a start in the past was accepted
// (found in the review of 2026-11-29), and a window could be in force
// before /v1/status had shown it. A start up to pw.MaintenanceStartSkewMax
// in the past is "now" (the operator's clock, the request's way and its
// retries) and is recorded as the moment it was scheduled; an earlier one
// is refused on its start, and nothing is scheduled.
func TestAWindowDoesNotStartBeforeItIsAnnounced(t *testing.T) {
	clk := newClock()
	s := mustNewSchedule(t, "", clk)
	start := clk.Now().Add(-pw.MaintenanceStartSkewMax - time.Second)
	_, err := s.Add(pw.MaintenanceCreate{Start: start, End: clk.Now().Add(time.Hour), ReadOnly: true})
	if pe, ok := err.(*pw.Error); !ok || pe.Code != pw.EINVALID || pe.Field != "start" {
		t.Fatalf("a window starting %s ago: %v", pw.MaintenanceStartSkewMax+time.Second, err)
	}
	if ws := s.Windows(); len(ws) != 0 || s.ReadOnly() != nil {
		t.Fatalf("a refused window was scheduled: %+v", ws)
	}
	for _, ago := range []time.Duration{pw.MaintenanceStartSkewMax, time.Second, 0} {
		w := mustSchedule(t, s, clk, -ago, time.Hour, true)
		if !w.Start.Equal(clk.Now()) || !w.Start.Equal(w.CreatedAt) {
			t.Errorf("a window asked to start %s ago starts at %s, scheduled at %s; want it to start as it is announced (%s)",
				ago, w.Start, w.CreatedAt, clk.Now())
		}
		if !w.End.Equal(clk.Now().Add(time.Hour)) {
			t.Errorf("its end moved: %s", w.End)
		}
	}
}

// TestAScheduleChangeDoesNotWaitForeverForTheLock: another process holds
// the schedule file's lock (stopped while it wrote the file): a change
// here is refused unavailable after ScheduleLockWait, not held for as long
// as the lock is (until 2026-11-29 it waited for good, and with it the
// admin's request); once the lock is free, the change is made.
func TestAScheduleChangeDoesNotWaitForeverForTheLock(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "maintenance.json")
	s, err := admission.NewSchedule(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600) // another open file: excluded as another process is
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	req := pw.MaintenanceCreate{Start: clk.Now().Add(time.Hour), End: clk.Now().Add(2 * time.Hour)}
	began := time.Now()
	_, err = s.Add(req)
	took := time.Since(began)
	if pw.ErrorCode(err) != pw.EUNAVAILABLE || took < admission.ScheduleLockWait || took > admission.ScheduleLockWait+3*time.Second {
		t.Fatalf("a change while another holds the lock: %v after %v; want unavailable after %v", err, took, admission.ScheduleLockWait)
	}
	if err := unix.Flock(int(other.Fd()), unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(req); err != nil {
		t.Fatalf("a change once the lock is free: %v", err)
	}
	if n := len(s.Windows()); n != 1 {
		t.Fatalf("%d windows, want the one added once the lock was free", n)
	}
}
