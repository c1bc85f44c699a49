package auth_test

import (
	"maps"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestEveryCurrencyHasAStepUpThreshold: every currency a wallet can hold
// has a default step-up threshold above zero (a currency without one
// would ask a code for every payment), and the table names no other. The
// figures are about 100 EUR worth in each currency's minor units: 100.00
// EUR, 15,000 JPY, 1,500,000.00 IDR, 40.000 BHD. Written as the operator
// writes them, the table reads back the same (its figures fit their
// currencies' decimals).
func TestEveryCurrencyHasAStepUpThreshold(t *testing.T) {
	table := auth.DefaultStepUpThresholds()
	for _, c := range pw.Currencies() {
		if v, ok := table[c]; !ok || v <= 0 {
			t.Errorf("%s: step-up threshold %d, %v; want one above zero", c, v, ok)
		}
	}
	for c := range table {
		if !c.Valid() {
			t.Errorf("a step-up threshold for %q, which is not a supported currency", c)
		}
	}
	for c, want := range map[pw.Currency]int64{"EUR": 100_00, "USD": 100_00, "JPY": 15_000, "KRW": 150_000, "IDR": 1_500_000_00, "BHD": 40_000, "VND": 2_500_000} {
		if table[c] != want {
			t.Errorf("%s: step-up threshold %d, want %d", c, table[c], want)
		}
	}
	back, err := auth.ParseStepUpThresholds(table.String())
	if err != nil || !maps.Equal(back, table) {
		t.Fatalf("the table written and read back: %v (%d currencies of %d)", err, len(back), len(table))
	}
}

// TestParseStepUpThresholds: the operator's thresholds are read in major
// units, exactly, with their currency's decimals; anything else is refused
// with a message that names the pair.
func TestParseStepUpThresholds(t *testing.T) {
	got, err := auth.ParseStepUpThresholds("EUR=100.00, JPY=15000,BHD=40.5,IDR=2000000")
	want := auth.StepUpThresholds{"EUR": 100_00, "JPY": 15_000, "BHD": 40_500, "IDR": 2_000_000_00}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if got, err := auth.ParseStepUpThresholds(""); err != nil || len(got) != 0 {
		t.Fatalf("none: %v, %v", got, err)
	}
	for s, names := range map[string]string{
		"EUR":             "EUR",
		"EUR=":            "EUR=",
		"JPY=1.5":         "JPY=1.5",
		"EUR=1.005":       "EUR=1.005",
		"EUR=1,00":        `"00" is not`,
		"EUR=-5":          "EUR=-5",
		"EUR=0":           "EUR=0",
		"EUR=0.00":        "EUR=0.00",
		"eur=100":         "eur=100",
		"XYZ=100":         "XYZ=100",
		"EUR=100,EUR=200": "EUR",
		"EUR=1e2":         "EUR=1e2",
	} {
		_, err := auth.ParseStepUpThresholds(s)
		if err == nil || pw.ErrorCode(err) != pw.EINVALID || !strings.Contains(pw.ErrorMessage(err), names) {
			t.Errorf("%q: %v; want invalid, naming %q", s, err, names)
		}
	}
}
