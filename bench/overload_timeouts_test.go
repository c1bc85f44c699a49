package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestTheP99WithTimeoutsCountsEachTimeoutAtTheDeadline: the class's p99
// (p99_ms) is that of the paid requests only, and a request the client
// stopped waiting for is no latency at all, so "p99 within the deadline"
// held by construction. p99_ms_with_timeouts counts each client timeout at
// the deadline beside the paid ones; refusals and requests never sent
// (client_unsent) are in neither. The expected figures are by hand,
// nearest rank (the sample of rank ⌈0.99·n⌉).
func TestTheP99WithTimeoutsCountsEachTimeoutAtTheDeadline(t *testing.T) {
	const deadline = 2 * time.Second
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	busy := &pw.Error{Code: pw.EBUSY, Retry: time.Second}
	for _, c := range []struct {
		name                  string
		paid, timeouts        int // paid at 1, 2, … ms
		wantP99, wantWithTime float64
	}{
		// 95 paid and 5 timeouts: n = 100, rank 99 is the 4th timeout
		// (2,000 ms); the paid alone, n = 95, rank ⌈94.05⌉ = 95: 95 ms.
		{"5 timeouts in 100", 95, 5, 95, 2000},
		// 990 paid and 5 timeouts: n = 995, rank ⌈985.05⌉ = 986, still a
		// paid one (986 ms); the paid alone, rank ⌈980.1⌉ = 981: 981 ms.
		{"5 timeouts in 995", 990, 5, 981, 986},
		// 99 paid and 1 timeout: n = 100, rank 99 is the slowest paid.
		{"1 timeout in 100", 99, 1, 99, 99},
		// nothing paid: no p99, but the timeouts are what was waited.
		{"only timeouts", 0, 3, 0, 2000},
		{"no timeout", 100, 0, 99, 99},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &classRec{codes: map[string]int64{}}
			for i := c.paid; i >= 1; i-- { // unsorted, as answers come
				rec.record(ms(i), nil, false)
			}
			for range c.timeouts {
				rec.record(deadline, fmt.Errorf("waiting: %w", context.DeadlineExceeded), false)
			}
			for range 50 { // neither paid nor timed out
				rec.record(ms(1), busy, false)
				rec.record(deadline, fmt.Errorf("%w (%w)", context.DeadlineExceeded, ErrUnsent), false) // as FastClient says it
			}
			r := rec.result(deadline)
			if r.P99ms != c.wantP99 || r.P99msWithTimeouts != c.wantWithTime {
				t.Errorf("%d paid, %d timeouts: p99 %g ms, with timeouts %g ms; want %g and %g ms",
					c.paid, c.timeouts, r.P99ms, r.P99msWithTimeouts, c.wantP99, c.wantWithTime)
			}
			if r.Codes[CodeTimeout] != int64(c.timeouts) || r.OK != int64(c.paid) || r.Refused != 50 {
				t.Errorf("counted %d timeouts, %d paid, %d refused", r.Codes[CodeTimeout], r.OK, r.Refused)
			}
		})
	}
}
