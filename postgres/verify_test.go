package postgres_test

import (
	"context"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/storetest"
)

// TestVerifyDetectsTampering edits the database behind the ledger's back,
// one way per invariant, and checks that Verify reports each.
func TestVerifyDetectsTampering(t *testing.T) {
	storetest.RunTampering(t, tamperOpener)
}

// tamperOpener opens a new store and a function that runs SQL on its
// database behind its back.
func tamperOpener(t *testing.T) (pw.Store, func(string) (int64, error)) {
	schema := NewSchemaName(t)
	s := MustOpenSchema(t, schema)
	return s, func(q string) (int64, error) {
		tag, err := mustConnect(t, schema).Exec(context.Background(), q)
		return tag.RowsAffected(), err
	}
}

// TestVerifyDetectsIntentTampering edits the surge queue's intents behind
// the ledger's back, one way per invariant, and checks that Verify reports
// each.
func TestVerifyDetectsIntentTampering(t *testing.T) {
	storetest.RunIntentTampering(t, tamperOpener)
}
