package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/postgres"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestACancelledIntentIsNeverPaid: a payment queued at a surge and
// cancelled while pending is never paid: not by the settler, not by the
// client's retry under its key (which replays intent_cancelled, sync or
// async), and its event stream ends with it. Cancelling again answers the
// same; someone else cannot see it, and an operator, who can, cannot
// cancel it without saying why (TestAnOperatorStopsAQueuedPaymentOnThePayersBehalf
// has its cancellations with a reason).
func TestACancelledIntentIsNeverPaid(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 100_00)
	release := holdPaymentSlot(t, ctrl)
	var in pw.Intent
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "lunch").Want(t, 202, "").Decode(t, &in)
	events := streamEventsAs(t, e.HTTP.URL, ann.Token, in.ID)
	if first := <-events; first.Status != pw.IntentPending {
		t.Fatalf("first event %+v", first)
	}
	release()
	cancel := "/v1/intents/" + in.ID + "/cancel"

	e.Do(t, "POST", cancel, bob.Token, "").Want(t, 404, pw.ENOTFOUND)
	e.Do(t, "POST", cancel, operatorKey, "").Want(t, 400, pw.EINVALID)
	var got pw.Intent
	e.Do(t, "POST", cancel, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.ID != in.ID || got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EINTENTCANCELLED {
		t.Fatalf("the cancelled intent: %+v", got)
	}
	if final := <-events; final.Status != pw.IntentFailed || final.Error == nil || final.Error.Code != pw.EINTENTCANCELLED {
		t.Fatalf("the event after the cancellation: %+v", final)
	}
	if _, ok := <-events; ok {
		t.Fatal("the event stream did not end at the cancellation")
	}
	var again pw.Intent
	e.Do(t, "POST", cancel, ann.Token, "").Want(t, 200, "").Decode(t, &again)
	if again.Status != pw.IntentFailed || again.Error.Code != pw.EINTENTCANCELLED || !again.UpdatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("cancelled twice: %+v, want %+v", again, got)
	}
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &again)
	if again.Status != pw.IntentFailed || again.Error.Code != pw.EINTENTCANCELLED {
		t.Fatalf("read after the cancellation: %+v", again)
	}
	// At a surge, the same payment again is answered at once with its
	// key's answer, and nothing is queued.
	holdPaymentSlot(t, ctrl)
	r := asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "lunch").Want(t, 409, pw.EINTENTCANCELLED)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the async retry of a cancelled payment was not a replay: %v", r.Header)
	}
	if pending, err := e.Store.PendingIntents(context.Background(), "", 10); err != nil || len(pending) != 0 {
		t.Fatalf("pending after the cancellation: %v %v", pending, err)
	}
	if n, err := e.Server.SettleIntents(context.Background()); n != 0 || err != nil {
		t.Fatalf("SettleIntents = %d, %v after the cancellation", n, err)
	}
	if a, b := e.Balance(t, ann.Wallet.ID), e.Balance(t, bob.Wallet.ID); a.Posted != 100_00 || b.Posted != 100_00 {
		t.Fatalf("balances %d and %d after a cancelled payment, want 10000 each", a.Posted, b.Posted)
	}
	mustVerify(t, e.Store)
}

// TestACancelledIntentsKeyReplaysTheCancellation: once the server has room
// again, the client's synchronous retry under the cancelled payment's key
// is 409 intent_cancelled (a replay), not a payment; another body under
// the key is idempotency_key_reused.
func TestACancelledIntentsKeyReplaysTheCancellation(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "k")
	e.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", ann.Token, "").Want(t, 200, "")
	body := paymentBody(ann.Wallet.ID, bob.Wallet.ID, 10_00)
	r := e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "k").Want(t, 409, pw.EINTENTCANCELLED)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("not a replay: %v", r.Header)
	}
	e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 11_00), "Idempotency-Key", "k").Want(t, 422, pw.EIDEMREUSED)
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 0 {
		t.Fatalf("bob has %d after a cancelled payment", b.Posted)
	}
	// A new key pays.
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "k2").Want(t, 201, "")
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
		t.Fatalf("bob has %d after the payment sent again, want 1000", b.Posted)
	}
}

