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
