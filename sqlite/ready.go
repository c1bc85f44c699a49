package sqlite

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// The readiness of the write path (Ping). A read that works says nothing
// of writes: a full disk or a failing device fails every commit (503) while
// the read pool still answers, and a writer stuck in an fsync holds the one
// write connection while reads go on. Ping so also judges the writer, from
// what the store's own writes met: it writes nothing itself while writes
// work, since load balancers probe every second or so.
const (
	// WriteStallMax is how long writes may wait with none of them ending
	// before readiness fails (the writer is stalled: a hung disk, an fsync
	// that does not return). It measures progress, not waiting: in a surge
	// a write may queue for the writer longer than this while others end
	// every few milliseconds, and that is overload, which admission control
	// answers, not a reason to leave the load balancer's rotation. It is
	// above the waits measured for the other process's write lock in the
	// handover tests (2-3 s) and below the writer's busy timeout (10 s).
	// Against another process that commits back to back, SQLite's lock is
	// not fair, and a review (2026-11-28) saw this process's writes wait
	// the whole 10 s and fail "locked": readiness then goes red, which is
	// the truth; the unfairness itself is not fixed.
	WriteStallMax = 5 * time.Second
	// WriteRecheckInterval is how often, at most, a readiness check tries a
	// write of its own once writes have failed on storage errors (a full
	// disk, an I/O error, a file that cannot be written): without traffic,
	// which a load balancer withholds from a store that is not ready, only
	// such a check sees that writes work again. The first comes this long
	// after the failure.
	WriteRecheckInterval = time.Second
	// WriteRecheckTimeout bounds the check's wait for that write, within
	// http.ReadinessTimeout, and the parts of the write a context can cut
	// short; a write still waiting for another process's lock or for its
	// fsync then goes on alone, and what it meets counts for the next check.
	WriteRecheckTimeout = time.Second
)

// writeHealth is what the store's writes have met, kept by Update (every
// ledger write), trackWrite (every other write: the surge queue's batches,
// the auth store's statements, the idempotency clean-up) and the readiness
// check's own as they begin and end, and read by Ping.
type writeHealth struct {
	stallMax time.Duration
	pending  atomic.Int64                 // writes begun (waiting for the writer included) and not ended
	progress atomic.Int64                 // unix ns: the last write that ran, or the first pending one's start
	failed   atomic.Pointer[writeFailure] // the last storage failure, until a write begun after it commits (cleared)
	checked  atomic.Int64                 // unix ns: the last recheck (WriteRecheckInterval)
	checking sync.Mutex                   // held by the recheck running, if any
}

// writeFailure is a write's storage error and when it was met.
type writeFailure struct {
	at  time.Time
	err error
}

// begin notes a write that starts waiting for the writer, and returns
// the storage failure standing then (nil if none): only a write begun
// after a failure was noted can show that writes work again (cleared).
func (h *writeHealth) begin() *writeFailure {
	if h.pending.Load() == 0 {
		// The stall clock starts with the work, not at the last write,
		// which may be an hour old.
		h.progress.Store(time.Now().UnixNano())
	}
	h.pending.Add(1)
	return h.failed.Load()
}

// end notes how a write begun ended: ran, when it had the writer (a wait
// that ran out of time is no progress); err, its error. A storage error
// records a failure; nothing else changes it: a write that succeeded
// clears one only through cleared, which knows what it wrote and when it
// began.
func (h *writeHealth) end(ran bool, err error) {
	now := time.Now()
	if ran {
		h.progress.Store(now.UnixNano())
	}
	h.pending.Add(-1)
	if storageFailure(err) {
		h.failed.Store(&writeFailure{at: now, err: err})
	}
}

// cleared notes that a write begun while since stood (begin's answer) has
// committed pages to the file: the disk takes writes again, and since is
// forgotten, unless another failure has been noted meanwhile. Two kinds of
// success prove nothing, and until the review of 2026-11-28 both cleared
// the failure: a commit that wrote no page (an empty transaction, a clean-up
// with nothing to delete: TestAWriteThatChangesNothingDoesNotMakeAFullDiskReady),
// and one made before the failure but noted after it (a write notes its end
// once it has let go of the writer, and another may have failed on the
// writer in between: TestACommitMadeBeforeAFailureDoesNotClearIt).
func (h *writeHealth) cleared(since *writeFailure) {
	if since != nil {
		h.failed.CompareAndSwap(since, nil)
	}
}

