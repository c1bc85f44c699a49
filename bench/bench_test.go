package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPercentileIsTheNearestRank: every published p99 is percentile's,
// and nearest rank is the definition the docs give (the sample of rank
// ceil(q·n)). Until 2026-11-27 it took one rank higher whenever q·n is
// whole: the p99 of 100 samples was their maximum, the p50 of 1..100 was 51.
func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(n int) []time.Duration {
		l := make([]time.Duration, n)
		for i := range l {
			l[i] = time.Duration(n-i) * time.Millisecond // unsorted: percentile sorts
		}
		return l
	}
	for _, c := range []struct {
		n    int
		q    float64
		want float64
	}{
		{100, 0.99, 99}, {100, 0.50, 50}, {1000, 0.99, 990}, {2, 0.5, 1},
		{1000, 0.999, 999}, {100, 0.07, 7}, {101, 0.99, 100}, {1, 0.99, 1}, {10, 1, 10}, {10, 0, 1},
	} {
		if got := percentile(ms(c.n), c.q); got != c.want {
			t.Errorf("p%g of 1..%d ms = %g ms, want %g ms (nearest rank)", 100*c.q, c.n, got, c.want)
		}
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("p99 of no samples = %g, want 0", got)
	}
}

// TestACancelledRunIsAnError: a run stopped before its end (Ctrl-C, a
// cancelled context) measured part of what it was asked to, and from a
// closed loop its last requests fail with the cancellation. Until
// 2026-11-29 Run and RunOverload returned such a run's figures without an
// error, and `peakwallet bench --target` (which has no invariant check of
// its own to fail on the cancelled context) printed them as a report and
// exited 0.
func TestACancelledRunIsAnError(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"closed loop", func(ctx context.Context) error {
			_, err := Run(ctx, spinningPayer{}, twoUsers(), Config{Scenario: ScenarioUniform, Callers: 2, Duration: time.Second})
			return err
		}},
		{"spike", func(ctx context.Context) error {
			_, err := Run(ctx, spinningPayer{}, twoUsers(), Config{Scenario: ScenarioSpike, Callers: 2, Duration: time.Second, Capacity: 100})
			return err
		}},
		{"open loop", func(ctx context.Context) error {
			_, err := RunOverload(ctx, spinningPayer{}, twoUsers(), OverloadConfig{Scenario: ScenarioOverload, Rate: 100, Duration: time.Second})
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.run(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: a run cancelled after 0.1 s of 1 s returned %v, want the cancellation as its error", c.name, err)
		}
	}
}
