package main

import (
	"strings"
	"testing"

	"github.com/peakwallet/peakwallet/bench"
)

// TestTheSurgeSummaryGivesThePaidP99AndTheOneWithTimeouts: the summary
// line gives the paid payments' p99 as before (the published figures are
// it) and, beside it, the p99 with the client timeouts counted at the
// deadline, with how many there were: a surge whose slowest payments were
// given up on by the client does not read as one within its deadline.
func TestTheSurgeSummaryGivesThePaidP99AndTheOneWithTimeouts(t *testing.T) {
	pay := &bench.ClassResult{Offered: 100, OK: 95, Other: 5, Codes: map[string]int64{bench.CodeTimeout: 5},
		P99ms: 95, P99msWithTimeouts: 2000}
	ratio := 9.5
	rep := &overloadReport{Run: &bench.OverloadResult{Seconds: 30, Classes: map[string]*bench.ClassResult{"payment": pay}},
		P99OverUnloaded: &ratio}
	got := surgeSummary(rep)
	for _, want := range []string{"p99 of paid payments 95.0 ms (9.5× unloaded)", "p99 with the 5 client timeouts counted at the deadline 2000.0 ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary %q does not say %q", got, want)
		}
	}
}
