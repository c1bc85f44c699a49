package http_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// BenchmarkStatus is one answer of GET /v1/status (SQLite, served in
// process, no network), with the surge queue empty and with 1,000
// payments waiting in it, beside the status's look at the queue alone
// (its oldest pending intent): the status page is polled most at a surge,
// and this says what share of an answer that look is.
func BenchmarkStatus(b *testing.B) {
	for _, pending := range []int{0, 1000} {
		e := MustOpenStatusEnv(b)
		ctx := context.Background()
		for i := range pending {
			at := statusNow.Add(-time.Minute)
			in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, at), Principal: "operator:root", IdempotencyKey: fmt.Sprintf("k%d", i),
				Fingerprint: "fp", Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: at, UpdatedAt: at}
			if _, err := e.Store.CreateIntent(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		h := e.Server.Handler()
		b.Run(fmt.Sprintf("answer/pending=%d", pending), func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/status", nil))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
		b.Run(fmt.Sprintf("queue-look/pending=%d", pending), func(b *testing.B) {
			for b.Loop() {
				got, err := e.Store.PendingIntents(ctx, "", 1)
				if err != nil || len(got) != min(pending, 1) {
					b.Fatalf("%d pending intents read, %v", len(got), err)
				}
			}
		})
	}
}
