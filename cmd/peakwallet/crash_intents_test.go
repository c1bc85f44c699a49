package main_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/pgtest"
)

// Bounds and shape of the surge-queue crash test.
const (
	crashIntentsSettlingWait = 20 * time.Second // until the settler is caught settling
	crashIntentsDrainWait    = 30 * time.Second // until no intent is pending after the restart
	crashIntentsAttemptsMax  = 200              // of one payment or one cancellation
	// The payers pay flat out until this many payments were accepted as
	// intents, then pause before each payment: live payments go before
	// the settler, which a server of one slot busy with them leaves
	// waiting.
	crashIntentsSurge     = 1200
	crashIntentsCalmPause = 250 * time.Millisecond
	// Cancellers cancel every third intent accepted, the latest first.
	crashIntentsCancellers = 3
	// The crash comes once about this many intents were posted and this
	// many are still pending.
	crashIntentsPostedFirst  = 200
	crashIntentsPendingFirst = 200
	// This many cancelled payments are offered again, under their keys,
	// at the end.
	crashIntentsOfferedAgain = 50
)

// crashIntentsServerArgs make a server that holds one request at a time,
// so that most payments offered at once are busy and, allowing
// respond-async, accepted into the surge queue (as in
// TestOverloadBenchAsync).
var crashIntentsServerArgs = []string{"--limit-min", "1", "--limit-max", "1", "--log-level", "warn"}

// offer is one payment a payer made, and what it was told.
type offer struct {
	key    string
	req    pw.TransferCreate
	from   int // index of the paying account
	amount int64
	paid   *pw.Transfer // 201: paid at once (or the replay of its key's answer)
	intent string       // 202: accepted into the surge queue
}

// intentPayers pay at a surge and then calmly, across a crash.
type intentPayers struct {
	client  atomic.Pointer[pwhttp.Client] // the running server's
	offers  [][]offer                     // by payer, each its own
	retried atomic.Int64                  // calls sent again
	calm    atomic.Bool                   // the payers pause before each payment
	// How many payments were answered 201 and 202, and cancellations 200.
	paidAtOnce, accepted, cancelled atomic.Int64
	transfersBefore                 int64 // the ledger's, before the payers began
	mu                              sync.Mutex
	// The intents to cancel, the latest last; and what each cancellation
	// was answered: true for 200 (cancelled), false for intent_not_pending
	// (settled first).
	toCancel       []offer
	cancelAnswered map[string]bool
}

// pay is payer w's i-th payment, offered until it is answered; every
// third one accepted as an intent is left to the cancellers.
func (p *intentPayers) pay(t *testing.T, w, i int, from, to []*pw.Account) bool {
	if p.calm.Load() {
		time.Sleep(crashIntentsCalmPause)
	}
	o := offer{key: fmt.Sprintf("intent-%d-%d", w, i), from: w % len(from), amount: int64(1 + i%7)}
	o.req = pw.TransferCreate{FromAccount: from[o.from].ID, ToAccount: to[i%len(to)].ID, Amount: o.amount, Currency: "EUR"}
	if !p.offerUntilAnswered(t, &o) {
		return false
	}
	p.offers[w] = append(p.offers[w], o)
	if o.intent == "" {
		p.paidAtOnce.Add(1)
		return true
	}
	p.calm.Store(p.accepted.Add(1) >= crashIntentsSurge)
	if i%3 == 0 {
		p.mu.Lock()
		p.toCancel = append(p.toCancel, o)
		p.mu.Unlock()
	}
	return true
}

// cancel cancels the latest intent left to cancel, if there is one:
// taken latest first, the cancellations race the settler (which takes the
// oldest first) mostly while it is far behind, and now and then at its
// heels.
func (p *intentPayers) cancel(t *testing.T) bool {
	p.mu.Lock()
	if len(p.toCancel) == 0 {
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		return true
	}
	o := p.toCancel[len(p.toCancel)-1]
	p.toCancel = p.toCancel[:len(p.toCancel)-1]
	p.mu.Unlock()
	cancelled, ok := p.cancelUntilAnswered(t, o)
	if ok {
		p.mu.Lock()
		p.cancelAnswered[o.intent] = cancelled
		p.mu.Unlock()
	}
	if cancelled {
		p.cancelled.Add(1)
	}
	return ok
}

