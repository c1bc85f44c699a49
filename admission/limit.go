package admission

import (
	"math"
	"time"
)

// Limit limits. The concurrency limit moves between LimitMin and LimitMax;
// LimitInitial is where it starts before anything was measured.
//
// LimitMin is high on purpose: the ledger commits concurrent requests in
// one batch, so its throughput grows with concurrency while each request's
// latency grows too. A latency-driven limit left free to fall would read
// that growth as overload, shrink the batches and collapse throughput (it
// did: the limit fell to 7 and goodput to a tenth of capacity at 3× load).
// Below LimitMin the queue's bounds and the deadlines do the protecting.
const (
	LimitMin     = 256
	LimitMax     = 2048
	LimitInitial = 256
)

// Gradient parameters, after Netflix concurrency-limits' Gradient2Limit.
const (
	// gradientTolerance is how much slower than the long-run latency the
	// recent latency may get before the limit shrinks: batching makes
	// latency grow a little with load, and that growth buys throughput.
	gradientTolerance = 3
	// gradientQueue is the headroom added each step, so that the limit
	// probes upward while latency stays within tolerance.
	gradientQueue = 4
	// gradientSmoothing damps each step.
	gradientSmoothing = 0.2
	// shortAlpha is the weight of a new sample in the short (~10 samples)
	// latency average. The long-run latency is not an average but a floor,
	// as in Envoy's adaptive concurrency (minRTT): it follows the recent
	// latency down at once and up only by longAlpha per sample, so that
	// sustained overload cannot teach the limiter that slow is normal,
	// while a store that truly became slower is accepted within tens of
	// thousands of requests.
	shortAlpha = 2.0 / 11
	longAlpha  = 1.0 / 20000
)

// gradient is an adaptive concurrency limit driven by latency (Gradient2):
// the limit is scaled by long/short, the ratio of the long-run latency to
// the recent one. While recent latency stays near the long-run one the
// limit grows by the queue headroom; when requests start waiting (latency
// rises above tolerance × long-run) it shrinks in proportion. No
// configured target latency is needed, which matters because the store's
// latency differs by an order of magnitude between SQLite and PostgreSQL.
//
// It is not safe for concurrent use; the Controller's mutex guards it.
type gradient struct {
	limit       float64
	min, max    float64
	short, long float64 // seconds
	samples     int64
}

func newGradient(initial, lo, hi int) *gradient {
	return &gradient{limit: float64(initial), min: float64(lo), max: float64(hi)}
}

// Limit is the current concurrency limit.
func (g *gradient) Limit() int { return int(g.limit) }

// Baseline is the long-run latency, or 0 before the first sample.
func (g *gradient) Baseline() time.Duration { return time.Duration(g.long * float64(time.Second)) }

// Recent is the short-run latency.
func (g *gradient) Recent() time.Duration { return time.Duration(g.short * float64(time.Second)) }

// sample adds one request's latency, measured with inFlight requests
// running when it started. dropped requests (timed out in the store) count
// as a strong signal of overload.
func (g *gradient) sample(rtt time.Duration, inFlight int, dropped bool) {
	r := rtt.Seconds()
	if r <= 0 {
		r = 1e-6
	}
	if g.samples == 0 {
		g.short, g.long = r, r
	}
	g.samples++
	g.short += (r - g.short) * shortAlpha
	if g.short < g.long {
		g.long = g.short
	} else {
		g.long += (g.short - g.long) * longAlpha
	}
	if dropped {
		g.limit = math.Max(g.min, g.limit*0.9)
		return
	}
	// Under-used: a limit that is not reached says nothing about itself.
	if float64(inFlight) < g.limit/2 {
		return
	}
	grad := math.Max(0.5, math.Min(1, gradientTolerance*g.long/g.short))
	next := g.limit*grad + gradientQueue
	g.limit = g.limit*(1-gradientSmoothing) + next*gradientSmoothing
	g.limit = math.Max(g.min, math.Min(g.max, g.limit))
}
