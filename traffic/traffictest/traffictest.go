// Package traffictest is the conformance suite of traffic.Store: both
// stores run Run, so that SQLite and PostgreSQL keep the same history.
package traffictest

import (
	"context"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/traffic"
)

// Opener returns a new, empty store that is closed when t ends.
type Opener func(t *testing.T) traffic.Store

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// Run runs every behaviour as a subtest, each on a fresh store.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s traffic.Store)
	}{
		{"merge adds", testMerge},
		{"rollups", testRollups},
		{"retention", testRetention},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func bucket(start time.Time, class string, n int64, ms int) *traffic.Bucket {
	b := &traffic.Bucket{Start: start, Class: class, Requests: n, Successes: n - 1, Busy: 1}
	for i := int64(0); i < n; i++ {
		b.Latency.Observe(time.Duration(ms) * time.Millisecond)
	}
	return b
}

func testMerge(t *testing.T, s traffic.Store) {
	ctx := context.Background()
	must(t, s.MergeTraffic(ctx, traffic.Minute, []*traffic.Bucket{bucket(t0, "payment", 10, 3), bucket(t0, "read", 4, 30)}))
	// A second process flushes the same minute.
	must(t, s.MergeTraffic(ctx, traffic.Minute, []*traffic.Bucket{bucket(t0, "payment", 5, 300)}))
	got, err := s.Traffic(ctx, traffic.Minute, t0, t0.Add(time.Minute))
	must(t, err)
	if len(got) != 2 || got[0].Class != "payment" || got[1].Class != "read" {
		t.Fatalf("Traffic = %+v", got)
	}
	p := got[0]
	if p.Requests != 15 || p.Successes != 13 || p.Busy != 2 || !p.Start.Equal(t0) {
		t.Fatalf("merged = %+v", p)
	}
	if p.Latency.Quantile(0.5) != 5*time.Millisecond || p.Latency.Quantile(0.99) != 500*time.Millisecond {
		t.Fatalf("merged latency p50 %v p99 %v (%v)", p.Latency.Quantile(0.5), p.Latency.Quantile(0.99), p.Latency)
	}
	if got, _ := s.Traffic(ctx, traffic.Hour, t0, t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("minutes leaked into hours: %+v", got)
	}
}

func testRollups(t *testing.T, s traffic.Store) {
	ctx := context.Background()
	var minutes []*traffic.Bucket
	for m := 0; m < 120; m++ { // two hours, 10:00 to 12:00
		minutes = append(minutes, bucket(t0.Add(time.Duration(m)*time.Minute), "payment", 2, 3))
	}
	must(t, s.MergeTraffic(ctx, traffic.Minute, minutes))
	now := t0.Add(14 * time.Hour) // next day 00:00 so that the day is complete
	must(t, traffic.Rollup(ctx, s, now, 15*time.Hour))
	// Twice: a recomputed rollup is the same rollup.
	must(t, traffic.Rollup(ctx, s, now, 15*time.Hour))
	hours, err := s.Traffic(ctx, traffic.Hour, t0.Add(-time.Hour), now)
	must(t, err)
	if len(hours) != 2 || hours[0].Requests != 120 || hours[1].Requests != 120 || !hours[1].Start.Equal(t0.Add(time.Hour)) {
		t.Fatalf("hours = %+v", hours)
	}
	days, err := s.Traffic(ctx, traffic.Day, t0.Add(-48*time.Hour), now)
	must(t, err)
	if len(days) != 1 || days[0].Requests != 240 || days[0].Busy != 120 || !days[0].Start.Equal(traffic.Day.Truncate(t0)) {
		t.Fatalf("days = %+v", days)
	}
	if q := days[0].Latency.Quantile(0.99); q != 5*time.Millisecond {
		t.Fatalf("day p99 = %v", q)
	}
	// ReplaceTraffic only touches its range and resolution.
	must(t, s.ReplaceTraffic(ctx, traffic.Hour, t0, t0.Add(time.Hour), nil))
	hours, _ = s.Traffic(ctx, traffic.Hour, t0.Add(-time.Hour), now)
	if len(hours) != 1 || !hours[0].Start.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after replace: %+v", hours)
	}
}

func testRetention(t *testing.T, s traffic.Store) {
	ctx := context.Background()
	must(t, s.MergeTraffic(ctx, traffic.Minute, []*traffic.Bucket{bucket(t0, "read", 1, 1), bucket(t0.Add(3*time.Hour), "read", 1, 1)}))
	must(t, s.MergeTraffic(ctx, traffic.Hour, []*traffic.Bucket{bucket(t0, "read", 1, 1)}))
	must(t, traffic.Expire(ctx, s, t0.Add(4*time.Hour), traffic.Retention{Minutes: 2 * time.Hour}))
	mins, _ := s.Traffic(ctx, traffic.Minute, t0.Add(-time.Hour), t0.Add(5*time.Hour))
	hours, _ := s.Traffic(ctx, traffic.Hour, t0.Add(-time.Hour), t0.Add(5*time.Hour))
	if len(mins) != 1 || !mins[0].Start.Equal(t0.Add(3*time.Hour)) || len(hours) != 1 {
		t.Fatalf("after expiry: minutes %+v hours %+v", mins, hours)
	}
}
