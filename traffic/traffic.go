// Package traffic is the server's memory of its own load: per minute, per
// priority class, how many requests came, how many succeeded, how many
// were answered busy (503/429), and a small latency histogram. Minutes are
// recorded in memory (Recorder), flushed to a Store by a bounded loop, and
// rolled up to hours and days so that months of history stay small.
//
// The forecast (package forecast) reads the hourly rollups.
package traffic

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Resolution is the width of a bucket.
type Resolution string

const (
	Minute Resolution = "minute"
	Hour   Resolution = "hour"
	Day    Resolution = "day"
)

// Duration is the width of r.
func (r Resolution) Duration() time.Duration {
	switch r {
	case Minute:
		return time.Minute
	case Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// Truncate returns the start of the bucket of width r that holds t (UTC).
func (r Resolution) Truncate(t time.Time) time.Time {
	return t.UTC().Truncate(r.Duration())
}

// LatencyBoundsMillis are the upper bounds of the latency histogram's
// buckets; one more bucket holds everything slower. A fixed, small set
// keeps a minute's record at a few dozen bytes however many requests it
// saw, and merges by addition (so hours and days are exact sums of their
// minutes). Percentiles read from it are bucket upper bounds: coarse, but
// honest about it (docs/forecast.md).
var LatencyBoundsMillis = [...]int64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// LatencyBucketsN is the number of histogram buckets.
const LatencyBucketsN = len(LatencyBoundsMillis) + 1

// Histogram counts requests per latency bucket.
type Histogram [LatencyBucketsN]int64

// Observe counts one request that took d.
func (h *Histogram) Observe(d time.Duration) {
	for i, b := range LatencyBoundsMillis {
		if d <= time.Duration(b)*time.Millisecond {
			h[i]++
			return
		}
	}
	h[LatencyBucketsN-1]++
}

// Add adds o's counts to h.
func (h *Histogram) Add(o Histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Quantile returns the upper bound of the bucket holding the q-th quantile
// (0 < q ≤ 1), or 0 when h is empty. The overflow bucket reports twice the
// last bound: "slower than 10 s".
func (h *Histogram) Quantile(q float64) time.Duration {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	var seen int64
	for i, c := range h {
		seen += c
		if seen >= rank {
			if i < len(LatencyBoundsMillis) {
				return time.Duration(LatencyBoundsMillis[i]) * time.Millisecond
			}
			break
		}
	}
	return 2 * time.Duration(LatencyBoundsMillis[len(LatencyBoundsMillis)-1]) * time.Millisecond
}

// String is the compact stored form: counts separated by commas.
func (h Histogram) String() string {
	var b strings.Builder
	for i, c := range h {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(c, 10))
	}
	return b.String()
}

// ParseHistogram reads the form String writes. Fewer fields than buckets
// are accepted (a later version may add bounds at the end).
func ParseHistogram(s string) (Histogram, error) {
	var h Histogram
	if s == "" {
		return h, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > LatencyBucketsN {
		return h, fmt.Errorf("traffic: histogram has %d buckets, want at most %d", len(parts), LatencyBucketsN)
	}
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return h, fmt.Errorf("traffic: histogram bucket %d: %w", i, err)
		}
		h[i] = v
	}
	return h, nil
}

// Bucket is the traffic of one priority class during one bucket of time.
type Bucket struct {
	Start     time.Time // UTC, truncated to the resolution
	Class     string    // the route's priority class (payment, topup, read, report, ops)
	Requests  int64
	Successes int64 // 2xx and 3xx answers
	Busy      int64 // 503 and 429 answers: the server said "not now"
	Latency   Histogram
}

// Add adds o's counts to b.
func (b *Bucket) Add(o *Bucket) {
	b.Requests += o.Requests
	b.Successes += o.Successes
	b.Busy += o.Busy
	b.Latency.Add(o.Latency)
}

// ClassOps is the class of health checks and metrics: recorded, but not
// load (a scraper polling /metrics says nothing about users).
const ClassOps = "ops"

// Store keeps buckets. Stores translate; they never decide. Both stores
// pass traffictest.Run.
type Store interface {
	// MergeTraffic adds each bucket's counts to the stored bucket of the
	// same resolution, start and class (creating it), so that several
	// processes can flush the same minute.
	MergeTraffic(ctx context.Context, res Resolution, buckets []*Bucket) error
	// ReplaceTraffic deletes the buckets of res with from ≤ start < to and
	// stores buckets instead, in one transaction: a rollup recomputed is
	// the same rollup.
	ReplaceTraffic(ctx context.Context, res Resolution, from, to time.Time, buckets []*Bucket) error
	// Traffic lists the buckets of res with from ≤ start < to, by start
	// then class.
	Traffic(ctx context.Context, res Resolution, from, to time.Time) ([]*Bucket, error)
	// DeleteTrafficBefore forgets the buckets of res that start before t.
	DeleteTrafficBefore(ctx context.Context, res Resolution, t time.Time) (int64, error)
}