// offerUntilAnswered offers o's payment, allowing respond-async, with o's
// key until the server answers it: paid (201) or accepted (202). Anything
// else but a refusal that may be retried fails the test.
func (p *intentPayers) offerUntilAnswered(t *testing.T, o *offer) bool {
	var err error
	for attempt := range crashIntentsAttemptsMax {
		if attempt > 0 {
			p.retried.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(pw.NewContextWithIdempotencyKey(context.Background(), o.key), 2*time.Second)
		var tr *pw.Transfer
		var in *pw.Intent
		tr, in, err = p.client.Load().CreateTransferOrQueue(ctx, o.req)
		cancel()
		switch code := pw.ErrorCode(err); {
		case err == nil && tr != nil && tr.Amount == o.amount:
			o.paid = tr
			return true
		case err == nil && in != nil && in.ID != "" && in.IdempotencyKey == o.key:
			o.intent = in.ID
			return true
		case err == nil:
			t.Errorf("%s: answered %+v, %+v", o.key, tr, in)
			return false
		case code == pw.EINSUFFICIENT || code == pw.EIDEMREUSED || code == pw.EINVALID || code == pw.EINTENTCANCELLED:
			t.Errorf("%s: %v", o.key, err)
			return false
		}
	}
	t.Errorf("%s: not answered after %d attempts: %v", o.key, crashIntentsAttemptsMax, err)
	return false
}

// cancelUntilAnswered cancels o's intent until the server answers:
// cancelled (200, true) or intent_not_pending (settled first, false).
func (p *intentPayers) cancelUntilAnswered(t *testing.T, o offer) (cancelled, ok bool) {
	var err error
	for attempt := range crashIntentsAttemptsMax {
		if attempt > 0 {
			p.retried.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var in *pw.Intent
		in, err = p.client.Load().CancelIntent(ctx, o.intent)
		cancel()
		switch {
		case err == nil && in.Cancelled():
			return true, true
		case err == nil:
			t.Errorf("cancelling %s (%s): answered 200 with %s %+v", o.intent, o.key, in.Status, in.Error)
			return false, false
		case pw.ErrorCode(err) == pw.EINTENTNOTPENDING:
			return false, true
		}
	}
	t.Errorf("cancelling %s (%s): not answered after %d attempts: %v", o.intent, o.key, crashIntentsAttemptsMax, err)
	return false, false
}

// crashIntentsTest: payers offer payments that allow respond-async, each
// retried with its own key until it is answered (201 or 202), against a
// server small enough that many are accepted as intents; every third
// intent is left to cancellers, which cancel the latest first. Once the
// settler is caught settling (some intents posted, many pending), the
// server is killed with kill -9 and restarted on the same store, and
// payments and cancellations go on. Afterwards every accepted intent ends posted, failed with a code
// or cancelled within a bound; a cancelled one moved nothing; each payment
// is paid at most once (one transfer per key: the 201's, or the posted
// intent's); every payer paid exactly what its 201s and posted intents
// paid; and verify is clean.
func crashIntentsTest(t *testing.T, storeArgs ...string) {
	args := append(append([]string{}, storeArgs...), crashIntentsServerArgs...)
	s := startServer(t, args...)
	from, to := setup(t, s.client)
	starting := make([]int64, len(from))
	for i, a := range from {
		acc, err := s.client.Account(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		starting[i] = acc.Balance.Posted
	}
	// Every account is paid from by two payers at once: a server of one
	// slot finds many payments busy.
	const perAccount = 2
	p := &intentPayers{offers: make([][]offer, perAccount*len(from)), cancelAnswered: map[string]bool{}}
	p.client.Store(s.client)
	sum, err := s.client.OpsSummary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.transfersBefore = sum.LedgerTransfers
	stop := make(chan struct{})
	waitPayers := payers(perAccount*len(from), stop, func(w, i int) bool { return p.pay(t, w, i, from, to) })
	waitCancellers := payers(crashIntentsCancellers, stop, func(int, int) bool { return p.cancel(t) })
	// The payers and cancellers end before the test does, whatever fails.
	finish := sync.OnceFunc(func() { close(stop); waitPayers(); waitCancellers() })
	defer finish()

	awaitSettling(t, s.client, p)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	s2 := startServer(t, args...)
	p.client.Store(s2.client)
	time.Sleep(1500 * time.Millisecond) // payments and cancellations go on against the new process
	finish()
	if t.Failed() {
		return
	}
	awaitQueueEmpty(t, s2.client)

	paid := p.outcomes(t, s2.client, len(from))
	for i, a := range from {
		checkPaidOnce(t, s2.client, i, a.ID, starting[i], paid[i])
	}
	stopServer(t, s2)
	mustVerifyStore(t, storeArgs...)
}

// outcomes reads what became of every payment offered, now that no intent
// is pending, and returns what each paying account paid, by transfer: its
// 201s and its posted intents. Every intent must have ended posted with a
// transfer or failed with a code; one whose cancellation was answered 200
// must have failed intent_cancelled, and no other may have; and a
// cancelled payment offered again under its key is answered
// intent_cancelled, and paid by no one.
func (p *intentPayers) outcomes(t *testing.T, c *pwhttp.Client, accounts int) []map[string]int64 {
	t.Helper()
	paid := make([]map[string]int64, accounts) // transfer ID → amount, by paying account
	for i := range paid {
		paid[i] = map[string]int64{}
	}
	pays := func(o offer, transfer string) {
		if _, twice := paid[o.from][transfer]; twice {
			t.Errorf("%s: transfer %s answers two payments", o.key, transfer)
		}
		paid[o.from][transfer] = o.amount
	}
	var paidAtOnce, accepted, posted, cancelled, tooLate int
	failed := map[string]int{}
	var again []offer // cancelled, to offer again
	for _, made := range p.offers {
		for _, o := range made {
			if o.paid != nil {
				paidAtOnce++
				pays(o, o.paid.ID)
				continue
			}
			accepted++
			wasCancelled, cancelAnswered := p.cancelAnswered[o.intent]
			switch {
			case wasCancelled:
				cancelled++
				if len(again) < crashIntentsOfferedAgain {
					again = append(again, o)
				}
			case cancelAnswered:
				tooLate++
			}
			in, err := c.Intent(context.Background(), o.intent)
			if err != nil {
				t.Fatalf("intent %s (%s): %v", o.intent, o.key, err)
			}
			switch {
			case in.Status == pw.IntentPosted && in.TransferID != "":
				if wasCancelled {
					t.Errorf("intent %s (%s): its cancellation was answered 200, and it was posted as %s", o.intent, o.key, in.TransferID)
				}
				posted++
				pays(o, in.TransferID)
			case in.Status == pw.IntentFailed && in.Error != nil && in.Error.Code != "" && in.TransferID == "":
				failed[in.Error.Code]++
				if wasCancelled != in.Cancelled() {
					t.Errorf("intent %s (%s) failed %s; its cancellation was answered 200: %v", o.intent, o.key, in.Error.Code, wasCancelled)
				}
			default:
				t.Errorf("intent %s (%s) is %s (transfer %q, error %+v) after the queue emptied", o.intent, o.key, in.Status, in.TransferID, in.Error)
			}
		}
	}
	if accepted < crashIntentsPostedFirst+crashIntentsPendingFirst || posted == 0 || cancelled == 0 || p.retried.Load() == 0 {
		t.Fatalf("%d paid at once, %d accepted (%d posted, %d cancelled), %d calls retried: the surge queue, the cancellations or the crash did not happen",
			paidAtOnce, accepted, posted, cancelled, p.retried.Load())
	}
	for _, o := range again {
		ctx, cancel := context.WithTimeout(pw.NewContextWithIdempotencyKey(context.Background(), o.key), 10*time.Second)
		tr, in, err := c.CreateTransferOrQueue(ctx, o.req)
		cancel()
		if pw.ErrorCode(err) != pw.EINTENTCANCELLED {
			t.Errorf("%s, cancelled, offered again under its key: %+v, %+v, %v; want intent_cancelled", o.key, tr, in, err)
		}
	}
	t.Logf("%d paid at once, %d accepted as intents across kill -9: %d posted, failed %v (%d cancellations answered 200, %d too late); %d calls retried",
		paidAtOnce, accepted, posted, failed, cancelled, tooLate, p.retried.Load())
	return paid
}

// checkPaidOnce checks that payer i's account, which held starting,
// paid exactly paid (transfer ID → amount): its balance is starting less
// their sum, and its transfers out are those, each once.
func checkPaidOnce(t *testing.T, c *pwhttp.Client, i int, account string, starting int64, paid map[string]int64) {
	t.Helper()
	want := starting
	for _, amount := range paid {
		want -= amount
	}
	acc, err := c.Account(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance.Posted != want {
		t.Errorf("payer %d: balance %d, want %d: money moved other than once for its %d payments paid", i, acc.Balance.Posted, want, len(paid))
	}
	out := outgoing(t, c, account)
	for id, tr := range out {
		if amount, ok := paid[id]; !ok || amount != tr.Amount {
			t.Errorf("payer %d: transfer %s of %d is neither a payment answered 201 nor a posted intent's", i, id, tr.Amount)
		}
	}
	for id := range paid {
		if out[id] == nil {
			t.Errorf("payer %d: transfer %s, answered 201 or a posted intent's, is not among its transfers", i, id)
		}
	}
}

// awaitSettling waits until the server's surge queue is caught being
// settled: about crashIntentsPostedFirst intents posted, and
// crashIntentsPendingFirst still pending. Both are counted from what the
// payers were told and the transfers the ledger has committed since they
// began (the ops summary's): the transfers not answered 201 are intents
// posted, and the intents neither posted nor cancelled are pending, give
// or take the answers on their way. The summary is not admitted, so it is
// not held up behind the settler as reads are, and is current, as the
// summary's count of pending intents (the queue's head, up to a second
// old) is not: on SQLite the settler drains hundreds a second.
func awaitSettling(t *testing.T, c *pwhttp.Client, p *intentPayers) {
	t.Helper()
	deadline := time.Now().Add(crashIntentsSettlingWait)
	var posted, pending int64
	var err error
	for {
		var sum *pwhttp.OpsSummary
		if sum, err = c.OpsSummary(context.Background()); err == nil {
			posted = sum.LedgerTransfers - p.transfersBefore - p.paidAtOnce.Load()
			pending = p.accepted.Load() - posted - p.cancelled.Load()
			if posted >= crashIntentsPostedFirst && pending >= crashIntentsPendingFirst {
				t.Logf("crashing with about %d intents posted and %d pending", posted, pending)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the surge queue was not caught settling within %v: about %d intents posted and %d pending (%v)",
				crashIntentsSettlingWait, posted, pending, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitQueueEmpty waits until no intent is pending, as an operator lists
// the queue (everyone's pending intents).
func awaitQueueEmpty(t *testing.T, c *pwhttp.Client) {
	t.Helper()
	deadline := time.Now().Add(crashIntentsDrainWait)
	for {
		pending, _, err := c.PendingIntents(context.Background(), pw.Page{Limit: 1})
		if err == nil && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("intents still pending %v after the crash's restart (%v): first %+v", crashIntentsDrainWait, err, pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outgoing returns the transfers out of account, by ID.
func outgoing(t *testing.T, c *pwhttp.Client, account string) map[string]*pw.Transfer {
	t.Helper()
	out := map[string]*pw.Transfer{}
	for cursor := ""; ; {
		trs, next, err := c.Transfers(context.Background(), account, pw.Page{Limit: 500, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trs {
			if tr.FromAccount == account {
				out[tr.ID] = tr
			}
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

func TestCrashSettlesEveryIntentOnceSQLite(t *testing.T) {
	crashIntentsTest(t, "--data", t.TempDir())
}

func TestCrashSettlesEveryIntentOncePostgres(t *testing.T) {
	crashIntentsTest(t, "--postgres", pgtest.NewDatabase(t), "--data", t.TempDir())
}
