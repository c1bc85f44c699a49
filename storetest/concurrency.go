package storetest

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// Bank test sizes: at least 32 goroutines and thousands of transfers.
const (
	bankWorkers      = 32
	bankOpsPerWorker = 120
	bankAccounts     = 12 // per currency
	bankStart        = 1_000
)

func testConcurrentBank(t *testing.T, open Opener) {
	e := newEnv(t, open)
	Bank(t, e.store, []pw.LedgerService{e.l})
}

// RunMultiProcess checks that independent stores on one database (as
// separate server processes would have) keep every invariant while
// hammering the same accounts. open returns n such stores; each ledger
// also commits several batches at once.
func RunMultiProcess(t *testing.T, open func(t *testing.T, n int) []pw.Store) {
	stores := open(t, 2)
	ledgers := make([]pw.LedgerService, len(stores))
	for i, s := range stores {
		l := ledger.New(s, ledger.Options{ConcurrentBatches: 4})
		t.Cleanup(func() { l.Close() })
		ledgers[i] = l
	}
	Bank(t, stores[0], ledgers)
	RefundsRace(t, stores[0], ledgers)
}

// Bank runs the concurrent bank test through ledgers (all on one store):
// bankWorkers goroutines post payments, atomic batches and holds between
// accounts of two currencies, many of them overdraws. Afterwards the stored
// balances must equal the sum of what the callers were told succeeded,
// money is conserved per currency, no account is under its limit, and
// ledger.Verify is clean.
func Bank(t *testing.T, s pw.Store, ledgers []pw.LedgerService) {
	ctx := context.Background()
	l0 := ledgers[0]
	currencies := []pw.Currency{"EUR", "JPY"}
	accounts := map[pw.Currency][]*pw.Account{}
	for _, cur := range currencies {
		sys, err := l0.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: cur})
		if err != nil {
			t.Fatal(err)
		}
		for i := range bankAccounts {
			a, err := l0.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: cur, OverdraftLimit: int64(i%3) * 50})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l0.CreateTransfer(ctx, pw.TransferCreate{FromAccount: sys.ID, ToAccount: a.ID, Amount: bankStart, Currency: cur}); err != nil {
				t.Fatal(err)
			}
			accounts[cur] = append(accounts[cur], a)
		}
	}

	var mu sync.Mutex
	delta := map[string]int64{} // what callers were told moved
	var posted, refused int
	apply := func(tr *pw.Transfer) {
		delta[tr.FromAccount] -= tr.Amount
		delta[tr.ToAccount] += tr.Amount
	}
	var wg sync.WaitGroup
	for w := range bankWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[w%len(ledgers)]
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range bankOpsPerWorker {
				cur := currencies[rng.IntN(len(currencies))]
				accs := accounts[cur]
				from, to := accs[rng.IntN(len(accs))], accs[rng.IntN(len(accs))]
				if from == to {
					continue
				}
				amount := 1 + rng.Int64N(400) // often more than what is left: overdraw attempts
				var done []*pw.Transfer
				var err error
				switch op := rng.IntN(10); {
				case op < 7:
					var tr *pw.Transfer
					if tr, err = l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: cur}); err == nil {
						done = append(done, tr)
					}
				case op < 9:
					var res []pw.BatchResult
					res, err = l.CreateBatch(ctx, pw.BatchCreate{Atomic: true, Transfers: []pw.TransferCreate{
						{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: cur},
						{FromAccount: to.ID, ToAccount: from.ID, Amount: 1 + amount/2, Currency: cur},
					}})
					if err == nil && res[0].Status == pw.TransferPosted {
						done = append(done, res[0].Transfer, res[1].Transfer)
					} else if err == nil {
						err = res[0].Error
						if res[1].Error.Code != pw.EBATCHFAILED {
							err = res[1].Error
						}
					}
				default:
					var h *pw.Hold
					h, err = l.CreateHold(ctx, pw.HoldCreate{FromAccount: from.ID, ToAccount: to.ID, Amount: amount, Currency: cur, ExpiresInSeconds: 3600})
					if err == nil {
						var tr *pw.Transfer
						if tr, err = l.CaptureHold(ctx, h.ID, pw.HoldCapture{Amount: 1 + amount/2}); err == nil {
							done = append(done, tr)
						}
					}
				}
				mu.Lock()
				switch code := pw.ErrorCode(err); code {
				case "":
					posted += len(done)
					for _, tr := range done {
						apply(tr)
					}
				case pw.EINSUFFICIENT:
					refused++
				default:
					t.Errorf("unexpected error: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if posted < 1000 || refused == 0 {
		t.Fatalf("posted %d, refused %d: the test must post thousands and see overdraws refused", posted, refused)
	}
	for _, cur := range currencies {
		var total int64
		for _, a := range accounts[cur] {
			got, err := s.Account(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := bankStart + delta[a.ID]; got.Balance.Posted != want || got.Balance.PendingOut != 0 {
				t.Errorf("account %s: posted %d pending_out %d, callers were told %d", a.ID, got.Balance.Posted, got.Balance.PendingOut, want)
			}
			if got.Balance.Posted < -got.OverdraftLimit {
				t.Errorf("account %s: %d is below its limit %d", a.ID, got.Balance.Posted, got.OverdraftLimit)
			}
			total += got.Balance.Posted
		}
		if total != bankStart*bankAccounts {
			t.Errorf("%s: users hold %d in all, want %d (money must be conserved)", cur, total, bankStart*bankAccounts)
		}
	}
	MustVerify(t, s)
	t.Logf("posted %d transfers, refused %d overdraws", posted, refused)
}

func testRefundsRace(t *testing.T, open Opener) {
	e := newEnv(t, open)
	RefundsRace(t, e.store, []pw.LedgerService{e.l})
}

// RefundsRace has partial refunds of a payment and of a partial capture
// race each other through ledgers (all on one store): the refunds told
// posted never add up to more than their original, refunded_amount is
// their sum, and the balances hold exactly what moved.
func RefundsRace(t *testing.T, s pw.Store, ledgers []pw.LedgerService) {
	const (
		workers = 16
		tries   = 25
	)
	ctx := context.Background()
	l0 := ledgers[0]
	account := func(kind pw.AccountKind) *pw.Account {
		a, err := l0.CreateAccount(ctx, pw.AccountCreate{Kind: kind, Currency: "KWD"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	bank, payer, shop := account(pw.AccountSystem), account(pw.AccountUser), account(pw.AccountMerchant)
	if _, err := l0.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: payer.ID, Amount: 10_000, Currency: "KWD"}); err != nil {
		t.Fatal(err)
	}
	pay, err := l0.CreateTransfer(ctx, pw.TransferCreate{FromAccount: payer.ID, ToAccount: shop.ID, Amount: 1_000, Currency: "KWD"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := l0.CreateHold(ctx, pw.HoldCreate{FromAccount: payer.ID, ToAccount: shop.ID, Amount: 2_000, Currency: "KWD", ExpiresInSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	capture, err := l0.CaptureHold(ctx, h.ID, pw.HoldCapture{Amount: 700})
	if err != nil {
		t.Fatal(err)
	}
	originals := []*pw.Transfer{pay, capture}
	var mu sync.Mutex
	refunded := map[string]int64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[w%len(ledgers)]
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range tries {
				orig := originals[rng.IntN(len(originals))]
				amount := rng.Int64N(120) // 0: all that remains
				tr, err := l.Refund(ctx, orig.ID, pw.RefundCreate{Amount: amount})
				switch code := pw.ErrorCode(err); code {
				case "":
					if tr.RefundOf != orig.ID || (amount != 0 && tr.Amount != amount) {
						t.Errorf("refund of %d = %+v", amount, tr)
					}
					mu.Lock()
					refunded[orig.ID] += tr.Amount
					mu.Unlock()
				case pw.EREFUNDEXCEEDS:
				default:
					t.Errorf("refund: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	var total int64
	for _, orig := range originals {
		got, err := s.Transfer(ctx, orig.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RefundedAmount != refunded[orig.ID] || got.RefundedAmount > orig.Amount {
			t.Errorf("transfer %s of %d: refunded_amount %d, callers were told %d", orig.ID, orig.Amount, got.RefundedAmount, refunded[orig.ID])
		}
		total += refunded[orig.ID]
	}
	for _, c := range []struct {
		a    *pw.Account
		want int64
	}{{payer, 10_000 - 1_700 + total}, {shop, 1_700 - total}} {
		got, err := s.Account(ctx, c.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Balance.Posted != c.want || got.Balance.PendingOut != 0 || got.Balance.PendingIn != 0 {
			t.Errorf("account %s: %+v, want posted %d", c.a.ID, got.Balance, c.want)
		}
	}
	MustVerify(t, s)
}
