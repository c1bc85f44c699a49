package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// BenchIntentsAhead measures IntentStore.IntentsAhead, the count behind a
// queued payment's place in line (docs/overload.md, "Where a queued
// payment stands"), with pending intents waiting (20,000 at a surge is a
// fifth of IntentsPendingMax): for one intent at the back of the queue,
// whose count stops at max (the dearest single read: GET
// /v1/intents/{id}, an event), for one at the front (the cheapest), and
// for a page of 50 spread over the queue (GET /v1/intents, the web app's
// list), each at the bounds given. open returns a store that implements
// IntentStore and the WriteIntentBatch test hook (a store's
// export_test.go); the intents are written in batches of
// IntentBatchWritesMax, as at a surge. Each case runs on the table as
// written ("fresh": on PostgreSQL, before autovacuum has analyzed it, the
// planner takes the pending intents for few) and, when the store has the
// AnalyzeIntents test hook, again once its statistics are gathered
// ("analyzed"). Timings are the benchmark's output, never asserted.
func BenchIntentsAhead(b *testing.B, open func(tb testing.TB) pw.Store, pending int, bounds []int) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	is, ok := s.(pw.IntentStore)
	bw, hook := s.(intentBatchWriter)
	if !ok || !hook {
		b.Fatalf("%T does not implement IntentStore and the WriteIntentBatch hook", s)
	}
	ctx, clk := context.Background(), NewClock()
	ids := make([]string, 0, pending)
	for len(ids) < pending {
		batch := make([]*pw.Intent, 0, pw.IntentBatchWritesMax)
		for i := 0; i < pw.IntentBatchWritesMax && len(ids)+len(batch) < pending; i++ {
			clk.Advance(time.Microsecond)
			batch = append(batch, newIntent(fmt.Sprint("user:u", i%97), fmt.Sprint("k", len(ids)+len(batch)), clk.Now()))
		}
		if _, err := bw.WriteIntentBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		for _, in := range batch {
			ids = append(ids, in.ID)
		}
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
		benchIntentsAhead(b, is, st, ids, bounds)
	}
}

func benchIntentsAhead(b *testing.B, is pw.IntentStore, stats string, ids []string, bounds []int) {
	ctx := context.Background()
	page := make([]string, 50)
	for i := range page {
		page[i] = ids[i*(len(ids)/len(page))]
	}
	for _, max := range bounds {
		for _, tc := range []struct {
			name string
			ids  []string
		}{
			{"back", ids[len(ids)-1:]},
			{"front", ids[:1]},
			{"page-of-50", page},
		} {
			b.Run(fmt.Sprintf("pending=%d/%s/max=%d/%s", len(ids), stats, max, tc.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := is.IntentsAhead(ctx, tc.ids, max); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