// TestAPaidIntentCannotBeCancelled: an intent already settled is
// intent_not_pending (the refusal carries the intent), and stays as it was; so is one whose key the
// client's synchronous retry paid before the settler came to it (the
// cancellation finds the payment under the key and records it on the
// intent).
func TestAPaidIntentCannotBeCancelled(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	settled := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "settled")
	retried := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 20_00, "retried")
	var tr pw.Transfer
	e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 20_00), "Idempotency-Key", "retried").Want(t, 201, "").Decode(t, &tr)
	e.Do(t, "POST", "/v1/intents/"+retried.ID+"/cancel", ann.Token, "").Want(t, 409, pw.EINTENTNOTPENDING)
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+retried.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentPosted || got.TransferID != tr.ID {
		t.Fatalf("the intent its retry paid, after a cancellation: %+v, want posted as %s", got, tr.ID)
	}
	if n, err := e.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	// The refusal carries the intent, so that the client learns its
	// transfer without reading it again.
	var refusal struct {
		Code   string    `json:"code"`
		Intent pw.Intent `json:"intent"`
	}
	e.Do(t, "POST", "/v1/intents/"+settled.ID+"/cancel", ann.Token, "").Want(t, 409, pw.EINTENTNOTPENDING).Decode(t, &refusal)
	e.Do(t, "GET", "/v1/intents/"+settled.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentPosted {
		t.Fatalf("a settled intent after a cancellation: %+v", got)
	}
	if refusal.Intent.ID != settled.ID || refusal.Intent.Status != pw.IntentPosted || refusal.Intent.TransferID != got.TransferID {
		t.Fatalf("the refusal's intent: %+v, want it posted as %s", refusal.Intent, got.TransferID)
	}
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 30_00 {
		t.Fatalf("bob has %d, want 3000: each paid intent once", b.Posted)
	}
}

// TestACancelDuringAReadOnlyWindowIsRefused: the cancellation writes the
// store, so a read-only window refuses it (503 maintenance, Retry-After),
// as it holds the intent: the settler pays nothing during the window.
func TestACancelDuringAReadOnlyWindowIsRefused(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	in := queueOnEnv(t, env, ctrl, w, 40, "ro")
	mustScheduleWindow(t, env, time.Now().Add(-time.Second), time.Now().Add(time.Hour), true)
	r := env.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", nil)
	if r.Status != 503 || r.Problem(t).Code != pw.EMAINTENANCE {
		t.Fatalf("a cancellation in a read-only window: %d %s", r.Status, r.Body)
	}
	retryAfter(t, r)
	if got := mustStatus(t, env, in.ID); got != pw.IntentPending {
		t.Fatalf("the intent after a refused cancellation: %s", got)
	}
}

