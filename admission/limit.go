package admission

import (
	"math"
	"time"
)

// Limit limits. The concurrency limit moves between LimitMin and LimitMax;
// LimitInitial is where it starts before anything was measured.
//
// The ledger commits concurrent requests in one batch, so its throughput
// grows with concurrency while each request's latency grows a little too,
// and a batch's cost per transfer falls as it grows. LimitMin keeps enough
// requests in flight to fill large batches whatever the latency signal
// says: at three times capacity the CPU spent refusing the excess slows
// every commit, a latency-driven limit reads that as overload, and
// shrinking the batches then costs more CPU per payment still. Measured on
// two cores (docs/overload.md): a floor of 32 gave 58–80 % of capacity at
// 3× load, 64 gave 83 %, 128 gave 97–104 % (2026-11-25). On 2026-11-26, in
// interleaved runs, 256 against 128 paid 66.6–75.4 % against 53.0–78.1 % of
// capacity on SQLite (4 pairs of 5) and 96.0 and 107.6 % against 82.3 and
// 91.6 % on PostgreSQL, in commits of about 100 payments instead of 40–60,
// for a p99 about 1.5× higher (150–220 ms, within every deadline); mixed
// surges paid as many payments. Then 512 against 256: 73.8–85.0 % against
// 61.7–77.6 % on SQLite (4 pairs of 4, commits of about 240 payments), as
// much on PostgreSQL (96.0, 109.6 % against 102.0, 92.1 %), mixed surges
// the same (PostgreSQL paid 100 % of payments in both), for a p99 of
// 190–490 ms against 170–270 ms. Above the floor the gradient finds the
// knee where more concurrency buys only latency.
const (
	LimitMin     = 512
	LimitMax     = 2048
	LimitInitial = 512
)

// Gradient parameters, after Netflix concurrency-limits' Gradient2Limit.
const (
	// LatencyTolerance is how much slower than its class's floor a
	// request may get, on average, before the limit shrinks. The floor is a
	// lone request's latency, one commit; a group commit at full
	// throughput carries a large batch, and its latency is several times
	// that by design (in theory about ten times at 90 % of the peak
	// throughput, as a batch's fixed cost is amortised over its size;
	// measured on SQLite here: 13 ms at capacity against a 1.7 ms floor).
	// More than that is queueing inside the store.
	LatencyTolerance = 8
	// gradientQueue is the headroom added each step, so that the limit
	// probes upward while latency stays within tolerance.
	gradientQueue = 4
	// gradientSmoothing damps each step.
	gradientSmoothing = 0.5
	// shortAlpha is the weight of a new sample in the short (~10 samples)
	// averages.
	shortAlpha = 2.0 / 11
	// FloorRise is the time constant with which a class's latency floor
	// follows a higher recent latency. The floor is Envoy's minRTT idea: it
	// follows the recent latency down at once and up only slowly, so that
	// sustained overload (30 s of it, 150 000 requests) cannot teach the
	// limiter that slow is normal, while a store that truly became slower
	// is accepted within minutes.
	FloorRise = 10 * time.Minute
	// LimitWindow is how often the limit moves, given limitWindowSamples
	// samples at least.
	LimitWindow        = 50 * time.Millisecond
	limitWindowSamples = 8
)

// gradient is an adaptive concurrency limit driven by latency (Gradient2).
// Each request's latency is compared with the floor of its own class — a
// report's, a read's and a payment's latencies differ by orders of
// magnitude, and one floor for all (as first built) let a cheap read set a
// floor no payment could meet, which drove the limit to its minimum. The
// short average of latency/floor is the overload signal: while it stays
// under the tolerance the limit grows by the headroom; beyond it the limit
// shrinks in proportion. No configured target latency is needed, which
// matters because the store's latency differs by an order of magnitude
// between SQLite and PostgreSQL.
//
// It is not safe for concurrent use; the Controller's mutex guards it.
type gradient struct {
	limit     float64
	min, max  float64
	tolerance float64
	ratio     float64 // mean of latency / class floor over the last window
	class     [classCount]classLatency
	window    limitWindow
}

// limitWindow accumulates the samples of one LimitWindow.
type limitWindow struct {
	start         time.Time
	n             int
	ratio         float64 // sum of latency / class floor
	dropped, used bool
}

// classLatency is one class's latency: a short average and its floor, in seconds.
type classLatency struct {
	short, floor float64
	last         time.Time // of the last sample
}

func newGradient(initial, lo, hi int, tolerance float64) *gradient {
	return &gradient{limit: float64(initial), min: float64(lo), max: float64(hi), tolerance: tolerance, ratio: 1}
}

// Limit is the current concurrency limit.
func (g *gradient) Limit() int { return int(g.limit) }

// Floor is class's latency floor, or 0 before its first sample.
func (g *gradient) Floor(class Class) time.Duration { return seconds(g.class[class].floor) }

// Last is when class's latency was last sampled (zero before the first).
func (g *gradient) Last(class Class) time.Time { return g.class[class].last }

// Recent is class's short-run latency.
func (g *gradient) Recent(class Class) time.Duration { return seconds(g.class[class].short) }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// sample adds one class request's latency, measured at now with inFlight
// requests running when it started. dropped requests (timed out in the
// store) count as a strong signal of overload.
//
// The limit moves once per LimitWindow, on the window's mean of
// latency/floor, not on each sample: requests committed in one batch
// share one latency, so a single slow commit would otherwise arrive as a
// run of a hundred identical samples and drive the limit to its minimum
// within a millisecond (it did, and goodput fell with it).
func (g *gradient) sample(now time.Time, class Class, rtt time.Duration, inFlight int, dropped bool) {
	r := max(rtt.Seconds(), 1e-6)
	cl := &g.class[class]
	if cl.last.IsZero() {
		cl.short, cl.floor = r, r
	} else {
		if now.Sub(cl.last) >= EstimateStale {
			// Nothing was sampled for a while: the average is stale, and
			// this sample replaces it (staleEstimate).
			cl.short = r
		} else {
			cl.short += (r - cl.short) * shortAlpha
		}
		if cl.short < cl.floor {
			cl.floor = cl.short
		} else {
			rise := 1 - math.Exp(-now.Sub(cl.last).Seconds()/FloorRise.Seconds())
			cl.floor += (cl.short - cl.floor) * rise
		}
	}
	cl.last = now
	w := &g.window
	if w.start.IsZero() {
		w.start = now
	}
	w.n++
	w.ratio += r / cl.floor
	w.dropped = w.dropped || dropped
	// Under-used: a limit that is not reached says nothing about itself.
	w.used = w.used || float64(inFlight) >= g.limit/2
	if now.Sub(w.start) < LimitWindow || w.n < limitWindowSamples {
		return
	}
	g.ratio = w.ratio / float64(w.n)
	switch {
	case w.dropped:
		g.limit = math.Max(g.min, g.limit*0.9)
	case w.used:
		grad := math.Max(0.5, math.Min(1, g.tolerance/g.ratio))
		next := g.limit*grad + gradientQueue
		g.limit = g.limit*(1-gradientSmoothing) + next*gradientSmoothing
		g.limit = math.Max(g.min, math.Min(g.max, g.limit))
	}
	g.window = limitWindow{start: now}
}
