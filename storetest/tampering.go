package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// TamperOpener returns a new, empty, migrated store and a function that
// runs SQL on its database behind its back (several statements at once,
// returning the rows the last one affected).
type TamperOpener func(t *testing.T) (pw.Store, func(sql string) (int64, error))

// RunTampering edits a store's database behind the ledger's back, one way
// per invariant, and checks that ledger.Verify reports each. The SQL is
// written to mean the same to SQLite and PostgreSQL.
func RunTampering(t *testing.T, open TamperOpener) {
	tampers := []struct {
		name, sql, want string
	}{
		{"balance edited", "UPDATE accounts SET posted = posted + 1 WHERE id = (SELECT to_account FROM transfers LIMIT 1)", "entries sum to"},
		{"entry edited", "UPDATE entries SET amount = amount + 1 WHERE seq = 1 AND amount > 0", "replay gives"},
		{"entry deleted", "DELETE FROM entries WHERE amount = -40", "exactly two entries"},
		{"pending hold forgotten", "UPDATE accounts SET pending_out = 0", "pending holds give"},
		// Sums that wrap past the int64 limit must not hide a violation.
		{"posted - pending_out wraps", "UPDATE accounts SET posted = -2, pending_out = 9223372036854775807 WHERE id = (SELECT from_account FROM holds WHERE status = 'pending')", "below -overdraft_limit"},
		{"pending holds sum wraps", holdsCopied(9223372036854775807, 9223372036854775807, 2), "pending holds overflow"},
		{"transfer amount edited", "UPDATE transfers SET amount = amount + 5 WHERE kind = 'payment' AND from_account IN (SELECT id FROM accounts WHERE kind = 'user')", "do not debit"},
		// The bound holds at every entry, not only at the end: a's payment
		// of 40 moved before the 100 that paid for it.
		{"balance once below the bound", entriesSwapped, "below -overdraft_limit 0 at entry 1"},
		// A refund runs opposite to its original and refunds no refund
		// nor a transfer that does not exist.
		{"refund runs the wrong way", "UPDATE transfers SET refund_of = (SELECT id FROM transfers WHERE amount = 100) WHERE kind = 'refund'", "does not run opposite to its original"},
		{"refund of a refund", "UPDATE transfers SET kind = 'refund', refund_of = (SELECT id FROM transfers WHERE kind = 'refund') WHERE amount = 6", "is itself a refund"},
		{"refund of a missing transfer", "UPDATE transfers SET refund_of = 'tr_missing' WHERE kind = 'refund'", "refunds transfer tr_missing, which does not exist"},
		// A transfer's kind says which of hold_id and refund_of it has.
		{"payment that names an original", "UPDATE transfers SET kind = 'payment' WHERE kind = 'refund'", `a "payment" transfer with`},
		{"unknown transfer kind", "UPDATE transfers SET kind = 'gift' WHERE amount = 6", `a "gift" transfer with`},
		// A capture posts its hold, once, between its parties, within the held amount.
		{"capture exceeds its hold", "UPDATE holds SET amount = 4 WHERE status = 'captured'", "exceeds the held 4"},
		{"capture between other accounts", "UPDATE holds SET to_account = (SELECT from_account FROM transfers WHERE amount = 100) WHERE status = 'captured'", "does not move its hold's"},
		{"hold captured twice", "UPDATE transfers SET kind = 'capture', hold_id = (SELECT id FROM holds WHERE status = 'captured') WHERE amount = 6", "captured by both"},
		{"capture of a missing hold", "UPDATE transfers SET hold_id = 'hold_missing' WHERE kind = 'capture'", "captures hold hold_missing, which does not exist"},
		{"captured hold without its transfer", "UPDATE holds SET status = 'captured', captured_amount = 3, capture_transfer_id = 'tr_missing' WHERE status = 'voided'", "no capture transfer names it"},
		{"captured hold names another transfer", "UPDATE holds SET capture_transfer_id = (SELECT id FROM transfers WHERE amount = 6) WHERE status = 'captured'", "but transfer"},
		{"captured amount edited", "UPDATE holds SET captured_amount = 6 WHERE status = 'captured'", "captured_amount 6"},
		{"voided hold with a capture", "UPDATE holds SET status = 'voided', captured_amount = 0, capture_transfer_id = NULL WHERE status = 'captured'", "voided, but transfer"},
		{"expired hold with a capture", "UPDATE holds SET status = 'expired', captured_amount = 0, capture_transfer_id = NULL WHERE status = 'captured'", "expired, but transfer"},
		{"released hold with a captured amount", "UPDATE holds SET captured_amount = 3 WHERE status = 'voided'", "captured_amount 3"},
		{"unknown hold status", "UPDATE holds SET status = 'held' WHERE status = 'voided'", `status "held"`},
		{"hold from and to one account", "UPDATE holds SET to_account = from_account WHERE status = 'pending'; UPDATE accounts SET pending_in = pending_out", "malformed hold"},
		// Expiry: a hold expires 1 s to 30 days after it was made, is
		// captured only before it expires, and expires only once due.
		{"hold made as it expires", "UPDATE holds SET created_at = expires_at WHERE status = 'pending'", "expires 0s after it was made"},
		{"capture after expiry", "UPDATE holds SET expires_at = created_at WHERE status = 'captured'", "at or after its expiry"},
		{"expired before it was due", "UPDATE holds SET status = 'expired' WHERE status = 'voided'", "expired before"},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			s, exec := open(t)
			tamperFixture(t, s)
			mustDetectTampering(t, s, exec, tc.sql, "", tc.want)
		})
	}
}

