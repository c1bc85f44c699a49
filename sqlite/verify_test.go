package sqlite_test

import (
	"database/sql"
	"testing"

	_ "github.com/mattn/go-sqlite3" // tampers with the file whatever driver the store uses

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
	s := MustOpen(t)
	return s, func(q string) (int64, error) {
		db, err := sql.Open("sqlite3", s.Path())
		if err != nil {
			return 0, err
		}
		defer db.Close()
		res, err := db.Exec(q)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
}

// TestVerifyDetectsIntentTampering edits the surge queue's intents behind
// the ledger's back, one way per invariant, and checks that Verify reports
// each.
func TestVerifyDetectsIntentTampering(t *testing.T) {
	storetest.RunIntentTampering(t, tamperOpener)
}
