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
	"regexp"
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
	// index is the index a concurrent migration builds (see
	// concurrentIndex); empty for the others, which run in Migrate's
	// transaction.
	index string
}

// A migration whose file holds one CREATE INDEX CONCURRENTLY IF NOT EXISTS
// statement is applied outside a transaction (PostgreSQL refuses the
// statement inside one). CREATE INDEX in the migration's transaction
// holds the table's SHARE lock while it reads the whole table: on intents,
// which keeps every payment ever queued, that refuses the surge queue's
// writes for as long as the build takes, and lock_timeout (which bounds
// the wait for a lock, not its holding) does not help. A concurrent build
// takes SHARE UPDATE EXCLUSIVE, which no read or write waits for; it waits
// itself for the transactions older than it, which is why it runs with no
// lock_timeout: its waiting holds up no query.
var concurrentIndex = regexp.MustCompile(`(?is)^\s*(?:--[^\n]*\n\s*)*CREATE\s+INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+([a-z_][a-z0-9_]*)\s+ON\s+[^;]+;?\s*$`)

var (
	concurrently = regexp.MustCompile(`(?i)\bCONCURRENTLY\b`)
	sqlComment   = regexp.MustCompile(`--[^\n]*`) // the migrations hold no "--" in a string
)

// parseMigration is a migration of file name with content sql.
func parseMigration(version int64, name, sql string) (migration, error) {
	m := migration{version: version, name: name, sql: sql}
	if concurrently.MatchString(sqlComment.ReplaceAllString(sql, "")) {
		match := concurrentIndex.FindStringSubmatch(sql)
		if match == nil {
			return m, fmt.Errorf("migration %s: a concurrent migration must be one CREATE INDEX CONCURRENTLY IF NOT EXISTS statement, alone in its file", name)
		}
		// PostgreSQL folds an unquoted name to lower case: the index it
		// builds is the lower-cased name, and buildIndex looks it up and
		// drops it (quoted) by that name. Kept as written, a cut build of
		// Intents_By_Key would be looked up, but the quoted DROP would
		// miss it, and IF NOT EXISTS would then take the invalid index for
		// built.
		m.index = strings.ToLower(match[1])
	}
	return m, nil
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
		m, err := parseMigration(version, base, string(b))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate creates the schema (when Options.Schema is set) and applies the
// migrations not yet recorded in schema_migrations, in one transaction up
// to a concurrent index build (concurrentIndex), which runs apart, then in
// another for those after it; when every one is recorded already it writes
// nothing (migrated).
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
		concurrent, err := s.migrateOnce(ctx, ms)
		if err == nil && concurrent != nil {
			if err := s.buildIndex(ctx, *concurrent); err != nil {
				return err
			}
			attempt, start = 0, time.Now() // the migrations after it have attempts of their own
			continue
		}
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

// migrateOnce is one attempt of migrate, in one transaction: it applies
// the migrations not yet applied, in order, up to the first concurrent
// one, which it returns for buildIndex once the others are committed.
func (s *Store) migrateOnce(ctx context.Context, ms []migration) (*migration, error) {
	const op = "postgres.Migrate"
	var tx pgx.Tx
	err := takeTurn(ctx, func() (bool, error) {
		var err error
		if tx, err = s.pool.Begin(ctx); err != nil {
			return false, err
		}
		var mine bool
		if err = tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, migrationLockKey(s.schema)).Scan(&mine); err != nil || !mine {
			tx.Rollback(context.WithoutCancel(ctx))
		}
		return mine, err
	})
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Only once it is this process's turn: waiting for another process's
	// migration holds up no query, and should not use up the attempts.
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", MigrateLockTimeout.Milliseconds())); err != nil {
		return nil, mapError(ctx, op, err)
	}
	if s.schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return nil, mapError(ctx, op, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return nil, mapError(ctx, op, err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, mapError(ctx, op, err)
	}
	done := make(map[int64]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}
	var concurrent *migration
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if m.index != "" {
			concurrent = &m
			break
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// allows several statements in one Exec.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return nil, mapError(ctx, op+" "+m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return nil, mapError(ctx, op, err)
		}
	}
	return concurrent, mapError(ctx, op, tx.Commit(ctx))
}