// TestACancelAndTheSettlerNeverBothWin: cancellations race the settler
// over many intents, on SQLite behind the Guard (a user's payments) and on
// PostgreSQL (an operator's, whose claims are rows locked by both); and,
// on both stores, a support or risk operator stopping a user's payments on
// her behalf, which claims the same key, the payer's. Each intent ends
// either posted, with its transfer and its money moved once, or
// cancelled, with nothing moved; every cancellation answered 200 is one
// of the cancelled, every 409 intent_not_pending one of the posted; the
// ledger verifies; and every operator's stop that took effect, and no
// other, has its record in an audit chain that verifies.
func TestACancelAndTheSettlerNeverBothWin(t *testing.T) {
	const slots = 4
	cfg := admission.Config{LimitInitial: slots, LimitMin: slots, LimitMax: slots}
	// behindTheGuard races ann's payments to bob on a SecEnv, cancelled by
	// ann or (role not "") by an operator of role on her behalf.
	behindTheGuard := func(t *testing.T, store, role string) cancelRace {
		e, ctrl := secSurgeEnvOn(t, store, slots)
		ann := e.MustPerson(t, "ann@example.com", 1_000_00)
		bob := e.MustPerson(t, "bob@example.com", 0)
		c := cancelRace{
			ctrl: ctrl, slots: slots, server: e.Server, store: e.DB, intents: e.DB, audit: e,
			do: func(method, path, body string, headers ...string) *Response {
				return e.Do(t, method, path, ann.Token, body, headers...)
			},
			payment: func(amount int64) string { return paymentBody(ann.Wallet.ID, bob.Wallet.ID, amount) },
			paid:    func() int64 { return e.Balance(t, bob.Wallet.ID).Posted },
		}
		c.cancel = func(path string) *Response { return c.do("POST", path, "") }
		if role != "" {
			_, key := mustOperator(t, e, role)
			c.byOperator = true
			c.cancel = func(path string) *Response {
				return e.Do(t, "POST", path, key, stopBody("the payer asked support to stop it"))
			}
		}
		return c
	}
	for _, tc := range []struct {
		name string
		race func(t *testing.T) cancelRace
	}{
		{"sqlite", func(t *testing.T) cancelRace { return behindTheGuard(t, "sqlite", "") }},
		{"sqlite/support", func(t *testing.T) cancelRace { return behindTheGuard(t, "sqlite", pw.RoleSupport) }},
		{"postgres", func(t *testing.T) cancelRace {
			store, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 8})
			if err != nil {
				t.Fatal(err)
			}
			env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, cfg)
			w := env.MustWallet(t, 1_000_00)
			c := cancelRace{
				ctrl: ctrl, slots: slots, server: env.Server, store: store, intents: store,
				do: func(method, path, body string, headers ...string) *Response {
					h := map[string]string{}
					for i := 0; i+1 < len(headers); i += 2 {
						h[headers[i]] = headers[i+1]
					}
					return env.Do(t, method, path, body, h)
				},
				payment: func(amount int64) string { return transferBody(w, amount) },
				paid:    func() int64 { return env.MustBalance(t, w.Merchant).Posted },
			}
			c.cancel = func(path string) *Response { return c.do("POST", path, "") }
			return c
		}},
		{"postgres/risk", func(t *testing.T) cancelRace { return behindTheGuard(t, "postgres", pw.RoleRisk) }},
	} {
		t.Run(tc.name, func(t *testing.T) { raceCancels(t, tc.race(t)) })
	}
}

// cancelRace is what raceCancels needs of a server: its admission (slots
// payment slots), settler and store; do sends a request as the payer,
// cancel a cancellation (the payer's, or an operator's when byOperator),
// payment is the body of a payment of amount, paid what the payee has;
// audit, when not nil, is the env whose audit log records operators'
// stops.
type cancelRace struct {
	ctrl       *admission.Controller
	slots      int
	server     *pwhttp.Server
	store      pw.Store
	intents    pw.IntentStore
	do         func(method, path, body string, headers ...string) *Response
	cancel     func(path string) *Response
	byOperator bool
	payment    func(amount int64) string
	paid       func() int64
	audit      *SecEnv
}

