package peakwallet_test

import (
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestParseAmount: an amount in major units is read exactly with its
// currency's decimals, and anything else is refused, never rounded.
func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		s    string
		cur  pw.Currency
		want int64
	}{
		{"100.00", "EUR", 100_00}, {"100", "EUR", 100_00}, {"0.5", "EUR", 50}, {"15000", "JPY", 15_000},
		{"40.000", "BHD", 40_000}, {"40.5", "BHD", 40_500}, {"2.5", "CLF", 2_5000}, {"007", "EUR", 7_00},
		{"92233720368547758.07", "EUR", 9223372036854775807},
	} {
		got, err := pw.ParseAmount(c.s, c.cur)
		if err != nil || got != c.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", c.s, c.cur, got, err, c.want)
		}
	}
	for _, c := range []struct {
		s   string
		cur pw.Currency
	}{
		{"", "EUR"}, {"1.005", "EUR"}, {"1.5", "JPY"}, {"1.", "EUR"}, {".5", "EUR"}, {"-1", "EUR"}, {"+1", "EUR"},
		{"1,000", "EUR"}, {"1e3", "EUR"}, {" 1", "EUR"}, {"1.0.0", "EUR"}, {"92233720368547758.08", "EUR"},
		{"100", "XXX"}, {"100", "eur"},
	} {
		if got, err := pw.ParseAmount(c.s, c.cur); err == nil || pw.ErrorCode(err) != pw.EINVALID {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want invalid", c.s, c.cur, got, err)
		}
	}
}
