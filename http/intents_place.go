package http

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Where a queued payment stands (docs/overload.md, "Where a queued payment
// stands"): a pending intent written out carries how many pending intents
// are ahead of it (among the first pw.IntentsAheadMax, read at most once
// every IntentPlaceFresh: pendingHead) and how long that is at the rate
// this server's settler has lately settled them.
const (
	// IntentRateWindow is how far back the settling rate is measured: long
	// enough to span many settling passes (IntentPollInterval), short
	// enough that a rate from before a stall is soon forgotten.
	IntentRateWindow = 30 * time.Second
	// IntentRateSpanMin is the shortest time a rate is measured over: a
	// pass that settled 256 intents in its first 50 ms says little about a
	// second.
	IntentRateSpanMin = time.Second
	// intentRateBucket is the resolution of the rate's window.
	intentRateBucket = 100 * time.Millisecond
	// IntentPlaceEvery is how often an event stream counts its intent's
	// place again, and sends an event when it moved: a count per stream
	// per second at a surge would cost the store more than the streams are
	// worth.
	IntentPlaceEvery = 5 * time.Second
)

// settleRate measures how fast this server's settler settles intents:
// those settled in the last IntentRateWindow, over the part of that window
// during which intents were pending. Time with none pending is not
// counted, so that a queue that formed a moment ago is not taken to drain
// slowly; time with intents pending and none settled (the store refusing,
// capacity taken by live payments) is, since a waiting payer waits
// through it too.
type settleRate struct {
	mu      sync.Mutex
	buckets [int(IntentRateWindow / intentRateBucket)]rateBucket
	// since is when a settling pass found intents pending after finding
	// none (zero while the last pass found none, or a read-only window
	// held it).
	since time.Time
}

type rateBucket struct {
	at int64 // unix time in intentRateBucket units
	n  int
}

// pass records what a settling pass found when it began.
func (r *settleRate) pass(now time.Time, pending bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !pending:
		r.since = time.Time{}
	case r.since.IsZero():
		r.since = now
	}
}

// reset forgets the rate: a read-only window holds the settler, and the
// rate before it says nothing of the time after.
func (r *settleRate) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.since = time.Time{}
	r.buckets = [len(r.buckets)]rateBucket{}
}

// settled counts one intent settled at now.
func (r *settleRate) settled(now time.Time) {
	at := now.UnixNano() / int64(intentRateBucket)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &r.buckets[at%int64(len(r.buckets))]
	if b.at != at {
		*b = rateBucket{at: at}
	}
	b.n++
}

// perSecond returns the intents settled a second over the window, and
// false when none is known: none pending at the last pass, or none
// settled in the window.
func (r *settleRate) perSecond(now time.Time) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.since.IsZero() {
		return 0, false
	}
	from := now.Add(-IntentRateWindow)
	if r.since.After(from) {
		from = r.since
	}
	first := from.UnixNano() / int64(intentRateBucket)
	last := now.UnixNano() / int64(intentRateBucket)
	n := 0
	for _, b := range r.buckets {
		if b.at >= first && b.at <= last {
			n += b.n
		}
	}
	if n == 0 {
		return 0, false
	}
	span := max(now.Sub(from), IntentRateSpanMin)
	return float64(n) / span.Seconds(), true
}

// IntentPlaceFresh is how long the queue's head (the IDs of the first
// pw.IntentsAheadMax pending intents) is used once read, for the place of
// every pending intent written out meanwhile: at a surge every payer whose
// payment waits reads it (the web app every 1.5 s, each event stream), and
// one read a second serves them all, where a count each cost 22–104 µs on
// SQLite and up to 0.5 ms on PostgreSQL. A place is so up to a second old.
const IntentPlaceFresh = time.Second

// IntentPlaceReadTimeout bounds a read of the queue's head. A place is an
// addition to what an intent says: when the store is slow or failing, the
// reads it would be added to are answered without it rather than held up.
const IntentPlaceReadTimeout = 500 * time.Millisecond

// queueHead is the queue's head as last read, for placeIntents.
type queueHead struct {
	mu sync.Mutex
	// at is when the last read began (so the head is never older than
	// IntentPlaceFresh told), or ended if it failed (so a stalled store
	// is waited for once every IntentPlaceFresh); zero: none yet.
	at      time.Time
	ids     []string      // what it read
	err     error         // or why it failed; a failure is kept as long as a head is
	reading chan struct{} // closed when the read in flight ends; nil when none is
}

// pendingHead returns the IDs of the first pw.IntentsAheadMax pending
// intents, in ID order, read at most once every IntentPlaceFresh, a
// failed read included: while the store stalls, one read a second waits
// for it, at most IntentPlaceReadTimeout, not every reader in turn. No
// read begins while admission's breaker keeps requests from the store
// (busy at once; a head read less than IntentPlaceFresh ago still serves). The
// read runs apart (readHead); the reader that starts it and those that
// come meanwhile wait for it, or for their own ctx, whichever ends first.
func (s *Server) pendingHead(ctx context.Context) ([]string, error) {
	h := &s.head
	h.mu.Lock()
	now := s.now()
	if !h.at.IsZero() && !now.Before(h.at) && now.Sub(h.at) < IntentPlaceFresh {
		ids, err := h.ids, h.err
		h.mu.Unlock()
		return ids, err
	}
	done := h.reading
	if done == nil && s.admission != nil && !s.admission.BreakerClosed() {
		// The breaker keeps requests from the store (the breaker's probe
		// is one read of it, not two): no read of the head begins, and
		// the intents are written out without a place. Until the review
		// of 2026-11-29 it was read whatever the breaker said
		// (TestTheQueueHeadIsNotReadWhileTheBreakerKeepsRequestsFromTheStore).
		h.mu.Unlock()
		return nil, &pw.Error{Code: pw.EBUSY, Op: "http.pendingHead", Message: "the breaker keeps requests from the store"}
	}
	if done == nil {
		done = make(chan struct{})
		h.reading = done
		// The read is every waiter's: its own bound ends it, not the
		// cancellation of the request that happened to start it.
		go s.readHead(context.WithoutCancel(ctx), now, done)
	}
	h.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids, h.err
}

