// Package admission is peakwallet's overload control, in front of the
// ledger: each request has a priority class and a deadline; an adaptive
// concurrency limit (Gradient2, driven by measured latency) bounds the
// requests that reach the store; the rest wait in bounded, per-class,
// per-principal fair queues, lowest class shed first; per-principal token
// buckets limit rates; a circuit breaker stops hammering a store that is
// down. Every refusal is a *peakwallet.Error (busy or rate_limited) with
// an honest Retry set: queue length over the measured drain rate.
//
// It knows nothing of HTTP: http/ maps each route's class here.
package admission

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Class is a request's priority: lower values are served first and shed last.
type Class uint8

const (
	ClassPayment Class = iota // transfers, captures, refunds
	ClassTopup                // top-ups, withdrawals, account opening, batches
	ClassRead                 // single objects, per-account lists
	ClassReport               // whole-ledger lists, exports
	classCount
)

func (c Class) String() string { return [...]string{"payment", "topup", "read", "report"}[c] }

// Queue limits.
const (
	// QueueRequestsMax bounds the requests waiting across all classes.
	QueueRequestsMax = 1024
	// QueuePrincipalMax bounds one principal's waiting requests per class.
	QueuePrincipalMax = 128
	// RetryAfterMax caps a Retry-After estimate.
	RetryAfterMax = 60 * time.Second
	// QueueDelayFactor bounds the expected wait in the queue to this many
	// times the latency floor of the request's class (at least
	// QueueDelayMin): a request that would wait longer is refused at once,
	// so that those admitted keep a latency near the latency at capacity.
	// (Not the recent latency: that grows under CPU contention, and the
	// queue would grow with it.)
	QueueDelayFactor = 2
	QueueDelayMin    = 5 * time.Millisecond
	// QueueWaitFactor bounds how long a request below payments waits in
	// the queue, as a multiple of the wait it was queued for (giveUpIn).
	QueueWaitFactor = 4
)

// queueShare is the part of QueueRequestsMax each class may fill: a report
// cannot queue once a quarter of the queue is taken, a payment until it is
// full, and a payment arriving at a full queue displaces a lower class.
var queueShare = [classCount]float64{1, 0.75, 0.5, 0.25}

// slotShare is the part of the concurrency limit each class may occupy: a
// payment may take any slot, a read only while three quarters of them are
// free, a report while seven eighths are, so that a flood of reads and
// reports never leaves payments without a slot. A payment that finds every
// slot taken waits for the next group commit to free some, and a commit
// cycle under load is longer than the wait a payment is allowed, so the
// slots lower classes hold are payments refused: at 3× load with a quarter
// of it payments, shares of ¾ for reads and ½ for reports served 90.7 % of
// payments, ½ and ¼ 96.6 % (docs/overload-journal.md has the figures since).
var slotShare = [classCount]float64{1, 0.75, 0.25, 0.125}

// slotLimit is the in-flight count below which class may take a slot.
// Called with c.mu held.
func (c *Controller) slotLimit(class Class) int {
	return max(1, int(float64(c.limiter.Limit())*slotShare[class]))
}

// waitingAhead counts the waiters a class-class request may not overtake:
// those of its class and above (a payment passes reports held back by
// their share). Called with c.mu held.
func (c *Controller) waitingAhead(class Class) int {
	n := 0
	for k := ClassPayment; k <= class; k++ {
		n += c.queues[k].len()
	}
	return n
}

// DeadlineDefaults are each class's deadline when the client asks none
// shorter (Prefer: wait=N).
var DeadlineDefaults = [classCount]time.Duration{2 * time.Second, 3 * time.Second, 1 * time.Second, 10 * time.Second}

