package storetest

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

func testAccounts(t *testing.T, open Opener) {
	e := newEnv(t, open)
	a, err := e.l.CreateAccount(e.ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "JPY", OwnerID: "usr_1",
		OverdraftLimit: 500, Metadata: map[string]string{"name": "Aiko"}})
	if err != nil {
		t.Fatal(err)
	}
	if !pw.IDHasPrefix(a.ID, pw.PrefixAccount) {
		t.Fatalf("id %q is not an account id", a.ID)
	}
	got, err := e.l.Account(e.ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != pw.AccountUser || got.Currency != "JPY" || got.OwnerID != "usr_1" || got.OverdraftLimit != 500 ||
		got.Metadata["name"] != "Aiko" || !got.CreatedAt.Equal(a.CreatedAt) || got.Balance != (pw.Balance{}) {
		t.Fatalf("read back %+v, created %+v", got, a)
	}
	_, err = e.l.Account(e.ctx, "acc_01jdoesnotexist0000000000")
	MustCode(t, err, pw.EACCOUNTNOTFOUND)
	for _, bad := range []pw.AccountCreate{
		{Kind: "bank", Currency: "EUR"},
		{Kind: pw.AccountUser, Currency: "EURO"},
		{Kind: pw.AccountUser, Currency: "eur"},
		{Kind: pw.AccountUser, Currency: "XXX"},
		{Kind: pw.AccountUser, Currency: "EUR", OverdraftLimit: -1},
		{Kind: pw.AccountSystem, Currency: "EUR", OverdraftLimit: 10},
	} {
		_, err := e.l.CreateAccount(e.ctx, bad)
		MustCode(t, err, pw.EINVALID)
	}
}

func testTransferMovesMoney(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	alice := e.MustAccount(pw.AccountUser, "EUR", 0)
	shop := e.MustAccount(pw.AccountMerchant, "EUR", 0)
	top := e.MustTransfer(bank, alice, 10_000)
	pay := e.MustTransfer(alice, shop, 1_250)
	if pay.Status != pw.TransferPosted || pay.Kind != pw.TransferPayment || pay.Amount != 1250 || !pw.IDHasPrefix(pay.ID, pw.PrefixTransfer) {
		t.Fatalf("transfer = %+v", pay)
	}
	e.MustBalance(bank, -10_000, 0, 0)
	e.MustBalance(alice, 8_750, 0, 0)
	e.MustBalance(shop, 1_250, 0, 0)

	entries, _, err := e.l.Entries(e.ctx, alice.ID, pw.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].TransferID != pay.ID || entries[0].Amount != -1250 || entries[0].PostedBalanceAfter != 8750 ||
		entries[1].TransferID != top.ID || entries[1].Amount != 10000 || entries[1].PostedBalanceAfter != 10000 {
		t.Fatalf("entries newest first = %+v %+v", entries[0], entries[1])
	}
	got, err := e.l.Transfer(e.ctx, pay.ID)
	if err != nil || got.FromAccount != alice.ID || got.ToAccount != shop.ID || got.Amount != 1250 || !got.CreatedAt.Equal(pay.CreatedAt) {
		t.Fatalf("Transfer = %+v, %v", got, err)
	}
	_, err = e.l.Transfer(e.ctx, "tr_nope")
	MustCode(t, err, pw.ENOTFOUND)
	r := e.MustVerify()
	if r.Transfers != 2 || r.Entries != 4 || r.Accounts != 3 {
		t.Fatalf("verify counted %+v", r)
	}
}

