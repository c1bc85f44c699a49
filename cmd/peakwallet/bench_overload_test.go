package main_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	"github.com/peakwallet/peakwallet/bench"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// runBenchScenario runs `peakwallet bench` against s on a small population
// and returns its report.
func runBenchScenario(t *testing.T, s *server, scenario, duration, callers string, more ...string) []byte {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"bench", "--target", s.url, "--key", testOperatorKey, "--scenario", scenario,
		"--duration", duration, "--callers", callers, "--users", "40", "--merchants", "4", "--principals", "2"}, more...)...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &testWriter{t: t}
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench --scenario %s: %v\n%s", scenario, err, stdout.Bytes())
	}
	return stdout.Bytes()
}

// TestCurveBench runs `peakwallet bench --scenario curve` against a real
// server: every level is measured with real payments, and the verdict is
// read off the measured unloaded and capacity points.
func TestCurveBench(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "warn")
	stdout := runBenchScenario(t, s, "curve", "300ms", "4")
	var rep struct {
		Points []bench.CurvePoint `json:"points"`
		bench.CurveVerdict
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
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

// TestOverloadBench runs `peakwallet bench --scenario overload` against a
// real server for a short surge: the references are measured before and
// after it, the shares are computed from them, and every refusal carries
// Retry-After.
func TestOverloadBench(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "warn")
	stdout := runBenchScenario(t, s, "overload", "1s", "8")
	var rep struct {
		UnloadedP99ms float64 `json:"unloaded_p99_ms"`
		CapacityRPS   float64 `json:"capacity_rps"`
		After         *struct {
			UnloadedP99ms float64 `json:"unloaded_p99_ms"`
			CapacityRPS   float64 `json:"capacity_rps"`
		} `json:"after_surge"`
		Run              *bench.OverloadResult     `json:"run"`
		GoodputShare     float64                   `json:"goodput_share_of_capacity"`
		GoodputShareMean float64                   `json:"goodput_share_of_mean_capacity"`
		P99Mean          float64                   `json:"p99_over_mean_unloaded"`
		SurgeRefusals    map[string]map[string]int `json:"surge_refusals"`
		VerifyOK         *bool                     `json:"verify_ok"`
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	// Against a server elsewhere the bench cannot verify its store, and
	// says nothing rather than "ok".
	if rep.VerifyOK != nil {
		t.Fatalf("verify_ok %v in a report on a server the bench did not verify", *rep.VerifyOK)
	}
	if rep.After == nil || rep.CapacityRPS <= 0 || rep.After.CapacityRPS <= 0 || rep.UnloadedP99ms <= 0 || rep.After.UnloadedP99ms <= 0 {
		t.Fatalf("references before %+v and after %+v the surge", rep, rep.After)
	}
	p := rep.Run.Classes["payment"]
	if p == nil || p.OK == 0 || p.Offered < p.OK+p.Refused || p.WithoutRA != 0 || p.Other != 0 {
		t.Fatalf("payments %+v", p)
	}
	// The server's own count of the surge's refusals (read from
	// /v1/ops/summary before and after it) cannot exceed the refusals the
	// client saw: every admission refusal is an answer it got.
	var byServer int64
	for reason, n := range rep.SurgeRefusals["payment"] {
		if n <= 0 {
			t.Fatalf("surge refusals of payments for %s: %d", reason, n)
		}
		byServer += int64(n)
	}
	if byServer > p.Refused {
		t.Fatalf("the server counted %d payments refused in the surge, the client saw %d", byServer, p.Refused)
	}
	mean := (rep.CapacityRPS + rep.After.CapacityRPS) / 2
	if d := rep.GoodputShareMean - rep.Run.GoodputRPS/mean; d > 1e-9 || d < -1e-9 {
		t.Fatalf("goodput share of the mean capacity %.4f, want %.4f", rep.GoodputShareMean, rep.Run.GoodputRPS/mean)
	}
	if rep.GoodputShare <= 0 || rep.P99Mean <= 0 {
		t.Fatalf("shares %+v", rep)
	}
	stopServer(t, s)
}

// TestCurveBenchRejectsBadFlags: a curve of no callers is refused at once,
// before any account is opened; so are a negative rate or probe, and a mix
// whose shares add up to more than 100 %.
func TestCurveBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "curve", "--callers", "0"}, {"--scenario", "curve", "--duration", "0s"},
		{"--scenario", "overload", "--offered-rps", "-5"}, {"--scenario", "mixed", "--offered-rps", "NaN"},
		{"--scenario", "overload", "--probe", "-1s"}, {"--scenario", "mixed", "--quiet", "-1s"},
	} {
		cmd := exec.Command(binary, append([]string{"bench", "--target", "http://127.0.0.1:1", "--key", "k"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("must be positive")) {
			t.Errorf("bench %v: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{
		{"--scenario", "mixed", "--mix-payments", "80", "--mix-reads", "30"}, {"--scenario", "mixed", "--mix-reads", "-1"},
	} {
		cmd := exec.Command(binary, append([]string{"bench", "--target", "http://127.0.0.1:1", "--key", "k"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("must be percentages")) {
			t.Errorf("bench %v: %v\n%s", args, err, out)
		}
	}
}

// TestOverloadBenchAtAGivenRate: --offered-rps replaces 3× the measured
// capacity, so that two builds can be compared at the same offered load,
// and --probe sets how long the capacity's closed loop runs.
func TestOverloadBenchAtAGivenRate(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "warn")
	stdout := runBenchScenario(t, s, "overload", "1s", "4", "--offered-rps", "150", "--probe", "1500ms", "--quiet", "2s")
	var rep struct {
		CapacitySeconds float64 `json:"capacity_seconds"`
		After           struct {
			CapacitySeconds float64 `json:"capacity_seconds"`
		} `json:"after_surge"`
		Run   *bench.OverloadResult `json:"run"`
		Quiet *bench.OverloadResult `json:"quiet"`
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	// --quiet: 2 s of payments at 2 a second before the surge, none refused.
	if q := rep.Quiet; q == nil || q.OfferedRPS != 2 || q.Classes["payment"].Refused != 0 || q.Classes["payment"].Other != 0 {
		t.Fatalf("quiet spell %+v, want 2 s at 2 payments/s, none refused", q)
	}
	// The default would be the surge's 1 s; --probe asked for 1.5 s.
	for _, got := range []float64{rep.CapacitySeconds, rep.After.CapacitySeconds} {
		if got < 1.4 || got > 3 {
			t.Fatalf("capacity loops ran %.2f s and %.2f s, want 1.5 s", rep.CapacitySeconds, rep.After.CapacitySeconds)
		}
	}
	if rep.Run == nil || rep.Run.OfferedRPS != 150 {
		t.Fatalf("offered %+v, want 150 requests/s", rep.Run)
	}
	// Poisson arrivals at 150/s for a second: 150 ± 12; far outside that
	// the rate was not the one asked for.
	if p := rep.Run.Classes["payment"]; p == nil || p.Offered < 90 || p.Offered > 210 || p.RefusedAtStart > p.Refused {
		t.Fatalf("payments offered %+v, want about 150 (and no more refused in the first second than in all)", p)
	}
	stopServer(t, s)
}

// TestOverloadBenchAsync: with --async the surge's payments allow
// Prefer: respond-async; against a server that holds one payment at a
// time, those it cannot take now are accepted into its surge queue (202)
// and counted apart from the ones paid at once, and every other answer is
// still a refusal with Retry-After.
func TestOverloadBenchAsync(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--log-level", "warn", "--limit-min", "1", "--limit-max", "1")
	stdout := runBenchScenario(t, s, "overload", "1s", "4", "--async")
	var rep struct {
		Run    *bench.OverloadResult `json:"run"`
		Offers map[string]int        `json:"surge_queue_offers"`
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	p := rep.Run.Classes["payment"]
	if p == nil || p.Accepted == 0 || p.OK == 0 || p.Offered < p.OK+p.Accepted+p.Refused || p.WithoutRA != 0 || p.Other != 0 {
		t.Fatalf("payments %+v: want some paid, some accepted into the surge queue, and nothing else but refusals with Retry-After", p)
	}
	// Every 202 was a promise kept: each accepted payment was then posted
	// (until 2026-11-26, behind the Guard, each failed "unauthorized").
	if q := rep.Run.SurgeQueue; q == nil || q.Accepted != p.Accepted || q.Posted != q.Accepted || q.Failed != 0 || q.Pending != 0 {
		t.Fatalf("the surge queue: %+v (%v), want all %d accepted payments posted", q, q.Codes, p.Accepted)
	}
	// The server's own count of what its surge queue took agrees with the
	// client's (no retries, so every 202 is a new intent).
	if int64(rep.Offers[pwhttp.SurgeAccepted]) != p.Accepted || rep.Offers[pwhttp.SurgeFound] != 0 {
		t.Fatalf("the server counted %v offers to its surge queue; the client had %d accepted", rep.Offers, p.Accepted)
	}
	stopServer(t, s)
}
