package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Overload scenarios: open-loop load at a multiple of measured capacity.
const (
	ScenarioOverload = "overload" // payments only, at OverloadFactor × capacity
	ScenarioMixed    = "mixed"    // payments, reads and reports at OverloadFactor × capacity
)

// Overload limits.
const (
	// OverloadFactor is the offered load, as a multiple of capacity.
	OverloadFactor = 3
	// OverloadInFlightMax bounds the requests the generator keeps open:
	// past it, an arrival is counted as "dropped by the generator", so
	// that the generator itself cannot run out of memory.
	OverloadInFlightMax = 20_000
)

// Class shares of the mixed scenario, in percent, unless OverloadConfig
// says others (a payments-heavy mix shows what the standard one hides: on
// 2026-11-27 a rule that paid every payment of the standard mix tripled
// the p99 of one with 90 % payments).
const (
	MixedPaymentsDefault = 25
	MixedReadsDefault    = 50 // the rest are reports
)

// OverloadConfig describes an open-loop overload run.
type OverloadConfig struct {
	Label    string
	Scenario string        // ScenarioOverload or ScenarioMixed
	Rate     float64       // offered requests a second
	Duration time.Duration // how long the load is offered
	Deadline time.Duration // each request's deadline
	Seed     uint64
	// Async sends payments with Prefer: respond-async: the service must
	// be an AsyncPayer, and a payment accepted for later (202) is counted
	// as accepted, not as paid (FollowSurgeQueue then says what became of
	// it).
	Async bool
	// Mix is the mixed scenario's shares; nil: the defaults.
	Mix *Mix
}

// Mix is the mixed scenario's shares of payments and reads, in percent;
// the rest are reports.
type Mix struct {
	Payments int `json:"payments"`
	Reads    int `json:"reads"`
}

// Validate says whether the shares can be offered.
func (m Mix) Validate() error {
	if m.Payments < 0 || m.Reads < 0 || m.Payments+m.Reads > 100 {
		return fmt.Errorf("the shares of payments and reads must be percentages of 0 or more that add up to 100 or less (got %d and %d)", m.Payments, m.Reads)
	}
	return nil
}

// mix returns the mixed scenario's shares.
func (cfg OverloadConfig) mix() Mix {
	if cfg.Mix == nil {
		return Mix{Payments: MixedPaymentsDefault, Reads: MixedReadsDefault}
	}
	return *cfg.Mix
}

// AsyncPayer sends a payment that allows Prefer: respond-async: intentID
// is set when the server took it into its surge queue (202) instead of
// posting it now; Intent reads an intent back.
type AsyncPayer interface {
	CreateTransferAsync(ctx context.Context, req pw.TransferCreate) (intentID string, err error)
	Intent(ctx context.Context, id string) (*pw.Intent, error)
}

// SettleWaitDefault bounds how long a run follows the surge queue after
// the surge.
const SettleWaitDefault = 3 * time.Minute

// SurgeQueueResult is what became of the payments accepted into the
// surge queue (--async): a 202 is a promise, and this is whether it was
// kept.
type SurgeQueueResult struct {
	Accepted int64            `json:"accepted"`
	Posted   int64            `json:"posted"`
	Failed   int64            `json:"failed"`
	Pending  int64            `json:"still_pending"` // when SettleWait ran out
	Codes    map[string]int64 `json:"failed_codes,omitempty"`
	// DrainSeconds is when, after the surge, the last one was seen settled
	// (the intents are read again once a second).
	DrainSeconds float64 `json:"drain_seconds"`
}

// ClassResult counts one class's outcomes.
type ClassResult struct {
	Offered   int64             `json:"offered"`
	OK        int64             `json:"ok"`
	Accepted  int64             `json:"accepted,omitempty"`          // 202: in the surge queue (--async)
	Refused   int64             `json:"refused"`                     // 503 busy/maintenance, 429 (the status and the code both)
	WithoutRA int64             `json:"refused_without_retry_after"` // refusals missing Retry-After
	Other     int64             `json:"other_errors"`                // anything else (5xx internal, a refusal's code under another status as "busy_as_500", timeouts, requests the generator could not send)
	Codes     map[string]int64  `json:"codes,omitempty"`
	Samples   map[string]string `json:"samples,omitempty"` // one error message per code
	// P99ms is the p99 of the successes only: a request the client
	// stopped waiting for has no latency, so it is left out, and a p99
	// within the deadline is so by construction. The published figures
	// are this one.
	P99ms float64 `json:"p99_ms"`
	// P99msWithTimeouts is the p99 of the successes and the client
	// timeouts (CodeTimeout: sent, not answered within the deadline),
	// each timeout counted at the deadline, the least it would have
	// taken. Refusals, other errors and requests never sent
	// (CodeUnsent) are in neither.
	P99msWithTimeouts float64 `json:"p99_ms_with_timeouts"`
	SuccessRate       float64 `json:"success_share"`
	// RefusedAtStart is how many of the refusals were of requests offered
	// in the run's first second (StartWindow), when a surge meets what the
	// server learnt before it.
	RefusedAtStart int64 `json:"refused_in_first_second"`
}