func testBadTransfersMoveNothing(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	alice := e.MustAccount(pw.AccountUser, "EUR", 0)
	bob := e.MustAccount(pw.AccountUser, "EUR", 0)
	yen := e.MustAccount(pw.AccountUser, "JPY", 0)
	e.MustTransfer(bank, alice, 1000)
	cases := []struct {
		name string
		req  pw.TransferCreate
		code string
	}{
		{"zero", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 0, Currency: "EUR"}, pw.EINVALID},
		{"negative", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: -5, Currency: "EUR"}, pw.EINVALID},
		{"unknown currency", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 5, Currency: "ABC"}, pw.EINVALID},
		{"same account", pw.TransferCreate{FromAccount: alice.ID, ToAccount: alice.ID, Amount: 5, Currency: "EUR"}, pw.ESAMEACCOUNT},
		{"unknown account", pw.TransferCreate{FromAccount: alice.ID, ToAccount: "acc_missing", Amount: 5, Currency: "EUR"}, pw.EACCOUNTNOTFOUND},
		{"other currency than accounts", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 5, Currency: "USD"}, pw.ECURRENCYMISMATCH},
		{"accounts of two currencies", pw.TransferCreate{FromAccount: alice.ID, ToAccount: yen.ID, Amount: 5, Currency: "EUR"}, pw.ECURRENCYMISMATCH},
		{"insufficient", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 1001, Currency: "EUR"}, pw.EINSUFFICIENT},
		{"NUL in description", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 5, Currency: "EUR", Description: "a\x00b"}, pw.EINVALID},
		{"NUL in metadata", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 5, Currency: "EUR", Metadata: map[string]string{"k": "\x00"}}, pw.EINVALID},
		{"invalid UTF-8", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: 5, Currency: "EUR", Description: "\xff"}, pw.EINVALID},
		{"huge", pw.TransferCreate{FromAccount: alice.ID, ToAccount: bob.ID, Amount: math.MaxInt64, Currency: "EUR"}, pw.EINSUFFICIENT},
	}
	for _, c := range cases {
		_, err := e.l.CreateTransfer(e.ctx, c.req)
		if pw.ErrorCode(err) != c.code {
			t.Errorf("%s: code %q (%v), want %q", c.name, pw.ErrorCode(err), err, c.code)
		}
	}
	e.MustBalance(alice, 1000, 0, 0)
	e.MustBalance(bob, 0, 0, 0)
	e.MustVerify()
}

func testOverdraft(t *testing.T, open Opener) {
	e := newEnv(t, open)
	a := e.MustAccount(pw.AccountMerchant, "GBP", 300)
	b := e.MustAccount(pw.AccountUser, "GBP", 0)
	e.MustTransfer(a, b, 300) // exactly to the limit
	_, err := e.l.CreateTransfer(e.ctx, pw.TransferCreate{FromAccount: a.ID, ToAccount: b.ID, Amount: 1, Currency: "GBP"})
	MustCode(t, err, pw.EINSUFFICIENT)
	e.MustBalance(a, -300, 0, 0)
	e.MustVerify()
}

func testOverflow(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "USD", 0)
	bank2 := e.MustAccount(pw.AccountSystem, "USD", 0)
	rich := e.MustAccount(pw.AccountUser, "USD", 0)
	e.MustTransfer(bank, rich, math.MaxInt64)
	_, err := e.l.CreateTransfer(e.ctx, pw.TransferCreate{FromAccount: bank2.ID, ToAccount: rich.ID, Amount: 1, Currency: "USD"})
	MustCode(t, err, pw.ELIMIT)
	// The system account sits at -MaxInt64; one more unit is still representable, two are not.
	_, err = e.l.CreateTransfer(e.ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: bank2.ID, Amount: 2, Currency: "USD"})
	MustCode(t, err, pw.ELIMIT)
	e.MustBalance(rich, math.MaxInt64, 0, 0)
	e.MustBalance(bank2, 0, 0, 0)
	e.MustVerify()
}

func testRefunds(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "BHD", 0)
	alice := e.MustAccount(pw.AccountUser, "BHD", 0)
	shop := e.MustAccount(pw.AccountMerchant, "BHD", 0)
	e.MustTransfer(bank, alice, 10_000)
	pay := e.MustTransfer(alice, shop, 5_000)

	r1, err := e.l.Refund(e.ctx, pay.ID, pw.RefundCreate{Amount: 1_500})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Kind != pw.TransferRefund || r1.RefundOf != pay.ID || r1.FromAccount != shop.ID || r1.ToAccount != alice.ID || r1.Amount != 1500 {
		t.Fatalf("refund = %+v", r1)
	}
	_, err = e.l.Refund(e.ctx, pay.ID, pw.RefundCreate{Amount: 3_501})
	MustCode(t, err, pw.EREFUNDEXCEEDS)
	rest, err := e.l.Refund(e.ctx, pay.ID, pw.RefundCreate{}) // all that remains
	if err != nil || rest.Amount != 3_500 {
		t.Fatalf("refund of the rest = %+v, %v", rest, err)
	}
	_, err = e.l.Refund(e.ctx, pay.ID, pw.RefundCreate{})
	MustCode(t, err, pw.EREFUNDEXCEEDS)
	_, err = e.l.Refund(e.ctx, r1.ID, pw.RefundCreate{})
	MustCode(t, err, pw.ENOTREFUNDABLE)
	_, err = e.l.Refund(e.ctx, "tr_missing", pw.RefundCreate{})
	MustCode(t, err, pw.ENOTFOUND)
	got, err := e.l.Transfer(e.ctx, pay.ID)
	if err != nil || got.RefundedAmount != 5_000 {
		t.Fatalf("refunded_amount = %+v, %v", got, err)
	}
	e.MustBalance(alice, 10_000, 0, 0)
	e.MustBalance(shop, 0, 0, 0)

	// A refund needs the payee to still have the money.
	pay2 := e.MustTransfer(alice, shop, 100)
	e.MustTransfer(shop, bank, 100)
	_, err = e.l.Refund(e.ctx, pay2.ID, pw.RefundCreate{})
	MustCode(t, err, pw.EINSUFFICIENT)
	e.MustVerify()
}

