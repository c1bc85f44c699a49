package bench

import (
	"slices"
	"strings"
	"testing"
)

func TestCurveLevels(t *testing.T) {
	if got, want := CurveLevels(64), []int{1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128}; !slices.Equal(got, want) {
		t.Fatalf("CurveLevels(64) = %v, want %v", got, want)
	}
	// A capacity count off the √2 steps is measured too, and nothing past
	// twice it.
	got := CurveLevels(10)
	if !slices.Contains(got, 10) || !slices.Contains(got, UnloadedCallers) || slices.Max(got) > 20 || !slices.IsSorted(got) {
		t.Fatalf("CurveLevels(10) = %v", got)
	}
	// A capacity count below the unloaded one still measures the unloaded
	// point, which the verdict needs.
	if got, want := CurveLevels(1), []int{1, 2, UnloadedCallers}; !slices.Equal(got, want) {
		t.Fatalf("CurveLevels(1) = %v, want %v", got, want)
	}
}

// TestJudgeCurve reads hand-made curves: one where the throughput needed
// comes at a latency the p99 target forbids (a CPU-bound store), one where
// batching gives it almost free (a disk-bound one), and one without the
// reference points.
func TestJudgeCurve(t *testing.T) {
	cpuBound := []CurvePoint{
		{Callers: 1, Throughput: 250, P99ms: 10},
		{Callers: 4, Throughput: 600, P99ms: 20},
		{Callers: 8, Throughput: 900, P99ms: 40},
		{Callers: 16, Throughput: 1000, P99ms: 80},
		{Callers: 32, Throughput: 1150, P99ms: 120},
		{Callers: 64, Throughput: 1250, P99ms: 170},
		{Callers: 128, Throughput: 1500, P99ms: 260},
	}
	v, err := JudgeCurve(cpuBound, 64)
	if err != nil {
		t.Fatal(err)
	}
	if v.UnloadedP99ms != 20 || v.CapacityRPS != 1250 || v.P99Limitms != 80 {
		t.Fatalf("reference points: %+v", v)
	}
	if v.Best == nil || v.Best.Callers != 16 || v.BestShare != 0.8 || v.Feasible {
		t.Fatalf("CPU-bound: best %+v share %.2f feasible %v, want 16 callers, 0.80, infeasible", v.Best, v.BestShare, v.Feasible)
	}
	if !strings.Contains(v.Summary, "80 %") {
		t.Fatalf("summary %q", v.Summary)
	}

	diskBound := slices.Clone(cpuBound)
	diskBound[4].P99ms = 75 // 32 callers: 92 % of capacity within 4× unloaded
	if v, _ = JudgeCurve(diskBound, 64); v.Best == nil || v.Best.Callers != 32 || !v.Feasible {
		t.Fatalf("disk-bound: best %+v feasible %v, want 32 callers, feasible", v.Best, v.Feasible)
	}

	slow := slices.Clone(cpuBound)
	for i := range slow {
		if slow[i].Callers != UnloadedCallers {
			slow[i].P99ms = 1000
		}
	}
	slow[1].P99ms = 20
	// Only the unloaded point itself is within the limit: 48 %.
	if v, _ = JudgeCurve(slow, 64); v.Best == nil || v.Best.Callers != UnloadedCallers || v.Feasible {
		t.Fatalf("slow: best %+v feasible %v", v.Best, v.Feasible)
	}

	if _, err := JudgeCurve(cpuBound[2:], 64); err == nil {
		t.Fatal("a curve without the unloaded point was judged")
	}
	if _, err := JudgeCurve(cpuBound, 48); err == nil {
		t.Fatal("a curve without the capacity point was judged")
	}
}