// ready returns nil when writes can be expected to succeed: the writer is
// not stalled, and the last storage failure (if any) has been cleared by a
// write begun after it. While it has not, it runs check (a write, which
// clears the failure if it commits) at most once every
// WriteRecheckInterval, and never two at once.
func (h *writeHealth) ready(ctx context.Context, check func(context.Context) error) error {
	const op = "sqlite.Ping"
	now := time.Now()
	if n := h.pending.Load(); n > 0 {
		if idle := now.Sub(time.Unix(0, h.progress.Load())); idle > h.stallMax {
			return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Err: pw.ErrWritesFailing, Message: fmt.Sprintf(
				"the writer is stalled: %d writes wait and none has ended for %v", n, idle.Round(time.Millisecond))}
		}
	}
	f := h.failed.Load()
	if f == nil {
		return nil
	}
	last := f.at
	if checked := time.Unix(0, h.checked.Load()); checked.After(last) {
		last = checked
	}
	if now.Sub(last) >= WriteRecheckInterval && h.checking.TryLock() {
		h.checked.Store(now.UnixNano())
		// The check's write runs on its own, and ready waits for it at
		// most WriteRecheckTimeout (and ctx): BEGIN IMMEDIATE waits for
		// another process's write lock in SQLite's busy handler, which no
		// context interrupts, and a commit waits for its fsync. Until the
		// review of 2026-11-28 ready waited for the write, and behind a
		// handover's other process a check took as long as its
		// transaction, up to the busy timeout (10 s), beyond /readyz's and
		// /v1/status's bounds
		// (TestAReadinessCheckIsBoundedBehindAnotherProcesssWriteLock). A
		// write that ends later is noted as every write is, for the next
		// check; none starts while it runs (checking).
		done := make(chan struct{})
		go func() {
			defer h.checking.Unlock()
			defer close(done)
			_ = check(context.WithoutCancel(ctx)) // its failure, if any, is noted as every write's is
		}()
		t := time.NewTimer(WriteRecheckTimeout)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if f = h.failed.Load(); f == nil {
			return nil // the check, or another write, cleared it
		}
	}
	what := "the database file cannot be written"
	if code, _, _ := resultCode(f.err); code == codeFull {
		what = "the disk is full"
	}
	return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Err: fmt.Errorf("%w: %w", pw.ErrWritesFailing, f.err), Message: fmt.Sprintf(
		"the last write failed %v ago: %s", time.Since(f.at).Round(time.Millisecond), what)}
}

// trackWrite runs write, a write of the writer connection outside Update,
// so that readiness sees what it met. A write that SQLite answered ran,
// refused or not (a unique constraint, a full disk): the writer moved. One
// that never had the writer did not: its deadline passed while it waited
// for the connection, or another process held the database's write lock
// (busy). Until 2026-11-27 only the ledger's writes were counted, and a
// full disk met by the surge queue or a login went unseen until a payment
// met it too (TestReadinessSeesEveryWrite); until the review of 2026-11-28
// a refused write counted as no progress, and a flood of sign-ups for a
// taken handle, each refused in microseconds, made readiness fail "the
// writer is stalled" (TestWritesRefusedByTheDatabaseAreNotAStall). Such a
// write's success clears no storage failure: whether it wrote anything is
// not known here.
func (s *Store) trackWrite(write func() error) (err error) {
	s.writes.begin()
	// Deferred, so that a write that panics (a bug, which the HTTP server
	// recovers from) is not pending for the rest of the process's life:
	// readiness would fail "the writer is stalled" at the first quiet
	// moment (TestAWriteThatPanicsIsNotPendingForever).
	defer func() { s.writes.end(err == nil || answered(err), err) }()
	return write()
}

// answered reports whether err is SQLite's answer to a statement that ran
// on the writer, as opposed to a wait for it that gave up: a context that
// ended (waiting for the connection, or interrupting the statement), or
// another connection's lock (busy, locked).
func answered(err error) bool {
	code, _, ok := resultCode(err)
	return ok && code != codeBusy && code != codeLocked && code != codeInterrupt
}

// storageFailure reports whether err is SQLite failing to store: the disk
// is full, an I/O error, the file cannot be opened or written.
func storageFailure(err error) bool {
	code, _, ok := resultCode(err)
	return ok && (code == codeFull || code == codeIOErr || code == codeCantOpen || code == codeReadonly)
}

// checkWrite is the readiness check's own write, made only while writes
// fail (writeHealth.ready): the header's user_version set to the value it
// has, one page committed and synced through the writer connection, so it
// needs what every write needs, room in the WAL and an fsync that works.
// It writes nothing that any reader sees.
func (s *Store) checkWrite(ctx context.Context) (err error) {
	ctx, cancel := context.WithTimeout(ctx, WriteRecheckTimeout)
	defer cancel()
	since := s.writes.begin()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		s.writes.end(false, err)
		return err
	}
	defer func() { s.writes.end(true, err) }()
	defer tx.Rollback()
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.writes.cleared(since) // a page was committed and synced
	return nil
}
