package http_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestEveryPaymentMovesMoneyExactlyOnceThroughFaults is the promise of the
// overload and outage paths taken together: payers keep retrying each
// payment with its own key, through the Go client, until it is paid — some
// synchronously, some allowing the surge queue and awaiting their intents
// — while the connection to PostgreSQL is cut and stalled at random, with
// few admission slots, so that payments meet busy answers, the breaker,
// the surge queue, commits cut as they are sent (faultproxy.CutAt) and
// keys left claimed.
// Afterwards every payment must have moved its money exactly once: each
// payer's balance is what it started with less exactly what it was told
// was paid, each payer has exactly one transfer per payment, and verify
// is clean.
func TestEveryPaymentMovesMoneyExactlyOnceThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of faults")
	}
	proxy, store := mustOpenPostgresBehindProxy(t, 6)
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{LimitInitial: 2, LimitMin: 2, LimitMax: 2})
	ctx, stopSettler := context.WithCancel(context.Background())
	settled := make(chan struct{})
	go func() { defer close(settled); env.Server.RunIntents(ctx) }()
	defer func() { stopSettler(); <-settled }()

	const (
		payers      = 12
		paymentsMin = 40  // each pays at least these,
		cyclesMin   = 2   // and goes on until the faults went round this often,
		paymentsMax = 400 // but no further (one page of transfers reads them all)
		funds       = 1_000_000
	)
	type payer struct {
		w     Wallet
		async bool
		paid  int64 // the sum of the payments it was told were made
		keys  []string
	}
	ps := make([]*payer, payers)
	for i := range ps {
		ps[i] = &payer{w: env.MustWallet(t, funds), async: i%2 == 1}
	}

	var accepted, retried atomic.Int64
	seen := &errorCounts{m: map[string]int{}}
	faults := make(chan struct{})
	var cycles, commitCuts atomic.Int64
	go func() { // cut, restore, stall, restore, cut at a COMMIT, restore, … for as long as the payers pay
		defer close(faults)
		pause := func() bool {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(time.Duration(200+rand.IntN(400)) * time.Millisecond):
				return true
			}
		}
		// A cut at the next COMMIT, after PostgreSQL received it or
		// before: its outcome unknown to the server that sent it.
		cutAtCommit := func() {
			fired := proxy.CutAt([]byte("commit\x00"), rand.IntN(2) == 0)
			go func() {
				select {
				case <-fired:
					commitCuts.Add(1)
				case <-ctx.Done():
				}
			}()
		}
		for {
			for _, fault := range []func(){proxy.Cut, proxy.Restore, proxy.Stall, proxy.Restore, cutAtCommit, proxy.Restore} {
				if !pause() {
					return
				}
				fault()
			}
			cycles.Add(1)
		}
	}()

	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, payers)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < paymentsMax && (j < paymentsMin || cycles.Load() < cyclesMin); j++ {
				key := fmt.Sprintf("payer-%d-payment-%d", i, j)
				amount := int64(1 + j%9)
				req := pw.TransferCreate{FromAccount: p.w.User.ID, ToAccount: p.w.Merchant.ID, Amount: amount, Currency: "EUR"}
				if err := payUntilPaid(env.Client, key, req, p.async, &accepted, &retried, seen); err != nil {
					errs <- fmt.Errorf("payer %d, payment %d: %w", i, j, err)
					return
				}
				p.paid += amount
				p.keys = append(p.keys, key)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	paying := time.Since(began)
	total := 0
	for _, p := range ps {
		total += len(p.keys)
	}
	t.Logf("%d payments paid in %v, %d cycles of faults (%d commits cut): %d accepted into the surge queue, %d calls retried by the payers (%v; slowest %s, %v); admission refusals: %v",
		total, paying.Round(time.Millisecond), cycles.Load(), commitCuts.Load(), accepted.Load(), retried.Load(), seen.m, seen.slowest, seen.longest.Round(time.Millisecond),
		ctrl.Stats().RefusalsByName())
	// The faults end with the payments; the checks read a whole database.
	stopSettler()
	<-faults
	proxy.Restore()
	if t.Failed() {
		return
	}
	if accepted.Load() == 0 || retried.Load() == 0 || cycles.Load() == 0 || commitCuts.Load() == 0 {
		t.Fatalf("the faults were not felt (%d accepted, %d retried, %d cycles of faults, %d commits cut): the test proved nothing",
			accepted.Load(), retried.Load(), cycles.Load(), commitCuts.Load())
	}
	for i, p := range ps {
		if b := env.MustBalance(t, p.w.User); b.Posted != funds-p.paid {
			t.Errorf("payer %d: balance %d, want %d less the %d it was told it paid (%d): money moved other than once",
				i, b.Posted, funds, p.paid, funds-p.paid)
		}
		trs, _, err := env.Client.Transfers(context.Background(), p.w.User.ID, pw.Page{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(trs) - 1; n != len(p.keys) { // less the top-up
			t.Errorf("payer %d: %d transfers for %d payments", i, n, len(p.keys))
		}
	}
	mustVerify(t, store)
}

// payUntilPaid pays with one key until the payment is made, as a client
// that must not lose its payment would: the Go client retries what is
// safe within each call, and this loop calls again, with the same key,
// whatever the error, until the payment posts.
func payUntilPaid(c *pwhttp.Client, key string, req pw.TransferCreate, async bool, accepted, retried *atomic.Int64, seen *errorCounts) error {
	began := time.Now()
	defer func() { seen.took(key, time.Since(began)) }()
	giveUp := time.Now().Add(3 * time.Minute)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			retried.Add(1)
			if time.Now().After(giveUp) {
				return errors.New("not paid after 3 minutes")
			}
			time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(pw.NewContextWithIdempotencyKey(context.Background(), key), 2*time.Second)
		var tr *pw.Transfer
		var err error
		if async {
			var in *pw.Intent
			tr, in, err = c.CreateTransferOrQueue(ctx, req)
			if err == nil && in != nil {
				accepted.Add(1)
				cancel()
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				tr, err = c.AwaitIntent(ctx, in.ID)
			}
		} else {
			tr, err = c.CreateTransfer(ctx, req)
		}
		cancel()
		seen.add(err)
		switch {
		case err == nil && tr.Amount == req.Amount:
			return nil
		case err == nil:
			return fmt.Errorf("paid %d, asked %d", tr.Amount, req.Amount)
		case pw.ErrorCode(err) == pw.EINSUFFICIENT || pw.ErrorCode(err) == pw.EIDEMREUSED || pw.ErrorCode(err) == pw.EINVALID:
			return err // a definite refusal: nothing to retry
		}
	}
}

// errorCounts counts the payers' failed calls by code.
type errorCounts struct {
	mu      sync.Mutex
	m       map[string]int
	slowest string
	longest time.Duration
}

func (e *errorCounts) add(err error) {
	if err == nil {
		return
	}
	c := pw.ErrorCode(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		c = "deadline"
	}
	e.mu.Lock()
	e.m[c]++
	e.mu.Unlock()
}

func (e *errorCounts) took(key string, d time.Duration) {
	e.mu.Lock()
	if d > e.longest {
		e.slowest, e.longest = key, d
	}
	e.mu.Unlock()
}