// Config configures a Controller; zero values are the defaults above.
// New takes what it is given as it is and returns no error: a value that
// cannot be used is replaced, as each field says, without a word. A caller
// that takes these from a person checks them first, as serve does with its
// flags (a --limit-min above --limit-max, or below 1, is refused at start).
type Config struct {
	Now func() time.Time
	// LimitInitial, LimitMin and LimitMax bound the adaptive concurrency
	// limit: 0 or less is the default (LimitInitial, LimitMin, LimitMax
	// above), each on its own, so a LimitMin above the default LimitMax
	// (2048) given without a LimitMax is above the ceiling too. A LimitMin
	// above LimitMax holds the limit at LimitMin: the floor wins, and the
	// limit no longer adapts (TestALimitMinAboveLimitMaxHoldsTheLimitAtTheFloor).
	// LimitInitial is brought within [LimitMin, LimitMax].
	LimitInitial, LimitMin      int
	LimitMax                    int
	Tolerance                   float64 // LatencyTolerance when 0 or not finite
	QueueMax, QueuePrincipalMax int     // 0 or less: QueueRequestsMax, QueuePrincipalMax
	QueueDelayFactor            float64
	QueueDelayMin               time.Duration
	Deadlines                   [classCount]time.Duration
	Rate                        float64              // tokens a second per principal; 0 or not finite: no rate limit
	Burst                       int                  // bucket size; default 2×Rate
	RateExempt                  func(string) bool    // principals never rate limited (the operator)
	StoreFailed                 func(err error) bool // outcomes that count against the breaker
	// StallSilence: a request out of its time after holding its slot this
	// long, while the store answered nobody, counts against the breaker
	// (a stalled database); 0, the default, never. serve sets
	// StallSilencePostgres on PostgreSQL.
	StallSilence time.Duration
}

// Controller admits requests. It is safe for concurrent use.
type Controller struct {
	cfg Config

	mu       sync.Mutex
	limiter  *gradient
	inFlight int
	// inFlightBy counts the slots held, by class (staleEstimate).
	inFlightBy [classCount]int
	queues     [classCount]*fairQueue
	queued     int
	drain      meter
	breaker    breaker
	// lastAnswered is when the store last answered an admitted request
	// (stalled).
	lastAnswered time.Time
	// stall is what the requests found stalled since the store last
	// answered say (countStall); an answer starts it over.
	stall   stallCount
	buckets map[string]*bucket
	policy  Quota // the RateLimit-Policy's quota and window (ratePolicy)
	stats   Stats
	// lowerRefusedAt is when a request of a class below payments was last
	// refused or shed (queueDelayMax).
	lowerRefusedAt time.Time
}

// New returns a controller.
func New(cfg Config) *Controller {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.LimitInitial = orInt(cfg.LimitInitial, LimitInitial)
	cfg.LimitMin = orInt(cfg.LimitMin, LimitMin)
	cfg.LimitMax = orInt(cfg.LimitMax, LimitMax)
	cfg.QueueMax = orInt(cfg.QueueMax, QueueRequestsMax)
	cfg.QueuePrincipalMax = orInt(cfg.QueuePrincipalMax, QueuePrincipalMax)
	// A tolerance or factor that is not a finite number (flags read "NaN"
	// and "Inf" as floats) is taken as unset: a NaN made the limit NaN, and
	// an infinite one a negative service time (its conversion to a
	// Duration), and either refused every payment
	// (TestAConfigThatIsNotFiniteIsNotAWall).
	if !finite(cfg.Tolerance) || cfg.Tolerance <= 0 {
		cfg.Tolerance = LatencyTolerance
	}
	cfg.LimitInitial = max(cfg.LimitMin, min(cfg.LimitMax, cfg.LimitInitial))
	if !finite(cfg.QueueDelayFactor) || cfg.QueueDelayFactor <= 0 {
		cfg.QueueDelayFactor = QueueDelayFactor
	}
	if cfg.QueueDelayMin <= 0 {
		cfg.QueueDelayMin = QueueDelayMin
	}
	for i, d := range cfg.Deadlines {
		if d <= 0 {
			cfg.Deadlines[i] = DeadlineDefaults[i]
		}
	}
	if !finite(cfg.Rate) {
		// No finite rate is no limit: a NaN or infinite rate left every
		// bucket empty (NaN tokens), and every request was rate_limited.
		cfg.Rate = 0
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(2*cfg.Rate))
	}
	if cfg.RateExempt == nil {
		cfg.RateExempt = func(string) bool { return false }
	}
	if cfg.StoreFailed == nil {
		cfg.StoreFailed = storeFailed
	}
	c := &Controller{cfg: cfg, limiter: newGradient(cfg.LimitInitial, cfg.LimitMin, cfg.LimitMax, cfg.Tolerance),
		buckets: map[string]*bucket{}, policy: ratePolicy(cfg.Rate, cfg.Burst)}
	for i := range c.queues {
		c.queues[i] = newFairQueue()
	}
	return c
}

