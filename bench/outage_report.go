package bench

import (
	"fmt"
	"maps"
	"slices"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Issue 4's outage target, which OutageResult.TargetMet judges.
const (
	// OutageRecoveryMax is how soon after the database's return full
	// service must be back.
	OutageRecoveryMax = 5 * time.Second
)

// OutagePhase counts the payments sent in one phase of an outage run.
type OutagePhase struct {
	Sent int64 `json:"sent"`
	OK   int64 `json:"ok"`
	// Codes counts the failures by code: the server's problem code
	// ("busy" is a 503, "outcome_unknown" a 504), client_timeout or
	// client_transport when no answer came.
	Codes map[string]int64 `json:"codes,omitempty"`
	// BusyWithoutRetryAfter counts 503 busy and 504 outcome_unknown
	// answers without Retry-After.
	BusyWithoutRetryAfter int64 `json:"busy_without_retry_after"`
	// Unexpected counts answers other than a success, a 503 busy or a 504
	// outcome_unknown (with or without Retry-After): in any phase, the
	// target says none. (The target asks for 503s only; but a payment
	// whose COMMIT the outage cut may have moved money, and a 503 promises
	// that nothing moved: those are 504s, counted in InDoubt and settled
	// by their retries.)
	Unexpected int64 `json:"unexpected"`
	// Samples holds, for each failure code, the first such error and
	// when it was sent and answered (seconds since the run's start).
	Samples map[string]string `json:"samples,omitempty"`
	// P99ms is the p99 latency of the phase's successful payments only
	// (OK): in an outage, of the few paid at its edges, not of its
	// refusals, nor of the payments the client stopped waiting for.
	P99ms float64 `json:"p99_ms"`
	// P99msWithTimeouts is the p99 of the phase's successes and its
	// client timeouts (CodeTimeout), each timeout counted at the request's
	// deadline, the least it would have taken, as the overload report's
	// (ClassResult.P99msWithTimeouts). Refusals, outcome_unknown and
	// requests never sent (CodeUnsent) are in neither. Until the review of
	// 2026-11-29 the outage report had P99ms only.
	P99msWithTimeouts float64 `json:"p99_ms_with_timeouts"`
}

// OutageBucketCount is one OutageBucket of the timeline, by send time.
type OutageBucketCount struct {
	AtMs   int64 `json:"at_ms"` // the bucket's start, since the run's start
	Sent   int64 `json:"sent"`
	OK     int64 `json:"ok"`
	Busy   int64 `json:"busy"`
	Other  int64 `json:"other"`
	Served bool  `json:"served"`
}

// OutageResult is what an outage run measured.
//
// Phases are by send time: before the stop command was issued; during,
// from then until the start command returned (the database accepting
// connections again); after, the rest.
//
// Recovery: the answers are put in OutageBucket (250 ms) buckets by send
// time; a bucket is served when at least OutageServedShare (99 %) of its
// payments succeeded (a client timeout is a failure; an empty bucket is
// served). Recovery is the start of the first bucket from which every
// later bucket is served, minus the moment the start command returned,
// and 0 when that is negative. When the last bucket is not served, the
// service did not recover within the run: Recovered is false and
// RecoverySeconds runs to the end of the run.
type OutageResult struct {
	OfferedRPS float64 `json:"offered_rps"`
	Seconds    float64 `json:"seconds"`
	Dropped    int64   `json:"dropped_by_generator"`

	StopIssuedS    float64 `json:"stop_issued_s"`
	StopReturnedS  float64 `json:"stop_returned_s"`
	StartIssuedS   float64 `json:"start_issued_s"`
	StartReturnedS float64 `json:"start_returned_s"`

	Before OutagePhase `json:"before"`
	During OutagePhase `json:"during"`
	After  OutagePhase `json:"after"`

	Recovered       bool    `json:"recovered"`
	RecoverySeconds float64 `json:"recovery_seconds"`

	// InDoubt is what became of the payments answered 504 outcome_unknown
	// (a COMMIT cut as the database went away, whose outcome could not be
	// learned in time) when each was retried with its key after the run.
	InDoubt InDoubtCount `json:"in_doubt"`

	Acknowledged int64 `json:"acknowledged"`
	Missing      int64 `json:"missing"` // acknowledged, then not found on read-back
	// Mismatched counts the acknowledged transfers read back with another
	// payer, payee, amount or currency than the payment sent (or under
	// another ID). Until 2026-11-29 the read-back only asked whether each
	// existed, and a transfer stored with a wrong amount passed.
	Mismatched int64 `json:"mismatched"`
	Unverified int64 `json:"unverified"` // acknowledged, read-back failed otherwise or impossible (WithoutID)
	// WithoutID counts the payments acknowledged (or paid on a retry)
	// by an answer that named no transfer: nothing can be read back, so
	// they are counted in Unverified too (until 2026-11-27 they were
	// counted nowhere, and "missing 0" was said of transfers nobody read).
	WithoutID     int64    `json:"acknowledged_without_id"`
	MissingSample []string `json:"missing_sample,omitempty"`
	// MismatchedSample gives the first mismatched transfers and how each
	// differs ("tr_…: amount 5, sent 6").
	MismatchedSample []string `json:"mismatched_sample,omitempty"`

	// TargetMet: in every phase only successes, 503 busy and 504
	// outcome_unknown, with Retry-After; every outcome_unknown settled by
	// its retry; recovered within OutageRecoveryMax; every acknowledged
	// transfer, and every one paid on a retry, read back as the payment
	// sent. Every phase, not only the outage's: phases are by send time,
	// and a payment sent just before the stop is answered during the
	// outage (until 2026-11-27 its 500 was counted in Before, which the
	// target did not look at; so was a 500 after the restart in a bucket
	// still 99 % served).
	TargetMet bool                `json:"target_met"`
	Timeline  []OutageBucketCount `json:"timeline"`
}

// judgeOutage sorts the answers into phases and buckets and finds the
// recovery time. A client timeout counts at cfg.Deadline in a phase's
// P99msWithTimeouts (RunOutage sets its default).
func judgeOutage(answers []answer, t outageTimes, elapsed time.Duration, cfg OutageConfig) *OutageResult {
	res := &OutageResult{OfferedRPS: cfg.Rate, Seconds: elapsed.Seconds(),
		StopIssuedS: t.stopIssued.Seconds(), StopReturnedS: t.stopReturned.Seconds(),
		StartIssuedS: t.startIssued.Seconds(), StartReturnedS: t.startReturned.Seconds()}
	// The buckets span the time payments were offered, not the wait for
	// the last answers after it: empty buckets there would count as
	// served and could hide a service that never came back.
	span := cfg.Duration
	buckets := make([]OutageBucketCount, max(1, int((span+OutageBucket-1)/OutageBucket)))
	for i := range buckets {
		buckets[i].AtMs = (time.Duration(i) * OutageBucket).Milliseconds()
	}
	lats := map[*OutagePhase][]time.Duration{}
	for _, a := range answers {
		ph := &res.After
		switch {
		case a.sent < t.stopIssued:
			ph = &res.Before
		case a.sent < t.startReturned:
			ph = &res.During
		}
		b := &buckets[min(int(a.sent/OutageBucket), len(buckets)-1)]
		ph.Sent++
		b.Sent++
		switch {
		case a.code == "":
			ph.OK++
			b.OK++
			res.Acknowledged++
			lats[ph] = append(lats[ph], a.latency)
			continue
		case a.code == pw.EBUSY || a.code == pw.EOUTCOMEUNKNOWN:
			if a.code == pw.EBUSY {
				b.Busy++
			} else {
				b.Other++
			}
			if a.noRetry {
				ph.BusyWithoutRetryAfter++
			}
		default:
			b.Other++
			ph.Unexpected++
		}
		if ph.Codes == nil {
			ph.Codes, ph.Samples = map[string]int64{}, map[string]string{}
		}
		if ph.Codes[a.code]++; ph.Codes[a.code] == 1 {
			ph.Samples[a.code] = fmt.Sprintf("sent %.3f s, answered %.3f s: %s", a.sent.Seconds(), (a.sent + a.latency).Seconds(), a.message)
		}
	}
	for _, ph := range []*OutagePhase{&res.Before, &res.During, &res.After} {
		ph.P99ms = percentile(lats[ph], 0.99)
		ph.P99msWithTimeouts = percentileWithTimeouts(lats[ph], ph.Codes[CodeTimeout], cfg.Deadline, 0.99)
	}
	for i := range buckets {
		b := &buckets[i]
		b.Served = b.Sent == 0 || float64(b.OK) >= OutageServedShare*float64(b.Sent)
	}
	first := len(buckets) // the first bucket of the served tail
	for first > 0 && buckets[first-1].Served {
		first--
	}
	res.Recovered = first < len(buckets)
	from := time.Duration(first) * OutageBucket
	if !res.Recovered {
		from = span
	}
	res.RecoverySeconds = max(0, (from - t.startReturned).Seconds())
	res.Timeline = buckets
	return res
}

// finish decides TargetMet once the read-back is counted.
func (r *OutageResult) finish() {
	honest := true
	for _, ph := range []*OutagePhase{&r.Before, &r.During, &r.After} {
		honest = honest && ph.Unexpected == 0 && ph.BusyWithoutRetryAfter == 0
	}
	r.TargetMet = honest && r.InDoubt.Unresolved == 0 && r.Recovered &&
		r.RecoverySeconds <= OutageRecoveryMax.Seconds() && r.Missing == 0 && r.Mismatched == 0 && r.Unverified == 0
}

// InDoubtCount counts the payments answered outcome_unknown by what their
// retry with the same key found.
type InDoubtCount struct {
	Answered int64 `json:"answered"` // answered 504 outcome_unknown
	// Paid: the retry succeeded (the remembered payment if it had
	// committed, else made then); its transfer is read back too.
	Paid int64 `json:"paid"`
	// Refused: the retry's answer was a final refusal, by code.
	Refused      int64            `json:"refused"`
	RefusedCodes map[string]int64 `json:"refused_codes,omitempty"`
	// Unresolved: still busy or unknown after OutageSettleMax.
	Unresolved int64 `json:"unresolved"`
}

// UnexpectedCodes lists the codes of a phase's failures other than 503
// busy and 504 outcome_unknown.
func (p *OutagePhase) UnexpectedCodes() []string {
	var out []string
	for _, c := range slices.Sorted(maps.Keys(p.Codes)) {
		if c != pw.EBUSY && c != pw.EOUTCOMEUNKNOWN {
			out = append(out, c)
		}
	}
	return out
}
