package bench_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/bench"
)

// tamperedReader reads transfers back through a real ledger but answers
// the first read with one more unit of money than was stored: a server
// that acknowledged one payment and stored (or returns) another amount.
type tamperedReader struct {
	pw.LedgerService
	reads atomic.Int64
}

func (r *tamperedReader) Transfer(ctx context.Context, id string) (*pw.Transfer, error) {
	t, err := r.LedgerService.Transfer(ctx, id)
	if err == nil && r.reads.Add(1) == 1 {
		c := *t
		c.Amount++
		return &c, nil
	}
	return t, err
}

// TestTheReadBackComparesWhatWasPaid: every transfer the server
// acknowledged in an outage run is read back and compared with the
// payment the generator sent. Until 2026-11-29 the read-back only asked
// whether it existed, so a transfer stored with another amount passed.
func TestTheReadBackComparesWhatWasPaid(t *testing.T) {
	ctx := context.Background()
	l, pop := mustOpenPopulation(t, 1)
	noop := func(context.Context) error { return nil }
	run := func(check pw.LedgerService) *bench.OutageResult {
		t.Helper()
		res, err := bench.RunOutage(ctx, l, check, pop, bench.OutageConfig{Rate: 100, Duration: time.Second,
			Warmup: 200 * time.Millisecond, For: 300 * time.Millisecond, Seed: 1, Stop: noop, Start: noop})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	honest := run(l)
	if honest.Acknowledged == 0 || honest.Missing != 0 || honest.Unverified != 0 || !honest.TargetMet {
		t.Fatalf("read back as stored: %d acknowledged, %d missing, %d unverified, target met %v; want all found, target met",
			honest.Acknowledged, honest.Missing, honest.Unverified, honest.TargetMet)
	}
	if honest.Mismatched != 0 {
		t.Fatalf("read back as stored: %d mismatched %v", honest.Mismatched, honest.MismatchedSample)
	}
	tampered := &tamperedReader{LedgerService: l}
	res := run(tampered)
	if tampered.reads.Load() != res.Acknowledged || res.Missing != 0 || res.Unverified != 0 || res.Mismatched != 1 || res.TargetMet {
		t.Fatalf("one of %d acknowledged transfers read back with another amount (%d read): %d mismatched, %d missing, %d unverified, target met %v; want 1 mismatched, the target not met",
			res.Acknowledged, tampered.reads.Load(), res.Mismatched, res.Missing, res.Unverified, res.TargetMet)
	}
	if len(res.MismatchedSample) != 1 || !strings.Contains(res.MismatchedSample[0], "amount ") {
		t.Fatalf("the sample %q does not name the amount", res.MismatchedSample)
	}
}
