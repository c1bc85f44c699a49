package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

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

	u, _ := url.Parse(dsn)
	name := strings.TrimPrefix(u.Path, "/")
	setReadOnly := func(on bool) {
		t.Helper()
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
