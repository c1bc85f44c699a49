package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	pw "github.com/peakwallet/peakwallet"
)

// Schedule holds the operator's maintenance windows. With a path, it keeps
// them in a JSON file (synced, then renamed into place), so that a new
// binary taking over from the old one knows the windows the old one
// announced.
//
// During a handover two processes serve one data directory, and an
// operator's change may land on either. So the file, not memory, is the
// truth: Add and Delete read it, change it and write it back under an
// exclusive lock (flock on path+".lock"), so that neither loses the
// other's change, and each process reloads the file when it has changed
// (see ScheduleRecheckInterval), so that a window cancelled through one is
// no longer enforced by the other.
type Schedule struct {
	path string
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	windows []pw.MaintenanceWindow // by start
	seen    os.FileInfo            // the file the windows were read from (nil: none)
	checked time.Time              // when the file was last looked at
}

// ScheduleRecheckInterval bounds how long a process goes on with windows
// another process has changed in the file. ReadOnly is on the path of
// every request that moves money, so it looks at the file (one stat) at
// most this often, and reads it only when its modification time, size or
// identity changed; Windows (the lists and the status page, off that path)
// looks every time.
const ScheduleRecheckInterval = 500 * time.Millisecond

// NewSchedule returns a schedule kept in path ("" for memory only) and
// loads the windows already there.
func NewSchedule(path string, now func() time.Time) (*Schedule, error) {
	return NewScheduleLogged(path, now, nil)
}

// NewScheduleLogged is NewSchedule with the logger that says when the file
// could not be read (slog.Default() when nil): serve's, so that the error
// reaches its log in its format.
func NewScheduleLogged(path string, now func() time.Time, log *slog.Logger) (*Schedule, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Schedule{path: path, now: now, log: log}
	if path == "" {
		return s, nil
	}
	ws, info, err := readSchedule(path)
	if errors.Is(err, errScheduleUnreadable) {
		// A file the server cannot read must not keep it from starting:
		// that would turn a damaged file (edited by hand, or left empty by
		// a crash on a file system that lost its data) into an outage.
		// The file is kept aside for the operator, loudly, and the server
		// starts with no windows.
		aside, aerr := setAside(path, now())
		if aerr != nil {
			return nil, fmt.Errorf("%w (and it cannot be moved aside: %v)", err, aerr)
		}
		s.log.Error("the maintenance schedule cannot be read: moved aside, starting with no maintenance windows; reschedule them",
			"file", path, "moved_to", aside, "err", err)
		ws, info, err = nil, nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.windows, s.seen, s.checked = ws, info, now()
	return s, nil
}

// errScheduleUnreadable marks a schedule file whose content is not a list
// of windows (as opposed to one that cannot be read at all).
var errScheduleUnreadable = errors.New("not a list of maintenance windows")

// setAside renames an unreadable schedule file to path.corrupt-<time>.
func setAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + now.UTC().Format("20060102T150405.000000000Z")
	return aside, os.Rename(path, aside)
}

// readSchedule reads the windows in path, by start, and the file's
// information as it was read (nil when there is no file).
func readSchedule(path string) ([]pw.MaintenanceWindow, os.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the maintenance schedule: %w", err)
	}
	defer f.Close()
	info, err := f.Stat() // of the file read, even if another is renamed in meanwhile
	if err != nil {
		return nil, nil, fmt.Errorf("reading the maintenance schedule: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, ScheduleFileBytesMax+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the maintenance schedule: %w", err)
	}
	var ws []pw.MaintenanceWindow
	if len(b) > ScheduleFileBytesMax {
		return nil, info, fmt.Errorf("reading the maintenance schedule %s: %w: longer than %d bytes", path, errScheduleUnreadable, ScheduleFileBytesMax)
	}
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, info, fmt.Errorf("reading the maintenance schedule %s: %w: %w", path, errScheduleUnreadable, err)
	}
	sortByStart(ws)
	return ws, info, nil
}

// ScheduleFileBytesMax bounds the maintenance.json read: at most
// MaintenanceWindowsMax windows are written, under 250 KiB even with every
// byte of every reason escaped, so a larger file is not one of ours.
const ScheduleFileBytesMax = 1 << 20

func sortByStart(ws []pw.MaintenanceWindow) {
	slices.SortStableFunc(ws, func(a, b pw.MaintenanceWindow) int { return a.Start.Compare(b.Start) })
}