func raceCancels(t *testing.T, c cancelRace) {
	const n = 40
	var releases []func()
	for range c.slots {
		releases = append(releases, holdPaymentSlot(t, c.ctrl))
	}
	ins := make([]pw.Intent, n)
	for i := range ins {
		// A short deadline keeps the set-up quick; on a loaded machine the
		// intent's write may not fit in it, and the client retries with
		// its key, as any client does after a 503, with a longer deadline
		// each time (0.05 s, doubling to 0.8 s: at 0.05 s every time, 20
		// tries once all failed under CI's -race on PostgreSQL, the write
		// having a quarter of it, 12.5 ms).
		for try := 1; ; try++ {
			wait := 0.05 * float64(int(1)<<min(try-1, 4))
			r := c.do("POST", "/v1/transfers", c.payment(int64(i+1)), "Idempotency-Key", fmt.Sprint("race-", i), "Prefer", fmt.Sprintf("respond-async, wait=%g", wait))
			if r.Status == 202 {
				mustUnmarshal(t, r.Body, &ins[i])
				break
			}
			if r.Status != 503 || try == 20 {
				t.Fatalf("payment %d at a surge, try %d: %d %s", i, try, r.Status, r.Body)
			}
		}
	}
	for _, release := range releases {
		release()
	}
	answers := make([]int, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the settler, until nothing is pending
		defer wg.Done()
		for range 100 {
			if _, err := c.server.SettleIntents(context.Background()); err != nil {
				t.Error(err)
				return
			}
			if left, err := c.intents.PendingIntents(context.Background(), "", 1); err != nil || len(left) == 0 {
				return
			}
		}
	}()
	// The cancellations start once the settler has paid one, so that they
	// meet it at work.
	waitFor(t, func() bool {
		in, err := c.intents.Intent(context.Background(), ins[0].ID)
		return err == nil && in.Status != pw.IntentPending
	})
	for i := range ins[1:] {
		i++
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread over the settler's passes, so that some intents are
			// cancelled before their pass, some during it, some after.
			// (One account's intents settle one after another, a few
			// milliseconds each.)
			time.Sleep(time.Duration(i*37%n) * 4 * time.Millisecond)
			for {
				r := c.cancel("/v1/intents/" + ins[i].ID + "/cancel")
				if r.Status == 503 { // busy beside the settler: the client tries again
					time.Sleep(5 * time.Millisecond)
					continue
				}
				answers[i] = r.Status
				if r.Status != 200 && !(r.Status == 409 && r.Problem(t).Code == pw.EINTENTNOTPENDING) {
					t.Errorf("cancel %d: %d %s", i, r.Status, r.Body)
				}
				return
			}
		}()
	}
	wg.Wait()
	if _, err := c.server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	answers[0] = 409 // settled before any cancellation was sent
	var paid, cancelled int64
	stopped := map[string]bool{} // the intents cancelled
	for i, in := range ins {
		var got pw.Intent
		mustUnmarshal(t, c.do("GET", "/v1/intents/"+in.ID, "").Body, &got)
		switch {
		case got.Status == pw.IntentPosted && answers[i] == 409:
			var tr pw.Transfer
			mustUnmarshal(t, c.do("GET", "/v1/transfers/"+got.TransferID, "").Body, &tr)
			if tr.Amount != int64(i+1) {
				t.Errorf("intent %d posted as %+v", i, tr)
			}
			paid += int64(i + 1)
		case got.Cancelled() && answers[i] == 200 && (got.Error.CancelledBy == pw.CancelledByOperator) == c.byOperator:
			cancelled++
			stopped[in.ID] = true
		default:
			t.Errorf("intent %d: %+v, its cancellation answered %d", i, got, answers[i])
		}
	}
	if got := c.paid(); got != paid {
		t.Fatalf("the payee has %d, the posted intents paid %d", got, paid)
	}
	t.Logf("%d cancelled, %d posted", cancelled, n-int(cancelled))
	// Verify checks the surge queue's books too: each posted intent's
	// transfer is its payment, under its key, and no cancelled one's key
	// was paid while it waited.
	if rep := mustVerify(t, c.store); rep.Intents != n || rep.PendingIntents != 0 {
		t.Fatalf("verify read %d intents (%d pending), want the %d settled", rep.Intents, rep.PendingIntents, n)
	}
	if c.audit == nil {
		return
	}
	// One record for each stop that took effect, none for the rest (the
	// payer's own, a user's, are not audited), in a chain that verifies.
	recs := auditOf(t, c.audit, auth.ActionIntentCancel)
	if !c.byOperator {
		stopped = map[string]bool{}
	}
	if len(recs) != len(stopped) {
		t.Fatalf("%d intent.cancel records for %d stops", len(recs), len(stopped))
	}
	for _, r := range recs {
		if !stopped[r.Target] {
			t.Fatalf("a record of a stop of %s, which was not stopped: %+v", r.Target, r)
		}
	}
}