// readHead reads the queue's head begun at began, within
// IntentPlaceReadTimeout, keeps it in s.head and closes done.
func (s *Server) readHead(ctx context.Context, began time.Time, done chan struct{}) {
	var ids []string
	var err error
	defer func() {
		if p := recover(); p != nil { // a goroutine's panic would end the process: kept as the read's failure
			err = fmt.Errorf("reading the queue's head panicked: %v", p)
			loggerFrom(ctx).Error("reading the queue's head panicked", "panic", p, "stack", string(debug.Stack()))
		}
		h := &s.head
		h.mu.Lock()
		h.at, h.ids, h.err, h.reading = began, ids, err, nil
		if err != nil {
			h.at = s.now()
		}
		h.mu.Unlock()
		close(done)
	}()
	rctx, cancel := context.WithTimeout(ctx, IntentPlaceReadTimeout)
	defer cancel()
	ids, err = s.intents.PendingIntentIDs(rctx, pw.IntentsAheadMax)
}

// placeIntents sets the place of each pending intent of ins in the
// queue's head (pendingHead: at most one store read a second, however
// many are placed, and none while the breaker keeps requests from the
// store). The place is an addition to what the intent says: if it cannot
// be counted (the store is slow, failing or kept away by the breaker),
// the intents are written out without it, and the read they answer still
// succeeds.
func (s *Server) placeIntents(ctx context.Context, ins []*pw.Intent) {
	if s.intents == nil || !slices.ContainsFunc(ins, func(in *pw.Intent) bool { return in != nil && in.Status == pw.IntentPending }) {
		return
	}
	head, err := s.pendingHead(ctx)
	if err != nil {
		loggerFrom(ctx).Warn("the queue position of pending intents could not be counted; written out without it", "err", err)
		return
	}
	rate, resumes := s.queueMotion()
	for _, in := range ins {
		if in == nil || in.Status != pw.IntentPending {
			continue
		}
		ahead, atLeast := pw.IntentsAhead(head, in.ID, pw.IntentsAheadMax)
		p := &pw.IntentPlace{Ahead: ahead, AheadAtLeast: atLeast, SettlingResumesAt: resumes}
		if rate > 0 {
			r := math.Round(rate*100) / 100
			wait := int64(math.Ceil(float64(ahead+1) / rate))
			p.SettledPerSecond, p.ExpectedWaitSeconds = &r, &wait
		}
		in.Place = p
	}
}

// queueMotion is how the surge queue moves now: the rate at which this
// server's settler has lately settled intents (0: none known), or, while
// a read-only window and the grace after it hold the settler, when it
// resumes (nil otherwise): it moves nothing until then, so no rate is
// known for the time after it.
func (s *Server) queueMotion() (rate float64, resumes *time.Time) {
	if at, held := s.settlingResumesAt(); held {
		at = at.UTC()
		return 0, &at
	}
	rate, known := s.rate.perSecond(s.now())
	if !known {
		return 0, nil
	}
	return rate, nil
}

// SurgeQueueLength is how many payments wait in the surge queue, and how
// fast it moves (GET /v1/ops/summary's surge_queue_pending).
type SurgeQueueLength struct {
	// Count is how many intents are pending, from the queue's head as
	// last read (pendingHead: at most IntentPlaceFresh old): at most
	// pw.IntentsAheadMax, with AtLeast set when the count stopped there.
	Count   int  `json:"count"`
	AtLeast bool `json:"at_least"`
	// SettledPerSecond and SettlingResumesAt are what a pending intent's
	// place says (pw.IntentPlace): the rate this server's settler has
	// lately settled them at, or when a read-only window lets it resume.
	SettledPerSecond  *float64   `json:"settled_per_second,omitempty"`
	SettlingResumesAt *time.Time `json:"settling_resumes_at,omitempty"`
}

// surgeQueueLength is the surge queue's length for the ops summary; nil
// when the server has no surge queue, or its head cannot be read now (an
// addition to the summary, as a place is to an intent).
func (s *Server) surgeQueueLength(ctx context.Context) *SurgeQueueLength {
	if s.intents == nil {
		return nil
	}
	head, err := s.pendingHead(ctx)
	if err != nil {
		loggerFrom(ctx).Warn("the surge queue's length could not be counted; the summary goes without it", "err", err)
		return nil
	}
	q := &SurgeQueueLength{Count: len(head), AtLeast: len(head) >= pw.IntentsAheadMax}
	rate, resumes := s.queueMotion()
	if rate > 0 {
		r := math.Round(rate*100) / 100
		q.SettledPerSecond = &r
	}
	q.SettlingResumesAt = resumes
	return q
}
