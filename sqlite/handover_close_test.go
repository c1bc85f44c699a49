package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestClosingBesideAnotherProcessDoesNotBlockItsWrites: at the end of a
// binary handover the old process closes its store while the new one
// serves. Its last checkpoint must not hold up the new process's writes:
// a checkpoint that folds the whole WAL (FULL, RESTART, TRUNCATE) blocks
// every new writer while it waits for readers still on an older snapshot,
// and the new process's payments then wait for the old process's exit,
// up to its busy timeout. Beside another process the closing store leaves
// the WAL to it (a PASSIVE checkpoint, which blocks no one).
func TestClosingBesideAnotherProcessDoesNotBlockItsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	oldStore, oldLedger := sqlite.OpenLedger(t, path, sqlite.Options{})
	_, newLedger := sqlite.OpenLedger(t, path, sqlite.Options{})
	ctx := context.Background()
	bank, user := sqlite.BankAndUser(t, newLedger)
	pay := func() error {
		_, err := newLedger.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 1, Currency: "EUR"})
		return err
	}
	if err := pay(); err != nil {
		t.Fatal(err)
	}
	if _, err := oldLedger.Account(ctx, user.ID); err != nil {
		t.Fatal(err)
	}
	// A reader of the new process on a snapshot older than the last
	// commit: a long read (an export, a report) in flight at the handover.
	reader, err := sqlite.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	rtx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM entries").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := pay(); err != nil { // the reader's snapshot is now an old one
		t.Fatal(err)
	}
	const readFor = 3 * time.Second
	time.AfterFunc(readFor, func() { rtx.Rollback() })

	closed := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		oldLedger.Close()
		oldStore.Close()
		closed <- time.Since(start)
	}()
	time.Sleep(200 * time.Millisecond) // the old store's last checkpoint is under way
	payStart := time.Now()
	if err := pay(); err != nil {
		t.Fatalf("a payment of the new process while the old one closed: %v", err)
	}
	took := time.Since(payStart)
	t.Logf("the new process's payment took %v; the old store's close %v", took, <-closed)
	if took > readFor/2 {
		t.Fatalf("the new process's payment waited %v for the old process's close (the reader held its snapshot for %v)", took, readFor)
	}
}
