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
// keys left claimed, and every payment slot is taken for a while (a surge).
// Every other payment a queuing payer had queued, it
// tries to take back (POST /v1/intents/{id}/cancel, retried through the
// same faults until the answer is definite): cancelled, or paid first.
// Afterwards every payment must have moved its money exactly once, and
// every cancelled one never: each payer's balance is what it started with
// less exactly what it was told was paid, each payer has exactly one
// transfer per payment paid and none for those cancelled, a cancelled
// payment's key replays intent_cancelled, no intent is left pending to pay
// later, and verify is clean.
func TestEveryPaymentMovesMoneyExactlyOnceThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of faults")
	}
	proxy, store := mustOpenPostgresBehindProxy(t, 6)
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{LimitInitial: 2, LimitMin: 2, LimitMax: 2})
	ctx, stopFaults := context.WithCancel(context.Background())
	defer stopFaults()
	settler := &settlerSwitch{run: env.Server.RunIntents}
	settler.start()
	defer settler.stop()

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
		// cancelled are the keys of the payments it was told were
		// cancelled: none of them may ever be paid.
		cancelled []string
	}
	ps := make([]*payer, payers)
	for i := range ps {
		ps[i] = &payer{w: env.MustWallet(t, funds), async: i%2 == 1}
	}

	var accepted, retried, tooLate atomic.Int64
	seen := &errorCounts{m: map[string]int{}}
	faults := make(chan struct{})
	var cycles, commitCuts, surges atomic.Int64
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
		// A surge: the test holds every payment slot for a while, so that
		// payments allowing the surge queue are queued (202) and wait
		// there, where their payers may still take them back. The settler
		// stops with it and comes back a pause after it ends, as if a
		// backlog were ahead of those intents: without it, an intent in
		// this test's tiny queue was paid the moment a slot came free,
		// and nearly every cancellation came too late.
		var held []*admission.Ticket
		surge := func() {
			settler.stop()
			for range 2 {
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				h, err := ctrl.Acquire(ctx, admission.ClassPayment, "surge")
				cancel()
				if err == nil {
					held = append(held, h)
				}
			}
			if len(held) == 2 {
				surges.Add(1)
				// Long enough for a payment to be answered 202 rather
				// than wait its turn (pause gives it 0.2–0.6 s more).
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
		surgeEnds := func() {
			for _, h := range held {
				h.Done(nil)
			}
			held = held[:0]
		}
		defer surgeEnds()
		settlerResumes := func() {
			select { // a second more for the cancellations refused busy in the surge to come back
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			settler.start()
		}
		for {
			for _, fault := range []func(){proxy.Cut, proxy.Restore, surge, surgeEnds, settlerResumes, proxy.Stall, proxy.Restore, cutAtCommit, proxy.Restore, surge, surgeEnds, settlerResumes} {
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
				pay := payment{key: key, req: req, async: p.async, takeBack: p.async && j%2 == 0}
				cancelled, err := pay.untilDone(env.Client, &accepted, &retried, &tooLate, seen)
				switch {
				case err != nil:
					errs <- fmt.Errorf("payer %d, payment %d: %w", i, j, err)
					return
				case cancelled:
					p.cancelled = append(p.cancelled, key)
				default:
					p.paid += amount
					p.keys = append(p.keys, key)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	paying := time.Since(began)
	total, cancelled := 0, 0
	for _, p := range ps {
		total += len(p.keys)
		cancelled += len(p.cancelled)
	}
	t.Logf("%d payments paid in %v, %d cycles of faults (%d commits cut, %d surges): %d accepted into the surge queue, %d of them cancelled and %d paid before their cancellation, %d calls retried by the payers (%v; slowest %s, %v); admission refusals: %v",
		total, paying.Round(time.Millisecond), cycles.Load(), commitCuts.Load(), surges.Load(), accepted.Load(), cancelled, tooLate.Load(), retried.Load(), seen.m, seen.slowest, seen.longest.Round(time.Millisecond),
		ctrl.Stats().RefusalsByName())
	// The faults end with the payments; the checks read a whole database.
	stopFaults()
	<-faults
	settler.stop()
	proxy.Restore()
	if t.Failed() {
		return
	}
	if accepted.Load() == 0 || retried.Load() == 0 || cycles.Load() == 0 || commitCuts.Load() == 0 || cancelled == 0 {
		t.Fatalf("the faults were not felt (%d accepted, %d cancelled, %d retried, %d cycles of faults, %d commits cut): the test proved nothing",
			accepted.Load(), cancelled, retried.Load(), cycles.Load(), commitCuts.Load())
	}
	// Nothing is left to move money after the checks: a last settling pass
	// settles nothing (every payment queued was awaited to its end, or
	// cancelled), and no intent is pending.
	if n, err := env.Server.SettleIntents(context.Background()); n != 0 || err != nil {
		t.Errorf("a settling pass after the payers were done settled %d (%v); want 0: an intent was left pending", n, err)
	}
	if pending, err := store.PendingIntents(context.Background(), "", 10); len(pending) != 0 || err != nil {
		t.Errorf("intents pending after the payers were done: %d (%v), the first %+v", len(pending), err, pending)
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
			t.Errorf("payer %d: %d transfers for %d payments paid (%d cancelled)", i, n, len(p.keys), len(p.cancelled))
		}
		// A cancelled payment stays unpaid: its key answers a retry with
		// the cancellation, however late the retry comes.
		for _, key := range p.cancelled {
			ctx := pw.NewContextWithIdempotencyKey(context.Background(), key)
			req := pw.TransferCreate{FromAccount: p.w.User.ID, ToAccount: p.w.Merchant.ID, Amount: amount(key), Currency: "EUR"}
			if tr, err := env.Client.CreateTransfer(ctx, req); pw.ErrorCode(err) != pw.EINTENTCANCELLED {
				t.Errorf("payer %d: the cancelled payment %s retried: %v, %v; want %s", i, key, tr, err, pw.EINTENTCANCELLED)
			}
		}
	}
	mustVerify(t, store)
}

// settlerSwitch runs a server's settler (RunIntents) and stops it, from
// one goroutine at a time.
type settlerSwitch struct {
	run    func(context.Context)
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *settlerSwitch) start() {
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	go func() { defer close(done); s.run(ctx) }()
}

func (s *settlerSwitch) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// payment is one payment a payer makes with its own key; takeBack says
// it cancels the payment once the surge queue accepted it.
type payment struct {
	key      string
	req      pw.TransferCreate
	async    bool // allows the surge queue (Prefer: respond-async)
	takeBack bool
}

// amount is the amount of the payment under key: 1 + j%9 for payment j.
func amount(key string) int64 {
	var i, j int
	if _, err := fmt.Sscanf(key, "payer-%d-payment-%d", &i, &j); err != nil {
		panic(err)
	}
	return int64(1 + j%9)
}

// untilDone pays with one key until the payment is made, as a client
// that must not lose its payment would: the Go client retries what is
// safe within each call, and this loop calls again, with the same key,
// whatever the error, until the payment posts. A payment to take back is
// cancelled once it is queued, with calls retried likewise until the
// answer is definite: cancelled (true), or paid first (false; tooLate
// counts these).
func (p payment) untilDone(c *pwhttp.Client, accepted, retried, tooLate *atomic.Int64, seen *errorCounts) (cancelled bool, err error) {
	began := time.Now()
	defer func() { seen.took(p.key, time.Since(began)) }()
	giveUp := time.Now().Add(3 * time.Minute)
	pause := func() error {
		retried.Add(1)
		if time.Now().After(giveUp) {
			return errors.New("no definite answer after 3 minutes")
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		return nil
	}
	var queued *pw.Intent
	for attempt := 0; queued == nil || !p.takeBack; attempt++ {
		if attempt > 0 {
			if err := pause(); err != nil {
				return false, err
			}
		}
		ctx, cancel := context.WithTimeout(pw.NewContextWithIdempotencyKey(context.Background(), p.key), 2*time.Second)
		var tr *pw.Transfer
		var err error
		if p.async {
			var in *pw.Intent
			tr, in, err = c.CreateTransferOrQueue(ctx, p.req)
			if err == nil && in != nil {
				accepted.Add(1)
				if queued = in; p.takeBack {
					cancel()
					break
				}
				cancel()
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				tr, err = c.AwaitIntent(ctx, in.ID)
			}
		} else {
			tr, err = c.CreateTransfer(ctx, p.req)
		}
		cancel()
		seen.add(err)
		switch {
		case err == nil && tr.Amount == p.req.Amount:
			return false, nil
		case err == nil:
			return false, fmt.Errorf("paid %d, asked %d", tr.Amount, p.req.Amount)
		case pw.ErrorCode(err) == pw.EINSUFFICIENT || pw.ErrorCode(err) == pw.EIDEMREUSED || pw.ErrorCode(err) == pw.EINVALID:
			return false, err // a definite refusal: nothing to retry
		}
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := pause(); err != nil {
				return false, err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		in, err := c.CancelIntent(ctx, queued.ID)
		if pw.ErrorCode(err) == pw.EINTENTNOTPENDING {
			// Settled first: what it settled as is the payment's outcome.
			in, err = c.Intent(ctx, queued.ID)
			if err == nil && !in.Cancelled() {
				cancel()
				if in.Status != pw.IntentPosted || in.TransferID == "" {
					return false, fmt.Errorf("cancelled too late, and not paid as asked: %+v", in)
				}
				tooLate.Add(1)
				return false, nil
			}
		}
		cancel()
		seen.add(err)
		switch {
		case err == nil && in.Cancelled():
			return true, nil
		case err == nil:
			return false, fmt.Errorf("cancelled, and answered %+v", in)
		case pw.ErrorCode(err) == pw.ENOTFOUND || pw.ErrorCode(err) == pw.EFORBIDDEN:
			return false, err
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
