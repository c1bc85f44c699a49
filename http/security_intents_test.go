package http_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/sqlite"
)

// secSurgeEnv is the server as serve builds it (users, keys, the Guard)
// with one payment slot and the surge queue.
func secSurgeEnv(t *testing.T) (*SecEnv, *admission.Controller) {
	t.Helper()
	var ctrl *admission.Controller
	e := mustOpenSecEnvWith(t, testLimits, func(c *pwhttp.Config, st *sqlite.Store) {
		ctrl = admission.New(admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
		c.Admission, c.Intents = ctrl, st
	})
	return e, ctrl
}

// secSurgeBusy is secSurgeEnv with ann and bob (100 EUR each) and its one
// payment slot held for the test: every payment finds the server busy.
func secSurgeBusy(t *testing.T) (e *SecEnv, ann, bob *Person) {
	t.Helper()
	e, ctrl := secSurgeEnv(t)
	ann = e.MustPerson(t, "ann@example.com", 100_00)
	bob = e.MustPerson(t, "bob@example.com", 100_00)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Done(nil) })
	return e, ann, bob
}

func asyncPay(e *SecEnv, t *testing.T, p *Person, from, to string, amount int64, key string) *Response {
	t.Helper()
	return asyncPayAs(e, t, p.Token, from, to, amount, key)
}

// asyncPayAs is asyncPay with any bearer token (a merchant's, an operator's).
func asyncPayAs(e *SecEnv, t *testing.T, token, from, to string, amount int64, key string) *Response {
	t.Helper()
	body := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%d,"currency":"EUR"}`, from, to, amount)
	return e.Do(t, "POST", "/v1/transfers", token, body, "Idempotency-Key", key, "Prefer", "respond-async, wait=0.5")
}

// TestSurgeQueuePaysBehindTheGuard: a user's payment accepted into the
// surge queue is settled as that user and posted. Until 2026-11-26 the
// settler acted for no principal, and behind the Guard, as in serve, every
// intent failed "unauthorized" (in-process tests ran without the Guard).
func TestSurgeQueuePaysBehindTheGuard(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	var in pw.Intent
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "lunch").Want(t, 202, "").Decode(t, &in)
	held.Done(nil)
	if n, err := e.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentPosted || got.TransferID == "" {
		t.Fatalf("the intent settled as %+v", got)
	}
	if a, b := e.Balance(t, ann.Wallet.ID), e.Balance(t, bob.Wallet.ID); a.Posted != 90_00 || b.Posted != 10_00 {
		t.Fatalf("balances %d and %d, want 9000 and 1000", a.Posted, b.Posted)
	}
}

// TestTheSurgeQueueAuthorizesWhenItAccepts: what a payment may not do is
// refused when it is offered, as a synchronous payment would be — from
// someone else's wallet (404), above the step-up threshold without a code
// (403 mfa_required) — and no intent is kept for it.
func TestTheSurgeQueueAuthorizesWhenItAccepts(t *testing.T) {
	e, ann, bob := secSurgeBusy(t)
	asyncPay(e, t, ann, bob.Wallet.ID, ann.Wallet.ID, 10_00, "theft").Want(t, 404, pw.EACCOUNTNOTFOUND)
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 60_00, "big").Want(t, 403, pw.EMFAREQUIRED)
	if pending, err := e.Store.PendingIntents(context.Background(), "", 10); err != nil || len(pending) != 0 {
		t.Fatalf("intents kept for refused payments: %v %v", pending, err)
	}
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "fine").Want(t, 202, "")
}

// TestAnIntentAcceptedUncheckedIsNotPaid: an intent stored without the
// acceptance check (as a server before 2026-11-26 stored them, one that
// may still be draining during a handover) is failed forbidden, never
// paid without the checks it skipped.
func TestAnIntentAcceptedUncheckedIsNotPaid(t *testing.T) {
	e, _ := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	now := time.Now().UTC().Truncate(time.Microsecond)
	body := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":6000,"currency":"EUR"}`, ann.Wallet.ID, bob.Wallet.ID)
	in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "user:" + ann.ID, IdempotencyKey: "old",
		Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", []byte(body)), Body: []byte(body),
		Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
	if _, err := e.Store.CreateIntent(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EFORBIDDEN {
		t.Fatalf("an unchecked intent settled as %+v (%+v)", got, got.Error)
	}
	if a := e.Balance(t, ann.Wallet.ID); a.Posted != 100_00 {
		t.Fatalf("balance %d, want 10000 untouched", a.Posted)
	}
}

