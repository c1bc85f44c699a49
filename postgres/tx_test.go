package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/postgres"
)

func TestTx_LockAccounts(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b := newAccount(pw.AccountUser, at(0)), newAccount(pw.AccountUser, at(1))
	a.Metadata = map[string]string{"x": "y"}
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b}})
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		asked := []string{b.ID, "acc_missing", a.ID, b.ID}
		m, err := tx.LockAccounts(ctx, asked)
		if err != nil {
			return err
		}
		if !slices.Equal(asked, []string{b.ID, "acc_missing", a.ID, b.ID}) {
			return fmt.Errorf("LockAccounts reordered its argument: %v", asked)
		}
		if len(m) != 2 || m[a.ID].Metadata["x"] != "y" || m[b.ID].Kind != pw.AccountUser {
			return fmt.Errorf("LockAccounts = %v", m)
		}
		if m, err := tx.LockAccounts(ctx, nil); err != nil || len(m) != 0 {
			return fmt.Errorf("LockAccounts(nil) = %v, %v", m, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTx_Holds writes holds, updates them and reads them inside a
// transaction, due ones by account.
func TestTx_Holds(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b, c := newAccount(pw.AccountUser, at(0)), newAccount(pw.AccountMerchant, at(0)), newAccount(pw.AccountUser, at(0))
	a.Balance.Posted, c.Balance.Posted = 1000, 1000
	due1 := newHold(a, b, 10, at(1), at(60))   // from a
	due2 := newHold(c, a, 20, at(2), at(30))   // to a
	later := newHold(a, b, 30, at(3), at(600)) // not yet due
	other := newHold(c, b, 40, at(4), at(10))  // due, but not a's
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b, c}, NewHolds: []*pw.Hold{due1, due2, later, other}})

	capture, entries := newPayment(a, b, 7, at(70))
	capture.Kind, capture.HoldID = pw.TransferCapture, due1.ID
	due1.Status, due1.CapturedAmount, due1.CaptureTransferID, due1.UpdatedAt = pw.HoldCaptured, 7, capture.ID, at(70)
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		due, err := tx.DueHolds(ctx, []string{a.ID}, at(100))
		if want := []string{due2.ID, due1.ID}; err != nil || !slices.Equal(ids(due, holdID), want) {
			return fmt.Errorf("tx.DueHolds = %v, %v; want %v", ids(due, holdID), err, want)
		}
		if due, err := tx.DueHolds(ctx, nil, at(100)); err != nil || len(due) != 0 {
			return fmt.Errorf("tx.DueHolds(no accounts) = %v, %v", due, err)
		}
		m, err := tx.Holds(ctx, []string{due1.ID, later.ID, "hold_missing"})
		if err != nil || len(m) != 2 || m[later.ID].Amount != 30 {
			return fmt.Errorf("tx.Holds = %v, %v", m, err)
		}
		return tx.Write(ctx, &pw.Changes{Transfers: []*pw.Transfer{capture}, Entries: entries,
			HoldUpdates: []*pw.Hold{due1}, Balances: []*pw.Account{a, b}})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Hold(ctx, due1.ID)
	if err != nil || got.Status != pw.HoldCaptured || got.CapturedAmount != 7 || got.CaptureTransferID != capture.ID ||
		!got.UpdatedAt.Equal(at(70)) {
		t.Fatalf("captured hold = %+v, %v", got, err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		due, err := tx.DueHolds(ctx, []string{a.ID, b.ID}, at(100))
		if want := []string{other.ID, due2.ID}; err != nil || !slices.Equal(ids(due, holdID), want) {
			return fmt.Errorf("tx.DueHolds after capture = %v, %v; want %v", ids(due, holdID), err, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTx_WriteRowCounts checks that a write touching a row that does not
// exist fails and rolls the whole transaction back.
func TestTx_WriteRowCounts(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a := newAccount(pw.AccountUser, at(0))
	ghost := newAccount(pw.AccountUser, at(0))
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{a}, Balances: []*pw.Account{a, ghost}})
	})
	WantCode(t, err, pw.EINTERNAL)
	_, err = s.Account(ctx, a.ID)
	WantCode(t, err, pw.EACCOUNTNOTFOUND)

	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{HoldUpdates: []*pw.Hold{{ID: "hold_missing", Status: pw.HoldVoided, UpdatedAt: at(1)}}})
	})
	WantCode(t, err, pw.EINTERNAL)
	if err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error { return tx.Write(ctx, &pw.Changes{}) }); err != nil {
		t.Fatalf("empty write: %v", err)
	}
}