// TestOnesQueuedPaymentsAreListed: GET /v1/intents lists the caller's
// pending intents, each with the payment it makes, in the order they will
// be settled, by pages; another
// user's are not among them, an operator sees everyone's, and a cancelled
// or settled intent leaves the list; by Idempotency-Key one finds one's own
// intent in any state. A cursor the list did not give is 400.
func TestOnesQueuedPaymentsAreListed(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 100_00)
	a1 := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 1_00, "a1")
	b1 := queueWhileBusy(t, e, ctrl, bob, bob.Wallet.ID, ann.Wallet.ID, 2_00, "b1")
	a2 := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 3_00, "a2")
	a3 := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 4_00, "a3")
	amounts := map[string]int64{a1.ID: 1_00, b1.ID: 2_00, a2.ID: 3_00, a3.ID: 4_00}
	list := func(token, query string) (ids []string, next string) {
		t.Helper()
		var l pwhttp.List[pw.Intent]
		e.Do(t, "GET", "/v1/intents"+query, token, "").Want(t, 200, "").Decode(t, &l)
		for _, in := range l.Data {
			if in.Status != pw.IntentPending {
				t.Fatalf("a listed intent is %s", in.Status)
			}
			// What it pays is listed with it.
			if in.Request == nil || in.Request.Amount != amounts[in.ID] || in.Request.Currency != "EUR" || in.Request.ToAccount == "" {
				t.Fatalf("a listed intent without the payment it makes: %+v", in)
			}
			ids = append(ids, in.ID)
		}
		return ids, l.NextCursor
	}
	ids, next := list(ann.Token, "?limit=2")
	if !slices.Equal(ids, []string{a1.ID, a2.ID}) || next != a2.ID {
		t.Fatalf("ann's first page: %v, next %q; want a1, a2 and a cursor", ids, next)
	}
	if ids, next = list(ann.Token, "?limit=2&cursor="+next); !slices.Equal(ids, []string{a3.ID}) || next != "" {
		t.Fatalf("ann's second page: %v, next %q; want a3 and no cursor", ids, next)
	}
	if ids, _ = list(bob.Token, ""); !slices.Equal(ids, []string{b1.ID}) {
		t.Fatalf("bob's list: %v, want only b1", ids)
	}
	if ids, _ = list(operatorKey, ""); !slices.Equal(ids, []string{a1.ID, b1.ID, a2.ID, a3.ID}) {
		t.Fatalf("the operator's list: %v, want all four in acceptance order", ids)
	}
	e.Do(t, "POST", "/v1/intents/"+a2.ID+"/cancel", ann.Token, "").Want(t, 200, "")
	if ids, _ = list(ann.Token, ""); !slices.Equal(ids, []string{a1.ID, a3.ID}) {
		t.Fatalf("ann's list after a cancellation: %v", ids)
	}
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ids, _ = list(ann.Token, ""); len(ids) != 0 {
		t.Fatalf("ann's list after settling: %v, want none", ids)
	}
	// By key, in any state: the cancelled one, one's own only.
	var byKey pwhttp.List[pw.Intent]
	e.Do(t, "GET", "/v1/intents?idempotency_key=a2", ann.Token, "").Want(t, 200, "").Decode(t, &byKey)
	if len(byKey.Data) != 1 || byKey.Data[0].ID != a2.ID || byKey.Data[0].Status != pw.IntentFailed {
		t.Fatalf("ann's intent under a2: %+v, want the cancelled a2", byKey.Data)
	}
	e.Do(t, "GET", "/v1/intents?idempotency_key=a2", bob.Token, "").Want(t, 200, "").Decode(t, &byKey)
	if len(byKey.Data) != 0 {
		t.Fatalf("bob's intent under ann's key a2: %+v, want none", byKey.Data)
	}
	e.Do(t, "GET", "/v1/intents?idempotency_key=", ann.Token, "").Want(t, 400, pw.EINVALID)
	e.Do(t, "GET", "/v1/intents?cursor=acc_x", ann.Token, "").Want(t, 400, pw.EINVALID)
	e.Do(t, "GET", "/v1/intents", "", "").Want(t, 401, pw.EUNAUTHORIZED)
}

