package http_test

import (
	"fmt"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// BenchmarkDecodeJSON: a payment's body, and an 8,190-transfer batch.
func BenchmarkDecodeJSON(b *testing.B) {
	one := `{"from_account":"acc_01m8kvr5sjb1fj86wqkkeq93nt","to_account":"acc_01m8kvr5sjb1fj86wqkkeq93nx","amount":1250,"currency":"EUR","description":"coffee","metadata":{"order":"42"}}`
	b.Run("transfer", func(b *testing.B) {
		for b.Loop() {
			var v pw.TransferCreate
			if err := pwhttp.DecodeJSON([]byte(one), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A description and metadata in other scripts than Latin's: their
	// strings are the ones whose UTF-8 is checked byte by byte.
	other := `{"from_account":"acc_01m8kvr5sjb1fj86wqkkeq93nt","to_account":"acc_01m8kvr5sjb1fj86wqkkeq93nx","amount":1250,"currency":"EUR","description":"Kaffee für Zoë, 珈琲 ☕","metadata":{"order":"42","note":"Привет"}}`
	b.Run("transfer_non_ascii", func(b *testing.B) {
		for b.Loop() {
			var v pw.TransferCreate
			if err := pwhttp.DecodeJSON([]byte(other), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	items := make([]string, 8190)
	for i := range items {
		items[i] = fmt.Sprintf(`{"from_account":"acc_01m8kvr5sjb1fj86wqkkeq93nt","to_account":"acc_01m8kvr5sjb1fj86wqkkeq93nx","amount":%d,"currency":"EUR"}`, i+1)
	}
	batch := `{"atomic":false,"transfers":[` + strings.Join(items, ",") + `]}`
	b.Run("batch8190", func(b *testing.B) {
		for b.Loop() {
			var v pw.BatchCreate
			if err := pwhttp.DecodeJSON([]byte(batch), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
