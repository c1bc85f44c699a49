package bench_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/bench"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestAMixedSurgeOffersItsMix: --mix-payments and --mix-reads set the mixed
// scenario's shares (a payments-heavy surge, 90 % payments and 10 % reads,
// shows what the standard quarter of payments hides), and a mix that adds
// up to more than 100 % is refused before anything is sent.
func TestAMixedSurgeOffersItsMix(t *testing.T) {
	ctx := context.Background()
	l, pop := mustOpenPopulation(t, 5)
	if _, err := bench.RunOverload(ctx, l, pop, bench.OverloadConfig{Scenario: bench.ScenarioMixed, Rate: 100,
		Duration: time.Second, Mix: &bench.Mix{Payments: 80, Reads: 30}}); err == nil {
		t.Fatal("a mix of 80 % payments and 30 % reads was run")
	}
	res, err := bench.RunOverload(ctx, l, pop, bench.OverloadConfig{Scenario: bench.ScenarioMixed, Rate: 1000,
		Duration: time.Second, Mix: &bench.Mix{Payments: 90, Reads: 10}})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range res.Classes {
		total += c.Offered
	}
	share := func(class string) float64 {
		if c := res.Classes[class]; c != nil {
			return float64(c.Offered) / float64(total)
		}
		return 0
	}
	if res.Mix == nil || *res.Mix != (bench.Mix{Payments: 90, Reads: 10}) {
		t.Fatalf("the report's mix %+v, want 90 and 10", res.Mix)
	}
	if total < 500 || math.Abs(share("payment")-0.9) > 0.05 || math.Abs(share("read")-0.1) > 0.05 || share("report") != 0 {
		t.Fatalf("offered %d: payments %.2f, reads %.2f, reports %.2f; want 0.90, 0.10, 0", total, share("payment"), share("read"), share("report"))
	}
}

// mustOpenPopulation opens a ledger on a new SQLite store, closed when t
// ends, with a population of 20 EUR users and merchants merchants.
func mustOpenPopulation(t *testing.T, merchants int) (*ledger.Ledger, *bench.Population) {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := ledger.New(s, ledger.Options{})
	t.Cleanup(func() { l.Close() })
	pop, err := bench.NewPopulation(context.Background(), l, "EUR", 20, merchants)
	if err != nil {
		t.Fatal(err)
	}
	return l, pop
}