// TestTheSurgeQueuesOldestWaitIsShown: how long the oldest queued payment
// has waited, as the settler last found it, is a metric
// (peakwallet_surge_queue_oldest_pending_seconds) and in the ops summary
// (the status page says it too: TestStatusShowsTheSurgeQueue); it grows
// while the payment waits and is 0 once the queue is empty.
func TestTheSurgeQueuesOldestWaitIsShown(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	release := holdPaymentSlot(t, ctrl)
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "old", "Prefer": "respond-async, wait=0.5"})
	if r.Status != 202 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	oldest := func() float64 {
		t.Helper()
		var sum pwhttp.OpsSummary
		mustUnmarshal(t, env.Do(t, "GET", "/v1/ops/summary", "", nil).Body, &sum)
		return sum.SurgeQueueOldestSeconds
	}
	if got := oldest(); got != 0 {
		t.Fatalf("before the settler looked: %v, want 0", got)
	}
	if n, err := env.Server.SettleIntents(context.Background()); n != 0 || err != nil { // the slot is held: it cannot settle
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	first := oldest()
	time.Sleep(1100 * time.Millisecond)
	if later := oldest(); first <= 0 || later < first+1 {
		t.Fatalf("the oldest wait: %v, then a second later %v; want it above 0 and growing", first, later)
	}
	release()
	if n, err := env.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	if _, err := env.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := oldest(); got != 0 {
		t.Fatalf("with the queue empty: %v, want 0", got)
	}
	metrics := string(env.Do(t, "GET", "/metrics", "", nil).Body)
	if !strings.Contains(metrics, "\npeakwallet_surge_queue_oldest_pending_seconds 0\n") {
		t.Fatal("the metric is not exposed, or not 0 with the queue empty")
	}
}

// TestAProcessThatStopsSettlingStopsReportingTheOldestWait: once its
// settler has stopped (a drain, as a new binary takes over and settles),
// a process reports no oldest wait: it no longer knows, and a wait that
// went on growing there would fire an alert for a queue another process
// is draining.
func TestAProcessThatStopsSettlingStopsReportingTheOldestWait(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	queueOnEnv(t, env, ctrl, w, 40, "drained")
	release := holdPaymentSlot(t, ctrl) // the settler cannot pay it: it waits
	defer release()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); env.Server.RunIntents(ctx) }()
	oldest := func() float64 {
		t.Helper()
		var sum pwhttp.OpsSummary
		mustUnmarshal(t, env.Do(t, "GET", "/v1/ops/summary", "", nil).Body, &sum)
		return sum.SurgeQueueOldestSeconds
	}
	for deadline := time.Now().Add(5 * time.Second); oldest() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the settler never reported the waiting payment")
		}
	}
	stop()
	<-done
	if got := oldest(); got != 0 {
		t.Fatalf("after the settler stopped: the oldest wait reads %v s, want 0", got)
	}
}

// queueWhileBusy queues p's payment at a surge: the server's one payment
// slot is held while it is offered, so that it is accepted (202), and free
// again afterwards.
func queueWhileBusy(t *testing.T, e *SecEnv, ctrl *admission.Controller, p *Person, from, to string, amount int64, key string) pw.Intent {
	t.Helper()
	release := holdPaymentSlot(t, ctrl)
	defer release()
	var in pw.Intent
	asyncPay(e, t, p, from, to, amount, key).Want(t, 202, "").Decode(t, &in)
	return in
}

// anotherProcessPays is an IntentStore whose CancelIntent lets another
// process, sharing the SQLite file (a handover, ADR 0036), finish the
// intent's key first, with another body, between the cancellation's claim
// and its transaction: each process has its own leases, so nothing stops
// it.
type anotherProcessPays struct {
	pw.IntentStore
	pay func(claim *pw.IdempotencyRecord)
}

func (s anotherProcessPays) CancelIntent(ctx context.Context, id string, claim *pw.IdempotencyRecord, e *pw.IntentError, at time.Time, rec *pw.CommitRecord) (*pw.Intent, *pw.IdempotencyRecord, error) {
	s.pay(claim)
	return s.IntentStore.CancelIntent(ctx, id, claim, e, at, rec)
}

