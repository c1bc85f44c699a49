package http_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// stalledHead is an IntentStore whose reads of the queue's head stall
// (for stall, or until their ctx ends) and fail, as PostgreSQL's do while
// it hangs; it counts them.
type stalledHead struct {
	pw.IntentStore
	stall time.Duration
	reads atomic.Int64
}

func (s *stalledHead) PendingIntentIDs(ctx context.Context, limit int) ([]string, error) {
	s.reads.Add(1)
	t := time.NewTimer(s.stall)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, errors.New("the store stalled")
	}
}

// TestASlowFailingQueueHeadDoesNotQueueTheReaders: a queued payment's
// place is an addition to what it says. While the store stalls, eight
// payers reading their queued payments at once are answered, without a
// place, once one read of the queue's head has given up
// (IntentPlaceReadTimeout), not one after another behind a read each of
// the stall's length (40 s here); the failed read stands for the next
// IntentPlaceFresh, and the head is read again after it.
func TestASlowFailingQueueHeadDoesNotQueueTheReaders(t *testing.T) {
	const stall = 5 * time.Second
	var head *stalledHead
	e := mustOpenPlaceEnvWith(t, func(store pw.IntentStore) pw.IntentStore {
		head = &stalledHead{IntentStore: store, stall: stall}
		return head
	})
	in := e.queue(t, "operator:root")

	const readers = 8
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*readers*stall)
			defer cancel()
			got, err := e.Client.Intent(ctx, in.ID)
			switch {
			case err != nil:
				errs <- err
			case got.Status != pw.IntentPending || got.Place != nil:
				errs <- errors.New("read with a place, or not pending, while the queue's head cannot be read: " + places(got))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Errorf("a payer's read of its queued payment while the store stalls: %v", err)
	}
	if n := head.reads.Load(); n != 1 {
		t.Errorf("%d readers at once read the queue's head %d times; want once for all", readers, n)
	}
	if took >= stall {
		t.Errorf("%d reads at once took %v while the queue's head stalls %v; want them answered once a read of it gives up (%v)",
			readers, took, stall, pwhttp.IntentPlaceReadTimeout)
	}

	if r := e.Do(t, "GET", "/v1/intents/"+in.ID, "", nil); r.Status != http.StatusOK || head.reads.Load() != 1 {
		t.Fatalf("a read within a second of the failed one: %d, head read %d times; want 200 and the failure kept", r.Status, head.reads.Load())
	}
	e.Clock.Advance(pwhttp.IntentPlaceFresh)
	if r := e.Do(t, "GET", "/v1/intents/"+in.ID, "", nil); r.Status != http.StatusOK || head.reads.Load() != 2 {
		t.Fatalf("a read a second after the failed one: %d, head read %d times; want 200 and the head read again", r.Status, head.reads.Load())
	}
}