// Add schedules a window: invalid_request (see MaintenanceCreate.Validate;
// also a window that has ended, starts more than MaintenanceStartSkewMax
// in the past, or more than MaintenanceHorizonMax ahead), limit_exceeded.
// A start within MaintenanceStartSkewMax in the past is "now": the window
// starts as it is scheduled, so it is announced before it is in force.
func (s *Schedule) Add(req pw.MaintenanceCreate) (*pw.MaintenanceWindow, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !req.End.After(now) {
		return nil, pw.FieldErrorf("end", pw.EINVALID, "the window has already ended")
	}
	if ago := now.Sub(req.Start); ago > pw.MaintenanceStartSkewMax {
		return nil, pw.FieldErrorf("start", pw.EINVALID,
			"the window's start is %s in the past: a window is announced before it begins; give a start from now on (a start up to %s ago is taken as now)",
			ago.Round(time.Second), pw.MaintenanceStartSkewMax)
	}
	if req.Start.Sub(now) > pw.MaintenanceHorizonMax {
		return nil, pw.FieldErrorf("start", pw.EINVALID, "a window starts at most %d days ahead", pw.MaintenanceHorizonMax/(24*time.Hour))
	}
	start := req.Start.UTC()
	if start.Before(now) {
		start = now
	}
	w := pw.MaintenanceWindow{ID: pw.NewID(pw.PrefixMaintenance, now), Start: start, End: req.End.UTC(),
		ReadOnly: req.ReadOnly, Reason: req.Reason, CreatedAt: now}
	err := s.change(func(ws []pw.MaintenanceWindow) ([]pw.MaintenanceWindow, error) {
		if len(ws) >= pw.MaintenanceWindowsMax {
			return nil, pw.Errorf(pw.ELIMIT, "at most %d maintenance windows may be scheduled", pw.MaintenanceWindowsMax)
		}
		next := append(ws, w)
		sortByStart(next)
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// Delete cancels a window: not_found.
func (s *Schedule) Delete(id string) error {
	return s.change(func(ws []pw.MaintenanceWindow) ([]pw.MaintenanceWindow, error) {
		i := slices.IndexFunc(ws, func(w pw.MaintenanceWindow) bool { return w.ID == id })
		if i < 0 {
			return nil, pw.Errorf(pw.ENOTFOUND, "maintenance window %q not found", id)
		}
		return slices.Delete(ws, i, i+1), nil
	})
}

// change applies edit to the windows that have not ended, as the file has
// them, and saves the result: with a path, under the file's lock, so that
// another process's change made meanwhile is neither lost nor undone.
func (s *Schedule) change(edit func([]pw.MaintenanceWindow) ([]pw.MaintenanceWindow, error)) error {
	if s.path == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		next, err := edit(unended(slices.Clone(s.windows), s.now()))
		if err == nil {
			s.windows = next
		}
		return err
	}
	unlock, err := lockFile(s.path+".lock", ScheduleLockWait)
	if err != nil {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: "admission.Schedule.change", Message: "cannot lock the maintenance schedule", Err: err}
	}
	defer unlock()
	cannotRead := func(err error) error {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: "admission.Schedule.change", Message: "cannot read the maintenance schedule", Err: err}
	}
	ws, _, err := readSchedule(s.path)
	if errors.Is(err, errScheduleUnreadable) {
		// Damaged since this process last read it: keep it aside and go on
		// from the windows this process last read.
		aside, aerr := setAside(s.path, s.now())
		if aerr != nil {
			return cannotRead(err)
		}
		s.log.Error("the maintenance schedule cannot be read: moved aside, going on from the windows this process last read",
			"file", s.path, "moved_to", aside, "err", err)
		s.mu.Lock()
		ws, err = slices.Clone(s.windows), nil
		s.mu.Unlock()
	}
	if err != nil {
		return cannotRead(err)
	}
	next, err := edit(unended(ws, s.now()))
	if err != nil {
		return err
	}
	info, err := s.save(next)
	if err != nil {
		return err
	}
	// Still under the file's lock: no other process can have replaced the
	// file since, so what was written is what info describes.
	s.mu.Lock()
	s.windows, s.seen, s.checked = next, info, s.now()
	s.mu.Unlock()
	return nil
}

// ScheduleLockWait bounds the wait for the schedule file's lock. Another
// process holds it only while it writes the file (a few milliseconds); one
// stopped as it did (SIGSTOP, a debugger) held every schedule change of
// every other process, and the admin's request, until 2026-11-29 (found in
// review): such a change is now refused unavailable after this wait
// (TestAScheduleChangeDoesNotWaitForeverForTheLock).
const ScheduleLockWait = 5 * time.Second

// scheduleLockPoll is how often the lock is tried again within the wait.
const scheduleLockPoll = 10 * time.Millisecond