// TestTx_RequestKeyUnique checks that a request key can move money only
// once, for transfers and holds alike.
func TestTx_RequestKeyUnique(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b := newAccount(pw.AccountSystem, at(0)), newAccount(pw.AccountUser, at(0))
	tr1, es1 := newPayment(a, b, 5, at(1))
	tr1.RequestKey = "user:u1\x00k"
	h1 := newHold(b, a, 1, at(1), at(100))
	h1.RequestKey = "user:u1\x00h"
	// Transfers without a key (NULL) never collide.
	tr2, es2 := newPayment(a, b, 6, at(2))
	tr3, es3 := newPayment(a, b, 7, at(3))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b}, Transfers: []*pw.Transfer{tr1, tr2, tr3},
		Entries: slices.Concat(es1, es2, es3), NewHolds: []*pw.Hold{h1}})

	dupTr, dupEs := newPayment(a, b, 8, at(4))
	dupTr.RequestKey = tr1.RequestKey
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{Transfers: []*pw.Transfer{dupTr}, Entries: dupEs})
	})
	WantCode(t, err, pw.EIDEMINUSE)
	dupHold := newHold(b, a, 1, at(4), at(100))
	dupHold.RequestKey = h1.RequestKey
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{NewHolds: []*pw.Hold{dupHold}})
	})
	WantCode(t, err, pw.EIDEMINUSE)
	if _, err := s.Transfer(ctx, dupTr.ID); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("the duplicate transfer was stored: %v", err)
	}
	// A duplicate primary key is a bug, not an idempotency conflict.
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{a}})
	})
	WantCode(t, err, pw.EINTERNAL)
}

func TestUpdate_ErrorRollsBack(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a := newAccount(pw.AccountUser, at(0))
	want := pw.Errorf(pw.EINSUFFICIENT, "no")
	calls := 0
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		calls++
		if err := tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{a}}); err != nil {
			return err
		}
		return want
	})
	if err != want || calls != 1 {
		t.Fatalf("Update = %v after %d calls; want the fn's own error after 1", err, calls)
	}
	if _, err := s.Account(ctx, a.ID); pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
		t.Fatalf("rolled-back account exists: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a panic in fn did not reach the caller")
			}
		}()
		s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{a}})
			panic("boom")
		})
	}()
	if _, err := s.Account(ctx, a.ID); pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
		t.Fatalf("account written before a panic exists: %v", err)
	}
}

// TestUpdate_Retries checks that serialization failures and deadlocks run
// fn again, a bounded number of times.
func TestUpdate_Retries(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	for _, code := range []string{"40001", "40P01"} {
		calls := 0
		err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			calls++
			if calls < 3 {
				return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code})
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("%s: Update = %v after %d calls; want success after 3", code, err, calls)
		}
		calls = 0
		err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			calls++
			return &pgconn.PgError{Code: code}
		})
		WantCode(t, err, pw.EUNAVAILABLE)
		if calls != postgres.UpdateAttemptsMax {
			t.Fatalf("%s: fn ran %d times, want %d", code, calls, postgres.UpdateAttemptsMax)
		}
	}
	calls := 0
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		calls++
		return &pgconn.PgError{Code: "23503"}
	})
	WantCode(t, err, pw.EINTERNAL)
	if calls != 1 {
		t.Fatalf("a foreign key violation ran fn %d times, want 1", calls)
	}
}

// TestUpdate_RealDeadlock makes two transactions lock two accounts in
// opposite orders (which LockAccounts alone never does): PostgreSQL aborts
// one with a deadlock, and Update runs it again.
func TestUpdate_RealDeadlock(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b := newAccount(pw.AccountUser, at(0)), newAccount(pw.AccountUser, at(0))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b}})
	var both sync.WaitGroup
	both.Add(2)
	var calls atomic.Int32
	run := func(first, second string) error {
		attempt := 0
		return s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			calls.Add(1)
			attempt++
			if _, err := tx.LockAccounts(ctx, []string{first}); err != nil {
				return err
			}
			if attempt == 1 {
				both.Done()
				both.Wait()
			}
			_, err := tx.LockAccounts(ctx, []string{second})
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(a.ID, b.ID) }()
	go func() { errs <- run(b.ID, a.ID) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("fn ran %d times, want 3 (one deadlock victim retried once)", n)
	}
}

// TestUpdate_Serializes runs read-modify-write transactions on one account
// concurrently: the account lock must make every increment count.
func TestUpdate_Serializes(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a := newAccount(pw.AccountSystem, at(0))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a}})
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			errs <- s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
				m, err := tx.LockAccounts(ctx, []string{a.ID})
				if err != nil {
					return err
				}
				acc := m[a.ID]
				time.Sleep(2 * time.Millisecond) // widen the window a lost update needs
				acc.Balance.Posted++
				acc.EntryCount++
				return tx.Write(ctx, &pw.Changes{Balances: []*pw.Account{acc}})
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Account(ctx, a.ID)
	if err != nil || got.Balance.Posted != writers || got.EntryCount != writers {
		t.Fatalf("after %d increments: %+v, %v", writers, got, err)
	}
}

func TestUpdate_ContextDone(t *testing.T) {
	s := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error { return nil })
	WantCode(t, err, pw.EUNAVAILABLE)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	_, err = s.Account(ctx, "acc_x")
	WantCode(t, err, pw.EUNAVAILABLE)

	// A deadline hit while waiting for a row lock also reads unavailable.
	a := newAccount(pw.AccountUser, at(0))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a}})
	locked, release := make(chan struct{}), make(chan struct{})
	go s.Update(context.Background(), func(ctx context.Context, tx pw.Tx) error {
		_, err := tx.LockAccounts(ctx, []string{a.ID})
		close(locked)
		<-release
		return err
	})
	<-locked
	defer close(release)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		_, err := tx.LockAccounts(ctx, []string{a.ID})
		return err
	})
	WantCode(t, err, pw.EUNAVAILABLE)
}
