package ledger

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Sequencer limits. Every queue and batch has a named maximum.
const (
	// QueueCommandsMax bounds the commands waiting for a batch.
	QueueCommandsMax = 16384
	// BatchUnitsMax bounds the transfers one store transaction carries.
	BatchUnitsMax = pw.BatchTransfersMax
	// CommitTimeout bounds one store transaction. A batch ends earlier,
	// at the latest of its callers' deadlines, when they all have one: a
	// store that stalls (PostgreSQL behind a broken network) then gives up
	// in time, and a transaction given up before its COMMIT was sent moved
	// nothing, so its callers hear "busy". Until the store is asked to
	// commit, a batch that runs far longer than usual is given up earlier,
	// at the earliest of its callers' deadlines (see commit). Once the
	// commit is asked for, a caller waits for the batch's outcome even past
	// its deadline: once a command may commit, only its real outcome may
	// be reported.
	CommitTimeout = 30 * time.Second
	// StalledAfterMin and StalledAfterUsual say when a batch is stalled:
	// past StalledAfterUsual times the usual time of a committed batch, and
	// at least StalledAfterMin. Only a stalled batch is given up at the
	// earliest of its callers' deadlines: one that is merely slow, as every
	// batch of a store pressed by a surge is, commits its callers even
	// after the earliest one's deadline, rather than losing everyone's work
	// for it.
	StalledAfterMin   = 100 * time.Millisecond
	StalledAfterUsual = 3
	// RetryRoomMax bounds the time left that a batch given up at a
	// caller's deadline asks of the callers it runs again: a caller with
	// less than the given-up attempt took (at most RetryRoomMax) is
	// answered busy instead, so that a stalled store is not tried once per
	// caller.
	RetryRoomMax = 100 * time.Millisecond
	// ConcurrentBatchesMax bounds Options.ConcurrentBatches.
	ConcurrentBatchesMax = 16
)

// The sequencer gathers concurrent commands into batches: it takes the
// first command as soon as one arrives (no sleep, so an idle ledger commits
// at once) and whatever else is queued by then, up to Options.MaxBatch. While
// a batch commits, the next one forms, so batches grow with load.
//
// Up to Options.ConcurrentBatches batches commit at once (a store with
// row locks lets one batch's round trips and fsync overlap another's
// work); a slot is taken before gathering, so that while every slot is
// busy the queue keeps filling the next batch.
func (l *Ledger) loop() {
	defer close(l.stopped)
	slots := make(chan struct{}, l.concurrentBatches)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	var carry *command // a command that did not fit the previous batch
	for {
		select {
		case slots <- struct{}{}:
		case <-l.quit:
			inflight.Wait()
			l.failQueued(carry)
			return
		}
		var cmds []*command
		units := 0
		take := func(c *command) {
			if c.state.CompareAndSwap(cmdQueued, cmdTaken) {
				cmds = append(cmds, c)
				units += c.units()
			}
		}
		if carry != nil {
			take(carry)
			carry = nil
		} else {
			select {
			case c := <-l.queue:
				take(c)
			case <-l.quit:
				inflight.Wait()
				l.failQueued(nil)
				return
			}
		}
	gather:
		for units < l.maxBatch {
			select {
			case c := <-l.queue:
				if units+c.units() > l.maxBatch && len(cmds) > 0 {
					carry = c
					break gather
				}
				take(c)
			default:
				break gather
			}
		}
		if len(cmds) == 0 {
			<-slots
			continue
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			l.commit(cmds)
			<-slots
		}()
	}
}

// commit runs one batch in one store transaction and answers its waiters.
//
// A caller's deadline may pass while its batch works. When the store
// stalls (the batch has run StalledAfterUsual times longer than usual),
// and until the store is asked to commit, the transaction is then given up
// at the earliest of its callers' deadlines (commitOnce), and nothing
// moved: the callers with too little time left for another attempt
// (RetryRoomMax) are answered busy, at or before their deadline, and the
// others are committed again without them. Callers already past their
// deadline when a batch starts are answered busy without it.
func (l *Ledger) commit(cmds []*command) {
	for {
		cmds = l.refuseOverdue(cmds, time.Now())
		if len(cmds) == 0 {
			return
		}
		if err := l.paused(); err != nil {
			// A read-only window began while these waited in the queue
			// (behind a slow batch, up to their deadlines): they are
			// answered with it, and nothing of them moves. The routes and
			// the settler look at the window before they enter the ledger;
			// until 2026-11-29 nothing looked after, and a payment queued
			// here was committed in the window
			// (TestAPaymentQueuedBeforeWritesArePausedIsNotCommittedInThePause).
			for _, c := range cmds {
				c.err = err
				close(c.done)
			}
			return
		}
		start := time.Now()
		outs, given, late, err := l.commitOnce(cmds, start.Add(l.stalledAfter()))
		if !given {
			if err == nil {
				l.usualBatchTime(time.Since(start))
			}
			l.answer(cmds, outs, late, err)
			return
		}
		l.metrics.batchesFailed.WithLabelValues(BatchOutOfTime).Inc()
		now := time.Now()
		n := len(cmds)
		cmds = l.refuseOverdue(cmds, now.Add(min(now.Sub(start), RetryRoomMax)))
		l.log.Warn("ledger batch stalled: given up at a caller's deadline before its commit; nothing moved",
			"commands", n, "answered_busy", n-len(cmds), "tried_again", len(cmds), "attempt", now.Sub(start).Round(time.Millisecond))
	}
}

