package main

import (
	"strings"
	"testing"

	"github.com/peakwallet/peakwallet/bench"
)

// TestTheOutageSummaryGivesEachPhasesP99WithTimeouts: the outage bench's
// summary gives each phase's p99 of the paid payments and, beside it, the
// p99 with the phase's client timeouts counted at the deadline, with how
// many there were.
func TestTheOutageSummaryGivesEachPhasesP99WithTimeouts(t *testing.T) {
	timeouts := func(n int64) map[string]int64 { return map[string]int64{bench.CodeTimeout: n} }
	r := &bench.OutageResult{
		Before: bench.OutagePhase{P99ms: 95, P99msWithTimeouts: 2000, Codes: timeouts(5)},
		During: bench.OutagePhase{P99ms: 0, P99msWithTimeouts: 2000, Codes: timeouts(2)},
		After:  bench.OutagePhase{P99ms: 981, P99msWithTimeouts: 986, Codes: timeouts(5)},
	}
	got := outageLatencySummary(r)
	for _, want := range []string{
		"before the outage 95.0 ms (with its 5 client timeouts counted at the deadline 2000.0 ms)",
		"during it 0.0 ms (with its 2 client timeouts counted at the deadline 2000.0 ms)",
		"after it 981.0 ms (with its 5 client timeouts counted at the deadline 986.0 ms)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary %q does not say %q", got, want)
		}
	}
}
