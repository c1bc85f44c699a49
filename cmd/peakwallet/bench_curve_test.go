package main_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	"github.com/peakwallet/peakwallet/bench"
)

// TestCurveBench runs `peakwallet bench --scenario curve` against a real
// server: every level is measured with real payments, and the verdict is
// read off the measured unloaded and capacity points.
func TestCurveBench(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "warn")
	cmd := exec.Command(binary, "bench", "--target", s.url, "--key", testOperatorKey, "--scenario", "curve",
		"--duration", "300ms", "--callers", "4", "--users", "40", "--merchants", "4", "--principals", "2")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &testWriter{t: t}
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench: %v\n%s", err, stdout.Bytes())
	}
	var rep struct {
		Points []bench.CurvePoint `json:"points"`
		bench.CurveVerdict
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.Bytes())
	}
	var callers []int
	for _, p := range rep.Points {
		callers = append(callers, p.Callers)
		if p.Throughput <= 0 || p.P99ms <= 0 || p.Failed != 0 {
			t.Errorf("level %+v: no payments measured, or failures", p)
		}
	}
	if want := bench.CurveLevels(4); !slices.Equal(callers, want) {
		t.Fatalf("levels %v, want %v", callers, want)
	}
	i := slices.Index(callers, bench.UnloadedCallers)
	if rep.UnloadedP99ms != rep.Points[i].P99ms || rep.CapacityRPS != rep.Points[i].Throughput || rep.Summary == "" {
		t.Fatalf("verdict %+v does not read the 4-caller point %+v", rep.CurveVerdict, rep.Points[i])
	}
	if rep.Best == nil || rep.Best.P99ms > rep.P99Limitms || rep.Feasible != (rep.BestShare >= bench.GoodputShareMin) {
		t.Fatalf("verdict %+v", rep.CurveVerdict)
	}
	stopServer(t, s)
}
