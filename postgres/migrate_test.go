package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/postgres"
)

// A migration that needs accounts' ACCESS EXCLUSIVE lock, as an ALTER
// TABLE does, however quick its own work.
const (
	alterVersion = 9999
	alterName    = "9999_accounts_note.sql"
	alterSQL     = "ALTER TABLE accounts ADD COLUMN note TEXT"
)

// liveQueryBound is how long a live query may wait behind a migration in
// these tests: the migration's lock_timeout, with room for a busy machine.
const liveQueryBound = 10 * postgres.MigrateLockTimeout

// TestAMigrationDoesNotQueueLiveQueriesBehindALongTransaction holds
// accounts in a long transaction (a report's ACCESS SHARE lock) while a
// migration alters accounts. The ALTER waits for its ACCESS EXCLUSIVE
// lock, and every later query on accounts queues behind it, an outage for
// as long as the report runs. Migrate gives up instead: each attempt waits
// at most MigrateLockTimeout, the live queries meanwhile are answered
// within a short bound, and after its last attempt Migrate fails with an
// unavailable error naming lock_timeout, having migrated nothing. Once the
// report is gone, the migration applies. (Before, Migrate waited for the
// report, and so did every query on accounts: until this test's 30 s
// deadline.)
func TestAMigrationDoesNotQueueLiveQueriesBehindALongTransaction(t *testing.T) {
	schema := NewSchemaName(t)
	s := MustOpenSchema(t, schema)
	ctx := context.Background()
	report, err := mustConnect(t, schema).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer report.Rollback(ctx)
	if _, err := report.Exec(ctx, "SELECT count(*) FROM accounts"); err != nil {
		t.Fatal(err)
	}

	stop := queryLive(t, mustConnect(t, schema))
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	err = s.MigrateWith(mctx, alterVersion, alterName, alterSQL)
	took := time.Since(start)
	live := stop()
	t.Logf("Migrate gave up after %v: %v", took.Round(time.Millisecond), err)
	t.Logf("live queries: %d, %d slowed by the migration's lock, the longest %v", live.n, live.slowed, live.longest.Round(time.Millisecond))
	WantCode(t, err, pw.EUNAVAILABLE)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" || !strings.Contains(err.Error(), "lock_timeout") {
		t.Fatalf("Migrate blocked by a long transaction: %v; want lock_not_available (55P03), naming lock_timeout", err)
	}
	if live.err != nil {
		t.Fatalf("a live query: %v", live.err)
	}
	if live.longest > liveQueryBound {
		t.Fatalf("a live query on accounts waited %v behind the migration; want at most %v", live.longest, liveQueryBound)
	}
	if live.slowed == 0 {
		t.Fatal("no live query waited behind the migration: the test did not make the lock queue it is about")
	}
	if applied(t, s, schema) {
		t.Fatal("a migration that gave up left its change behind")
	}

	report.Rollback(ctx)
	if err := s.MigrateWith(ctx, alterVersion, alterName, alterSQL); err != nil {
		t.Fatalf("Migrate once the long transaction ended: %v", err)
	}
	if !applied(t, s, schema) {
		t.Fatal("the migration did not apply once the long transaction ended")
	}
}

// TestAMigrationRetriesUntilTheLockIsFree ends the long transaction a
// little after the migration's first attempt gave up (2 s, four times its
// lock_timeout): a later attempt takes the lock and Migrate succeeds, and
// no live query waited long meanwhile.
func TestAMigrationRetriesUntilTheLockIsFree(t *testing.T) {
	schema := NewSchemaName(t)
	s := MustOpenSchema(t, schema)
	ctx := context.Background()
	report, err := mustConnect(t, schema).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := report.Exec(ctx, "SELECT count(*) FROM accounts"); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		time.Sleep(4 * postgres.MigrateLockTimeout)
		report.Rollback(ctx)
	}()

	stop := queryLive(t, mustConnect(t, schema))
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	err = s.MigrateWith(mctx, alterVersion, alterName, alterSQL)
	took := time.Since(start)
	live := stop()
	<-ended
	t.Logf("Migrate took %v; live queries: %d, %d slowed, the longest %v", took.Round(time.Millisecond), live.n, live.slowed, live.longest.Round(time.Millisecond))
	if err != nil {
		t.Fatalf("Migrate with a transaction in its way for 2 s: %v; want it applied by a later attempt", err)
	}
	if !applied(t, s, schema) {
		t.Fatal("Migrate said nil but the migration is not there")
	}
	if live.err != nil {
		t.Fatalf("a live query: %v", live.err)
	}
	if live.longest > liveQueryBound {
		t.Fatalf("a live query on accounts waited %v behind the migration; want at most %v", live.longest, liveQueryBound)
	}
}

// liveQueries is what queryLive saw.
type liveQueries struct {
	n, slowed int // queries answered; those that took over 100 ms
	longest   time.Duration
	err       error
}

// queryLive reads accounts on conn, as live traffic would, every 10 ms
// until the function it returns is called, which returns what it saw.
func queryLive(t *testing.T, conn *pgx.Conn) (stop func() liveQueries) {
	t.Helper()
	done := make(chan struct{})
	seen := make(chan liveQueries, 1)
	go func() {
		var q liveQueries
		defer func() { seen <- q }()
		for {
			select {
			case <-done:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			asked := time.Now()
			_, err := conn.Exec(ctx, "SELECT count(*) FROM accounts")
			took := time.Since(asked)
			cancel()
			if err != nil {
				q.err = err
				return
			}
			q.n++
			q.longest = max(q.longest, took)
			if took > 100*time.Millisecond {
				q.slowed++
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() liveQueries {
		close(done)
		return <-seen
	}
}

// mustConnect opens a connection of its own (closed when the test ends)
// whose search_path is schema.
func mustConnect(t *testing.T, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(MustDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// applied reports whether the test's migration is in schema: its column,
// and its row in schema_migrations.
func applied(t *testing.T, s *postgres.Store, schema string) bool {
	t.Helper()
	conn := mustConnect(t, schema)
	var column, row bool
	err := conn.QueryRow(context.Background(), `SELECT
		EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'accounts' AND column_name = 'note'),
		EXISTS (SELECT 1 FROM schema_migrations WHERE version = $2)`, schema, alterVersion).Scan(&column, &row)
	if err != nil {
		t.Fatal(err)
	}
	if column != row {
		t.Fatalf("the migration's column is there: %v, its schema_migrations row: %v", column, row)
	}
	return column
}
