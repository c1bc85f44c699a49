package http

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/admission"
)

// steppedClock is the real clock, set back or on by the test (offset), that
// lets at least a microsecond pass before each reading, and keeps the
// real time of the latest: the admission controller's clock in
// TestAStreamsProbeThatRunsOutIsAStall.
type steppedClock struct {
	mu       sync.Mutex
	offset   time.Duration
	lastReal time.Time
}

func (c *steppedClock) Now() time.Time {
	time.Sleep(time.Microsecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastReal = time.Now()
	return c.lastReal.Add(c.offset)
}

func (c *steppedClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func (c *steppedClock) set(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = offset
}

func (c *steppedClock) last() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastReal
}

// TestAStreamsProbeThatRunsOutIsAStall: the breaker, opened by a stall,
// lets an event stream's read go as its probe, and the store answers it
// nothing. The read's own bound (IntentEventsReadTimeout, as long as the
// stall silence on PostgreSQL) begins no sooner than the probe's ticket,
// so the probe that runs out has held its slot the whole silence and
// counts as a stall: the breaker opens again, and the next request is
// refused. Until the review of 2026-11-29 the read's timer began before
// the ticket was taken, and a probe that ran out fell short of the
// silence by the microseconds between (then it was not counted as a
// stall, and the next request probed at once), as the deadline here
// shows whatever the timers' lateness.
func TestAStreamsProbeThatRunsOutIsAStall(t *testing.T) {
	clock := &steppedClock{offset: -time.Hour} // the stall, an hour ago
	ctrl := admission.New(admission.Config{Now: clock.Now, StallSilence: IntentEventsReadTimeout})
	s := &Server{admission: ctrl, streamReads: make(chan struct{}, IntentEventsReadsMax)}

	// A stall opens the breaker: reads of two principals out of their
	// time, the store answering nobody.
	for i := 0; ctrl.BreakerClosed(); i++ {
		if i > 4*admission.BreakerFailuresMax {
			t.Fatalf("the breaker is closed after %d stalled reads: %+v", i, ctrl.Stats())
		}
		done := ctrl.Outside(admission.ClassRead, []string{"a", "b"}[i%2])
		clock.advance(IntentEventsReadTimeout)
		done(context.DeadlineExceeded)
	}
	// Now, the breaker's cool-down long over: the probe may go, and the
	// controller's clock is the real one, as the read's deadline is.
	clock.set(0)

	var held time.Duration
	err := s.streamRead(context.Background(), "a", func(ctx context.Context) error {
		deadline, _ := ctx.Deadline()
		held = deadline.Sub(clock.last()) // the ticket's start: Acquire read the clock last
		<-ctx.Done()                      // the stalled store answers nothing
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the probe's read: %v, want it out of its time", err)
	}
	if held < IntentEventsReadTimeout {
		t.Errorf("the probe's read was bounded to %v after its ticket's start; want IntentEventsReadTimeout (%v), as long as the stall silence",
			held, IntentEventsReadTimeout)
	}
	if ticket, err := ctrl.Acquire(context.Background(), admission.ClassRead, "b"); err == nil {
		ticket.Abandon()
		t.Errorf("the next request was admitted as the breaker's probe: the probe that ran out was not counted as a stall")
	}
}
