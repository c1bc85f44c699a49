package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Schedule holds the operator's maintenance windows. With a path, it keeps
// them in a JSON file (written atomically), so that a new binary taking
// over from the old one knows the windows the old one announced.
type Schedule struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	windows []pw.MaintenanceWindow // by start
}

// NewSchedule returns a schedule kept in path ("" for memory only) and
// loads the windows already there.
func NewSchedule(path string, now func() time.Time) (*Schedule, error) {
	if now == nil {
		now = time.Now
	}
	s := &Schedule{path: path, now: now}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the maintenance schedule: %w", err)
	}
	if err := json.Unmarshal(b, &s.windows); err != nil {
		return nil, fmt.Errorf("reading the maintenance schedule %s: %w", path, err)
	}
	return s, nil
}

// Add schedules a window: invalid_request, limit_exceeded.
func (s *Schedule) Add(req pw.MaintenanceCreate) (*pw.MaintenanceWindow, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !req.End.After(now) {
		return nil, pw.FieldErrorf("end", pw.EINVALID, "the window has already ended")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	if len(s.windows) >= pw.MaintenanceWindowsMax {
		return nil, pw.Errorf(pw.ELIMIT, "at most %d maintenance windows may be scheduled", pw.MaintenanceWindowsMax)
	}
	w := pw.MaintenanceWindow{ID: pw.NewID(pw.PrefixMaintenance, now), Start: req.Start.UTC(), End: req.End.UTC(),
		ReadOnly: req.ReadOnly, Reason: req.Reason, CreatedAt: now}
	next := append(slices.Clone(s.windows), w)
	slices.SortFunc(next, func(a, b pw.MaintenanceWindow) int { return a.Start.Compare(b.Start) })
	if err := s.save(next); err != nil {
		return nil, err
	}
	s.windows = next
	return &w, nil
}

// Delete cancels a window: not_found.
func (s *Schedule) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.windows, func(w pw.MaintenanceWindow) bool { return w.ID == id })
	if i < 0 {
		return pw.Errorf(pw.ENOTFOUND, "maintenance window %q not found", id)
	}
	next := slices.Delete(slices.Clone(s.windows), i, i+1)
	if err := s.save(next); err != nil {
		return err
	}
	s.windows = next
	return nil
}

// Windows returns the windows that have not ended, by start.
func (s *Schedule) Windows() []pw.MaintenanceWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(s.now())
	return slices.Clone(s.windows)
}

// ReadOnly returns the read-only window in force now, if any, as the
// error that writes answer: maintenance, with Retry until writes are
// accepted again. That is the end of the read-only period, not of the
// window in force: a read-only window that starts at or before the end of
// one in force (abutting or overlapping it) keeps writes refused, and a
// client told to come back at the first one's end would only be refused
// again.
func (s *Schedule) ReadOnly() error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var end time.Time
	for _, w := range s.windows {
		if w.ReadOnly && w.Active(now) && w.End.After(end) {
			end = w.End
		}
	}
	if end.IsZero() {
		return nil
	}
	for _, w := range s.windows { // by start: the chain of read-only windows from now
		if w.Start.After(end) {
			break // so do all that follow
		}
		if w.ReadOnly && w.End.After(end) {
			end = w.End
		}
	}
	return &pw.Error{Code: pw.EMAINTENANCE, Op: "admission.Schedule", Retry: end.Sub(now),
		Message: "the wallet is in scheduled read-only maintenance until " + end.Format(time.RFC3339)}
}

// prune forgets ended windows (in memory; the file follows at the next save).
func (s *Schedule) prune(now time.Time) {
	s.windows = slices.DeleteFunc(s.windows, func(w pw.MaintenanceWindow) bool { return !w.End.After(now) })
}

func (s *Schedule) save(ws []pw.MaintenanceWindow) error {
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(ws, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: "admission.Schedule.save", Message: "cannot write the maintenance schedule", Err: err}
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: "admission.Schedule.save", Message: "cannot write the maintenance schedule", Err: err}
	}
	return nil
}
