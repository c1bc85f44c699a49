package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/postgres"
)

// TestAnOlderBinaryMigratesBesideAnIndexBuild: during an upgrade, an
// older binary (one from before concurrent builds) may start while a new
// one builds an index. The older one waits for the migrations' advisory
// lock in a transaction (pg_advisory_xact_lock, blocking), and a
// concurrent build waits for every transaction older than its snapshot:
// had the build held that same lock, each would wait for the other, and
// PostgreSQL would end one of them as a deadlock (the build, leaving an
// invalid index and a failed Migrate, or the older binary's start). The
// build holds a lock of its own, so the older binary finds its
// migrations applied and goes on, and the build ends valid.
func TestAnOlderBinaryMigratesBesideAnIndexBuild(t *testing.T) {
	schema := NewSchemaName(t)
	older, migrated := buildBehindAnOlderWriter(t, schema, MustOpenSchema(t, schema))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The older binary's Migrate: a transaction that waits for the lock,
	// then reads what is applied.
	oldBinary := make(chan error, 1)
	oldConn := mustConnect(t, schema)
	go func() {
		oldBinary <- func() error {
			tx, err := oldConn.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, postgres.MigrationLockKey(schema)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT version FROM schema_migrations`); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}()
	}()
	// The older binary has begun (and waits, if the build holds its lock)
	// before the build goes on to wait for transactions older than it.
	time.Sleep(300 * time.Millisecond)
	if err := older.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-oldBinary; err != nil {
		t.Errorf("the older binary's Migrate beside the build: %v", err)
	}
	if err := <-migrated; err != nil {
		t.Errorf("the build's Migrate beside the older binary: %v", err)
	}
	if valid, recorded := indexState(t, schema, "intents_by_key", indexVersion); !valid || !recorded {
		t.Fatalf("the index is valid: %v, recorded: %v", valid, recorded)
	}
}

// TestAStatementTimeoutDoesNotCutAnIndexBuild: a database or role may set
// statement_timeout for the wallet's queries. A concurrent build waits
// for transactions older than it, and reads the whole table: cut by the
// timeout, it would leave an invalid index, and every start would drop it
// and be cut again. The build's session runs without one.
func TestAStatementTimeoutDoesNotCutAnIndexBuild(t *testing.T) {
	schema := NewSchemaName(t)
	MustOpenSchema(t, schema)
	dsn := MustDSN(t)
	switch {
	case !strings.Contains(dsn, "://"):
		dsn += " statement_timeout=200"
	case strings.Contains(dsn, "?"):
		dsn += "&statement_timeout=200"
	default:
		dsn += "?statement_timeout=200"
	}
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	older, migrated := buildBehindAnOlderWriter(t, schema, s)
	ctx := context.Background()
	time.Sleep(500 * time.Millisecond) // over the statement timeout
	if err := older.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-migrated; err != nil {
		t.Errorf("Migrate with a statement timeout shorter than the build: %v", err)
	}
	if valid, recorded := indexState(t, schema, "intents_by_key", indexVersion); !valid || !recorded {
		t.Fatalf("the index is valid: %v, recorded: %v", valid, recorded)
	}
}
