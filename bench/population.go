package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	pw "github.com/peakwallet/peakwallet"
)

// Population is the accounts a bench run pays between.
type Population struct {
	Currency  pw.Currency
	System    *pw.Account
	Users     []*pw.Account
	Merchants []*pw.Account
}

// Population limits.
const (
	setupWorkers = 64
	// UserStartBalance is each user's top-up: enough for every run to
	// succeed on funds, so that the bench measures the ledger, not refusals.
	UserStartBalance = 1 << 40
)

// NewPopulation opens users and merchants in cur through svc and tops the
// users up from a system account, with batch requests.
func NewPopulation(ctx context.Context, svc pw.LedgerService, cur pw.Currency, users, merchants int) (*Population, error) {
	p := &Population{Currency: cur}
	var err error
	if p.System, err = svc.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: cur, Metadata: map[string]string{"bench": "system"}}); err != nil {
		return nil, err
	}
	if p.Users, err = openAccounts(ctx, svc, pw.AccountUser, cur, users); err != nil {
		return nil, err
	}
	if p.Merchants, err = openAccounts(ctx, svc, pw.AccountMerchant, cur, merchants); err != nil {
		return nil, err
	}
	for start := 0; start < len(p.Users); start += pw.BatchTransfersMax {
		end := min(len(p.Users), start+pw.BatchTransfersMax)
		req := pw.BatchCreate{Atomic: true}
		for _, u := range p.Users[start:end] {
			req.Transfers = append(req.Transfers, pw.TransferCreate{FromAccount: p.System.ID, ToAccount: u.ID, Amount: UserStartBalance, Currency: cur, Description: "bench top-up"})
		}
		res, err := svc.CreateBatch(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("topping up: %w", err)
		}
		if res[0].Error != nil {
			return nil, fmt.Errorf("topping up: %w", res[0].Error)
		}
	}
	return p, nil
}

func openAccounts(ctx context.Context, svc pw.LedgerService, kind pw.AccountKind, cur pw.Currency, n int) ([]*pw.Account, error) {
	out := make([]*pw.Account, n)
	var mu sync.Mutex
	var firstErr error
	parallel(setupWorkers, n, func(i int) {
		a, err := svc.CreateAccount(ctx, pw.AccountCreate{Kind: kind, Currency: cur, Metadata: map[string]string{"bench": string(kind)}})
		if err != nil {
			mu.Lock()
			firstErr = err
			mu.Unlock()
			return
		}
		out[i] = a
	})
	if firstErr != nil {
		return nil, fmt.Errorf("opening %s accounts: %w", kind, firstErr)
	}
	return out, nil
}

// parallel calls f(0) … f(n-1) from workers goroutines and returns when
// every call has.
func parallel(workers, n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// HotMerchants is how many merchants the hot scenario pays half its payments to.
const HotMerchants = 10

// picker chooses the next transfer of a scenario.
type picker func(rng *rand.Rand) pw.TransferCreate

func (p *Population) picker(scenario string) picker {
	amount := func(rng *rand.Rand) int64 { return 1 + rng.Int64N(10_000) }
	p2p := func(rng *rand.Rand) pw.TransferCreate {
		i := rng.IntN(len(p.Users))
		j := rng.IntN(len(p.Users) - 1)
		if j >= i {
			j++ // never the same account
		}
		return pw.TransferCreate{FromAccount: p.Users[i].ID, ToAccount: p.Users[j].ID, Amount: amount(rng), Currency: p.Currency}
	}
	if scenario != ScenarioHot {
		return p2p
	}
	hot := p.Merchants[:min(HotMerchants, len(p.Merchants))]
	return func(rng *rand.Rand) pw.TransferCreate {
		if rng.IntN(2) == 0 {
			return p2p(rng)
		}
		return pw.TransferCreate{FromAccount: p.Users[rng.IntN(len(p.Users))].ID, ToAccount: hot[rng.IntN(len(hot))].ID, Amount: amount(rng), Currency: p.Currency}
	}
}
