package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
)

// Bounds on a migration's wait for a table's lock. ALTER TABLE needs the
// table's ACCESS EXCLUSIVE lock; while it waits for one behind a long
// transaction (a report, a backup, a session idle in a transaction), every
// later query on that table, reads included, queues behind the ALTER: an
// "online" migration is then an outage for as long as that transaction
// lasts. So each statement of a migration waits at most MigrateLockTimeout
// for a lock (lock_timeout), and a migration that did not get one is
// rolled back and tried again, MigrateAttemptsMax times in all, after a
// jittered back-off; then Migrate fails, unavailable, naming lock_timeout,
// having migrated nothing. Live queries so wait behind a migration at most
// MigrateLockTimeout at a time (0.5 s, within every class's deadline:
// 1 s for reads, 2 s for payments), and Migrate gives up within about
// 10 s (5 × 0.5 s waiting, at most 7.5 s between attempts).
//
// lock_timeout bounds waiting, not the migration's own work: a statement
// that rewrites a big table holds its lock while it does, which is why
// migrations stay additive (no rewrite, no long scan under the lock).
const (
	MigrateLockTimeout  = 500 * time.Millisecond
	MigrateAttemptsMax  = 5
	MigrateBackoffFirst = 500 * time.Millisecond
	MigrateBackoffMax   = 4 * time.Second
)

// migrations are applied in order of the number that starts each file's
// name ("0001_ledger.sql" is version 1); an applied file is never edited,
// a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads the embedded files in version order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := make(map[int64]string)
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and _", base)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, version)
		}
		seen[version] = base
		b, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate creates the schema (when Options.Schema is set) and applies the
// migrations not yet recorded in schema_migrations, all in one transaction;
// when every one is recorded already it writes nothing (migrated).
// Several processes may start at once on one database: a transaction-level
// advisory lock, keyed by the schema, makes them take turns, and each
// re-reads what the previous one applied. A migration that cannot lock a
// table within MigrateLockTimeout is tried again, MigrateAttemptsMax times
// in all, before Migrate gives up (see MigrateLockTimeout).
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return mapError(ctx, "postgres.Migrate", err)
	}
	return s.migrate(ctx, ms)
}

// migrate applies those of ms not yet applied, trying again when a
// statement ran out of lock_timeout.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	const op = "postgres.Migrate"
	if done, err := s.migrated(ctx, ms); err == nil && done {
		return nil
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := s.migrateOnce(ctx, ms)
		if err == nil || !lockNotAvailable(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= MigrateAttemptsMax {
			return &pw.Error{Code: pw.EUNAVAILABLE, Op: op, Err: err, Message: fmt.Sprintf(
				"a migration could not lock its table within lock_timeout (%v) in %d attempts over %v: "+
					"another transaction holds a conflicting lock (see pg_locks and pg_stat_activity); "+
					"nothing was migrated: migrate again once it has ended",
				MigrateLockTimeout, attempt, time.Since(start).Round(time.Millisecond))}
		}
		t := time.NewTimer(migrateBackoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return mapError(ctx, op, ctx.Err())
		case <-t.C:
		}
	}
}

// migrated reports whether every migration of ms is recorded already,
// asking without writing or locking anything, so that a process starting
// while the database takes no writes (a standby during a failover, a
// database set read-only for maintenance) opens, unready, when there is
// nothing to migrate. Until the review of 2026-11-28 every Open ran the
// migration's transaction, whose CREATE SCHEMA and CREATE TABLE IF NOT
// EXISTS a read-only server refuses, and serve exited
// (TestAStoreOpensOnAReadOnlyDatabaseWithNothingToMigrate). An error here
// says nothing: the migration's transaction runs, and reports its own.
func (s *Store) migrated(ctx context.Context, ms []migration) (bool, error) {
	var exists bool
	// Resolved through the search_path, as the migration's CREATE TABLE is.
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return false, err
	}
	rows, err := s.pool.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return false, err
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return false, err
	}
	done := make(map[int64]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range ms {
		if !done[m.version] {
			return false, nil
		}
	}
	return true, nil
}

// migrateOnce is one attempt of migrate, in one transaction.
func (s *Store) migrateOnce(ctx context.Context, ms []migration) error {
	const op = "postgres.Migrate"
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapError(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(s.schema)); err != nil {
		return mapError(ctx, op, err)
	}
	// Only once it is this process's turn: waiting for another process's
	// migration holds up no query, and should not use up the attempts.
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", MigrateLockTimeout.Milliseconds())); err != nil {
		return mapError(ctx, op, err)
	}
	if s.schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return mapError(ctx, op, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return mapError(ctx, op, err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return mapError(ctx, op, err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return mapError(ctx, op, err)
	}
	done := make(map[int64]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// allows several statements in one Exec.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return mapError(ctx, op+" "+m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return mapError(ctx, op, err)
		}
	}
	return mapError(ctx, op, tx.Commit(ctx))
}

// lockNotAvailable reports whether err is a statement that gave up waiting
// for a lock (lock_timeout).
func lockNotAvailable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeLockNotAvailable
}

// migrateBackoff returns a jittered delay before attempt+1: exponential
// from MigrateBackoffFirst, capped at MigrateBackoffMax, uniformly in
// [d/2, d), so that processes starting together do not retry in step.
func migrateBackoff(attempt int) time.Duration {
	d := MigrateBackoffFirst << (attempt - 1)
	if d > MigrateBackoffMax || d <= 0 {
		d = MigrateBackoffMax
	}
	return d/2 + rand.N(d/2)
}

// migrationLockKey is the advisory lock key of a schema's migrations: one
// key per schema, so that isolated test schemas migrate in parallel.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("peakwallet.migrate\x00" + schema))
	return int64(h.Sum64())
}
