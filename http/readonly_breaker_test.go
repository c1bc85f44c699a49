package http_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
)

// TestAReadOnlyDatabaseDoesNotOpenTheBreakerOnReads: PostgreSQL set
// read-only (a maintenance switch, or a standby a failover pointed us at)
// refuses every payment at once, and answers every read. The breaker is
// there to stop requests piling onto a store that does not answer; this
// one answers, so its refused writes must not open it and turn the reads
// away. Until the review of 2026-11-28 a refused write counted as a store
// failure: after BreakerFailuresMax payments in a row, balances and
// histories were refused "the store is unavailable" too, for as long as
// payments kept coming (the surge queue's settler, retrying its pending
// intents every poll, is enough).
func TestAReadOnlyDatabaseDoesNotOpenTheBreakerOnReads(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	store, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{})
	w := env.MustWallet(t, 1_000_000)
	setDatabaseReadOnly(t, dsn)
	for range 8 { // the pool's sessions ended, each found dead once
		store.Ping(context.Background())
	}
	for i := range 2 * admission.BreakerFailuresMax {
		r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "ro-" + itoa(i)})
		if r.Status != 503 {
			t.Fatalf("a payment on a read-only database: %d %s; want 503", r.Status, r.Body)
		}
	}
	if r := env.Do(t, "GET", "/v1/accounts/"+w.User.ID, "", nil); r.Status != 200 {
		t.Fatalf("a balance read on a read-only database after %d refused payments: %d %s; want 200 (breaker %s)",
			2*admission.BreakerFailuresMax, r.Status, r.Body, ctrl.Stats().Breaker)
	}
}

// setDatabaseReadOnly sets the database of dsn read-only and ends its
// sessions, so that every new one is.
func setDatabaseReadOnly(t *testing.T, dsn string) {
	t.Helper()
	u, _ := url.Parse(dsn)
	name := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " SET default_transaction_read_only = on",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "' AND pid <> pg_backend_pid()",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, pgtest.DSN(t))
		if err == nil {
			conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" RESET default_transaction_read_only")
			conn.Close(ctx)
		}
	})
}
