package peakwallet_test

import (
	"encoding/json"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// BenchmarkIntentJSON measures writing an intent out, as every 202 of the
// surge queue does: with its request decoded from the body (request) and,
// for comparison, with the body not decodable (no request member).
func BenchmarkIntentJSON(b *testing.B) {
	now := time.Now().UTC()
	for _, tc := range []struct {
		name string
		body string
	}{
		{"with-request", `{"from_account":"acc_01m8fy80gmmwhqsc5gssp2n8vs","to_account":"acc_01m8fy80wfkcyphf9s2yy4pybn","amount":1000,"currency":"EUR"}`},
		{"without", `-`},
	} {
		in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), IdempotencyKey: "k", Body: []byte(tc.body),
			Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
