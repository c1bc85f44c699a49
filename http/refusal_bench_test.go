package http_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/admission"
)

// BenchmarkRefusal measures what a "503 busy" costs the server, from the
// handler's first middleware to the written problem: at three times
// capacity two requests in three are refused, and what they cost comes
// out of the payments' CPU (docs/overload.md). The one slot and the one
// queue place are held, so every request is refused.
func BenchmarkRefusal(b *testing.B) {
	env, ctrl, _ := MustOpenAdmittedEnv(b, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1, QueueMax: 1})
	w := env.MustWallet(b, 1_000)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "holder")
	if err != nil {
		b.Fatal(err)
	}
	defer held.Done(nil)
	waiting, stop := context.WithCancel(context.Background())
	defer stop()
	go ctrl.Acquire(waiting, admission.ClassPayment, "waiter") //nolint:errcheck // it waits until stop
	for ctrl.Stats().Queued[admission.ClassPayment] == 0 {
		time.Sleep(time.Millisecond)
	}
	h := env.Server.Handler()
	body := transferBody(w, 1)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/transfers", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+operatorKey)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", "refused")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			b.Fatalf("status %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
}
