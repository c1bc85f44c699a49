package postgres_test

import (
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/storetest"
)

func TestIntentConformance(t *testing.T) {
	storetest.RunIntents(t, func(t *testing.T) pw.Store { return MustOpen(t) })
}

// BenchmarkPendingIntentIDs: the read behind a queued payment's place in
// line (storetest.BenchPendingIntentIDs; docs/overload.md has the figures).
func BenchmarkPendingIntentIDs(b *testing.B) {
	storetest.BenchPendingIntentIDs(b, func(tb testing.TB) pw.Store { return MustOpen(tb) }, 20_000, []int{1_000, 10_000})
}
