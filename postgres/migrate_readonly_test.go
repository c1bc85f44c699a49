package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
)

// TestAStoreOpensOnAReadOnlyDatabaseWithNothingToMigrate: a process that
// starts while its database takes no writes (a failover under way, a
// maintenance window) and finds every migration applied opens, unready,
// and serves reads; it is ready once the database takes writes. Until the
// review of 2026-11-28 Open always ran the migration's transaction, whose
// CREATE TABLE IF NOT EXISTS a read-only database refuses (25006), and
// serve exited: restarted during a failover, a process crash-looped
// instead of waiting.
func TestAStoreOpensOnAReadOnlyDatabaseWithNothingToMigrate(t *testing.T) {
	for _, schema := range []string{"", "peakwallet_ro"} {
		t.Run("schema "+schema, func(t *testing.T) {
			dsn := pgtest.NewDatabase(t)
			ctx := context.Background()
			s, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			a := newAccount(pw.AccountUser, at(0))
			MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a}})
			s.Close()
			setReadOnly := readOnlySwitch(t, dsn)

			setReadOnly(true)
			s, err = postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatalf("open on a read-only database with every migration applied: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Ping(ctx); !errors.Is(err, pw.ErrWritesFailing) {
				t.Fatalf("readiness on a read-only database: %v; want writes failing", err)
			}
			if got, err := s.Account(ctx, a.ID); err != nil || got.ID != a.ID {
				t.Fatalf("a read on a read-only database: %+v, %v", got, err)
			}
			setReadOnly(false)
			waitReady(t, s, func(err error) bool { return err == nil }, 15*time.Second)
			MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{newAccount(pw.AccountUser, at(0))}})
		})
	}
}
