package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
)

// TestAReadOnlyDatabaseIsUnavailableNotInternal: a server that answers but
// takes no writes (a standby a failover pointed us at, or one set
// read-only) makes readiness fail and every write answer unavailable
// (503 busy), while reads go on; once it takes writes again, so do we.
// Until 2026-11-27 readiness only pinged, and stayed green, and every
// write failed 500 internal (SQLSTATE 25006 was not mapped).
func TestAReadOnlyDatabaseIsUnavailableNotInternal(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, b := newAccount(pw.AccountUser, at(0)), newAccount(pw.AccountUser, at(0))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a}})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ready before: %v", err)
	}

	set := readOnlySwitch(t, dsn)
	setReadOnly := func(on bool) {
		t.Helper()
		set(on)
		s.ResetPool() // new connections take the database's setting
	}

	setReadOnly(true)
	err = s.Ping(ctx)
	if pw.ErrorCode(err) != pw.EUNAVAILABLE || !errors.Is(err, pw.ErrWritesFailing) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("readiness on a read-only database: %v; want unavailable, writes failing, read-only", err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{b}})
	})
	if pw.ErrorCode(err) != pw.EUNAVAILABLE || !errors.Is(err, pw.ErrWritesFailing) {
		t.Fatalf("a write on a read-only database: %v; want unavailable (busy), not internal", err)
	}
	if got, err := s.Account(ctx, a.ID); err != nil || got.ID != a.ID {
		t.Fatalf("a read on a read-only database: %+v, %v", got, err)
	}

	setReadOnly(false)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ready after: %v", err)
	}
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{b}})
}

// readOnlySwitch returns a func that sets the database of dsn read-only
// (default_transaction_read_only, as an operator does for maintenance)
// or lifts it. Setting it also ends the database's other sessions, as the
// operator must for it to take: it is read when a session starts.
func readOnlySwitch(t *testing.T, dsn string) func(on bool) {
	u, _ := url.Parse(dsn)
	name := strings.TrimPrefix(u.Path, "/")
	return func(on bool) {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, MustDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		q := "ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " RESET default_transaction_read_only"
		if on {
			q = "ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " SET default_transaction_read_only = on"
		}
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
		if on {
			if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestReadinessComesBackWhenTheDatabaseTakesWritesAgain: a database set
// read-only for maintenance (ALTER DATABASE … SET
// default_transaction_read_only) makes the store unready; once the
// setting is lifted, the store is ready and writes within seconds, with
// no restart. A session reads that setting when it starts, so the pooled
// sessions opened during the window stay read-only after it: until the
// review of 2026-11-28 readiness stayed red, and every write failed, until
// pgxpool retired them (MaxConnLifetime, an hour). The test of the night
// (TestAReadOnlyDatabaseIsUnavailableNotInternal) reset the pool itself.
func TestReadinessComesBackWhenTheDatabaseTakesWritesAgain(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	const conns = 4
	s, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	setReadOnly := readOnlySwitch(t, dsn)

	setReadOnly(true)
	waitReady(t, s, func(err error) bool { return errors.Is(err, pw.ErrWritesFailing) }, 10*time.Second)
	// Every pooled session is one opened during the window.
	parallel(conns, func() { s.Ping(ctx); s.Account(ctx, "acc_none") })

	setReadOnly(false)
	took := waitReady(t, s, func(err error) bool { return err == nil }, 15*time.Second)
	t.Logf("ready %v after the database took writes again", took.Round(time.Millisecond))
	var mu sync.Mutex
	var failed []error
	parallel(2*conns, func() {
		err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			return tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{newAccount(pw.AccountUser, at(0))}})
		})
		if err != nil {
			mu.Lock()
			failed = append(failed, err)
			mu.Unlock()
		}
	})
	if len(failed) > 0 {
		t.Fatalf("%d of %d writes failed once ready: %v", len(failed), 2*conns, failed[0])
	}
}

// waitReady calls s.Ping until ok accepts its answer, at most for d, and
// returns how long that took.
func waitReady(t *testing.T, s *postgres.Store, ok func(error) bool, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := s.Ping(context.Background())
		if ok(err) {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("readiness still %v after %v", err, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func parallel(n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}
