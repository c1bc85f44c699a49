package postgres_test

import (
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/storetest"
)

// TestConformance runs the suite every store passes, each subtest in a
// schema of its own.
func TestConformance(t *testing.T) {
	MustDSN(t)
	storetest.Run(t, func(t *testing.T) pw.Store { return MustOpen(t) })
}

// TestMultiProcess runs the concurrent bank through independent stores
// (separate pools, as separate `peakwallet serve` processes would have) on
// one schema: only the row locks keep the invariants.
func TestMultiProcess(t *testing.T) {
	MustDSN(t)
	storetest.RunMultiProcess(t, func(t *testing.T, n int) []pw.Store {
		schema := NewSchemaName(t)
		stores := make([]pw.Store, n)
		for i := range stores {
			stores[i] = MustOpenSchema(t, schema)
		}
		return stores
	})
}