// OverloadResult is what an overload run measured.
type OverloadResult struct {
	Label      string  `json:"label"`
	Scenario   string  `json:"scenario"`
	OfferedRPS float64 `json:"offered_rps"`
	// Seconds is the surge's length: the time load was offered (the
	// configured duration; a cancelled run is an error).
	Seconds float64 `json:"seconds"`
	// DrainSeconds is the wait after the surge for its last answers: up to
	// a deadline, for a request queued at the end and refused when its
	// deadline came. Nothing is offered in it, so it is no part of the
	// goodput's denominator.
	DrainSeconds float64 `json:"drain_seconds"`
	// GoodputRPS is the payments paid per second of the surge (Seconds).
	// Until 2026-11-27 it was divided by Seconds and DrainSeconds together.
	GoodputRPS float64 `json:"goodput_payments_per_second"`
	Dropped    int64   `json:"dropped_by_generator"`
	// SendLag is how late the generator started each request after its
	// scheduled (Poisson) arrival, over every class. The latencies
	// (p99_ms) are measured from the start, as they always were, so that
	// the published series stay comparable; a generator that falls behind
	// shows here instead.
	SendLag    SendLag                 `json:"send_lag"`
	Classes    map[string]*ClassResult `json:"classes"`
	Mix        *Mix                    `json:"mix,omitempty"`         // mixed: the shares offered, in percent
	SurgeQueue *SurgeQueueResult       `json:"surge_queue,omitempty"` // --async: what became of the 202s (FollowSurgeQueue)
	intents    []string                // the intents the 202s named
}

// SendLag summarizes the generator's lags behind its schedule, in ms.
type SendLag struct {
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	Maxms float64 `json:"max_ms"`
}

// sendLagOf summarizes lags (sorting them).
func sendLagOf(lags []time.Duration) SendLag {
	return SendLag{P50ms: percentile(lags, 0.50), P99ms: percentile(lags, 0.99), Maxms: percentile(lags, 1)}
}

// StartWindow is the start of a run whose refusals ClassResult.RefusedAtStart counts.
const StartWindow = time.Second

type classRec struct {
	offered, ok, accepted, refused, atStart, noRA, other atomic.Int64
	mu                                                   sync.Mutex
	codes                                                map[string]int64
	samples                                              map[string]string
	lats                                                 []time.Duration
}

// record counts a request's outcome: its latency if it succeeded, its
// code if not; atStart says it was offered within StartWindow of the run's start.
func (c *classRec) record(lat time.Duration, err error, atStart bool) {
	if err == nil {
		c.ok.Add(1)
		c.mu.Lock()
		c.lats = append(c.lats, lat)
		c.mu.Unlock()
		return
	}
	code := outcomeCode(err)
	switch {
	case isBusy(code):
		c.refused.Add(1)
		if atStart {
			c.atStart.Add(1)
		}
		var pe *pw.Error
		if !errors.As(err, &pe) || pe.Retry <= 0 {
			c.noRA.Add(1)
		}
	default:
		c.other.Add(1)
	}
	c.mu.Lock()
	c.codes[code]++
	if c.samples == nil {
		c.samples = map[string]string{}
	}
	if _, ok := c.samples[code]; !ok {
		c.samples[code] = err.Error()
	}
	c.mu.Unlock()
}

// result is the class's counts once its requests have all ended; a
// client timeout is counted at deadline in P99msWithTimeouts.
func (c *classRec) result(deadline time.Duration) *ClassResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	cr := &ClassResult{Offered: c.offered.Load(), OK: c.ok.Load(), Accepted: c.accepted.Load(), Refused: c.refused.Load(), WithoutRA: c.noRA.Load(),
		Other: c.other.Load(), RefusedAtStart: c.atStart.Load(), Codes: c.codes, Samples: c.samples, P99ms: percentile(c.lats, 0.99),
		P99msWithTimeouts: percentileWithTimeouts(c.lats, c.codes[CodeTimeout], deadline, 0.99)}
	if cr.Offered > 0 {
		cr.SuccessRate = float64(cr.OK) / float64(cr.Offered)
	}
	return cr
}

