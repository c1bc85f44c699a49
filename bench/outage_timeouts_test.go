package bench

import (
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestTheOutagePhasesP99WithTimeoutsCountsEachTimeoutAtTheDeadline: each
// phase's p99_ms is that of its successes only, so a phase whose clients
// gave up on many payments still reads fast; p99_ms_with_timeouts counts
// each client timeout of the phase at the deadline beside them (however
// late the client noticed), and refusals, outcome_unknown and requests
// never sent (client_unsent) are in neither. The expected figures are by
// hand, nearest rank (the sample of rank ⌈0.99·n⌉).
func TestTheOutagePhasesP99WithTimeoutsCountsEachTimeoutAtTheDeadline(t *testing.T) {
	const deadline = 2 * time.Second
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	times := outageTimes{stopIssued: ms(10_000), stopReturned: ms(10_100), startIssued: ms(19_900), startReturned: ms(20_000)}
	var answers []answer
	add := func(sent time.Duration, latency time.Duration, code string) {
		answers = append(answers, answer{sent: sent, latency: latency, code: code, transfer: map[bool]string{true: "tr"}[code == ""]})
	}
	// Before: 95 paid at 1…95 ms and 5 timeouts. n = 100, rank 99 is the
	// 4th timeout: 2,000 ms; the paid alone, n = 95, rank ⌈94.05⌉ = 95:
	// 95 ms.
	for i := 95; i >= 1; i-- { // unsorted, as answers come
		add(ms(i), ms(i), "")
	}
	for range 5 {
		add(ms(500), deadline+37*time.Millisecond, CodeTimeout) // noticed 37 ms late
	}
	// During: nothing paid, 2 timeouts among refusals: no p99 of the
	// paid (0), and the timeouts are what was waited (2,000 ms).
	for range 40 {
		add(ms(12_000), ms(3), pw.EBUSY)
	}
	add(ms(12_000), ms(1_500), pw.EOUTCOMEUNKNOWN)
	add(ms(15_000), deadline, CodeTimeout)
	add(ms(15_000), deadline+time.Millisecond, CodeTimeout)
	add(ms(15_000), deadline, CodeUnsent) // never sent: in neither
	// After: 990 paid at 1…990 ms and 5 timeouts. n = 995, rank ⌈985.05⌉
	// = 986, still a paid one (986 ms); the paid alone, n = 990, rank
	// ⌈980.1⌉ = 981: 981 ms.
	for i := 1; i <= 990; i++ {
		add(ms(21_000), ms(i), "")
	}
	for range 5 {
		add(ms(25_000), deadline, CodeTimeout)
	}
	for range 50 {
		add(ms(25_000), ms(1), pw.EBUSY)
	}

	r := judgeOutage(answers, times, ms(30_000), OutageConfig{Rate: 100, Duration: ms(30_000), Deadline: deadline})
	for _, c := range []struct {
		name                  string
		ph                    OutagePhase
		wantP99, wantWithTime float64
	}{
		{"before", r.Before, 95, 2000},
		{"during", r.During, 0, 2000},
		{"after", r.After, 981, 986},
	} {
		if c.ph.P99ms != c.wantP99 || c.ph.P99msWithTimeouts != c.wantWithTime {
			t.Errorf("%s (%d paid, %d timeouts): p99 %g ms, with timeouts %g ms; want %g and %g ms",
				c.name, c.ph.OK, c.ph.Codes[CodeTimeout], c.ph.P99ms, c.ph.P99msWithTimeouts, c.wantP99, c.wantWithTime)
		}
	}
	if r.Before.OK != 95 || r.During.OK != 0 || r.After.OK != 990 || r.During.Codes[CodeTimeout] != 2 {
		t.Fatalf("phases: before %+v, during %+v, after %+v", r.Before, r.During, r.After)
	}
}