func testBatch(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	b := e.MustAccount(pw.AccountUser, "EUR", 0)
	res, err := e.l.CreateBatch(e.ctx, pw.BatchCreate{Transfers: []pw.TransferCreate{
		{FromAccount: bank.ID, ToAccount: a.ID, Amount: 100, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 60, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 60, Currency: "EUR"}, // only 40 left
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 40, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: a.ID, Amount: 1, Currency: "EUR"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []string{"posted", "posted", "failed", "posted", "failed"}
	wantCode := []string{"", "", pw.EINSUFFICIENT, "", pw.ESAMEACCOUNT}
	for i, r := range res {
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		if r.Status != wantStatus[i] || code != wantCode[i] || (r.Status == "posted") != (r.Transfer != nil) {
			t.Errorf("item %d = %s %q, want %s %q", i, r.Status, code, wantStatus[i], wantCode[i])
		}
	}
	e.MustBalance(a, 0, 0, 0)
	e.MustBalance(b, 100, 0, 0)
	_, err = e.l.CreateBatch(e.ctx, pw.BatchCreate{})
	MustCode(t, err, pw.EINVALID)
	_, err = e.l.CreateBatch(e.ctx, pw.BatchCreate{Transfers: make([]pw.TransferCreate, pw.BatchTransfersMax+1)})
	MustCode(t, err, pw.EINVALID)
	e.MustVerify()
}

func testBatchAtomic(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	b := e.MustAccount(pw.AccountUser, "EUR", 0)
	e.MustTransfer(bank, a, 100)
	res, err := e.l.CreateBatch(e.ctx, pw.BatchCreate{Atomic: true, Transfers: []pw.TransferCreate{
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 70, Currency: "EUR"},
		{FromAccount: bank.ID, ToAccount: b.ID, Amount: 5, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 31, Currency: "EUR"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		want := pw.EBATCHFAILED
		if i == 2 {
			want = pw.EINSUFFICIENT
		}
		if r.Status != "failed" || r.Error == nil || r.Error.Code != want || r.Transfer != nil {
			t.Fatalf("item %d = %+v, want failed %s", i, r, want)
		}
	}
	e.MustBalance(a, 100, 0, 0)
	e.MustBalance(b, 0, 0, 0)
	e.MustBalance(bank, -100, 0, 0)

	res, err = e.l.CreateBatch(e.ctx, pw.BatchCreate{Atomic: true, Transfers: []pw.TransferCreate{
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 70, Currency: "EUR"},
		{FromAccount: a.ID, ToAccount: b.ID, Amount: 30, Currency: "EUR"},
	}})
	if err != nil || res[0].Status != "posted" || res[1].Status != "posted" {
		t.Fatalf("atomic batch = %+v, %v", res, err)
	}
	e.MustBalance(a, 0, 0, 0)
	e.MustBalance(b, 100, 0, 0)
	e.MustVerify()
}

func testPagination(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	const n = 23
	for i := 1; i <= n; i++ {
		e.MustTransfer(bank, a, int64(i))
	}
	var seqs []int64
	var cursor string
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not end")
		}
		page, next, err := e.l.Entries(e.ctx, a.ID, pw.Page{Limit: 5, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range page {
			seqs = append(seqs, en.Seq)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seqs) != n {
		t.Fatalf("paged %d entries, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(n-i) {
			t.Fatalf("entry %d has seq %d, want %d (newest first)", i, s, n-i)
		}
	}
	trs, next, err := e.l.Transfers(e.ctx, a.ID, pw.Page{Limit: 20})
	if err != nil || len(trs) != 20 || next == "" || trs[0].Amount != n {
		t.Fatalf("transfers page = %d items, next %q, %v", len(trs), next, err)
	}
	trs, next, err = e.l.Transfers(e.ctx, a.ID, pw.Page{Limit: 20, Cursor: next})
	if err != nil || len(trs) != 3 || next != "" || trs[2].Amount != 1 {
		t.Fatalf("last transfers page = %d items, next %q, %v", len(trs), next, err)
	}
	accs, next, err := e.l.Accounts(e.ctx, pw.Page{Limit: 1})
	if err != nil || len(accs) != 1 || next == "" {
		t.Fatalf("accounts page = %v %q %v", accs, next, err)
	}
	_, _, err = e.l.Entries(e.ctx, a.ID, pw.Page{Cursor: next}) // a cursor of another list
	MustCode(t, err, pw.EINVALID)
	_, _, err = e.l.Entries(e.ctx, a.ID, pw.Page{Limit: pw.PageLimitMax + 1})
	MustCode(t, err, pw.EINVALID)
	_, _, err = e.l.Entries(e.ctx, "acc_missing", pw.Page{})
	MustCode(t, err, pw.EACCOUNTNOTFOUND)
}

// testOutOfTimeMovesNothing: a store transaction whose deadline passes
// while it runs gives up with unavailable (a caller hears busy: nothing
// moved), never internal, and nothing of it is written. (On SQLite the
// transaction ended by its context made its next statement fail
// sql.ErrTxDone, reported internal; the ledger then retried the batch's
// hundreds of commands one by one, each past its deadline: seen in a
// 2026-11-27 surge.)
func testOutOfTimeMovesNothing(t *testing.T, open Opener) {
	s := open(t)
	now := time.Now().UTC()
	a := &pw.Account{ID: pw.NewID(pw.PrefixAccount, now), Kind: pw.AccountSystem, Currency: "EUR", CreatedAt: now}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		if _, err := tx.LockAccounts(ctx, []string{a.ID}); err != nil {
			return err
		}
		time.Sleep(150 * time.Millisecond) // the batch's work outlasts its deadline
		return tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{a}})
	})
	if pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("a transaction past its deadline: %v (code %q), want unavailable", err, pw.ErrorCode(err))
	}
	if _, err := s.Account(context.Background(), a.ID); pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND && pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("the account of a transaction given up: %v, want not found", err)
	}
}