// storeFailed is the default breaker signal: the store could not be
// reached. A request that merely ran out of its own time is overload, not
// an outage: it shrinks the limit instead. Nor is a write refused by a
// store that answers but takes no writes (peakwallet.ErrWritesFailing: a
// read-only PostgreSQL, SQLite on a full disk): it answered at once, and
// every read it would serve. Until the review of 2026-11-28 such refusals
// opened the breaker, and reads were turned away with the payments
// (TestAReadOnlyDatabaseDoesNotOpenTheBreakerOnReads).
func storeFailed(err error) bool {
	return pw.ErrorCode(err) == pw.EUNAVAILABLE &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, pw.ErrWritesFailing)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Deadline returns the deadline of a class-c request: the class default,
// or asked when the client asks for less.
func (c *Controller) Deadline(class Class, asked time.Duration) time.Duration {
	d := c.cfg.Deadlines[class]
	if asked > 0 && asked < d {
		return asked
	}
	return d
}

// Ticket is an admitted request's slot; Done gives it back.
type Ticket struct {
	c         *Controller
	class     Class
	principal string
	start     time.Time
	inFlight  int
	probe     bool
	once      sync.Once
}

// Acquire waits for a slot for a request of class from principal, until
// ctx ends. It refuses at once (busy, with Retry) when the breaker is
// open, when the queue has no room, or when the expected wait leaves too
// little of ctx's deadline to finish: nothing is started that cannot
// finish in time.
func (c *Controller) Acquire(ctx context.Context, class Class, principal string) (*Ticket, error) {
	c.mu.Lock()
	now := c.cfg.Now()
	ok, probe, wait := c.breaker.allow(now)
	if !ok {
		c.turnAway(now, class, ReasonBreaker)
		c.mu.Unlock()
		return nil, &pw.Error{Code: pw.EBUSY, Op: "admission.Acquire", Retry: wait,
			Message: "the store is unavailable; requests are paused until it answers again"}
	}
	deadline, hasDeadline := ctx.Deadline()
	if c.inFlight < c.slotLimit(class) && c.waitingAhead(class) == 0 || probe {
		if hasDeadline && now.After(c.lastStart(class, deadline)) && !(c.staleEstimate(now, class) && now.Before(deadline)) {
			c.refuseProbe(now, probe)
			c.turnAway(now, class, ReasonDeadline)
			err := c.busy(class, principal, "the request's deadline is shorter than the store's latency")
			c.mu.Unlock()
			return nil, err
		}
		t := c.admit(now, class, principal, probe)
		c.mu.Unlock()
		return t, nil
	}
	if err := c.mayQueue(now, class, principal, deadline, hasDeadline); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	w := &waiter{class: class, principal: principal, deadline: deadline, enqueued: now, ready: make(chan error, 1)}
	giveUp := c.giveUpIn(now, class, deadline, hasDeadline)
	c.queues[class].push(w)
	c.queued++
	c.stats.Enqueued++
	c.mu.Unlock()

	var expire <-chan time.Time
	if giveUp > 0 {
		t := time.NewTimer(giveUp)
		defer t.Stop()
		expire = t.C
	}
	select {
	case err := <-w.ready:
		if err != nil {
			return nil, err
		}
		return &Ticket{c: c, class: class, principal: principal, start: c.cfg.Now(), inFlight: c.InFlight()}, nil
	case <-ctx.Done():
		return nil, c.leave(w, ReasonExpired, "the request's deadline passed while it waited")
	case <-expire:
		return nil, c.leave(w, ReasonGaveUp, "the server could not start the request in time")
	}
}