// refuseOverdue answers busy each of cmds whose deadline is not after by,
// and returns the others.
func (l *Ledger) refuseOverdue(cmds []*command, by time.Time) []*command {
	overdue := func(c *command) bool { return !c.deadline.IsZero() && !c.deadline.After(by) }
	if !slices.ContainsFunc(cmds, overdue) {
		return cmds
	}
	rest := make([]*command, 0, len(cmds))
	for _, c := range cmds {
		if !overdue(c) {
			rest = append(rest, c)
			continue
		}
		c.err = errOverdue
		close(c.done)
	}
	return rest
}

// errOverdue answers a caller whose deadline passed, or was too near to
// try again, before its batch was committed: nothing of it moved.
var errOverdue = &pw.Error{Code: pw.EBUSY, Message: "the ledger could not commit the request before its deadline; nothing moved",
	Err: context.DeadlineExceeded}

// answer answers the waiters of a batch that committed or failed.
func (l *Ledger) answer(cmds []*command, outs []outcome, late bool, err error) {
	if err != nil {
		reason := batchFailure(err, late)
		l.metrics.batchesFailed.WithLabelValues(reason).Inc()
		if reason == BatchOutOfTime {
			l.log.Warn("ledger batch given up at its deadline; nothing moved", "commands", len(cmds))
		}
	}
	if err != nil && len(cmds) > 1 && isolatable(err) {
		// One command may have provoked a store error that fails the whole
		// transaction; commit each alone so it cannot fail its neighbours.
		l.log.Warn("ledger batch failed; retrying its commands one by one", "commands", len(cmds), "err", err)
		for _, c := range cmds {
			l.commit([]*command{c})
		}
		return
	}
	if err == nil {
		l.metrics.observeBatch(len(cmds), units(cmds))
	}
	for i, c := range cmds {
		if err != nil {
			c.err = err
		} else {
			c.result, c.err = outs[i].result, outs[i].err
		}
		close(c.done)
	}
}

// stalledAfter is how long a batch runs before it is taken for stalled.
func (l *Ledger) stalledAfter() time.Duration {
	return max(StalledAfterMin, StalledAfterUsual*time.Duration(l.batchTime.Load()))
}

// usualBatchTime folds the time d of a committed batch into the usual
// time (an exponentially weighted average, 1/8 per batch; concurrent
// batches may lose one another's update, which does not matter here).
func (l *Ledger) usualBatchTime(d time.Duration) {
	old := l.batchTime.Load()
	l.batchTime.Store(old + (int64(d)-old)/8)
}

// Phases of one attempt at a batch (commitOnce).
const (
	attemptWorking    int32 = iota // fn runs; the attempt may be given up
	attemptCommitting              // fn is done: the store commits
	attemptGivenUp                 // given up at a caller's deadline before the commit
)

// commitOnce runs cmds in one store transaction. The transaction ends at
// the latest of the callers' deadlines (batchDeadline); given is whether it
// was given up earlier, before the store was asked to commit (nothing
// moved): at the earliest of the deadlines, once it is stalled (past
// stalled); late is whether the latest had passed when it failed.
func (l *Ledger) commitOnce(cmds []*command, stalled time.Time) (outs []outcome, given, late bool, err error) {
	ctx, cancel := context.WithDeadline(context.Background(), batchDeadline(cmds, time.Now()))
	defer cancel()
	var phase atomic.Int32
	last, _ := ctx.Deadline()
	if first := earliestDeadline(cmds); !first.IsZero() && first.Before(last) && stalled.Before(last) {
		giveUp := time.AfterFunc(time.Until(later(first, stalled)), func() {
			if phase.CompareAndSwap(attemptWorking, attemptGivenUp) {
				cancel()
			}
		})
		defer giveUp.Stop()
	}
	err = l.store.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		var err error
		if outs, _, err = l.apply(ctx, tx, cmds); err != nil {
			return err
		}
		if err := writeRecords(ctx, tx, cmds); err != nil {
			return err
		}
		// Past this point the store commits, and the batch is no longer
		// given up before the latest deadline. (A store may run fn again
		// after a failed commit: it is then past this point already.)
		if !phase.CompareAndSwap(attemptWorking, attemptCommitting) && phase.Load() == attemptGivenUp {
			return context.Canceled
		}
		return nil
	})
	if err != nil && phase.Load() == attemptGivenUp {
		return nil, true, false, err
	}
	return outs, false, err != nil && ctx.Err() != nil, err
}