// testOutOfTimeBatchIsCounted: a ledger batch that outlasts its callers'
// deadlines is given up, its caller hears busy (unavailable), nothing
// moves, and the ledger counts it out_of_time in
// peakwallet_ledger_batches_failed_total (not refused, which would have
// retried its commands one by one).
func testOutOfTimeBatchIsCounted(t *testing.T, open Opener) {
	s := &slowStore{Store: open(t)}
	reg := prometheus.NewRegistry()
	l := ledger.New(s, ledger.Options{Registerer: reg})
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	e := &env{t: t, store: s, l: l, ctx: ctx}
	bank, a := e.MustAccount(pw.AccountSystem, "EUR", 0), e.MustAccount(pw.AccountUser, "EUR", 0)
	s.slow.Store(true)
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := l.CreateTransfer(pctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 5, Currency: "EUR"})
	if c := pw.ErrorCode(err); c != pw.EUNAVAILABLE && c != pw.EBUSY {
		t.Fatalf("a payment whose batch outlasted its deadline: %v, want busy", err)
	}
	s.slow.Store(false)
	failed := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "peakwallet_ledger_batches_failed_total" {
			for _, m := range f.GetMetric() {
				failed[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if failed[ledger.BatchOutOfTime] != 1 || failed[ledger.BatchRefused] != 0 || failed[ledger.BatchUnavailable] != 0 {
		t.Fatalf("batches failed, by reason: %v; want one out_of_time", failed)
	}
	if got, err := l.Account(ctx, a.ID); err != nil || got.Balance.Posted != 0 {
		t.Fatalf("the payee after a batch given up: %+v %v, want nothing moved", got, err)
	}
}

// slowStore is a store whose transactions, while slow is set, do their
// work and then wait past their deadline before they commit.
type slowStore struct {
	pw.Store
	slow atomic.Bool
}

func (s *slowStore) Update(ctx context.Context, fn func(ctx context.Context, tx pw.Tx) error) error {
	return s.Store.Update(ctx, func(tctx context.Context, tx pw.Tx) error {
		if err := fn(tctx, tx); err != nil {
			return err
		}
		if d, ok := ctx.Deadline(); ok && s.slow.Load() {
			time.Sleep(time.Until(d) + 50*time.Millisecond)
		}
		return nil
	})
}
