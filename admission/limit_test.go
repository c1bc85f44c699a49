package admission

import (
	"testing"
	"time"
)

var limitT0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// feed gives g n samples of class at latency rtt, spread evenly over d
// from *now, with the limit saturated.
func feed(g *gradient, now *time.Time, d time.Duration, n int, class Class, rtt time.Duration) {
	step := d / time.Duration(n)
	for range n {
		*now = now.Add(step)
		g.sample(*now, class, rtt, g.Limit(), false)
	}
}

// TestLimitFloorsPerClass: reads at 0.1 ms and payments at 5 ms, each at
// its own floor, are not overload. With one floor for all (the first
// design) the payments looked 50 times too slow and the limit fell to its
// minimum.
func TestLimitFloorsPerClass(t *testing.T) {
	g := newGradient(200, 16, 2048, LatencyTolerance)
	now := limitT0
	for range 100 {
		feed(g, &now, 10*time.Millisecond, 20, ClassRead, 100*time.Microsecond)
		feed(g, &now, 10*time.Millisecond, 20, ClassPayment, 5*time.Millisecond)
	}
	if g.Limit() < 200 {
		t.Fatalf("limit %d: reads and payments at their floors shrank it", g.Limit())
	}
	if f := g.Floor(ClassPayment); f != 5*time.Millisecond {
		t.Fatalf("payments' floor %v, want 5ms", f)
	}
}

// TestLimitShrinksPastTolerance: payments 20 times slower than their floor
// for a second drive the limit down to its minimum; back at the floor it
// grows again.
func TestLimitShrinksPastTolerance(t *testing.T) {
	g := newGradient(400, 32, 2048, LatencyTolerance)
	now := limitT0
	feed(g, &now, time.Second, 1000, ClassPayment, 2*time.Millisecond) // learn the floor
	grown := g.Limit()
	if grown <= 400 {
		t.Fatalf("limit %d did not grow while latency stayed at the floor", grown)
	}
	feed(g, &now, time.Second, 1000, ClassPayment, 40*time.Millisecond)
	if g.Limit() != 32 {
		t.Fatalf("limit %d after a second at 20× the floor, want the minimum 32", g.Limit())
	}
	feed(g, &now, time.Second, 1000, ClassPayment, 2*time.Millisecond)
	if g.Limit() <= 32 {
		t.Fatalf("limit %d did not recover at the floor", g.Limit())
	}
}

// TestLimitMovesPerWindow: a batch's hundred identical slow samples,
// arriving at one instant, move the limit once, not a hundred times.
func TestLimitMovesPerWindow(t *testing.T) {
	g := newGradient(400, 32, 2048, LatencyTolerance)
	now := limitT0
	feed(g, &now, time.Second, 1000, ClassPayment, 2*time.Millisecond)
	before := g.Limit()
	now = now.Add(LimitWindow)
	for range 100 {
		g.sample(now, ClassPayment, 100*time.Millisecond, g.Limit(), false)
	}
	// One step at most: smoothing ½ of a gradient of at least ½.
	if after := g.Limit(); float64(after) < 0.75*float64(before)-1 {
		t.Fatalf("limit %d → %d on one window's samples", before, after)
	}
}

// TestLimitFloorRisesSlowly: thirty seconds of overload move a class's
// floor by a few percent of the gap, not to the overloaded latency.
func TestLimitFloorRisesSlowly(t *testing.T) {
	g := newGradient(400, 32, 2048, LatencyTolerance)
	now := limitT0
	feed(g, &now, time.Second, 1000, ClassPayment, 2*time.Millisecond)
	feed(g, &now, 30*time.Second, 150_000, ClassPayment, 50*time.Millisecond)
	// 1 - e^(-30 s / 10 min) ≈ 4.9 % of the 48 ms gap.
	if f := g.Floor(ClassPayment); f > 5*time.Millisecond || f <= 2*time.Millisecond {
		t.Fatalf("floor %v after 30 s at 50 ms; want a little above 2 ms", f)
	}
}

// TestLimitIgnoresUnusedLimit: a limit far from reached is not moved by
// slow requests (they say nothing about the limit).
func TestLimitIgnoresUnusedLimit(t *testing.T) {
	g := newGradient(400, 32, 2048, LatencyTolerance)
	now := limitT0
	feed(g, &now, time.Second, 1000, ClassPayment, 2*time.Millisecond)
	before := g.Limit()
	for range 1000 {
		now = now.Add(time.Millisecond)
		g.sample(now, ClassPayment, 60*time.Millisecond, 3, false)
	}
	if g.Limit() < before {
		t.Fatalf("limit %d → %d with 3 in flight", before, g.Limit())
	}
}