// percentileWithTimeouts is percentile's q over lats and timeouts more
// samples of timeout each (lats is left as it is).
func percentileWithTimeouts(lats []time.Duration, timeouts int64, timeout time.Duration, q float64) float64 {
	all := make([]time.Duration, len(lats), len(lats)+int(timeouts))
	copy(all, lats)
	for range timeouts {
		all = append(all, timeout)
	}
	return percentile(all, q)
}

// CodeUnsent names a request the generator could not send before its
// deadline (ErrUnsent): a limit of the generator, not an answer of the
// server's. CodeTimeout names one sent and not answered before it.
const (
	CodeUnsent  = "client_unsent"
	CodeTimeout = "client_timeout"
)

// outcomeCode names a failure: the server's problem code when it answered
// one, or what went wrong on the client's side when it did not (so that a
// request the server never answered is not mistaken for its 500). A
// refusal's code under another status than a refusal's (answerStatusOK) is
// named for both, "busy_as_500": a 500 that says "busy" is not an honest
// refusal, and is counted with the other errors.
func outcomeCode(err error) string {
	var pe *pw.Error
	var se *StatusError
	switch {
	case errors.As(err, &se) && !answerStatusOK(se.Err.Code, se.Status):
		return fmt.Sprintf("%s_as_%d", se.Err.Code, se.Status)
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, ErrUnsent):
		return CodeUnsent
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	default:
		return "client_transport"
	}
}

// answerStatusOK says whether a problem with code may come with status: a
// refusal ("busy", "unavailable", "maintenance", "rate_limited") only as a
// 503 or a 429, "outcome_unknown" only as a 504. Any other code may come
// with any status; the code alone classifies it.
func answerStatusOK(code string, status int) bool {
	switch {
	case isBusy(code):
		return status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
	case code == pw.EOUTCOMEUNKNOWN:
		return status == http.StatusGatewayTimeout
	}
	return true
}

