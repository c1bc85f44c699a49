package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestAKeyFinishedElsewhereIsFoundBeforeTheLockSaysSo: the writer's own
// check does not depend on the locks. Here b is made to believe it is
// alone beside a (since the cache's token, Open no longer lets that
// happen: a store opening beside one alone waits for it to give way). A
// batch of b still finds a key that a finished after b claimed it,
// because b's writer noticed a's commit (data_version) since the claim.
func TestAKeyFinishedElsewhereIsFoundBeforeTheLockSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lag.db")
	_, a := openLedger(t, path, Options{})
	sb, b := openLedger(t, path, Options{})
	// b has not yet asked the lock: it believes it is alone.
	close(sb.share.stop)
	<-sb.share.stopped
	sb.share.stop = make(chan struct{}) // for Close; stopped is closed already
	sb.share.alone.Store(true)
	ctx := context.Background()
	bank, user := bankAndUser(t, b)
	render := func(v any, err error) (int, []byte) { return 201, []byte(`{}`) }
	key := pw.IdempotencyKey{Principal: "operator:root", Key: "k"}
	claimB, _, err := b.BeginIdempotent(ctx, key, "fp")
	if err != nil {
		t.Fatal(err)
	}
	claimA, _, err := a.BeginIdempotent(ctx, key, "fp")
	if err != nil {
		t.Fatal(err)
	}
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"}
	if _, err := a.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimA, Render: render}), req); err != nil {
		t.Fatal(err)
	}
	_, err = b.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: claimB, Render: render}), req)
	var replayed *pw.Replayed
	if !errors.As(err, &replayed) {
		t.Fatalf("b ran a key that a finished: %v", err)
	}
	if !sb.share.alone.Load() {
		t.Fatal("the test meant b to believe it was alone")
	}
	acc, err := b.Account(ctx, user.ID) // alone: from b's cache, which its writer emptied
	if err != nil || acc.Balance.Posted != 5 {
		t.Fatalf("balance %+v, %v; want 5", acc, err)
	}
}

// TestACommitDoesNotCacheOverAClear: a transaction's balances go into the
// cache after its commit. If another write transaction (intents, the
// cache's check) began in between and found another process's commit,
// those balances may be older than that commit: they are not cached.
func TestACommitDoesNotCacheOverAClear(t *testing.T) {
	var c accountCache
	c.put([]*pw.Account{{ID: "a", Balance: pw.Balance{Posted: 1}}})
	epoch := c.epochNow()
	c.clear() // another transaction noticed another process's commit
	c.committed(&pw.Changes{Balances: []*pw.Account{{ID: "a", Balance: pw.Balance{Posted: 2}}}}, epoch)
	if a, ok := c.one("a"); ok {
		t.Fatalf("cached %+v from a commit older than the clear", a.Balance)
	}
	c.committed(&pw.Changes{Balances: []*pw.Account{{ID: "a", Balance: pw.Balance{Posted: 3}}}}, c.epochNow())
	if a, ok := c.one("a"); !ok || a.Balance.Posted != 3 {
		t.Fatalf("cached %+v, %v; want 3 from a commit after the clear", a.Balance, ok)
	}
}

// TestATransactionOutOfTimeIsNotInternal: when a write transaction's
// context ends while a query's rows are open, database/sql rolls the
// transaction back and closes the rows, and the next Scan fails with "sql:
// Rows are closed". That is the transaction running out of time, nothing
// written: unavailable, not an internal error (a 500 in the handover test).
func TestATransactionOutOfTimeIsNotInternal(t *testing.T) {
	s, _ := openLedger(t, filepath.Join(t.TempDir(), "late.db"), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Update(ctx, func(ctx context.Context, ptx pw.Tx) error {
		rows, err := ptx.(*tx).tx.QueryContext(ctx, "SELECT 1 UNION ALL SELECT 2")
		if err != nil {
			return err
		}
		defer rows.Close()
		rows.Next()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var v int
			if err := rows.Scan(&v); err != nil {
				return err // the rows were closed when the transaction's context ended
			}
			if time.Now().After(deadline) {
				return errors.New("the rows were never closed")
			}
		}
	})
	if pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("Update: %v; want %s (out of time, nothing written)", err, pw.EUNAVAILABLE)
	}
}

// waitAlone waits until s says no other store has its file open.
func waitAlone(t *testing.T, s *Store) {
	t.Helper()
	for deadline := time.Now().Add(20 * ShareCheckInterval); ; time.Sleep(ShareCheckInterval / 10) {
		if _, shared := s.Sharing(); !shared {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the store still says it shares its file")
		}
	}
}
