package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// ScenarioCurve measures the closed loop at growing concurrency: the
// throughput a server gives for each number of payments kept in flight,
// and the latency it costs. It says whether the overload targets can be
// met together on a machine: admission control can only choose how many
// payments the store holds at once, so no admission policy can do better
// under a surge than the best point of this curve (the refused excess only
// takes CPU away from it).
const ScenarioCurve = "curve"

// Curve reference points, as the overload scenarios define them.
const (
	// UnloadedCallers is the closed loop whose p99 is "the unloaded p99".
	UnloadedCallers = 4
	// P99Factor is the overload target's bound on a payment's p99, as a
	// multiple of the unloaded p99.
	P99Factor = 4
	// GoodputShareMin is the overload target's goodput, as a share of
	// capacity.
	GoodputShareMin = 0.9
)

// CurvePoint is one closed-loop level of the curve.
type CurvePoint struct {
	Callers    int     `json:"callers"`
	Throughput float64 `json:"payments_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Busy       int64   `json:"busy"`
	Failed     int64   `json:"failed"`
}

// CurveLevels returns the caller counts of a curve up to twice capacity's:
// 1, 2, then steps of about √2 from UnloadedCallers (4, 6, 8, 12, 16, …),
// and capacity's own count; UnloadedCallers always, since the verdict
// needs it.
func CurveLevels(capacityCallers int) []int {
	levels := []int{1, 2}
	for n := UnloadedCallers; n <= 2*capacityCallers; n *= 2 {
		levels = append(levels, n)
		if n*3/2 <= 2*capacityCallers {
			levels = append(levels, n*3/2)
		}
	}
	levels = append(levels, capacityCallers, UnloadedCallers)
	slices.Sort(levels)
	return slices.Compact(levels)
}

// RunCurve runs a closed loop of uniform payments at each level for dur.
func RunCurve(ctx context.Context, svc pw.LedgerService, pop *Population, levels []int, dur, deadline time.Duration, seed uint64) ([]CurvePoint, error) {
	points := make([]CurvePoint, 0, len(levels))
	for i, n := range levels {
		res, err := Run(ctx, svc, pop, Config{Scenario: ScenarioUniform, Callers: n, Duration: dur, Deadline: deadline, Seed: seed + uint64(i)})
		if err != nil {
			return nil, err
		}
		points = append(points, CurvePoint{Callers: n, Throughput: res.Throughput, P50ms: res.P50ms, P99ms: res.P99ms,
			Busy: res.Busy, Failed: res.Failed})
	}
	return points, nil
}

// CurveVerdict reads the overload targets off a curve.
type CurveVerdict struct {
	UnloadedP99ms float64 `json:"unloaded_p99_ms"` // at UnloadedCallers
	CapacityRPS   float64 `json:"capacity_rps"`    // at the capacity level
	P99Limitms    float64 `json:"p99_limit_ms"`    // P99Factor × the unloaded p99
	// Best is the highest-throughput point whose p99 is within the limit,
	// and BestShare its throughput as a share of capacity.
	Best      *CurvePoint `json:"best_within_p99_limit,omitempty"`
	BestShare float64     `json:"best_share_of_capacity"`
	// Feasible says whether some point gives both GoodputShareMin of
	// capacity and a p99 within the limit: if not, no admission policy can
	// meet the goodput and p99 targets together here.
	Feasible bool   `json:"both_targets_feasible"`
	Summary  string `json:"summary"`
}

// JudgeCurve finds the unloaded point and capacity's point (at
// capacityCallers) among points and reads the targets off the curve.
func JudgeCurve(points []CurvePoint, capacityCallers int) (CurveVerdict, error) {
	var v CurveVerdict
	at := func(n int) (CurvePoint, bool) {
		i := slices.IndexFunc(points, func(p CurvePoint) bool { return p.Callers == n })
		if i < 0 {
			return CurvePoint{}, false
		}
		return points[i], true
	}
	unloaded, ok1 := at(UnloadedCallers)
	capacity, ok2 := at(capacityCallers)
	if !ok1 || !ok2 || unloaded.P99ms <= 0 || capacity.Throughput <= 0 {
		return v, fmt.Errorf("bench: the curve needs measured points at %d and %d callers", UnloadedCallers, capacityCallers)
	}
	v.UnloadedP99ms, v.CapacityRPS = unloaded.P99ms, capacity.Throughput
	v.P99Limitms = P99Factor * unloaded.P99ms
	for i := range points {
		p := &points[i]
		if p.P99ms > 0 && p.P99ms <= v.P99Limitms && (v.Best == nil || p.Throughput > v.Best.Throughput) {
			v.Best = p
		}
	}
	if v.Best != nil {
		v.BestShare = v.Best.Throughput / v.CapacityRPS
	}
	v.Feasible = v.BestShare >= GoodputShareMin
	switch {
	case v.Best == nil:
		v.Summary = fmt.Sprintf("no level kept its p99 within %.1f ms", v.P99Limitms)
	case v.Feasible:
		v.Summary = fmt.Sprintf("%d callers give %.0f %% of capacity with a p99 of %.1f ms (limit %.1f ms): both targets can hold together",
			v.Best.Callers, 100*v.BestShare, v.Best.P99ms, v.P99Limitms)
	default:
		v.Summary = fmt.Sprintf("within a p99 of %.1f ms the most is %.0f %% of capacity (%d callers, p99 %.1f ms): below %.0f %%, so no admission policy can meet the goodput and p99 targets together here",
			v.P99Limitms, 100*v.BestShare, v.Best.Callers, v.Best.P99ms, 100*GoodputShareMin)
	}
	return v, nil
}