// RunOverload offers cfg.Rate requests a second (Poisson arrivals) for
// cfg.Duration, whatever the answers: an open loop, as real users at a
// promotion are. Refusals must carry Retry-After (as pw.Error.Retry).
func RunOverload(ctx context.Context, svc pw.LedgerService, pop *Population, cfg OverloadConfig) (*OverloadResult, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("bench: overload needs a positive rate and duration")
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 2 * time.Second
	}
	mix := cfg.mix()
	if err := mix.Validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	payer, _ := svc.(AsyncPayer)
	if cfg.Async && payer == nil {
		return nil, fmt.Errorf("bench: --async needs a client that sends Prefer: respond-async (the HTTP one)")
	}
	classes := map[string]*classRec{"payment": {codes: map[string]int64{}}}
	if cfg.Scenario == ScenarioMixed {
		classes["read"] = &classRec{codes: map[string]int64{}}
		classes["report"] = &classRec{codes: map[string]int64{}}
	}
	pick := pop.picker(ScenarioUniform)
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	var inFlight atomic.Int64
	var dropped int64
	var intentsMu sync.Mutex
	var intents []string // accepted into the surge queue
	var lagsMu sync.Mutex
	var lags []time.Duration // each request's start less its arrival
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(cfg.Duration)
	next := start
	for i := uint64(0); ctx.Err() == nil; i++ {
		next = next.Add(time.Duration(rng.ExpFloat64() / cfg.Rate * float64(time.Second)))
		if next.After(end) {
			break
		}
		time.Sleep(time.Until(next))
		class, r := "payment", rng.IntN(100)
		if cfg.Scenario == ScenarioMixed && r >= mix.Payments {
			class = "read"
			if r >= mix.Payments+mix.Reads {
				class = "report"
			}
		}
		rec := classes[class]
		rec.offered.Add(1)
		if inFlight.Load() >= OverloadInFlightMax {
			dropped++
			continue
		}
		tr := pick(rng)
		atStart := next.Sub(start) < StartWindow
		arrival := next
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer func() { inFlight.Add(-1); wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
			defer cancel()
			t0 := time.Now()
			lagsMu.Lock()
			lags = append(lags, t0.Sub(arrival))
			lagsMu.Unlock()
			var err error
			switch class {
			case "payment":
				pctx := pw.NewContextWithIdempotencyKey(rctx, fmt.Sprintf("ov-%d-%d", cfg.Seed, i))
				if cfg.Async {
					var id string
					if id, err = payer.CreateTransferAsync(pctx, tr); err == nil && id != "" {
						rec.accepted.Add(1)
						intentsMu.Lock()
						intents = append(intents, id)
						intentsMu.Unlock()
						return
					}
					break
				}
				_, err = svc.CreateTransfer(pctx, tr)
			case "read":
				_, err = svc.Account(rctx, tr.FromAccount)
			default:
				_, _, err = svc.Transfers(rctx, "", pw.Page{Limit: 50})
			}
			rec.record(time.Since(t0), err, atStart)
		}()
	}
	// The surge is the time load was offered: the configured duration
	// (its last arrival comes a little before its end, by chance).
	surge := cfg.Duration
	wg.Wait()
	// A surge stopped before its end (or whose last answers were cut by
	// the cancellation) is no surge of cfg.Duration: no figure of it may
	// be reported. Until 2026-11-29 it was returned as a shorter surge,
	// its cut requests counted as failures, and no error
	// (TestACancelledRunIsAnError).
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: %s cut short after %.1f s of %s: %w", cfg.Label, time.Since(start).Seconds(), cfg.Duration, err)
	}
	drain := max(0, time.Since(start)-surge)
	res := &OverloadResult{Label: cfg.Label, Scenario: cfg.Scenario, OfferedRPS: cfg.Rate, Seconds: surge.Seconds(),
		DrainSeconds: drain.Seconds(), Dropped: dropped, SendLag: sendLagOf(lags), Classes: map[string]*ClassResult{}}
	if cfg.Scenario == ScenarioMixed {
		res.Mix = &mix
	}
	for name, c := range classes {
		res.Classes[name] = c.result(cfg.Deadline)
	}
	res.GoodputRPS = float64(res.Classes["payment"].OK) / surge.Seconds()
	res.intents = intents
	return res, nil
}

// P99Over is a class's p99 as a multiple of ref (the unloaded p99), or
// nil when it has none: when nothing of the class succeeded its p99 is no
// latency at all (percentile's 0 for no samples), and a ratio of 0 would
// read as the best result, not as the worst (a run that paid nothing).
func P99Over(c *ClassResult, refms float64) *float64 {
	if c == nil || c.OK == 0 || refms <= 0 {
		return nil
	}
	r := c.P99ms / refms
	return &r
}

// FollowSurgeQueue reads every intent that run's payments were accepted
// as (--async) again, a pass a second, until each is settled or wait has
// passed (SettleWaitDefault when 0), and records what became of them in
// run.SurgeQueue. It runs after the surge's own counts are taken.
func FollowSurgeQueue(ctx context.Context, svc pw.LedgerService, run *OverloadResult, wait time.Duration) error {
	payer, ok := svc.(AsyncPayer)
	if !ok {
		return fmt.Errorf("bench: following the surge queue needs a client that reads intents (the HTTP one)")
	}
	if wait <= 0 {
		wait = SettleWaitDefault
	}
	run.SurgeQueue = followIntents(ctx, payer, run.intents, wait)
	return nil
}

// followIntents reads every intent again, a pass a second, until each is
// settled or wait has passed.
func followIntents(ctx context.Context, payer AsyncPayer, ids []string, wait time.Duration) *SurgeQueueResult {
	r := &SurgeQueueResult{Accepted: int64(len(ids)), Codes: map[string]int64{}}
	start := time.Now()
	pending := ids
	for len(pending) > 0 && time.Since(start) < wait && ctx.Err() == nil {
		var mu sync.Mutex
		var still []string
		parallel(setupWorkers, len(pending), func(i int) {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			in, err := payer.Intent(rctx, pending[i])
			cancel()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil || in.Status == pw.IntentPending:
				still = append(still, pending[i])
			case in.Status == pw.IntentPosted:
				r.Posted++
			default:
				r.Failed++
				if in.Error != nil {
					r.Codes[in.Error.Code]++
				}
			}
		})
		if len(still) < len(pending) {
			r.DrainSeconds = time.Since(start).Seconds()
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	r.Pending = int64(len(pending))
	return r
}
