package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// BenchPendingIntentIDs measures IntentStore.PendingIntentIDs, the read
// behind a queued payment's place in line (docs/overload.md, "Where a
// queued payment stands"), with pending intents waiting (20,000 at a
// surge is a fifth of IntentsPendingMax), at each limit given. A server
// makes it at most once a second, whatever the number of payers reading
// their places. open returns a store that implements IntentStore and the
// WriteIntentBatch test hook (a store's export_test.go); the intents are
// written in batches of IntentBatchWritesMax, as at a surge. Each case
// runs on the table as written ("fresh": on PostgreSQL, before autovacuum
// has analyzed it) and, when the store has the AnalyzeIntents test hook,
// again once its statistics are gathered ("analyzed"). Timings are the
// benchmark's output, never asserted.
func BenchPendingIntentIDs(b *testing.B, open func(tb testing.TB) pw.Store, pending int, limits []int) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	is, ok := s.(pw.IntentStore)
	bw, hook := s.(intentBatchWriter)
	if !ok || !hook {
		b.Fatalf("%T does not implement IntentStore and the WriteIntentBatch hook", s)
	}
	ctx, clk := context.Background(), NewClock()
	for written := 0; written < pending; {
		batch := make([]*pw.Intent, 0, pw.IntentBatchWritesMax)
		for i := 0; i < pw.IntentBatchWritesMax && written+len(batch) < pending; i++ {
			clk.Advance(time.Microsecond)
			batch = append(batch, newIntent(fmt.Sprint("user:u", i%97), fmt.Sprint("k", written+len(batch)), clk.Now()))
		}
		if _, err := bw.WriteIntentBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		written += len(batch)
	}
	stats := []string{"fresh"}
	analyze, ok := s.(interface{ AnalyzeIntents(context.Context) error })
	if ok {
		stats = append(stats, "analyzed")
	}
	for _, st := range stats {
		if st == "analyzed" {
			if err := analyze.AnalyzeIntents(ctx); err != nil {
				b.Fatal(err)
			}
		}
		for _, limit := range limits {
			b.Run(fmt.Sprintf("pending=%d/%s/limit=%d", pending, st, limit), func(b *testing.B) {
				for b.Loop() {
					if ids, err := is.PendingIntentIDs(ctx, limit); err != nil || len(ids) != min(limit, pending) {
						b.Fatalf("%d IDs, %v", len(ids), err)
					}
				}
			})
		}
	}
}
