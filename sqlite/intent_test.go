package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/storetest"
)

func TestIntentConformance(t *testing.T) {
	storetest.RunIntents(t, func(t *testing.T) pw.Store { return MustOpen(t) })
}

// BenchmarkCreateIntent measures accepting payments into the surge queue
// from 64 callers at once, with none pending and with 20,000 pending (as
// after the first seconds of a surge accepted with Prefer: respond-async).
func BenchmarkCreateIntent(b *testing.B) {
	for _, pending := range []int{0, 20_000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			s := MustOpen(b)
			ctx := context.Background()
			now := time.Now()
			for i := range pending {
				mustCreateIntent(b, s, ctx, fmt.Sprintf("seed-%d", i), now)
			}
			var n atomic.Int64
			b.SetParallelism(32) // 64 callers on two cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mustCreateIntent(b, s, ctx, fmt.Sprintf("bench-%d", n.Add(1)), now)
				}
			})
		})
	}
}

func mustCreateIntent(tb testing.TB, s *sqlite.Store, ctx context.Context, key string, now time.Time) {
	in := &pw.Intent{ID: pw.NewID("int", time.Now()), Principal: "operator:bench", IdempotencyKey: key, Fingerprint: "f",
		Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
	if _, err := s.CreateIntent(ctx, in); err != nil {
		tb.Error(err)
	}
}

// BenchmarkPendingIntentIDs: the read behind a queued payment's place in
// line (storetest.BenchPendingIntentIDs; docs/overload.md has the figures).
func BenchmarkPendingIntentIDs(b *testing.B) {
	storetest.BenchPendingIntentIDs(b, func(tb testing.TB) pw.Store { return MustOpen(tb) }, 20_000, []int{1_000, 10_000})
}