// TestAReaderOfTheQueueHeadWaitsNoLongerThanItsOwnDeadline: the read of
// the queue's head belongs to every reader waiting for it, so the reader
// that started it does not cut it short when its own deadline comes, but
// neither does it wait past that deadline (a request near its end would
// otherwise be answered up to IntentPlaceReadTimeout late). A reader that
// comes meanwhile waits for that same read.
func TestAReaderOfTheQueueHeadWaitsNoLongerThanItsOwnDeadline(t *testing.T) {
	var head *stalledHead
	e := mustOpenPlaceEnvWith(t, func(store pw.IntentStore) pw.IntentStore {
		head = &stalledHead{IntentStore: store, stall: 5 * time.Second}
		return head
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := e.Server.PendingHead(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a reader with 20 ms left: %v; want its own deadline", err)
	}
	if took := time.Since(start); took >= pwhttp.IntentPlaceReadTimeout {
		t.Fatalf("a reader with 20 ms left waited %v, as long as the read may take (%v)", took, pwhttp.IntentPlaceReadTimeout)
	}
	if _, err := e.Server.PendingHead(context.Background()); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("the next reader, while the store stalls: %v; want the read's own failure (its bound), not the first reader's cancellation", err)
	}
	if took := time.Since(start); took < pwhttp.IntentPlaceReadTimeout {
		t.Fatalf("the read the first reader started ended after %v; want it to run its own bound (%v), not end with that reader", took, pwhttp.IntentPlaceReadTimeout)
	}
	if n := head.reads.Load(); n != 1 {
		t.Fatalf("the queue's head was read %d times; want once, the second reader waiting for the first one's read", n)
	}
}

// slowHead is an IntentStore whose reads of the queue's head take took of
// the server's (fake) clock.
type slowHead struct {
	pw.IntentStore
	clock *Clock
	took  time.Duration
	reads atomic.Int64
}

func (s *slowHead) PendingIntentIDs(ctx context.Context, limit int) ([]string, error) {
	s.reads.Add(1)
	s.clock.Advance(s.took)
	return s.IntentStore.PendingIntentIDs(ctx, limit)
}

// TestTheQueueHeadIsNeverOlderThanASecond: a place is counted from the
// queue's head as read at most IntentPlaceFresh before, counted from when
// the read began: a read that took 0.4 s is read again 1.1 s after it
// began, though only 0.7 s after it ended.
func TestTheQueueHeadIsNeverOlderThanASecond(t *testing.T) {
	var head *slowHead
	e := mustOpenPlaceEnvWith(t, func(store pw.IntentStore) pw.IntentStore {
		head = &slowHead{IntentStore: store, took: 400 * time.Millisecond}
		return head
	})
	head.clock = e.Clock
	if _, err := e.Server.PendingHead(context.Background()); err != nil || head.reads.Load() != 1 {
		t.Fatalf("the first read: %v, %d reads", err, head.reads.Load())
	}
	e.Clock.Advance(700 * time.Millisecond)
	if _, err := e.Server.PendingHead(context.Background()); err != nil || head.reads.Load() != 2 {
		t.Fatalf("1.1 s after the read began: %v, %d reads; want it read again", err, head.reads.Load())
	}
}

// failingSlowHead is an IntentStore whose reads of the queue's head take
// took of the server's (fake) clock and fail.
type failingSlowHead struct {
	pw.IntentStore
	clock *Clock
	took  time.Duration
	reads atomic.Int64
}

func (s *failingSlowHead) PendingIntentIDs(ctx context.Context, limit int) ([]string, error) {
	s.reads.Add(1)
	s.clock.Advance(s.took)
	return nil, errors.New("the store failed")
}

// TestAFailedReadOfTheQueueHeadStandsASecondFromItsEnd: a failed read of
// the queue's head is kept for IntentPlaceFresh from when it ended, not
// from when it began: a store that takes 0.4 s to fail is asked again a
// second after it answered, so a failing store is waited for at most
// once a second however long each failure takes.
func TestAFailedReadOfTheQueueHeadStandsASecondFromItsEnd(t *testing.T) {
	var head *failingSlowHead
	e := mustOpenPlaceEnvWith(t, func(store pw.IntentStore) pw.IntentStore {
		head = &failingSlowHead{IntentStore: store, took: 400 * time.Millisecond}
		return head
	})
	head.clock = e.Clock
	if _, err := e.Server.PendingHead(context.Background()); err == nil || head.reads.Load() != 1 {
		t.Fatalf("the first read: %v, %d reads; want the store's failure", err, head.reads.Load())
	}
	e.Clock.Advance(700 * time.Millisecond) // 1.1 s after the read began, 0.7 s after it failed
	if _, err := e.Server.PendingHead(context.Background()); err == nil || head.reads.Load() != 1 {
		t.Fatalf("0.7 s after the failure: %v, %d reads; want the failure kept, not the store asked again", err, head.reads.Load())
	}
	e.Clock.Advance(300 * time.Millisecond) // a second after it failed
	if _, err := e.Server.PendingHead(context.Background()); err == nil || head.reads.Load() != 2 {
		t.Fatalf("a second after the failure: %v, %d reads; want the store asked again", err, head.reads.Load())
	}
}

// breakerOpener is an IntentStore that counts reads of the queue's head,
// and whose next read of an intent, once armed, first opens the breaker,
// as the store's failures of other requests meanwhile do at the start of
// an outage.
type breakerOpener struct {
	pw.IntentStore
	ctrl  *admission.Controller
	armed atomic.Bool
	heads atomic.Int64
}

func (s *breakerOpener) Intent(ctx context.Context, id string) (*pw.Intent, error) {
	if s.armed.CompareAndSwap(true, false) {
		for range admission.BreakerFailuresMax {
			ticket, err := s.ctrl.Acquire(context.Background(), admission.ClassPayment, "another")
			if err != nil {
				return nil, err
			}
			ticket.Done(&pw.Error{Code: pw.EUNAVAILABLE, Message: "the database cannot be reached"})
		}
	}
	return s.IntentStore.Intent(ctx, id)
}

func (s *breakerOpener) PendingIntentIDs(ctx context.Context, limit int) ([]string, error) {
	s.heads.Add(1)
	return s.IntentStore.PendingIntentIDs(ctx, limit)
}

// TestTheQueueHeadIsNotReadWhileTheBreakerKeepsRequestsFromTheStore: a
// queued payment's place is an addition, and its read of the queue's head
// is not made while the breaker keeps requests from the store: a payer's
// read admitted just before the breaker opened, and the breaker's probe
// (which is to be one read of the store, not two), answer the intent
// without a place; once the breaker has closed, places are counted again.
// Until the review of 2026-11-29 the head was read whatever the breaker
// said, up to IntentPlaceReadTimeout (0.5 s) each on a store that is away.
func TestTheQueueHeadIsNotReadWhileTheBreakerKeepsRequestsFromTheStore(t *testing.T) {
	ctrl := admission.New(admission.Config{})
	var store *breakerOpener
	e := mustOpenPlaceEnvAdmitted(t, func(s pw.IntentStore) pw.IntentStore {
		store = &breakerOpener{IntentStore: s, ctrl: ctrl}
		return store
	}, ctrl)
	in := e.queue(t, "operator:root")

	store.armed.Store(true) // the breaker opens while the intent is read
	got, _ := e.read(t, "", in.ID)
	if ctrl.BreakerClosed() {
		t.Fatal("the breaker did not open")
	}
	if n := store.heads.Load(); n != 0 || got.Place != nil {
		t.Errorf("a read admitted before the breaker opened: the queue's head read %d times, place %s; want no read, no place", n, places(&got))
	}

	// The breaker's probe: the next read after its cool-down.
	var r *Response
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if r = e.Do(t, "GET", "/v1/intents/"+in.ID, "", nil); r.Status != http.StatusServiceUnavailable || time.Since(start) > 10*time.Second {
			break
		}
	}
	if r.Status != http.StatusOK || !ctrl.BreakerClosed() {
		t.Fatalf("the breaker's probe: %d %s, breaker closed %v; want 200 and the breaker closed", r.Status, r.Body, ctrl.BreakerClosed())
	}
	var probe pw.Intent
	mustUnmarshal(t, r.Body, &probe)
	if n := store.heads.Load(); n != 0 || probe.Place != nil {
		t.Errorf("the breaker's probe: the queue's head read %d times, place %s; want no read, no place", n, places(&probe))
	}

	got, _ = e.read(t, "", in.ID)
	if n := store.heads.Load(); n != 1 || got.Place == nil {
		t.Errorf("a read with the breaker closed: the queue's head read %d times, place %s; want it read and told", n, places(&got))
	}
}