// TestACancelDoesNotTakeAnotherPaymentsAnswerAsTheIntents: the key of an
// intent being cancelled is finished meanwhile by another request with
// another body (another process's, during a handover). That payment is
// not the intent's: the intent is never recorded posted with another
// payment's transfer, as the ledger's batch would not settle it from that
// answer either (idempotency_key_reused), and its own money never moves.
func TestACancelDoesNotTakeAnotherPaymentsAnswerAsTheIntents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	store, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(path, sqlite.Options{}) // the other process
	if err != nil {
		t.Fatal(err)
	}
	otherLedger := ledger.New(other, ledger.Options{})
	t.Cleanup(func() { otherLedger.Close(); other.Close() })
	var req pw.TransferCreate
	intents := anotherProcessPays{IntentStore: store, pay: func(claim *pw.IdempotencyRecord) {
		ctx := context.Background()
		body, _ := json.Marshal(req)
		c, _, err := otherLedger.BeginIdempotent(ctx, claim.IdempotencyKey, pwhttp.Fingerprint("POST", "/v1/transfers", body))
		if err != nil || c == nil {
			t.Errorf("the other process's claim: %+v, %v", c, err)
			return
		}
		render := func(v any, err error) (int, []byte) {
			if err != nil {
				return 409, []byte(`{"code":"` + pw.ErrorCode(err) + `"}`)
			}
			b, _ := json.Marshal(v)
			return 201, b
		}
		if _, err := otherLedger.CreateTransfer(pw.NewContextWithClaim(ctx, &pw.Claim{Record: c, Render: render}), req); err != nil {
			t.Errorf("the other process's payment: %v", err)
		}
	}}
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, intents, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	env.Store = store
	w := env.MustWallet(t, 100)
	req = pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 30, Currency: "EUR"}
	in := queueOnEnv(t, env, ctrl, w, 40, "k")

	r := env.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", nil)
	got, err := store.Intent(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status == pw.IntentPosted || got.TransferID != "" {
		t.Fatalf("the intent after its key was paid for another body: %s %s (the cancellation answered %d %s); want it never posted as another payment",
			got.Status, got.TransferID, r.Status, r.Body)
	}
	if got.Status != pw.IntentFailed || got.Error.Code != pw.EIDEMREUSED {
		t.Fatalf("the intent: %s %+v, want failed %s, as its settlement would fail it", got.Status, got.Error, pw.EIDEMREUSED)
	}
	if n, err := env.Server.SettleIntents(context.Background()); n != 0 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 70 {
		t.Fatalf("user balance %d, want 70: the other payment of 30, never the intent's 40", b.Posted)
	}
	mustVerify(t, store)
}

// TestAReadOnlyKeyCannotCancelAQueuedPayment: cancelling a queued payment
// stops money that was to move, a write as voiding a hold is, so it takes
// the right to move money: a merchant's read-only key, which may see its
// merchant's intents, may not cancel them (403), and the payment is still
// made; the merchant's write key may.
func TestAReadOnlyKeyCannotCancelAQueuedPayment(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 0)
	var m auth.Merchant
	e.Do(t, "POST", "/v1/merchants", operatorKey, `{"name":"Corner Shop"}`).Want(t, 201, "").Decode(t, &m)
	var key, readKey auth.NewKey
	e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, "").Want(t, 201, "").Decode(t, &key)
	e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, `{"scope":"read"}`).Want(t, 201, "").Decode(t, &readKey)
	var acc pw.Account
	e.Do(t, "POST", "/v1/accounts", key.Key, `{"kind":"merchant","currency":"EUR"}`, "Idempotency-Key", "acc").Want(t, 201, "").Decode(t, &acc)
	e.MustTopUp(t, acc.ID, 100_00)
	ids := queuedWhileBusy(t, ctrl, func() []*Response {
		return []*Response{
			asyncPayAs(e, t, key.Key, acc.ID, ann.Wallet.ID, 60_00, "payout"),
			asyncPayAs(e, t, key.Key, acc.ID, ann.Wallet.ID, 5_00, "refund"),
		}
	})
	e.Do(t, "GET", "/v1/intents/"+ids[0], readKey.Key, "").Want(t, 200, "")
	e.Do(t, "POST", "/v1/intents/"+ids[0]+"/cancel", readKey.Key, "").Want(t, 403, pw.EFORBIDDEN)
	e.Do(t, "POST", "/v1/intents/"+ids[1]+"/cancel", key.Key, "").Want(t, 200, "")
	settledAs(t, e, ids, pw.IntentPosted, pw.EINTENTCANCELLED)
	if a := e.Balance(t, ann.Wallet.ID); a.Posted != 60_00 {
		t.Fatalf("ann has %d, want 6000: the payment a read-only key could not cancel", a.Posted)
	}
}

