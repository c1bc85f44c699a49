package admission

import (
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Drain-rate measurement: completions are counted over windows of
// meterWindow and averaged; a window longer than meterIdle was idle time,
// which says nothing about the rate the store can drain at.
const (
	meterWindow = 100 * time.Millisecond
	meterIdle   = 2 * time.Second
	meterAlpha  = 0.3
)

// meter measures the rate at which the store drains requests: completions
// per second while it is full.
//
// A window counts as full when the completions that open and close it
// both found the store full (every slot taken, or requests waiting). A
// window that is not measured the demand, or part of it, not the drain:
// the store completed what arrived. Such a window can only raise the
// estimate (the store drained at least that fast), never lower it.
// Averaged in as before, a quiet minute at 2 payments a second left the
// estimate at 2/s, and the first payments of the surge after it were
// judged by it: the n-th waiter expected to wait n/2 seconds, was refused
// for a wait it would not have had, and was told to retry as late
// (TestAQuietHourDoesNotMakeTheSurgeWait).
//
// Full windows are averaged in, never taken alone: windows close at a
// completion and slots come free a commit at a time, so a window can hold
// one completion and a whole commit's wait. For an hour of
// 2026-11-27 the first full window was taken as the estimate: two mixed
// surges of twenty-two then refused 51 and 427 payments in their first second
// as ones that could not finish before their deadline, a reason no surge
// had shown before (TestALongCommitDoesNotSetTheDrainRate).
type meter struct {
	start    time.Time
	n        int
	openFull bool // the completion that opened this window found the store full
	rate     float64
}

// tick counts a completion at now; full says whether the store was full
// when it completed.
func (m *meter) tick(now time.Time, full bool) {
	if m.start.IsZero() {
		// The first completion opens the first window, as the one
		// closing a window opens the next.
		m.start, m.openFull = now, full
		return
	}
	m.n++
	el := now.Sub(m.start)
	switch {
	case el > meterIdle:
		m.start, m.n, m.openFull = now, 0, full
	case el >= meterWindow:
		r := float64(m.n) / el.Seconds()
		switch {
		case m.rate == 0:
			m.rate = r
		case m.openFull && full || r > m.rate:
			m.rate += (r - m.rate) * meterAlpha
		}
		m.start, m.n, m.openFull = now, 0, full
	}
}

// drainRate is the measured completions per second, or, before there is
// a measurement, what the limit and latency imply (0 if nothing is known).
func (c *Controller) drainRate() float64 {
	if c.drain.rate > 0 {
		return c.drain.rate
	}
	if s := c.serviceTime(ClassPayment); s > 0 {
		return float64(c.limiter.Limit()) / s.Seconds()
	}
	return 0
}

// expectedWait is how long the n-th waiter in line waits: n over the drain rate.
func (c *Controller) expectedWait(n int) time.Duration {
	r := c.drainRate()
	if r <= 0 {
		return 0
	}
	return time.Duration(float64(n) / r * float64(time.Second))
}

// serviceTime is how long an admitted class request takes: its class's
// recent latency, but no more than the tolerance allows above its floor.
//
// The cap is what keeps a stall from refusing everything for good. The
// recent latency learns only from requests admitted; after a stall (a
// checkpoint, a starved CPU) it can exceed the time a request has, every
// request is then refused as one that "cannot finish in time", no sample
// comes to correct it, and the server answers busy at an idle store (a
// 30 s SQLite surge served 3.5 % of its payments so). Above the tolerance
// the limit shrinks anyway, so latency returns to it; and a request that
// was admitted too hopefully costs only its slot: the ledger gives up
// before its commit at the deadline, and the client hears 503 busy.
func (c *Controller) serviceTime(class Class) time.Duration {
	recent := c.limiter.Recent(class)
	if floor := c.limiter.Floor(class); floor > 0 {
		return min(recent, time.Duration(c.cfg.Tolerance*float64(floor)))
	}
	return recent
}

// EstimateStale is how old a class's latency estimate may get, with none
// of its requests in flight to renew it, before it stops refusing requests
// on its own (staleEstimate).
const EstimateStale = time.Second

// staleEstimate reports whether class's latency estimate has nothing
// current to go by: none of its requests is in flight, and its last sample
// is EstimateStale old. A request refused as one that "cannot finish in
// time" is then admitted instead, as a probe whose latency renews the
// estimate. Without it an estimate learnt from a few slow requests refused
// every request after them, and with nothing admitted nothing corrected it:
// a process that started beside another writing the same SQLite file (a
// handover) learnt its first payments' wait for the other's write lock,
// 2–3 s, as its latency floor, and refused every payment from then on
// ("the request's deadline is shorter than the store's latency";
// TestAStaleEstimateDoesNotRefuseForever, and the handover test failed one
// run in eight). A store that is still that slow costs one request a
// second, which the ledger drops at its deadline, having moved nothing.
// Called with c.mu held.
func (c *Controller) staleEstimate(now time.Time, class Class) bool {
	return c.inFlightBy[class] == 0 && now.Sub(c.limiter.Last(class)) >= EstimateStale
}

// lastStart is the last moment at which a class request with deadline
// can still start and finish in time: its deadline less its service time.
// Arrival, queueing, dispatch and giving up all judge by it.
func (c *Controller) lastStart(class Class, deadline time.Time) time.Time {
	return deadline.Add(-c.serviceTime(class))
}

// queueDelayMax is the longest expected wait a class request is queued
// for at now: QueueDelayFactor times its class's latency floor; for a
// payment, while lower classes are being turned away, the time to the
// next group commit.
//
// Slots come free a group commit at a time, so a payment that finds them
// all taken waits for the next commit, which under load takes longer
// than twice the floor: in a mixed 3× surge every one of the 4,578
// payments refused of 37,112 was refused for that allowance, while
// payments alone were 0.75× capacity. Waiting a whole service time in
// every surge cost the payments-only surge about a fifth of its goodput
// and up to twice its p99 (docs/overload.md), so the longer wait is granted only
// while reads, reports or top-ups are being refused: then the capacity
// they would take is what the waiting payments get.
//
// The time to the next commit is the longer of the service time (capped
// at the tolerance above the floor) and half the payments' recent
// latency, uncapped: a payment in flight waits for the commit ahead of it
// and then for its own, so half its latency is about one commit cycle.
// The capped service time alone is too short when the floor is a lone
// payment's: at a mixed surge's start (a floor of 0.68 ms, so 5.4 ms)
// 1,215 of the surge's 1,587 refused payments were refused in its first
// second. Half the recent latency raised the payments paid in mixed SQLite
// surges from 95.5–99.5 % to 96.3–99.9 % (8 interleaved pairs, 2026-11-26;
// docs/overload-journal.md, "Evening"). The uncapped latency only lets more
// payments queue: whether one can still finish is judged by the capped
// service time (lastStart), so a stall cannot make it refuse everything.
func (c *Controller) queueDelayMax(now time.Time, class Class) time.Duration {
	d := max(c.cfg.QueueDelayMin, time.Duration(c.cfg.QueueDelayFactor*float64(c.limiter.Floor(class))))
	if class == ClassPayment && now.Sub(c.lowerRefusedAt) < lowerRefusedRecent {
		d = max(d, c.serviceTime(class), c.limiter.Recent(class)/2)
	}
	return d
}

// lowerRefusedRecent is how long after a lower class was last turned
// away payments keep the longer queue allowance.
const lowerRefusedRecent = time.Second

// busy returns the refusal of a class request from principal, with Retry
// the time for the requests that would be served before it to drain: those
// ahead of its place in line were it to come again now (placeInLine).
// Until 2026-11-27 a refusal made after the request had queued (shed, its
// deadline passed, given up) counted every waiter of its class and above,
// and told a client behind a greedy principal to wait out the greedy
// principal's whole queue (TestARefusalInLineCountsItsPlace).
func (c *Controller) busy(class Class, principal, msg string) error {
	return c.busyAt(c.placeInLine(class, principal), msg)
}

// busyAt is the refusal of a request that would be the n-th in line.
func (c *Controller) busyAt(n int, msg string) error {
	return &pw.Error{Code: pw.EBUSY, Op: "admission", Message: msg,
		Retry: min(RetryAfterMax, c.expectedWait(n))}
}

// placeInLine is where a new class request from principal would stand in
// line, counting from 1: behind every waiter of a higher class, and in its
// own class at the turn the round-robin gives it (fairQueue). Its principal
// is served its own waiters first, then this one, so it waits out own+1
// turns of its principal; in that time each other principal waiting is
// served at most own+1 times, and no more than it has waiting. This is an
// upper bound: where the ring stands when it arrives can only make it
// sooner.
//
// With one principal waiting, or for the principal with the most waiting,
// it is every waiter of the class and above, as it was before 2026-11-27
// for everyone: then a greedy principal that kept the queue at its wait
// allowance got everyone else refused at arrival (queue_wait), though the
// round-robin would have served a newcomer at the next slot
// (TestAGreedyPrincipalDoesNotFillTheQueueForEveryone). Called with c.mu
// held.
func (c *Controller) placeInLine(class Class, principal string) int {
	q := c.queues[class]
	own := q.count(principal)
	if own == 0 {
		return c.newcomerPlace(class)
	}
	n := c.waitingAbove(class) + own + 1
	for p, ws := range q.byPrincipal {
		if p != principal {
			n += min(len(ws), own+1)
		}
	}
	return n
}

// newcomerPlace is placeInLine for a principal with none of its class
// waiting: one turn for each principal waiting, then its own, with no need
// to look at how many each has. Called with c.mu held.
func (c *Controller) newcomerPlace(class Class) int {
	return c.waitingAbove(class) + len(c.queues[class].ring) + 1
}

// waitingAbove counts the waiters of the classes above class. Called with
// c.mu held.
func (c *Controller) waitingAbove(class Class) int {
	n := 0
	for k := ClassPayment; k < class; k++ {
		n += c.queues[k].len()
	}
	return n
}

// busyAfter is busy for a caller that does not hold c.mu.
func (c *Controller) busyAfter(class Class, principal, msg string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busy(class, principal, msg)
}

// Busy reports whether a payment arriving now would wait or be refused:
// what the status page tells the public. Reads and reports held back by
// their shares of the slots, while payments start at once, do not make the
// wallet busy; until 2026-11-29 anything waiting did, and a queued export
// put "busy" on the status page (TestBusyIsWhetherAPaymentWouldWait).
func (c *Controller) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waitingAhead(ClassPayment) > 0 || c.inFlight >= c.slotLimit(ClassPayment) || c.breaker.state != breakerClosed
}