// batchFailure names why a batch did not commit.
func batchFailure(err error, late bool) string {
	switch code := pw.ErrorCode(err); {
	case code == pw.EOUTCOMEUNKNOWN:
		return BatchOutcomeUnknown
	case late && (code == pw.EUNAVAILABLE || code == pw.EBUSY):
		return BatchOutOfTime
	case code == pw.EUNAVAILABLE || code == pw.EBUSY:
		return BatchUnavailable
	default:
		return BatchRefused
	}
}

// batchDeadline is when a batch's transaction is given up: the latest of
// its callers' deadlines, within CommitTimeout.
func batchDeadline(cmds []*command, now time.Time) time.Time {
	limit := now.Add(CommitTimeout)
	var latest time.Time
	for _, c := range cmds {
		if c.deadline.IsZero() {
			return limit
		}
		if c.deadline.After(latest) {
			latest = c.deadline
		}
	}
	if latest.Before(limit) {
		return latest
	}
	return limit
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earliestDeadline is the earliest of cmds' deadlines (the zero time if
// none has one).
func earliestDeadline(cmds []*command) time.Time {
	var first time.Time
	for _, c := range cmds {
		if !c.deadline.IsZero() && (first.IsZero() || c.deadline.Before(first)) {
			first = c.deadline
		}
	}
	return first
}

// isolatable reports whether a failed batch should be retried command by
// command: the store refused it (a bug or a conflicting request key), and
// it certainly did not commit.
func isolatable(err error) bool {
	code := pw.ErrorCode(err)
	return (code == pw.EINTERNAL || code == pw.EIDEMINUSE) && !errors.Is(err, pw.ErrCommitUnknown)
}

func units(cmds []*command) int {
	n := 0
	for _, c := range cmds {
		n += c.units()
	}
	return n
}

// submit hands c to the sequencer and waits for its outcome. A command
// still queued when ctx ends is cancelled and reported busy: it never runs.
func (l *Ledger) submit(ctx context.Context, c *command) (any, error) {
	select {
	case <-l.quit:
		return nil, errClosed
	default:
	}
	c.deadline, _ = ctx.Deadline()
	c.record, _ = ctx.Value(recordKey{}).(*commitRecord)
	select {
	case l.queue <- c:
	case <-ctx.Done():
		return nil, busy(ctx)
	case <-l.quit:
		return nil, errClosed
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		if c.state.CompareAndSwap(cmdQueued, cmdCancelled) {
			return nil, busy(ctx)
		}
		<-c.done
	case <-l.stopped:
		// Close won the race with the send above (a select picks at
		// random among ready cases), and the loop has answered what it
		// found queued and stopped: a command it did not take is never
		// taken now (found in review; the window is too narrow for a test
		// to hit it on purpose).
		if c.state.CompareAndSwap(cmdQueued, cmdCancelled) {
			return nil, errClosed
		}
		<-c.done
	}
	return c.result, c.err
}

var errClosed = pw.Errorf(pw.EUNAVAILABLE, "the ledger is shutting down")

func busy(ctx context.Context) error {
	return &pw.Error{Code: pw.EBUSY, Message: "the ledger could not take the request before its deadline", Err: ctx.Err()}
}

// failQueued answers every command still queued at shutdown.
func (l *Ledger) failQueued(carry *command) {
	fail := func(c *command) {
		if c.state.CompareAndSwap(cmdQueued, cmdTaken) {
			c.err = errClosed
			close(c.done)
		}
	}
	// The command carried over from the last batch (it did not fit) has
	// left the queue but was never taken: until 2026-11-27 it was never
	// answered, and a caller without a deadline waited for ever.
	if carry != nil {
		fail(carry)
	}
	for {
		select {
		case c := <-l.queue:
			fail(c)
		default:
			return
		}
	}
}