// mustDetectTampering checks that ledger.Verify finds s sound, runs sql on
// it behind the ledger's back (alt, when given, if the database refuses
// sql: another database's form of the same edit), and checks that
// ledger.Verify then reports a violation mentioning want.
func mustDetectTampering(t *testing.T, s pw.Store, exec func(string) (int64, error), sql, alt, want string) {
	t.Helper()
	ctx := context.Background()
	if r, err := ledger.Verify(ctx, s); err != nil || !r.OK() {
		t.Fatalf("clean store: %v %v", r.Violations, err)
	}
	n, err := exec(sql)
	if err != nil && alt != "" {
		n, err = exec(alt)
	}
	if err != nil {
		t.Fatal(err)
	} else if n == 0 {
		t.Fatal("tampering changed nothing")
	}
	r, err := ledger.Verify(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), want) {
		t.Fatalf("violations %q, want one mentioning %q", r.Violations, want)
	}
}

// tamperFixture writes the books every tamper starts from: payments of
// 100, 40 and 6, a refund of 15 of the 40, a pending hold of 10, a hold of
// 8 captured for 5 and a voided hold of 3. Each tamper picks its rows by
// them.
func tamperFixture(t *testing.T, s pw.Store) {
	t.Helper()
	ctx := context.Background()
	l := ledger.New(s, ledger.Options{})
	defer l.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	must(err)
	a, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	must(err)
	b, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	must(err)
	var paid []*pw.Transfer
	for _, req := range []pw.TransferCreate{
		{FromAccount: bank.ID, ToAccount: a.ID, Amount: 100, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 40, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 6, Currency: "EUR"},
	} {
		tr, err := l.CreateTransfer(ctx, req)
		must(err)
		paid = append(paid, tr)
	}
	_, err = l.Refund(ctx, paid[1].ID, pw.RefundCreate{Amount: 15})
	must(err)
	var holds []*pw.Hold
	for _, amount := range []int64{10, 8, 3} {
		h, err := l.CreateHold(ctx, pw.HoldCreate{FromAccount: a.ID, ToAccount: b.ID, Amount: amount, Currency: "EUR", ExpiresInSeconds: 600})
		must(err)
		holds = append(holds, h)
	}
	_, err = l.CaptureHold(ctx, holds[1].ID, pw.HoldCapture{Amount: 5})
	must(err)
	_, err = l.VoidHold(ctx, holds[2].ID)
	must(err)
}

// entriesSwapped is SQL that swaps the first two entries of the account
// paid 100 (the 100 in, then the 40 out), their balances replayed anew: the
// books still add up, but the account spent 40 it did not have.
const entriesSwapped = `
	UPDATE entries SET seq = 1000 WHERE seq = 1 AND account_id = (SELECT to_account FROM transfers WHERE amount = 100);
	UPDATE entries SET seq = 1, posted_balance_after = -40 WHERE seq = 2 AND account_id = (SELECT to_account FROM transfers WHERE amount = 100);
	UPDATE entries SET seq = 2, posted_balance_after = 60 WHERE seq = 1000 AND account_id = (SELECT to_account FROM transfers WHERE amount = 100)`

// holdsCopied is SQL that adds one copy of the pending hold per amount.
func holdsCopied(amounts ...int64) string {
	var q strings.Builder
	for i, amount := range amounts {
		fmt.Fprintf(&q, `INSERT INTO holds (id, from_account, to_account, amount, currency, status, description,
			metadata, expires_at, captured_amount, capture_transfer_id, request_key, created_at, updated_at)
			SELECT id || '_%d', from_account, to_account, %d, currency, status, description, metadata, expires_at,
				captured_amount, capture_transfer_id, NULL, created_at, updated_at
			FROM holds WHERE status = 'pending' AND id NOT LIKE '%%\_%%\_%%' ESCAPE '\';`, i, amount)
	}
	return q.String()
}
