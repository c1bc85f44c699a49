package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
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
// migrations not yet recorded in schema_migrations, all in one transaction.
// Several processes may start at once on one database: a transaction-level
// advisory lock, keyed by the schema, makes them take turns, and each
// re-reads what the previous one applied.
func (s *Store) Migrate(ctx context.Context) error {
	const op = "postgres.Migrate"
	ms, err := loadMigrations()
	if err != nil {
		return mapError(ctx, op, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapError(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(s.schema)); err != nil {
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

// migrationLockKey is the advisory lock key of a schema's migrations: one
// key per schema, so that isolated test schemas migrate in parallel.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("peakwallet.migrate\x00" + schema))
	return int64(h.Sum64())
}
