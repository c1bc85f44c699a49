package ledger

import (
	"context"
	"errors"
	"sync"
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
	// nothing, so its callers hear "busy". A caller whose command was taken
	// into a batch waits for that batch's outcome even past its own
	// deadline: once a command may commit, only its real outcome may be
	// reported.
	CommitTimeout = 30 * time.Second
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
			l.failQueued()
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
				l.failQueued()
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
func (l *Ledger) commit(cmds []*command) {
	outs, late, err := l.commitOnce(cmds)
	if err != nil {
		reason := batchFailure(err, late)
		l.metrics.batchesFailed.WithLabelValues(reason).Inc()
		if reason == BatchOutOfTime {
			// Its callers hear busy now, at the latest of their deadlines:
			// the earliest of them well after its own.
			l.log.Warn("ledger batch given up at its deadline; nothing moved", "commands", len(cmds),
				"earliest_caller_overdue", time.Since(earliestDeadline(cmds)).Round(time.Millisecond))
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

// commitOnce runs cmds in one store transaction; late is whether the
// batch's deadline had passed when it failed.
func (l *Ledger) commitOnce(cmds []*command) (outs []outcome, late bool, err error) {
	ctx, cancel := context.WithDeadline(context.Background(), batchDeadline(cmds, time.Now()))
	defer cancel()
	err = l.store.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		var err error
		if outs, _, err = l.apply(ctx, tx, cmds); err != nil {
			return err
		}
		return writeRecords(ctx, tx, cmds)
	})
	return outs, err != nil && ctx.Err() != nil, err
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
	}
	return c.result, c.err
}

var errClosed = pw.Errorf(pw.EUNAVAILABLE, "the ledger is shutting down")

func busy(ctx context.Context) error {
	return &pw.Error{Code: pw.EBUSY, Message: "the ledger could not take the request before its deadline", Err: ctx.Err()}
}

// failQueued answers every command still queued at shutdown.
func (l *Ledger) failQueued() {
	for {
		select {
		case c := <-l.queue:
			if c.state.CompareAndSwap(cmdQueued, cmdTaken) {
				c.err = errClosed
				close(c.done)
			}
		default:
			return
		}
	}
}
