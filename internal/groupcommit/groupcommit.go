// Package groupcommit writes the items of concurrent callers in shared
// batches, one durable transaction for many, as the ledger's sequencer
// does for payments.
//
// There is no goroutine of its own while nothing waits: the first caller
// that finds no batch being written writes one (everything queued, its
// own item included, up to Max) while later callers wait; if more arrived
// meanwhile, a goroutine writes the next batch, and so on until none is
// waiting. So no caller waits for more than the batch after its own.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Queue batches items of type T; each caller gets its item's result R.
// The zero Queue is not usable: set Max and Write.
type Queue[T, R any] struct {
	// Max bounds the items of one batch.
	Max int
	// Timeout bounds one batch. A batch may take until the latest of its
	// callers' deadlines (as a ledger batch does: no one caller's context
	// ends it), and never longer than Timeout.
	Timeout time.Duration
	// Write writes a batch, in the order the items were queued, within
	// ctx, and returns one Result per item (each with its own error, if
	// that item alone failed), or an error for the whole batch (then nil
	// results). It is never called concurrently.
	Write func(ctx context.Context, batch []T) ([]Result[R], error)
	// LeaveAtDeadline lets a caller whose deadline passes while its batch
	// is being written stop waiting: Do then returns ErrLeft, and the
	// item may be written or not. Only for items whose callers undo them
	// whatever happened (an idempotency lease, given back in the
	// background): a batch may take until the latest of its callers'
	// deadlines, and in a stalled database every caller with an earlier
	// one would wait past its own for it (up to 1.1 s past a 1.8 s
	// deadline, seen in a stall under load, 2026-11-29).
	LeaveAtDeadline bool
	// Left, if set, is called with the item and the outcome of each
	// caller that left (ErrLeft) once its batch has been written: until
	// then, whoever undoes the item cannot tell whether the batch will
	// still write it. It is called from the writing goroutine, so it must
	// not block.
	Left func(item T, res Result[R])

	mu      sync.Mutex
	waiting []*waiter[T, R]
	writing bool
}

type waiter[T, R any] struct {
	item     T
	deadline time.Time    // the caller's; zero: none
	state    atomic.Int32 // queued, then taken or abandoned; taken, then written or left
	done     chan Result[R]
}

// Result is one item's outcome: its value, or the error of that item
// alone.
type Result[R any] struct {
	Value R
	Err   error
}

// ErrLeft is what Do returns to a caller that left at its deadline while
// its batch was being written (Queue.LeaveAtDeadline): its item may have
// been written or not. It wraps context.DeadlineExceeded.
var ErrLeft = fmt.Errorf("groupcommit: left at the deadline while the batch was written, its item written or not: %w", context.DeadlineExceeded)

const (
	queued int32 = iota
	taken
	abandoned
	written // its batch's outcome is in done
	left    // its caller left at its deadline (ErrLeft): Left gets the outcome
)

// Do queues item and returns its result once its batch is written. If
// ctx ends while the item still waits for a batch, or its deadline has
// passed when a batch would take it, Do returns ctx.Err() (or
// context.DeadlineExceeded) and the item is never written; once a batch
// has taken it, Do waits for that batch's outcome whatever ctx does (only
// its real outcome may be told), unless the queue lets callers leave at
// their deadlines (LeaveAtDeadline).
func (q *Queue[T, R]) Do(ctx context.Context, item T) (R, error) {
	w := &waiter[T, R]{item: item, done: make(chan Result[R], 1)}
	w.deadline, _ = ctx.Deadline()
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	lead := !q.writing
	q.writing = true
	q.mu.Unlock()
	switch {
	case lead && q.LeaveAtDeadline:
		go q.writeNext() // a caller that may leave does not write: it waits as the others do
	case lead:
		q.writeNext()
	}
	select {
	case res := <-w.done:
		return res.Value, res.Err
	case <-ctx.Done():
		var zero R
		if w.state.CompareAndSwap(queued, abandoned) {
			return zero, ctx.Err()
		}
		if q.LeaveAtDeadline && errors.Is(ctx.Err(), context.DeadlineExceeded) &&
			w.state.CompareAndSwap(taken, left) {
			return zero, ErrLeft
		}
		res := <-w.done
		return res.Value, res.Err
	}
}

// writeNext writes one batch, then hands the next to a goroutine, or
// notes that nothing is being written.
func (q *Queue[T, R]) writeNext() {
	q.mu.Lock()
	n := min(len(q.waiting), max(1, q.Max))
	batch := q.waiting[:n:n]
	q.waiting = q.waiting[n:]
	q.mu.Unlock()
	// A caller whose deadline has passed is not written, though its Do
	// may not have seen its context end yet: taken, it would wait for a
	// batch it can no longer use.
	ws, now := batch[:0], time.Now()
	for _, w := range batch {
		switch {
		case !w.deadline.IsZero() && !now.Before(w.deadline):
			if w.state.CompareAndSwap(queued, abandoned) {
				w.done <- Result[R]{Err: context.DeadlineExceeded}
			}
		case w.state.CompareAndSwap(queued, taken):
			ws = append(ws, w)
		}
	}
	if len(ws) > 0 {
		items := make([]T, len(ws))
		for i, w := range ws {
			items[i] = w.item
		}
		ctx, cancel := context.WithDeadline(context.Background(), q.until(ws))
		rs, err := q.Write(ctx, items)
		cancel()
		for i, w := range ws {
			var res Result[R]
			switch {
			case err != nil:
				res.Err = err
			case i < len(rs):
				res = rs[i]
			}
			w.done <- res
			if !w.state.CompareAndSwap(taken, written) && q.Left != nil {
				q.Left(w.item, res) // its caller left
			}
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		q.writing, q.waiting = false, nil
		return
	}
	go q.writeNext()
}

// until is when a batch of ws must end: the latest of their deadlines,
// and at most Timeout from now.
func (q *Queue[T, R]) until(ws []*waiter[T, R]) time.Time {
	most := time.Now().Add(q.Timeout)
	var latest time.Time
	for _, w := range ws {
		if w.deadline.IsZero() || w.deadline.After(most) {
			return most
		}
		if w.deadline.After(latest) {
			latest = w.deadline
		}
	}
	return latest
}
