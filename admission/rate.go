package admission

import (
	"math"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// PrincipalsMax bounds the token buckets kept; past it, full (idle)
// buckets are forgotten, which loses nothing: a full bucket is what a new
// principal gets anyway.
const PrincipalsMax = 100_000

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
// the attempt and, when no token was left, how long until one is.
func (b *bucket) take(now time.Time, rate float64, burst int) (Quota, time.Duration, bool) {
	b.tokens = math.Min(float64(burst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	q := Quota{
		Limit:     burst,
		Window:    time.Duration(float64(burst) / rate * float64(time.Second)),
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
	q, wait, ok := b.take(now, c.cfg.Rate, c.cfg.Burst)
	if ok {
		return q, nil
	}
	c.stats.RateLimited++
	return q, &pw.Error{Code: pw.ERATELIMITED, Op: "admission.Allow", Retry: wait,
		Message: "too many requests from this client; slow down"}
}

// forgetFullBuckets drops the buckets that have refilled completely.
func (c *Controller) forgetFullBuckets(now time.Time) {
	for p, b := range c.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*c.cfg.Rate >= float64(c.cfg.Burst) {
			delete(c.buckets, p)
		}
	}
	if len(c.buckets) >= PrincipalsMax {
		// Every bucket is in use: forget them all rather than grow without
		// bound. Clients get a fresh burst, once.
		clear(c.buckets)
	}
}