// leave takes a waiter that gives up out of its queue (for reason) and
// returns its refusal. If it was admitted or shed just as it left, the slot
// goes back unused, or the shedding's refusal stands.
func (c *Controller) leave(w *waiter, reason Reason, msg string) error {
	c.mu.Lock()
	if w.queued {
		c.queues[w.class].remove(w)
		c.queued--
		c.turnAway(c.cfg.Now(), w.class, reason)
		c.mu.Unlock()
		return c.busyAfter(w.class, w.principal, msg)
	}
	c.mu.Unlock()
	if err := <-w.ready; err != nil { // admitted or shed just now
		return err
	}
	// The slot was given just as the caller left: it goes back unused, and
	// the request is refused for reason, as if it had left a moment sooner.
	// Until the review of 2026-11-29 that refusal was not counted, and the
	// request was counted admitted
	// (TestAWaiterGivenItsSlotAsItLeavesIsCountedRefused).
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	c.giveBack(w.class)
	c.turnAway(now, w.class, reason)
	c.dispatch(now)
	return c.busy(w.class, w.principal, msg)
}

// giveUpIn is how long a class request queued at now may wait before it is
// refused (0: until its context ends).
//   - No request waits past the last moment at which it could still start
//     and finish before its deadline (its deadline less its service time),
//     so that the refusal reaches the client while it still listens, not as
//     its deadline passes.
//   - A request below payments waits at most QueueWaitFactor times the wait
//     it was queued for (queueDelayMax). In a surge, payments overtake it
//     for as long as the surge lasts, and a read queued behind them would
//     otherwise sit out its whole deadline only to be refused at its end.
//
// Called with c.mu held.
func (c *Controller) giveUpIn(now time.Time, class Class, deadline time.Time, hasDeadline bool) time.Duration {
	var d time.Duration
	if hasDeadline {
		d = max(time.Nanosecond, c.lastStart(class, deadline).Sub(now))
	}
	if class > ClassPayment {
		if most := time.Duration(QueueWaitFactor * float64(c.queueDelayMax(now, class))); d == 0 || most < d {
			d = most
		}
	}
	return d
}

// mayQueue decides whether a request may wait, shedding a lower class to
// make room when the queue is full. Called with c.mu held.
func (c *Controller) mayQueue(now time.Time, class Class, principal string, deadline time.Time, hasDeadline bool) error {
	if c.queues[class].count(principal) >= c.cfg.QueuePrincipalMax {
		c.turnAway(now, class, ReasonClientQueue)
		return c.busy(class, principal, "too many of this client's requests are waiting")
	}
	// Judged by its place in the round-robin, not by everyone waiting: a
	// greedy principal's queue does not make everyone else's wait.
	place := c.placeInLine(class, principal)
	wait := c.expectedWait(place)
	if hasDeadline && now.Add(wait).After(c.lastStart(class, deadline)) {
		c.turnAway(now, class, ReasonDeadline)
		return c.busyAt(place, "the server cannot finish the request before its deadline")
	}
	if wait > c.queueDelayMax(now, class) {
		c.turnAway(now, class, ReasonQueueWait)
		return c.busyAt(place, "the server is at capacity: the wait for a slot is longer than this request may queue")
	}
	if float64(c.queued) < float64(c.cfg.QueueMax)*queueShare[class] {
		return nil
	}
	for k := classCount - 1; k > class; k-- {
		if w := c.queues[k].shed(); w != nil {
			c.queued--
			c.turnAway(now, k, ReasonShed)
			w.ready <- c.busy(k, w.principal, "a request of higher priority took this one's place")
			return nil
		}
	}
	c.turnAway(now, class, ReasonQueueFull)
	return c.busy(class, principal, "the server is at capacity")
}

