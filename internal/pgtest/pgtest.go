// Package pgtest finds the PostgreSQL that tests run against: the DSN in
// PEAKWALLET_TEST_POSTGRES, or the local server at 127.0.0.1:5432. When it
// cannot be reached, tests skip with a message saying how to enable them;
// in CI (CI or PEAKWALLET_REQUIRE_POSTGRES set) they fail instead, so that
// PostgreSQL is never silently left untested.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the local test server on these machines (trust auth).
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	once    sync.Once
	pingErr error
)

// DSN returns the test database's DSN, or skips (fails in CI) when it
// cannot be reached.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("PEAKWALLET_TEST_POSTGRES")
	if dsn == "" {
		dsn = DefaultDSN
	}
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		pingErr = err
	})
	if pingErr != nil {
		if os.Getenv("PEAKWALLET_REQUIRE_POSTGRES") != "" || os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL is required here but unreachable at %s: %v", dsn, pingErr)
		}
		tb.Skipf("PostgreSQL unreachable at %s (%v): start it, or set PEAKWALLET_TEST_POSTGRES=postgres://USER@HOST:PORT/DB?sslmode=disable, to run the PostgreSQL tests", dsn, pingErr)
	}
	return dsn
}

// NewDatabase creates an empty database for one test and returns its DSN;
// the database is dropped when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "pwtest_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("creating database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Logf("dropping %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(fmt.Errorf("parsing DSN: %w", err))
	}
	u.Path = "/" + name
	return u.String()
}
