package admission

import (
	"cmp"
	"math"
	"slices"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// PrincipalsMax bounds the token buckets kept; past it, full (idle)
// buckets are forgotten, which loses nothing: a full bucket is what a new
// principal gets anyway. If too few are full, the buckets nearest full
// are forgotten too, down to PrincipalsKept: each of those principals gets
// back at most what its bucket lacked of a burst, once.
const PrincipalsMax = 100_000

// PrincipalsKept is how many buckets a sweep at PrincipalsMax leaves, so
// that a sweep, which looks at every bucket under the controller's lock,
// comes at most once per PrincipalsMax-PrincipalsKept new principals.
// Until 2026-11-29 a sweep forgot only full buckets: with one full bucket
// among 100,000 busy ones each new principal swept them all again.
const PrincipalsKept = PrincipalsMax * 9 / 10

// Quota is a principal's rate-limit state, for the RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers): Limit requests per Window,
// Remaining now, full again after Reset.
type Quota struct {
	Limit     int
	Window    time.Duration
	Remaining int
	Reset     time.Duration
}

// bucket is a token bucket: Rate tokens a second, at most Burst.
type bucket struct {
	tokens float64
	at     time.Time
}

// take refills b to now and takes one token. It returns the quota after
// the attempt (policy's Limit and Window: ratePolicy) and, when no token
// was left, how long until one is.
func (b *bucket) take(now time.Time, rate float64, burst int, policy Quota) (Quota, time.Duration, bool) {
	b.tokens = math.Min(float64(burst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	q := Quota{
		Limit:     policy.Limit,
		Window:    policy.Window,
		Remaining: int(b.tokens),
		Reset:     time.Duration((float64(burst) - b.tokens) / rate * float64(time.Second)),
	}
	if ok {
		return q, 0, true
	}
	return q, time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
}

// Allow takes one token from principal's bucket. It returns the quota for
// the RateLimit headers, and an *pw.Error rate_limited with Retry set to
// when the next token comes when the bucket is empty. With rate limiting
// off (Config.Rate 0) it returns a zero Quota and nil.
func (c *Controller) Allow(principal string) (Quota, error) {
	if c.cfg.Rate <= 0 || c.cfg.RateExempt(principal) {
		return Quota{}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	b, ok := c.buckets[principal]
	if !ok {
		if len(c.buckets) >= PrincipalsMax {
			c.forgetFullBuckets(now)
		}
		b = &bucket{tokens: float64(c.cfg.Burst), at: now}
		c.buckets[principal] = b
	}
	q, wait, ok := b.take(now, c.cfg.Rate, c.cfg.Burst, c.policy)
	if ok {
		return q, nil
	}
	c.stats.RateLimited++
	return q, &pw.Error{Code: pw.ERATELIMITED, Op: "admission.Allow", Retry: wait,
		Message: "too many requests from this client; slow down"}
}

// forgetFullBuckets drops the buckets that have refilled completely and,
// if more than PrincipalsKept remain, those nearest full until
// PrincipalsKept do (TestASweepOfTheRateBucketsFreesATenth).
func (c *Controller) forgetFullBuckets(now time.Time) {
	type level struct {
		principal string
		tokens    float64
	}
	burst := float64(c.cfg.Burst)
	levels := make([]level, 0, len(c.buckets))
	for p, b := range c.buckets {
		if t := b.tokens + now.Sub(b.at).Seconds()*c.cfg.Rate; t >= burst {
			delete(c.buckets, p)
		} else {
			levels = append(levels, level{p, t})
		}
	}
	if excess := len(levels) - PrincipalsKept; excess > 0 {
		slices.SortFunc(levels, func(a, b level) int { return cmp.Compare(b.tokens, a.tokens) })
		for _, l := range levels[:excess] {
			delete(c.buckets, l.principal)
		}
	}
	c.stats.RateSweeps++
}

// RatePolicySearchMax bounds the whole seconds past a bucket's refill
// time that ratePolicy tries for a window over which the rate gives a
// whole quota: an hour, once, when the controller is made.
const RatePolicySearchMax = 3600

// ratePolicy is the quota and the window that RateLimit-Policy states for
// a bucket of burst tokens refilled at rate a second. The draft
// (draft-ietf-httpapi-ratelimit-headers) states a quota q per window w,
// both whole numbers; a token bucket has no window, so the policy states
// its rate: q per w is rate exactly, over the first whole second w from
// the refill time (burst/rate) on at which rate×w is whole, so q is at
// least the burst. Until 2026-11-29 it stated the burst over the refill
// time rounded up to a whole second, which understated the rate whenever
// that time was not whole: 10 per 4 s for 3 a second
// (TestTheRatePolicyStatesTheRateExactly). A rate that gives no whole quota
// within RatePolicySearchMax seconds more is stated over the refill time
// rounded up, with the whole quota just under it.
func ratePolicy(rate float64, burst int) Quota {
	if rate <= 0 || !finite(rate) {
		return Quota{}
	}
	const slack = 1e-9 // what float arithmetic leaves of a whole number
	first := max(1, math.Ceil(float64(burst)/rate-slack))
	for w := first; w <= first+RatePolicySearchMax; w++ {
		q := rate * w
		if whole := math.Round(q); whole >= 1 && math.Abs(q-whole) <= slack*whole {
			return Quota{Limit: int(whole), Window: time.Duration(w) * time.Second}
		}
	}
	return Quota{Limit: max(burst, int(math.Floor(rate*first))), Window: time.Duration(first) * time.Second}
}