// admit takes a slot. Called with c.mu held.
func (c *Controller) admit(now time.Time, class Class, principal string, probe bool) *Ticket {
	c.take(class)
	return &Ticket{c: c, class: class, principal: principal, start: now, inFlight: c.inFlight, probe: probe}
}

// take counts a slot taken by a class request; giveBack its return.
// Stats.AdmittedBy is counted as a used slot is given back (release), not
// here: until the review of 2026-11-29 it was counted here and taken back
// when the slot went back unused (Abandon), so that admitted_total, a
// Prometheus counter, went down whenever a scrape fell between the two
// (TestAWaiterGivenItsSlotAsItLeavesIsCountedRefused). Called with c.mu
// held.
func (c *Controller) take(class Class) {
	c.inFlight++
	c.inFlightBy[class]++
}

func (c *Controller) giveBack(class Class) {
	c.inFlight--
	c.inFlightBy[class]--
}

func (c *Controller) refuseProbe(now time.Time, probe bool) {
	if probe {
		c.breaker.cancelProbe(now)
	}
}

// Done gives the slot back, with the request's outcome: its latency feeds
// the limit, its error (if the store failed) the breaker. It is safe to
// call more than once; only the first call counts.
func (t *Ticket) Done(err error) {
	t.once.Do(func() { t.c.release(t, err) })
}

// Abandon gives the slot back unused, by a request that did not go to
// the store after all (a read-only maintenance window began while it
// waited for the slot): it says nothing of the store's latency nor of its
// health, so it feeds neither the limit nor the breaker, and a probe
// leaves the next request to probe; nor is it counted as admitted
// (Stats.AdmittedBy): it did no work there. Like Done, only the first call
// of either counts.
func (t *Ticket) Abandon() {
	t.once.Do(func() {
		c := t.c
		c.mu.Lock()
		defer c.mu.Unlock()
		now := c.cfg.Now()
		c.giveBack(t.class)
		c.refuseProbe(now, t.probe)
		c.dispatch(now)
	})
}

func (c *Controller) release(t *Ticket, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	full := c.inFlight >= c.limiter.Limit() || c.queued > 0
	c.giveBack(t.class)
	c.stats.AdmittedBy[t.class]++ // a slot used (take)
	o := c.observe(now, t.class, t.principal, t.start, err)
	c.breaker.record(now, o, t.probe)
	dropped := pw.ErrorCode(err) == pw.EBUSY || o == storeDown
	c.limiter.sample(now, t.class, now.Sub(t.start), t.inFlight, dropped)
	c.drain.tick(now, full)
	c.dispatch(now)
}

// observe sorts the outcome of a class request from principal to the
// store, begun at start and ended at now with err, by what it shows of
// the store: an answer (noted: stalled looks at it), a failure, or a
// stall (countStall). Called with c.mu held.
func (c *Controller) observe(now time.Time, class Class, principal string, start time.Time, err error) storeOutcome {
	o := outcomeOf(err, c.cfg.StoreFailed)
	switch {
	case o == storeAnswered:
		c.lastAnswered, c.stall = now, stallCount{}
	case o == storeUnknown && stalled(class, start, now, c.lastAnswered, err, c.cfg.StallSilence) &&
		c.countStall(now, start, principal):
		o = storeDown
	}
	return o
}

// Outside begins a class request from principal to the store made outside
// admission, while the breaker is closed (BreakerClosed): it takes no
// slot, but its outcome, given to done, counts toward the breaker as an
// admitted request's does (Ticket.Done): a store failure, or a stall
// (Config.StallSilence), counts against it, and an answer resets the
// failures counted in a row. It feeds neither the limit nor the drain
// rate. An event stream's reads of its intent (http) are such requests:
// until the review of 2026-11-29 their failures counted for nothing, and
// a server with only streams open polled a stalled database once a
// stream a second for as long as it stalled.
//
// The caller gives done no outcome (does not call it) for a request its
// own client ended, cancelled or out of the client's time: that says
// nothing of the store, and a store's error then may not say it was the
// client's (postgres maps any error under an ended context to
// unavailable).
func (c *Controller) Outside(class Class, principal string) (done func(err error)) {
	start := c.cfg.Now()
	return func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		now := c.cfg.Now()
		c.breaker.record(now, c.observe(now, class, principal, start, err), false)
	}
}

