package postgres

import (
	"context"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// WriteIntentBatch writes one group commit of intents at once (for
// storetest's IntentsBatch).
func (s *Store) WriteIntentBatch(ctx context.Context, batch []*pw.Intent) ([]groupcommit.Result[*pw.Intent], error) {
	return s.writeIntentBatch(ctx, batch)
}

// WriteClaimBatch writes one group commit of claims at once.
func (s *Store) WriteClaimBatch(ctx context.Context, batch []*pw.IdempotencyRecord) ([]groupcommit.Result[bool], error) {
	return s.writeClaimBatch(ctx, batch)
}

// MigrateWith runs Migrate with one more migration after the embedded
// ones (for the tests of a migration that waits for a table's lock).
func (s *Store) MigrateWith(ctx context.Context, version int64, name, sql string) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	m, err := parseMigration(version, name, sql)
	if err != nil {
		return err
	}
	return s.migrate(ctx, append(ms, m))
}

// ParseMigration checks a migration file as loadMigrations does.
func ParseMigration(name, sql string) error {
	_, err := parseMigration(1, name, sql)
	return err
}

// ResetPool closes every pooled connection, so that the next ones pick up
// the database's settings anew.
func (s *Store) ResetPool() { s.pool.Reset() }

// PendingOfQuery is PendingIntentsOf's query.
const PendingOfQuery = "SELECT " + intentColumns + " FROM intents " + pendingOfWhere

// AnalyzeIntents gathers the planner's statistics of the intents table,
// as autovacuum does after enough changes (for storetest's benchmarks).
func (s *Store) AnalyzeIntents(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "ANALYZE intents")
	return err
}

// MigrationLockKey is the advisory lock key of schema's migrations.
func MigrationLockKey(schema string) int64 { return migrationLockKey(schema) }