// TestTheSurgeQueueCountsWhatItDoes: each busy payment offered to the
// surge queue is counted by what became of it, and a check the store
// could not answer is not counted as the client's refusal.
func TestTheSurgeQueueCountsWhatItDoes(t *testing.T) {
	e, ann, bob := secSurgeBusy(t)
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "a").Want(t, 202, "")
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "a").Want(t, 202, "") // its retry
	asyncPay(e, t, ann, bob.Wallet.ID, ann.Wallet.ID, 10_00, "theft").Want(t, 404, pw.EACCOUNTNOTFOUND)
	// A request whose time is up before its checks are made: the store
	// does not answer them in time, which is not the client's refusal.
	// Above the step-up threshold (50.00 EUR here), so that its checks
	// read the user from the store: since 2026-11-29 a payment within
	// the threshold reads nothing for its step-up, and its checks pass on
	// the cached account alone (its write then runs out of time).
	body := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":6000,"currency":"EUR"}`, ann.Wallet.ID, bob.Wallet.ID)
	if r := e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "b", "Prefer", "respond-async, wait=0.000001"); r.Status != 503 {
		t.Fatalf("a payment out of time at its checks: %d %s", r.Status, r.Body)
	}
	got := surgeQueueOffers(t, e.Do(t, "GET", "/v1/ops/summary", operatorKey, ""))
	want := map[string]int{pwhttp.SurgeAccepted: 1, pwhttp.SurgeFound: 1, pwhttp.SurgeRejected: 1, pwhttp.SurgeCheckFailed: 1}
	if !maps.Equal(got, want) {
		t.Fatalf("surge queue offers %v, want %v", got, want)
	}
}

// TestASurgeRetryOfAFinishedKeyIsAnsweredAtOnce: a payment offered at a
// surge under a key whose payment was already made is answered as a
// synchronous retry would be — the original answer, replayed, or
// idempotency_key_reused for other content — and nothing is queued. Until
// 2026-11-27 it was accepted (202) as a new intent, which settled later as
// the replay (or failed reused): no money moved twice, but the client was
// told "accepted" of a payment already made.
func TestASurgeRetryOfAFinishedKeyIsAnsweredAtOnce(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	var paid pw.Transfer
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent").Want(t, 201, "").Decode(t, &paid)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Done(nil)
	r := asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent").Want(t, 201, "")
	var again pw.Transfer
	r.Decode(t, &again)
	if again.ID != paid.ID || r.Header.Get(pwhttp.HeaderIdempotencyReplayed) != "true" {
		t.Fatalf("the retry got transfer %s (replayed %q), want %s replayed", again.ID, r.Header.Get(pwhttp.HeaderIdempotencyReplayed), paid.ID)
	}
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 20_00, "rent").Want(t, 422, pw.EIDEMREUSED)
	// A new key is still queued: the server is busy.
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 5_00, "fresh").Want(t, 202, "")
	pending, err := e.Store.PendingIntents(context.Background(), "", 10)
	if err != nil || len(pending) != 1 || pending[0].IdempotencyKey != "fresh" {
		t.Fatalf("pending intents %v, %v; want only the fresh key's", pending, err)
	}
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
		t.Fatalf("bob has %d, want 1000: paid once", b.Posted)
	}
	m := e.Do(t, "GET", "/metrics", operatorKey, "")
	for _, want := range []string{`peakwallet_surge_queue_offers_total{result="replayed"} 1`, `peakwallet_surge_queue_offers_total{result="rejected"} 1`} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