// countStall notes a request from principal, begun at start, found
// stalled, and reports whether it counts against the breaker: once the
// requests found stalled since the store last answered come from two
// principals or more, or from one for StallAloneAfter (the first of them
// begun that long ago, the store answering nobody since: a deployment
// with one client has no second principal). A
// stalled database holds everyone's requests; one principal's alone, on a
// server nobody else is using, may be that principal's own slow requests
// (large batches with a short deadline): until 2026-11-29 those opened the
// breaker for every client; now only once they have stalled for
// StallAloneAfter (TestOnePrincipalsStallOpensTheBreakerAfterStallAloneAfter).
// When a second principal's is found, the first one's found before it
// count too (at most BreakerFailuresMax of them): they were held by the
// same silence. Without them, a stall's requests counted only from the
// first of another principal's in the order they ended, and eight of two
// principals, one's four ending first, counted four and opened nothing
// ("two principals, one's requests out first").
// One principal's requests count as one stall only while they follow one
// another: one that began StallAloneAfter or more after the latest found
// stalled had ended starts the count over, as the store, asked nothing
// meanwhile, may have answered anyone. Until the review of 2026-11-29 the
// first one's start held until the store answered, and on an idle server
// a request out of time, an hour of nothing, then four held 1.2 s by a
// hiccup opened the breaker ("before and after an idle hour").
// Called with c.mu held.
func (c *Controller) countStall(now, start time.Time, principal string) bool {
	st := &c.stall
	if !st.counts && !st.last.IsZero() && start.Sub(st.last) >= StallAloneAfter {
		*st = stallCount{}
	}
	st.last = now
	if st.since.IsZero() || start.Before(st.since) {
		st.since = start
	}
	switch {
	case st.counts:
	case (st.by == "" || st.by == principal) &&
		(st.alone+1 < BreakerFailuresMax || now.Sub(st.since) < StallAloneAfter):
		st.by = principal
		st.alone++
		return false
	default:
		st.counts = true
		for range min(st.alone, BreakerFailuresMax) {
			c.breaker.record(now, storeDown, false)
		}
		st.alone = 0
	}
	return true
}

// stallCount is what the requests found stalled since the store last
// answered say: by, the principal of the first; since, when the earliest
// of them began; alone, how many of by's were found before another
// principal's; counts, whether one was, or by's own have stalled for
// StallAloneAfter (only then do stalled requests count against the
// breaker, those before too); last, when the latest ended.
type stallCount struct {
	by     string
	since  time.Time
	alone  int
	counts bool
	last   time.Time
}

// dispatch hands free slots to waiters, highest class first, skipping
// those that could no longer finish before their deadline.
func (c *Controller) dispatch(now time.Time) {
	for c.inFlight < c.limiter.Limit() && c.queued > 0 {
		var w *waiter
		for k := range c.queues {
			if c.inFlight >= c.slotLimit(Class(k)) {
				break // the classes after k have smaller shares still
			}
			if w = c.queues[k].pop(); w != nil {
				break
			}
		}
		if w == nil {
			return // only classes over their share are waiting
		}
		c.queued--
		if !w.deadline.IsZero() && now.After(c.lastStart(w.class, w.deadline)) {
			c.turnAway(now, w.class, ReasonExpired)
			w.ready <- c.busy(w.class, w.principal, "the request's deadline passed while it waited")
			continue
		}
		c.take(w.class)
		w.ready <- nil
	}
}

// InFlight is the number of admitted requests not yet done.
func (c *Controller) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFlight
}

// Room is how many more requests of class could take a slot now, with
// nobody waiting ahead of them (0 when none could). A background worker
// that would otherwise be refused sizes its concurrency by it.
func (c *Controller) Room(class Class) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waitingAhead(class) > 0 {
		return 0
	}
	return max(0, c.slotLimit(class)-c.inFlight)
}
