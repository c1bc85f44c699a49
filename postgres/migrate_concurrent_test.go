package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/peakwallet/peakwallet/postgres"
)

// An index built the way migration 0008 builds one (CREATE INDEX
// CONCURRENTLY, outside Migrate's transaction).
const (
	indexVersion = 9998
	indexName    = "9998_intents_by_key.sql"
	indexSQL     = "-- a test's index\nCREATE INDEX CONCURRENTLY IF NOT EXISTS intents_by_key ON intents (key);\n"
)

// TestAnIndexIsBuiltWithoutRefusingTheSurgeQueuesWrites: a migration
// that adds an index to intents, which keeps every payment ever queued,
// is built concurrently. While the build waits for a transaction that
// wrote to intents before it began (and while it reads the table), the
// surge queue goes on writing intents: an insert that may wait at most
// 200 ms for a lock is not refused. Built in Migrate's transaction
// instead (CREATE INDEX), the build queues for the table's SHARE lock
// behind that transaction, and the insert queues behind the build, and is
// refused; with a big table it would then wait for the whole build. Once
// the old transaction ends, the index is built, valid, and recorded.
func TestAnIndexIsBuiltWithoutRefusingTheSurgeQueuesWrites(t *testing.T) {
	schema := NewSchemaName(t)
	older, migrated := buildBehindAnOlderWriter(t, schema, MustOpenSchema(t, schema))
	ctx := context.Background()

	live := mustConnect(t, schema)
	if _, err := live.Exec(ctx, "SET lock_timeout = '200ms'"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := live.Exec(ctx, insertIntentSQL, fmt.Sprintf("int_live_%d", i)); err != nil {
			t.Fatalf("the surge queue's write during the index build: %v; want it written", err)
		}
	}
	if err := older.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-migrated; err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if valid, recorded := indexState(t, schema, "intents_by_key", indexVersion); !valid || !recorded {
		t.Fatalf("after Migrate the index is valid: %v, recorded: %v", valid, recorded)
	}
}

// buildBehindAnOlderWriter starts s's Migrate of a concurrent build of
// intents_by_key while a transaction that wrote to intents is open
// (older, rolled back when t ends), and returns once the build waits for
// it; migrated has Migrate's result. It fails t if the migration ends
// first or never waits.
func buildBehindAnOlderWriter(t *testing.T, schema string, s *postgres.Store) (older pgx.Tx, migrated <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	older, err := mustConnect(t, schema).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { older.Rollback(context.Background()) })
	if _, err := older.Exec(ctx, insertIntentSQL, "int_older"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.MigrateWith(ctx, indexVersion, indexName, indexSQL) }()
	waitForTheBuildToWait(t, schema, done)
	return older, done
}

// waitForTheBuildToWait returns once the build of intents_by_key in
// schema waits for a lock (for a transaction older than it); it fails t
// if the migration ends first (migrated) or never waits.
func waitForTheBuildToWait(t *testing.T, schema string, migrated <-chan error) {
	t.Helper()
	watch := mustConnect(t, schema)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var waiting bool
		if err := watch.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE query LIKE '%INDEX%intents_by_key%' AND query NOT LIKE '%pg_stat_activity%' AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		select {
		case err := <-migrated:
			t.Fatalf("the migration ended (%v) while a transaction older than it was open: it did not wait for it", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the index build never waited for the older transaction")
		}
	}
}

// insertIntentSQL writes a pending intent with ID $1.
const insertIntentSQL = `INSERT INTO intents (id, principal, key, fingerprint, body, status, created_at, updated_at)
	VALUES ($1, 'user:t', $1, 'fp', '\x7b7d', 'pending', now(), now())`

// TestACutIndexBuildIsBuiltAgain: a concurrent build that was cut (the
// process died, its ctx ended) leaves an invalid index behind, which IF
// NOT EXISTS would take for built. Migrate drops it and builds it again,
// and a second Migrate finds nothing to do. The file may spell the
// index's name in any case: PostgreSQL folds it to lower case, and so
// must the drop, or it misses the index and the invalid one is recorded
// as built.
func TestACutIndexBuildIsBuiltAgain(t *testing.T) {
	for _, sql := range []string{indexSQL, strings.Replace(indexSQL, "intents_by_key", "Intents_By_Key", 1)} {
		t.Run(strings.Fields(sql)[10], func(t *testing.T) {
			schema := NewSchemaName(t)
			s := MustOpenSchema(t, schema)
			ctx := context.Background()
			conn := mustConnect(t, schema)
			// What a cut build leaves: the index in the catalogue, marked invalid.
			if _, err := conn.Exec(ctx, "CREATE INDEX intents_by_key ON intents (key)"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'intents_by_key'::regclass"); err != nil {
				t.Fatal(err)
			}
			if valid, _ := indexState(t, schema, "intents_by_key", indexVersion); valid {
				t.Fatal("the test could not leave an invalid index")
			}
			if err := s.MigrateWith(ctx, indexVersion, indexName, sql); err != nil {
				t.Fatal(err)
			}
			if valid, recorded := indexState(t, schema, "intents_by_key", indexVersion); !valid || !recorded {
				t.Fatalf("after Migrate over a cut build the index is valid: %v, recorded: %v", valid, recorded)
			}
			if err := s.MigrateWith(ctx, indexVersion, indexName, sql); err != nil {
				t.Fatalf("Migrate again: %v", err)
			}
		})
	}
}

