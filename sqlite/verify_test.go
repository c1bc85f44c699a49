package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // tampers with the file whatever driver the store uses

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestVerifyDetectsTampering edits the database behind the ledger's back,
// one way per invariant, and checks that Verify reports each.
func TestVerifyDetectsTampering(t *testing.T) {
	tampers := []struct {
		name, sql, want string
	}{
		{"balance edited", "UPDATE accounts SET posted = posted + 1 WHERE id = (SELECT to_account FROM transfers LIMIT 1)", "entries sum to"},
		{"entry edited", "UPDATE entries SET amount = amount + 1 WHERE seq = 1 AND amount > 0", "replay gives"},
		{"entry deleted", "DELETE FROM entries WHERE amount = -40", "exactly two entries"},
		{"pending hold forgotten", "UPDATE accounts SET pending_out = 0", "pending holds give"},
		// Sums that wrap past the int64 limit must not hide a violation.
		{"posted - pending_out wraps", "UPDATE accounts SET posted = -2, pending_out = 9223372036854775807 WHERE id = (SELECT from_account FROM holds)", "below -overdraft_limit"},
		{"pending holds sum wraps", holdsCopied(9223372036854775807, 9223372036854775807, 2), "pending holds overflow"},
		{"transfer amount edited", "UPDATE transfers SET amount = amount + 5 WHERE kind = 'payment' AND from_account IN (SELECT id FROM accounts WHERE kind = 'user')", "do not debit"},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			s := MustOpen(t)
			ctx := context.Background()
			l := ledger.New(s, ledger.Options{})
			bank, _ := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
			a, _ := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
			b, _ := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
			for _, req := range []pw.TransferCreate{
				{FromAccount: bank.ID, ToAccount: a.ID, Amount: 100, Currency: "EUR"},
				{FromAccount: a.ID, ToAccount: b.ID, Amount: 40, Currency: "EUR"},
			} {
				if _, err := l.CreateTransfer(ctx, req); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.CreateHold(ctx, pw.HoldCreate{FromAccount: a.ID, ToAccount: b.ID, Amount: 10, Currency: "EUR", ExpiresInSeconds: 600}); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if r, err := ledger.Verify(ctx, s); err != nil || !r.OK() {
				t.Fatalf("clean store: %v %v", r.Violations, err)
			}
			db, err := sql.Open("sqlite3", s.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if res, err := db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			} else if n, _ := res.RowsAffected(); n == 0 {
				t.Fatal("tampering changed nothing")
			}
			r, err := ledger.Verify(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), tc.want) {
				t.Fatalf("violations %q, want one mentioning %q", r.Violations, tc.want)
			}
		})
	}
}

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
