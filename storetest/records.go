package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// accountWriter is a CommitWriter whose records are IDs of accounts it
// opens inside the command's transaction: a real write, so that the test
// can see whether it committed with the command.
type accountWriter struct {
	mu    sync.Mutex
	fail  bool
	calls int
	seen  int
}

func (w *accountWriter) WriteInCommit(ctx context.Context, tx pw.Tx, recs []any) error {
	w.mu.Lock()
	w.calls++
	w.seen += len(recs)
	fail := w.fail
	w.mu.Unlock()
	ch := &pw.Changes{}
	for _, r := range recs {
		ch.NewAccounts = append(ch.NewAccounts, &pw.Account{ID: r.(string), Kind: pw.AccountUser, Currency: "EUR",
			CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	}
	if err := tx.Write(ctx, ch); err != nil {
		return err
	}
	if fail {
		return pw.Errorf(pw.EINTERNAL, "the record writer failed")
	}
	return nil
}

// testRecordsCommitWithTheirCommand: a record attached to a command
// (Ledger.WithRecord) is written in the transaction that commits the
// command, whatever the ledger's rules decide of it; when the writer fails,
// neither the record nor the command's money movement is there.
func testRecordsCommitWithTheirCommand(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	e.MustTransfer(bank, a, 1_000)
	w := &accountWriter{}
	exists := func(id string) bool {
		_, err := e.store.Account(e.ctx, id)
		if err != nil && pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
			t.Fatal(err)
		}
		return err == nil
	}
	pay := func(rec string, amount int64) error {
		_, err := e.l.CreateTransfer(e.l.WithRecord(e.ctx, w, rec), pw.TransferCreate{FromAccount: a.ID, ToAccount: bank.ID, Amount: amount, Currency: "EUR"})
		return err
	}
	newID := func() string { return pw.NewID(pw.PrefixAccount, time.Now()) }

	posted := newID()
	if err := pay(posted, 100); err != nil || !exists(posted) {
		t.Fatalf("payment: %v; its record there: %v", err, exists(posted))
	}
	refused := newID()
	if err := pay(refused, 5_000); pw.ErrorCode(err) != pw.EINSUFFICIENT || !exists(refused) {
		t.Fatalf("overdrawing payment: %v; its record there: %v", err, exists(refused))
	}
	e.MustBalance(a, 900, 0, 0)

	w.fail = true
	failed := newID()
	if err := pay(failed, 100); pw.ErrorCode(err) != pw.EINTERNAL || exists(failed) {
		t.Fatalf("payment whose record failed: %v; its record there: %v", err, exists(failed))
	}
	e.MustBalance(a, 900, 0, 0)
	w.fail = false

	// Many at once: one batch's records go to the writer together.
	const n = 32
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	w.calls, w.seen = 0, 0
	for i := range ids {
		ids[i] = newID()
		wg.Add(1)
		go func() { defer wg.Done(); errs <- pay(ids[i], 1) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if !exists(id) {
			t.Fatalf("record %s of a posted payment is missing", id)
		}
	}
	if w.seen != n || w.calls > n {
		t.Fatalf("the writer saw %d records in %d calls, want %d", w.seen, w.calls, n)
	}
	t.Logf("%d records written in %d calls", w.seen, w.calls)
	e.MustBalance(a, 900-n, 0, 0)
	e.MustVerify()
}
