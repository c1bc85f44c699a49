package sqlite_test

import (
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/storetest"
)

func TestIntentConformance(t *testing.T) {
	storetest.RunIntents(t, func(t *testing.T) pw.Store { return MustOpen(t) })
}
