package sqlite

import (
	"context"
	"database/sql"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// WriteIntentBatch writes one group commit of intents at once (for
// storetest's IntentsBatch).
func (s *Store) WriteIntentBatch(ctx context.Context, batch []*pw.Intent) ([]groupcommit.Result[*pw.Intent], error) {
	return s.writeIntentBatch(ctx, batch)
}

// BankAndUser opens a bank's account and a user's in EUR (for the
// external tests' set-up).
var BankAndUser = bankAndUser

// OpenLedger opens a store and a ledger on it, both closed when the test
// ends; WaitAlone waits until a store says no other has its file open
// (for the external tests).
var (
	OpenLedger = openLedger
	WaitAlone  = waitAlone
)

// OpenReader opens the file as the store's read pool does (another
// process's reader, for the handover tests).
func OpenReader(path string) (*sql.DB, error) { return openDB(path, roleReader) }

// AnalyzeIntents gathers the query planner's statistics of the intents
// table (for storetest's benchmarks).
func (s *Store) AnalyzeIntents(ctx context.Context) error {
	_, err := s.write.ExecContext(ctx, "ANALYZE intents")
	return err
}