// TestTwoProcessesBuildAnIndexAtOnce: processes starting together on a
// schema whose next migration is a concurrent build take turns, neither
// fails (a build waits for older transactions, and a process waiting for
// the migrations' lock in a transaction would be one: PostgreSQL ends one
// of the two as a deadlock), and the index is built once.
func TestTwoProcessesBuildAnIndexAtOnce(t *testing.T) {
	schema := NewSchemaName(t)
	stores := []*postgres.Store{MustOpenSchema(t, schema), MustOpenSchema(t, schema), MustOpenSchema(t, schema)}
	errs := make(chan error, len(stores))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // processes waiting for each other hang: a failure, not a wait
	defer cancel()
	for _, s := range stores {
		go func() { errs <- s.MigrateWith(ctx, indexVersion, indexName, indexSQL) }()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Errorf("Migrate beside the others: %v", err)
		}
	}
	if valid, recorded := indexState(t, schema, "intents_by_key", indexVersion); !valid || !recorded {
		t.Fatalf("the index is valid: %v, recorded: %v", valid, recorded)
	}
}

// TestAConcurrentMigrationIsOneIndexAlone: a file that builds an index
// concurrently holds that one statement (it runs outside a transaction,
// and PostgreSQL refuses CONCURRENTLY in a multi-statement query).
func TestAConcurrentMigrationIsOneIndexAlone(t *testing.T) {
	for sql, ok := range map[string]bool{
		indexSQL: true,
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS a ON t (x) WHERE y = 'z'":                     true,
		"CREATE INDEX CONCURRENTLY a ON t (x);":                                                false, // IF NOT EXISTS makes a rerun after a crash harmless
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS a ON t (x); ALTER TABLE t ADD COLUMN c TEXT;": false,
		"ALTER TABLE t ADD COLUMN c TEXT; CREATE INDEX CONCURRENTLY IF NOT EXISTS a ON t (x);": false,
		"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS a ON t (x);":                           false,
		"ALTER TABLE t ADD COLUMN c TEXT; -- not concurrently built\nCREATE INDEX b ON t (c);": true,
	} {
		err := postgres.ParseMigration("0001_x.sql", sql)
		if (err == nil) != ok {
			t.Errorf("%q: %v; want accepted %v", sql, err, ok)
		}
	}
}

// indexState says whether index name is valid in schema, and whether
// migration version is recorded.
func indexState(t *testing.T, schema, name string, version int64) (valid, recorded bool) {
	t.Helper()
	var v *bool
	err := mustConnect(t, schema).QueryRow(context.Background(), `SELECT
		(SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)),
		EXISTS (SELECT 1 FROM schema_migrations WHERE version = $2)`, name, version).Scan(&v, &recorded)
	if err != nil {
		t.Fatal(err)
	}
	return v != nil && *v, recorded
}

// TestOnesPendingIntentsAreReadThroughTheirOwnIndex: GET /v1/intents
// (PendingIntentsOf) reads a user's pending intents through the partial
// index of pending intents by principal (migration 0008). Without it, with
// 20,000 pending intents of 500 others and ten of the user's, the planner
// read all 20,000 entries of intents_pending into a bitmap beside the
// user's part of the (principal, key) index (2.3 ms a page, measured
// 2026-11-28), instead of ten entries (0.08 ms).
//
// A principal with a great many intents (one of the most common values in
// the table's statistics: a merchant paying out, say) may still be read
// through intents_pending, up to every pending intent, when few of its
// own are pending: the planner takes its share of pending intents to be
// its share of the table. Extended statistics on (status, principal) did
// not change that choice.
func TestOnesPendingIntentsAreReadThroughTheirOwnIndex(t *testing.T) {
	schema := NewSchemaName(t)
	MustOpenSchema(t, schema)
	ctx := context.Background()
	conn := mustConnect(t, schema)
	for _, q := range []string{
		// Others' queue, their earlier intents and the user's, settled.
		`INSERT INTO intents (id, principal, key, fingerprint, body, status, created_at, updated_at)
			SELECT 'int_a' || lpad(g::text, 8, '0'), 'user:' || (g % 500), 'k' || g, 'fp', '\x7b7d', 'pending', now(), now() FROM generate_series(1, 20000) g`,
		`INSERT INTO intents (id, principal, key, fingerprint, body, status, created_at, updated_at)
			SELECT 'int_b' || lpad(g::text, 8, '0'), 'user:' || (g % 2000), 'old' || g, 'fp', '\x7b7d', 'posted', now(), now() FROM generate_series(1, 20000) g`,
		`INSERT INTO intents (id, principal, key, fingerprint, body, status, created_at, updated_at)
			SELECT 'int_b' || lpad(g::text, 8, '0'), 'user:me', 'old' || g, 'fp', '\x7b7d', 'posted', now(), now() FROM generate_series(20001, 20050) g`,
		`INSERT INTO intents (id, principal, key, fingerprint, body, status, created_at, updated_at)
			SELECT 'int_c' || lpad(g::text, 8, '0'), 'user:me', 'new' || g, 'fp', '\x7b7d', 'pending', now(), now() FROM generate_series(1, 10) g`,
		`ANALYZE intents`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var plan []string
	rows, err := conn.Query(ctx, "EXPLAIN "+postgres.PendingOfQuery, "", "user:me", 51)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// A bitmap scan of the index, sorted, is as good: it reads the user's
	// pending intents alone, and sorts a handful.
	if all := strings.Join(plan, "\n"); !strings.Contains(all, "intents_pending_principal") ||
		strings.Contains(all, "intents_pending ") || strings.Contains(all, "intents_principal_key") {
		t.Fatalf("one's pending intents are not read through the index of pending intents by principal:\n%s", all)
	}
}