// TestACancelWaitingPastItsDeadlineSaysWhenToAskAgain: a cancellation that
// finds the intent's key held (the settler paying it at that moment) past
// its deadline answers 409 idempotency_key_in_use with Retry-After, as
// API.md promises, so that the client knows when the holder's commit is
// over; the intent is left as it was, and the next ask cancels it.
func TestACancelWaitingPastItsDeadlineSaysWhenToAskAgain(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	in := queueOnEnv(t, env, ctrl, w, 40, "held")
	stored, err := env.Store.Intent(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	held, _, err := env.Ledger.BeginIdempotent(context.Background(), pw.IdempotencyKey{Principal: stored.Principal, Key: stored.IdempotencyKey}, stored.Fingerprint)
	if err != nil || held == nil {
		t.Fatalf("the settler's claim: %+v, %v", held, err)
	}
	r := env.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", map[string]string{"Prefer": "wait=0.3"})
	if r.Status != 409 || r.Problem(t).Code != pw.EIDEMINUSE {
		t.Fatalf("a cancellation while the key is held: %d %s", r.Status, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After = %q on the cancellation's 409 %s, want 1", ra, pw.EIDEMINUSE)
	}
	if got := mustStatus(t, env, in.ID); got != pw.IntentPending {
		t.Fatalf("the intent after a cancellation that waited in vain: %s", got)
	}
	env.Ledger.ReleaseIdempotent(context.Background(), held)
	if r = env.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", nil); r.Status != 200 {
		t.Fatalf("the cancellation asked again: %d %s", r.Status, r.Body)
	}
}

// TestACancelWaitsForAnotherBodyInFlightUnderTheKey: while an intent is
// pending, a payment with another body under its key holds the key for a
// moment, until it is refused idempotency_key_reused (or paid, when the
// intent was not seen). A cancellation that meets it waits, as for any
// request in flight under the key, and then cancels: it does not fail the
// intent idempotency_key_reused on the spot and answer "already failed,
// nothing to cancel" while the key is left free, so that the client's
// retry of the very payment cancelled was then paid.
func TestACancelWaitsForAnotherBodyInFlightUnderTheKey(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	in := queueOnEnv(t, env, ctrl, w, 40, "k")
	stored, err := env.Store.Intent(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := env.Ledger.BeginIdempotent(context.Background(), pw.IdempotencyKey{Principal: stored.Principal, Key: "k"},
		pwhttp.Fingerprint("POST", "/v1/transfers", []byte(transferBody(w, 45))))
	if err != nil || other == nil {
		t.Fatalf("the other body's claim: %+v, %v", other, err)
	}
	answered := make(chan *Response, 1)
	go func() {
		answered <- env.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", "", map[string]string{"Prefer": "wait=1.5"})
	}()
	time.Sleep(100 * time.Millisecond)
	env.Ledger.ReleaseIdempotent(context.Background(), other) // refused idempotency_key_reused, as pendingIntentRefuses does
	if r := <-answered; r.Status != 200 {
		t.Fatalf("the cancellation that met another body in flight under the key: %d %s, want 200", r.Status, r.Body)
	}
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "k"})
	if r.Status != 409 || r.Problem(t).Code != pw.EINTENTCANCELLED {
		t.Fatalf("the client's retry of the cancelled payment: %d %s, want 409 %s", r.Status, r.Body, pw.EINTENTCANCELLED)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 100 {
		t.Fatalf("user balance %d, want 100: the cancelled payment was paid", b.Posted)
	}
}

// queueOnEnv is queueWhileBusy on an Env: the operator's payment of amount
// from w's user to its merchant, queued at a surge under key.
func queueOnEnv(t *testing.T, env *Env, ctrl *admission.Controller, w Wallet, amount int64, key string) pw.Intent {
	t.Helper()
	release := holdPaymentSlot(t, ctrl)
	defer release()
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, amount), map[string]string{"Idempotency-Key": key, "Prefer": "respond-async, wait=0.5"})
	if r.Status != 202 {
		t.Fatalf("a payment at a surge: %d %s", r.Status, r.Body)
	}
	var in pw.Intent
	mustUnmarshal(t, r.Body, &in)
	return in
}