// lockFile takes an exclusive lock on path (created if need be), waiting
// for it at most wait; unlock releases it.
func lockFile(path string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err = flock(f, unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) || !time.Now().Before(deadline) {
			break
		}
		time.Sleep(scheduleLockPoll)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			err = fmt.Errorf("another process has held %s for more than %v", path, wait)
		}
		return nil, err
	}
	return func() {
		_ = flock(f, unix.LOCK_UN)
		f.Close()
	}, nil
}

// flock takes (how: unix.LOCK_EX, with LOCK_NB not to wait) or releases
// (unix.LOCK_UN) an exclusive lock on f, held by the open file, so that it
// excludes other processes and other opens in this one alike.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// refresh reloads the windows when the file changed since they were read,
// looking at it at most once per ScheduleRecheckInterval unless force.
// A file that cannot be read leaves the windows as they were (a process
// never writes one: see save). Called with s.mu held.
func (s *Schedule) refresh(now time.Time, force bool) {
	if s.path == "" || !force && now.Sub(s.checked) < ScheduleRecheckInterval && !now.Before(s.checked) {
		return
	}
	s.checked = now
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.windows, s.seen = nil, nil
		return
	case err != nil:
		return
	case s.seen != nil && os.SameFile(info, s.seen) && info.ModTime().Equal(s.seen.ModTime()) && info.Size() == s.seen.Size():
		return
	}
	ws, info, err := readSchedule(s.path)
	if err != nil {
		s.log.Warn("the maintenance schedule cannot be read: going on with the windows last read", "file", s.path, "err", err)
		s.seen = info // not read again until it changes
		return
	}
	s.windows, s.seen = ws, info
}

// Windows returns the windows that have not ended, by start, as the file
// has them now.
func (s *Schedule) Windows() []pw.MaintenanceWindow {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh(now, true)
	return unended(slices.Clone(s.windows), now)
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
	end, ok := s.readOnlyUntil(now)
	if !ok {
		return nil
	}
	return &pw.Error{Code: pw.EMAINTENANCE, Op: "admission.Schedule", Retry: end.Sub(now),
		Message: "the wallet is in scheduled read-only maintenance until " + end.Format(time.RFC3339)}
}

// ReadOnlyUntil returns when writes are accepted again, and true, while a
// read-only window is in force (as ReadOnly says); false otherwise. The
// surge queue tells a waiting payer so: nothing is settled before then.
func (s *Schedule) ReadOnlyUntil() (time.Time, bool) {
	return s.readOnlyUntil(s.now())
}

func (s *Schedule) readOnlyUntil(now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh(now, false)
	var end time.Time
	for _, w := range s.windows {
		if w.ReadOnly && w.Active(now) && w.End.After(end) {
			end = w.End
		}
	}
	if end.IsZero() {
		return end, false
	}
	for _, w := range s.windows { // by start: the chain of read-only windows from now
		if w.Start.After(end) {
			break // so do all that follow
		}
		if w.ReadOnly && w.End.After(end) {
			end = w.End
		}
	}
	return end, true
}

// ReadOnlyEndedAt returns the latest end, at or before now, of a
// read-only window still on the schedule (ended windows stay on it until
// the schedule is next changed), and true; false when there is none. The
// surge queue's settler waits a moment after it, even in a process that
// never saw the window in force (one that took over as it ended).
func (s *Schedule) ReadOnlyEndedAt() (time.Time, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh(now, false)
	var end time.Time
	for _, w := range s.windows {
		if w.ReadOnly && !w.End.After(now) && w.End.After(end) {
			end = w.End
		}
	}
	return end, !end.IsZero()
}

// unended drops the windows of ws that have ended by now (the file
// follows at the next save).
func unended(ws []pw.MaintenanceWindow, now time.Time) []pw.MaintenanceWindow {
	return slices.DeleteFunc(ws, func(w pw.MaintenanceWindow) bool { return !w.End.After(now) })
}

// save writes ws over the file and returns the new file's information.
func (s *Schedule) save(ws []pw.MaintenanceWindow) (os.FileInfo, error) {
	b, err := json.MarshalIndent(ws, "", "  ")
	if err != nil {
		return nil, err
	}
	info, err := writeFileSynced(s.path, b)
	if err != nil {
		return nil, &pw.Error{Code: pw.EUNAVAILABLE, Op: "admission.Schedule.save", Message: "cannot write the maintenance schedule", Err: err}
	}
	return info, nil
}

// writeFileSynced replaces path with b durably: a temporary file, synced,
// renamed over path, and the directory synced so that the rename is too.
// Without the syncs a power loss after the rename could leave path empty.
func writeFileSynced(path string, b []byte) (os.FileInfo, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	err = dir.Sync()
	if cerr := dir.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return os.Stat(path)
}