// buildIndex applies concurrent migration m outside a transaction, taking
// its turn with other processes' builds on a session-level advisory lock
// of its own (indexBuildLockKey): the build runs on one connection, then
// the migration is recorded. A build that was cut (a crash, a
// cancelled ctx, a deadlock) leaves an invalid index behind, which
// PostgreSQL keeps updating but never reads; IF NOT EXISTS would take it
// for done, so an invalid one is dropped (concurrently too) and built
// again. A process that dies between the build and the record finds the
// index valid next time, and only records it.
func (s *Store) buildIndex(ctx context.Context, m migration) error {
	op := "postgres.Migrate " + m.name
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapError(ctx, op, err)
	}
	defer conn.Release()
	key := indexBuildLockKey(s.schema)
	err = takeTurn(ctx, func() (mine bool, err error) {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&mine)
		return mine, err
	})
	if err != nil {
		conn.Conn().Close(context.WithoutCancel(ctx)) // the lock may be held: end the session that holds it
		return mapError(ctx, op, err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // ends the session, and its lock
		}
	}()
	var recorded bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&recorded); err != nil {
		return mapError(ctx, op, err)
	}
	if recorded { // another process built it while this one waited its turn
		return nil
	}
	// The session's own settings, not a transaction's: no lock_timeout
	// (the build's waits hold up no query), and no statement_timeout a
	// database or role may set for the wallet's queries (a build cut by
	// one leaves an invalid index, and would be cut again at every start);
	// ctx bounds it.
	if _, err := conn.Exec(ctx, `SET lock_timeout = 0; SET statement_timeout = 0`); err != nil {
		return mapError(ctx, op, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `RESET lock_timeout; RESET statement_timeout`)
	var valid *bool
	err = conn.QueryRow(ctx, `SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, m.index).Scan(&valid)
	switch {
	case errNoRows(err):
	case err != nil:
		return mapError(ctx, op, err)
	case valid != nil && !*valid:
		if _, err := conn.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+pgx.Identifier{m.index}.Sanitize()); err != nil {
			return mapError(ctx, op, err)
		}
	}
	if _, err := conn.Exec(ctx, m.sql); err != nil {
		return mapError(ctx, op, err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`, m.version, m.name)
	return mapError(ctx, op, err)
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

// takeTurn waits for this process's turn at an advisory lock (the
// migrations' or the index builds'): try takes it, and says whether it did; between tries, a jittered
// 50–150 ms pause. A waiting try is not a waiting lock: a concurrent index
// build waits for every transaction older than itself, so a process
// waiting for the lock in a transaction (or in a statement) while the
// process that holds it builds an index would wait for each other, and
// PostgreSQL would end one of them as a deadlock. Between tries this one
// holds no transaction for the build to wait for.
func takeTurn(ctx context.Context, try func() (bool, error)) error {
	for {
		mine, err := try()
		if err != nil || mine {
			return err
		}
		t := time.NewTimer(50*time.Millisecond + rand.N(100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// migrationLockKey is the advisory lock key of a schema's migrations: one
// key per schema, so that isolated test schemas migrate in parallel.
func migrationLockKey(schema string) int64 { return lockKey("peakwallet.migrate", schema) }

// indexBuildLockKey is the advisory lock key of a schema's concurrent
// index builds. It is not migrationLockKey: a binary from before
// concurrent builds waits for that one in a transaction
// (pg_advisory_xact_lock), and the build waits for that transaction, so
// sharing the key would end one of the two as a deadlock during an
// upgrade. No other migration runs while a build is not recorded
// (migrateOnce stops at it), and the migrations before it are committed.
func indexBuildLockKey(schema string) int64 { return lockKey("peakwallet.migrate.index", schema) }

func lockKey(name, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name + "\x00" + schema))
	return int64(h.Sum64())
}
