package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
)

// openPostgresTwice opens two stores on one new PostgreSQL database, as
// two processes sharing it would, and returns them with its DSN.
func openPostgresTwice(t *testing.T) (a, b *postgres.Store, dsn string) {
	t.Helper()
	dsn = pgtest.NewDatabase(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return open(), open(), dsn
}

// waitForLockWaiters waits until n sessions of the database wait for a
// row lock.
func waitForLockWaiters(t *testing.T, conn *pgx.Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a lock, want %d", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAMessageCodeIsUsedOnceAcrossProcesses: two processes on one
// PostgreSQL database checking the same one-time code at the same moment
// (a step-up repeated to two servers behind a load balancer) accept it
// once. Before, UseOTP read the code without a lock and marked it used
// without asking that it was unused: both read it unused, both marked it,
// both accepted it. A transaction holding the code's row makes the two
// meet at that row deterministically.
func TestAMessageCodeIsUsedOnceAcrossProcesses(t *testing.T) {
	a, b, dsn := openPostgresTwice(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	u := &auth.User{ID: pw.NewID(pw.PrefixUser, now), Handle: "otp@example.com", PasswordHash: "$argon2id$x", CreatedAt: now, StepUpThreshold: 100}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	o := &auth.OTP{ID: pw.NewID("otp", now), UserID: u.ID, Purpose: auth.PurposeStepUp, CodeHash: "h", CreatedAt: now, ExpiresAt: now.Add(auth.OTPTTL)}
	if err := a.CreateOTP(ctx, o); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT id FROM otps WHERE id = $1 FOR UPDATE", o.ID); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	oks := make([]bool, 2)
	errs := make([]error, 2)
	for i, s := range []*postgres.Store{a, b} {
		wg.Go(func() { oks[i], errs[i] = s.UseOTP(ctx, u.ID, auth.PurposeStepUp, "h", now) })
	}
	waitForLockWaiters(t, conn, 2)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	accepted := 0
	for i := range oks {
		if errs[i] != nil {
			t.Fatalf("UseOTP %d: %v", i, errs[i])
		}
		if oks[i] {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("the one-time code was accepted %d times, want once", accepted)
	}
}
