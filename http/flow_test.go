package http_test

import (
	"context"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestFlow drives every money route through the Client against the real
// ledger and SQLite, checking balances after each step.
func TestFlow(t *testing.T) {
	e := MustOpenEnv(t)
	ctx := context.Background()
	c := e.Client
	w := e.MustWallet(t, 10_000) // user: 100.00 EUR

	want := func(a *pw.Account, posted, pendingOut, available int64) {
		t.Helper()
		b := e.MustBalance(t, a)
		if b.Posted != posted || b.PendingOut != pendingOut || b.Available != available {
			t.Fatalf("%s balance = %+v, want posted %d pending_out %d available %d", a.Kind, b, posted, pendingOut, available)
		}
	}
	want(w.User, 10_000, 0, 10_000)
	want(w.System, -10_000, 0, -10_000)

	t.Run("transfer", func(t *testing.T) {
		tr := e.MustTransfer(t, w.User, w.Merchant, 2_500)
		if tr.Status != pw.TransferPosted || tr.Amount != 2_500 || tr.Currency != "EUR" || tr.ID == "" {
			t.Fatalf("transfer = %+v", tr)
		}
		got, err := c.Transfer(ctx, tr.ID)
		if err != nil || got.ID != tr.ID || got.Amount != 2_500 {
			t.Fatalf("Transfer(%s) = %+v, %v", tr.ID, got, err)
		}
		want(w.User, 7_500, 0, 7_500)
		want(w.Merchant, 2_500, 0, 2_500)
	})

	t.Run("hold capture releases the rest", func(t *testing.T) {
		h, err := c.CreateHold(ctx, pw.HoldCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID,
			Amount: 1_000, Currency: "EUR", ExpiresInSeconds: 3600})
		if err != nil || h.Status != pw.HoldPending {
			t.Fatalf("CreateHold = %+v, %v", h, err)
		}
		want(w.User, 7_500, 1_000, 6_500)
		tr, err := c.CaptureHold(ctx, h.ID, pw.HoldCapture{Amount: 600})
		if err != nil || tr.Amount != 600 || tr.HoldID != h.ID {
			t.Fatalf("CaptureHold = %+v, %v", tr, err)
		}
		want(w.User, 6_900, 0, 6_900)
		want(w.Merchant, 3_100, 0, 3_100)
		got, err := c.Hold(ctx, h.ID)
		if err != nil || got.Status != pw.HoldCaptured || got.CapturedAmount != 600 {
			t.Fatalf("Hold after capture = %+v, %v", got, err)
		}
		if _, err := c.CaptureHold(ctx, h.ID, pw.HoldCapture{}); code(err) != pw.EHOLDNOTPENDING {
			t.Fatalf("second capture: %v, want hold_not_pending", err)
		}
	})

	t.Run("hold void", func(t *testing.T) {
		h, err := c.CreateHold(ctx, pw.HoldCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID,
			Amount: 900, Currency: "EUR", ExpiresInSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		want(w.User, 6_900, 900, 6_000)
		v, err := c.VoidHold(ctx, h.ID)
		if err != nil || v.Status != pw.HoldVoided {
			t.Fatalf("VoidHold = %+v, %v", v, err)
		}
		want(w.User, 6_900, 0, 6_900)
	})

	t.Run("refunds", func(t *testing.T) {
		tr := e.MustTransfer(t, w.User, w.Merchant, 1_000)
		want(w.User, 5_900, 0, 5_900)
		r1, err := c.Refund(ctx, tr.ID, pw.RefundCreate{Amount: 300})
		if err != nil || r1.Amount != 300 || r1.FromAccount != w.Merchant.ID || r1.RefundOf != tr.ID {
			t.Fatalf("partial refund = %+v, %v", r1, err)
		}
		if _, err := c.Refund(ctx, tr.ID, pw.RefundCreate{Amount: 701}); code(err) != pw.EREFUNDEXCEEDS {
			t.Fatalf("refund above what remains: %v, want refund_exceeds_original", err)
		}
		r2, err := c.Refund(ctx, tr.ID, pw.RefundCreate{}) // all that remains
		if err != nil || r2.Amount != 700 {
			t.Fatalf("full refund = %+v, %v", r2, err)
		}
		want(w.User, 6_900, 0, 6_900)
		if _, err := c.Refund(ctx, tr.ID, pw.RefundCreate{Amount: 1}); code(err) != pw.EREFUNDEXCEEDS && code(err) != pw.ENOTREFUNDABLE {
			t.Fatalf("refund of a fully refunded transfer: %v", err)
		}
		got, err := c.Transfer(ctx, tr.ID)
		if err != nil || got.RefundedAmount != 1_000 {
			t.Fatalf("refunded_amount = %+v, %v", got, err)
		}
	})

	t.Run("insufficient funds", func(t *testing.T) {
		_, err := c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID,
			Amount: 1_000_000, Currency: "EUR"})
		if code(err) != pw.EINSUFFICIENT {
			t.Fatalf("err = %v, want insufficient_funds", err)
		}
		want(w.User, 6_900, 0, 6_900)
	})

	t.Run("batch non-atomic", func(t *testing.T) {
		res, err := c.CreateBatch(ctx, pw.BatchCreate{Transfers: []pw.TransferCreate{
			{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 100, Currency: "EUR"},
			{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 1_000_000, Currency: "EUR"},
			{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 200, Currency: "EUR"},
		}})
		if err != nil || len(res) != 3 {
			t.Fatalf("CreateBatch = %+v, %v", res, err)
		}
		if res[0].Status != pw.TransferPosted || res[0].Transfer == nil || res[2].Status != pw.TransferPosted {
			t.Fatalf("results = %+v", res)
		}
		if res[1].Status != "failed" || res[1].Error == nil || res[1].Error.Code != pw.EINSUFFICIENT {
			t.Fatalf("failed item = %+v (error %v)", res[1], res[1].Error)
		}
		want(w.User, 6_600, 0, 6_600)
	})

	t.Run("batch atomic", func(t *testing.T) {
		// All or none: the failing item names its cause, the others batch_failed.
		failed, err := c.CreateBatch(ctx, pw.BatchCreate{Atomic: true, Transfers: []pw.TransferCreate{
			{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 100, Currency: "EUR"},
			{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 1_000_000, Currency: "EUR"},
		}})
		if err != nil || len(failed) != 2 {
			t.Fatalf("atomic batch with a failing item = %+v, %v", failed, err)
		}
		if failed[0].Status != "failed" || failed[0].Transfer != nil || code(failed[0].Error) != pw.EBATCHFAILED ||
			failed[1].Status != "failed" || code(failed[1].Error) != pw.EINSUFFICIENT {
			t.Fatalf("atomic batch results = %+v / %+v", failed[0], failed[1])
		}
		want(w.User, 6_600, 0, 6_600)
		res, err := c.CreateBatch(ctx, pw.BatchCreate{Atomic: true, Transfers: []pw.TransferCreate{
			{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 100, Currency: "EUR"},
			{FromAccount: w.Merchant.ID, ToAccount: w.User.ID, Amount: 50, Currency: "EUR"},
		}})
		if err != nil || len(res) != 2 || res[0].Status != pw.TransferPosted || res[1].Status != pw.TransferPosted {
			t.Fatalf("atomic batch = %+v, %v", res, err)
		}
		want(w.User, 6_550, 0, 6_550)
	})

	t.Run("entries pagination", func(t *testing.T) {
		var all []*pw.Entry
		page := pw.Page{Limit: 3}
		for i := 0; ; i++ {
			if i > 100 {
				t.Fatal("pagination does not end")
			}
			entries, next, err := c.Entries(ctx, w.User.ID, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) > 3 {
				t.Fatalf("page of %d entries, limit 3", len(entries))
			}
			all = append(all, entries...)
			if next == "" {
				break
			}
			page.Cursor = next
		}
		// Newest first; replaying from the oldest gives each balance after.
		var bal int64
		for i := len(all) - 1; i >= 0; i-- {
			bal += all[i].Amount
			if all[i].PostedBalanceAfter != bal {
				t.Fatalf("entry %d: posted_balance_after %d, replay %d", all[i].Seq, all[i].PostedBalanceAfter, bal)
			}
		}
		if bal != 6_550 {
			t.Fatalf("entries sum to %d, balance is 6550", bal)
		}
		transfers, _, err := c.Transfers(ctx, w.User.ID, pw.Page{Limit: 500})
		if err != nil || len(transfers) == 0 {
			t.Fatalf("Transfers(user) = %d, %v", len(transfers), err)
		}
		accounts, _, err := c.Accounts(ctx, pw.Page{})
		if err != nil || len(accounts) != 3 {
			t.Fatalf("Accounts = %d, %v", len(accounts), err)
		}
	})

	t.Run("double entry", func(t *testing.T) {
		var sum int64
		for _, a := range []*pw.Account{w.System, w.User, w.Merchant} {
			sum += e.MustBalance(t, a).Posted
		}
		if sum != 0 {
			t.Fatalf("posted balances sum to %d, want 0", sum)
		}
	})
}

// TestBatchMax posts the largest batch, with descriptions: its body is
// well over 1 MiB, which the batch endpoint accepts.
func TestBatchMax(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, pw.BatchTransfersMax)
	items := make([]pw.TransferCreate, pw.BatchTransfersMax)
	for i := range items {
		items[i] = pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 1, Currency: "EUR",
			Description: strings.Repeat("d", 100)}
	}
	res, err := e.Client.CreateBatch(context.Background(), pw.BatchCreate{Atomic: true, Transfers: items})
	if err != nil || len(res) != pw.BatchTransfersMax {
		t.Fatalf("CreateBatch: %d results, %v", len(res), err)
	}
	if b := e.MustBalance(t, w.Merchant); b.Posted != pw.BatchTransfersMax {
		t.Fatalf("merchant posted %d, want %d", b.Posted, pw.BatchTransfersMax)
	}
}
