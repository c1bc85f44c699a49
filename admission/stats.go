package admission

import "time"

// Reason is why a request was turned away. Every refusal is counted under
// its class and one reason, so that an operator (and a benchmark) can tell
// which rule a surge's refusals came from.
type Reason uint8

const (
	// At arrival:
	ReasonBreaker     Reason = iota // the store is unavailable (the breaker is open)
	ReasonDeadline                  // its deadline leaves too little time, now or after the expected wait
	ReasonQueueWait                 // its expected wait exceeds its class's queue allowance
	ReasonClientQueue               // too many of this client's requests of its class wait already
	ReasonQueueFull                 // the queue is full and holds nothing of a lower class
	// After it was queued:
	ReasonShed    // displaced by a request of a higher class
	ReasonGaveUp  // waited as long as waiting could help (giveUpIn)
	ReasonExpired // its deadline passed, or its caller went away, while it waited
	reasonCount
)

var reasonNames = [reasonCount]string{"breaker", "deadline", "queue_wait", "client_queue", "queue_full", "shed", "gave_up", "expired"}

func (r Reason) String() string { return reasonNames[r] }

// Classes lists the priority classes, highest first; Reasons the refusal
// reasons. Both are for callers that report per class or reason (metrics).
func Classes() []Class { return []Class{ClassPayment, ClassTopup, ClassRead, ClassReport} }

func Reasons() []Reason {
	rs := make([]Reason, reasonCount)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Stats counts the controller's decisions since it started, with its
// current state.
type Stats struct {
	// Admissions and refusals, by class and, for refusals, by reason.
	// AdmittedBy counts slots used, as each is given back (Ticket.Done): a
	// request in flight is counted when it ends, and one whose slot went
	// back unused (Ticket.Abandon) not at all; it only ever grows.
	// Refusals is the one count kept; the totals below are sums of it.
	AdmittedBy [classCount]uint64              `json:"admitted_by_class"`
	Refusals   [classCount][reasonCount]uint64 `json:"refusals"` // [class][reason]
	Enqueued   uint64                          `json:"enqueued"`

	Admitted       uint64             `json:"admitted"`
	Refused        [classCount]uint64 `json:"refused"` // at arrival, by class (the breaker's apart)
	Shed           [classCount]uint64 `json:"shed"`    // displaced from the queue, by class
	Expired        uint64             `json:"expired"` // gave up while queued (giveUpIn), or its deadline passed
	RateLimited    uint64             `json:"rate_limited"`
	RateSweeps     uint64             `json:"rate_sweeps"` // sweeps of the rate buckets at PrincipalsMax
	BreakerRefused uint64             `json:"breaker_refused"`

	Limit         int             `json:"limit"`
	RateBuckets   int             `json:"rate_buckets"` // principals with a token bucket kept
	InFlight      int             `json:"in_flight"`
	Queued        [classCount]int `json:"queued"`
	Breaker       string          `json:"breaker"`
	DrainRate     float64         `json:"drain_rate"`          // completions a second
	LatencyRecent time.Duration   `json:"latency_recent_ns"`   // payments' short average
	LatencyLong   time.Duration   `json:"latency_baseline_ns"` // payments' latency floor
	RetryAfter    time.Duration   `json:"retry_after_ns"`      // what a payment refused now is told (its place in line), 0 if it would start now
}

// turnAway counts a refusal of a class request for reason, and notes when a
// class below payments was last turned away at arrival or shed (the longer
// queue allowance of queueDelayMax). Called with c.mu held.
func (c *Controller) turnAway(now time.Time, class Class, reason Reason) {
	c.stats.Refusals[class][reason]++
	if class > ClassPayment && reason != ReasonBreaker && reason != ReasonGaveUp && reason != ReasonExpired {
		c.lowerRefusedAt = now
	}
}

// Stats returns the counters and the current state.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	for k := range classCount {
		r := &s.Refusals[k]
		s.Admitted += s.AdmittedBy[k]
		s.Refused[k] = r[ReasonDeadline] + r[ReasonQueueWait] + r[ReasonClientQueue] + r[ReasonQueueFull]
		s.Shed[k] = r[ReasonShed]
		s.Expired += r[ReasonGaveUp] + r[ReasonExpired]
		s.BreakerRefused += r[ReasonBreaker]
	}
	s.Limit, s.InFlight, s.Breaker = c.limiter.Limit(), c.inFlight, c.breaker.state.String()
	s.RateBuckets = len(c.buckets)
	for k := range c.queues {
		s.Queued[k] = c.queues[k].len()
	}
	s.DrainRate = c.drainRate()
	s.LatencyRecent, s.LatencyLong = c.limiter.Recent(ClassPayment), c.limiter.Floor(ClassPayment)
	// What a payment refused now would be told: its own place in line, for
	// a client with none of its own waiting, as its refusal counts it
	// (busyAt). Until the review of 2026-11-29 this counted everyone
	// waiting, reads and reports too, which a payment overtakes, and the
	// whole of a greedy client's queue, which the round-robin lets a
	// newcomer pass (TestTheRetryAfterPublishedIsAPaymentsOwn). A payment
	// that would take a slot at once is told nothing.
	if c.waitingAhead(ClassPayment) > 0 || c.inFlight >= c.slotLimit(ClassPayment) {
		s.RetryAfter = min(RetryAfterMax, c.expectedWait(c.newcomerPlace(ClassPayment)))
	}
	return s
}

// RefusalsByName is Refusals keyed by class name and then reason name
// (as in /v1/ops/summary and the bench's reports).
func (s Stats) RefusalsByName() map[string]map[string]int {
	m := make(map[string]map[string]int, classCount)
	for _, k := range Classes() {
		m[k.String()] = make(map[string]int, reasonCount)
		for _, r := range Reasons() {
			m[k.String()][r.String()] = int(s.Refusals[k][r])
		}
	}
	return m
}
