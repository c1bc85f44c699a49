package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/peakwallet/peakwallet/admission"
)

// BenchmarkReadBody measures what reading an admitted request's body costs:
// "handler" as handlers read it until 2026-11-29 (ReadBody on the request's
// own body), "within grace" as now (readBodyWithin under BodyGrace in
// admit, then ReadBody of the bytes read), for a payment's body that is
// all there at once, as nearly every body is. past-grace/Mop counts, per
// million, the reads of such a body that still took longer than BodyGrace:
// the goroutine was not run for that long (the machine's load, the
// scheduler), and its request would have queued again.
func BenchmarkReadBody(b *testing.B) {
	const body = `{"from_account":"acc_01jd0000000000000000000001","to_account":"acc_01jd0000000000000000000002","amount":1,"currency":"EUR"}`
	ticket, err := admission.New(admission.Config{}).Acquire(context.Background(), admission.ClassPayment, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer ticket.Abandon()
	for _, within := range []bool{false, true} {
		name := "handler"
		if within {
			name = "within grace"
		}
		b.Run(name, func(b *testing.B) {
			rs := make([]*http.Request, b.N) // made beforehand: a request costs more than its read
			for i := range rs {
				rs[i] = httptest.NewRequest("POST", "/v1/transfers", strings.NewReader(body))
				rs[i].Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			b.ResetTimer()
			late := 0
			for _, r := range rs {
				if within {
					_, slow, err := readBodyWithin(w, r, RequestBodyBytesMax, ticket, BodyGrace)
					if err != nil {
						b.Fatal(err)
					}
					if slow {
						late++ // the goroutine did not run for BodyGrace: the machine's load
					}
				}
				if got, err := ReadBody(w, r, RequestBodyBytesMax); err != nil || len(got) != len(body) {
					b.Fatalf("%d bytes, %v", len(got), err)
				}
			}
			if within {
				b.ReportMetric(float64(late)*1e6/float64(b.N), "past-grace/Mop")
			}
		})
	}
}
