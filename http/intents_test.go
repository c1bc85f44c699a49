package http_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/sqlite"
)

// holdPaymentSlot takes the one payment slot of secSurgeEnv's controller,
// so that every payment finds the server busy until the returned func is
// called.
func holdPaymentSlot(t *testing.T, ctrl *admission.Controller) func() {
	t.Helper()
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	done := false
	release := func() {
		if !done {
			done = true
			// Given back unused: the test's hold is no payment, and its
			// length is no payment's latency for the limit to learn.
			held.Abandon()
		}
	}
	t.Cleanup(release)
	return release
}

func paymentBody(from, to string, amount int64) string {
	return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%d,"currency":"EUR"}`, from, to, amount)
}

// TestAStepUpPaymentIsQueuedWithItsCode: a payment above the step-up
// threshold, repeated with a valid MFA-Code as the challenge asks, is
// accepted by the surge queue (202), as it is paid when the server has
// room. Before 2026-11-27 the queue did not pass the code on: the answer
// was mfa_required again, forever, with a new one-time code each time.
func TestAStepUpPaymentIsQueuedWithItsCode(t *testing.T) {
	e, ann, bob := secSurgeBusy(t)
	body := paymentBody(ann.Wallet.ID, bob.Wallet.ID, 60_00)
	h := []string{"Idempotency-Key", "big", "Prefer", "respond-async, wait=0.5"}
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, h...).Want(t, 403, pw.EMFAREQUIRED)
	code := e.Outbox.LastCode(t, ann.Handle)
	r := e.Do(t, "POST", "/v1/transfers", ann.Token, body, append(h, "MFA-Code", code)...)
	if r.Status != 202 {
		t.Fatalf("a step-up payment with its valid MFA-Code at a surge: %d %s, want 202", r.Status, r.Body)
	}
}

// TestAPendingIntentsKeyReusedNowIsRefused: a key the surge queue took
// (202) for one body is used: the same key with another body is 422
// idempotency_key_reused when the server has room again, and the accepted
// intent is then paid. Before 2026-11-27 the other body was paid, and the
// intent its client had been told was accepted failed.
func TestAPendingIntentsKeyReusedNowIsRefused(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "k")
	r := e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 20_00), "Idempotency-Key", "k")
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if r.Status != 422 {
		t.Fatalf("the key of an accepted intent reused with another body: %d %s, want 422 idempotency_key_reused;\n"+
			"the accepted intent then settled %s %+v; ann's balance %d", r.Status, r.Body, got.Status, got.Error, e.Balance(t, ann.Wallet.ID).Posted)
	}
	if got.Status != pw.IntentPosted || e.Balance(t, ann.Wallet.ID).Posted != 90_00 {
		t.Fatalf("the accepted intent settled %s %+v, ann's balance %d; want it posted and 90.00 left",
			got.Status, got.Error, e.Balance(t, ann.Wallet.ID).Posted)
	}
}

// TestAPendingIntentsKeyUsedForAnotherMoneyRequestIsRefused: a key the
// surge queue took (202) for a payment is used for another money-moving
// request, a hold: it is 422 idempotency_key_reused, as it is once the
// payment is paid, and the intent is then paid. Until 2026-11-29 (found
// in review) only POST /v1/transfers looked for a pending intent under its
// key: the hold was made (201), and the intent its client had been told
// was accepted failed idempotency_key_reused.
func TestAPendingIntentsKeyUsedForAnotherMoneyRequestIsRefused(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "k")
	hold := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":2000,"currency":"EUR","expires_in_seconds":600}`, ann.Wallet.ID, bob.Wallet.ID)
	e.Do(t, "POST", "/v1/holds", ann.Token, hold, "Idempotency-Key", "k").Want(t, 422, pw.EIDEMREUSED)
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if b := e.Balance(t, ann.Wallet.ID); got.Status != pw.IntentPosted || b.Posted != 90_00 || b.PendingOut != 0 {
		t.Fatalf("the accepted intent settled %s %+v, ann's balance %+v; want it posted, 90.00 left and nothing held", got.Status, got.Error, b)
	}
}

// TestIntentsFromOneAccountSettleInAcceptanceOrder: the surge queue
// settles intents in order as capacity frees: of 40 intents of 10 from an
// account holding 100, accepted in that order, the first ten are posted
// and the last thirty failed insufficient_funds, with room for many
// settlers at once. Before 2026-11-27 up to 64 raced to the ledger, and
// later intents were paid while earlier ones were refused.
func TestIntentsFromOneAccountSettleInAcceptanceOrder(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 64, LimitMin: 64, LimitMax: 64})
	w := env.MustWallet(t, 100)
	const n = 40
	ids := make([]string, n)
	for i := range n {
		now := time.Now().UTC().Truncate(time.Microsecond)
		body := []byte(transferBody(w, 10))
		in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "operator:root", IdempotencyKey: fmt.Sprintf("order-%02d", i),
			Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body,
			Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now, Authorized: true}
		if _, err := env.Store.CreateIntent(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		ids[i] = in.ID
	}
	for range 10 {
		if _, err := env.Server.SettleIntents(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p, _ := env.Store.PendingIntents(context.Background(), "", 1); len(p) == 0 {
			break
		}
	}
	var order []byte
	for _, id := range ids {
		in, err := env.Store.Intent(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, map[string]byte{pw.IntentPosted: 'p', pw.IntentFailed: 'f', pw.IntentPending: '.'}[in.Status])
	}
	if want := strings.Repeat("p", 10) + strings.Repeat("f", n-10); string(order) != want {
		t.Fatalf("intents in acceptance order settled as\n%s\nwant\n%s", order, want)
	}
}

// TestNoIntentIsPaidDuringAReadOnlyWindow: during a read-only maintenance
// window no money moves: the routes answer 503 maintenance, and the
// settler leaves intents pending until it ends (before 2026-11-27 it paid
// them during the window).
func TestNoIntentIsPaidDuringAReadOnlyWindow(t *testing.T) {
	env, ctrl, sched := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	release := holdPaymentSlot(t, ctrl)
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "m-1", "Prefer": "respond-async, wait=0.5"})
	if r.Status != 202 {
		t.Fatalf("busy with respond-async: %d %s", r.Status, r.Body)
	}
	release()
	now := time.Now().UTC()
	win, err := sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	if r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "m-2"}); r.Status != 503 || r.Problem(t).Code != pw.EMAINTENANCE {
		t.Fatalf("a payment in the window: %d %s, want 503 maintenance", r.Status, r.Body)
	}
	n, err := env.Server.SettleIntents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b := env.MustBalance(t, w.User); n != 0 || b.Posted != 100 {
		t.Fatalf("during a read-only window the settler settled %d intent(s); the user's balance is %d, want 100 untouched", n, b.Posted)
	}
	// Once the window is over, and IntentResumeGrace after it (for the
	// cancellations refused in it to come back first), the intent is paid.
	if err := sched.Delete(win.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := env.Server.SettleIntents(context.Background()); err != nil || n != 0 {
		t.Fatalf("just after the window the settler settled %d intent(s), %v; want 0 until the grace is over", n, err)
	}
	time.Sleep(pwhttp.IntentResumeGrace)
	if n, err := env.Server.SettleIntents(context.Background()); err != nil || n != 1 {
		t.Fatalf("after the window the settler settled %d intent(s), %v; want 1", n, err)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 60 {
		t.Fatalf("after the window the user's balance is %d, want 60", b.Posted)
	}
}

// TestRespondAsyncWithParametersIsHonoured: a preference's parameters
// (RFC 7240: "respond-async; x=1") do not hide it; before 2026-11-27 such a
// payment was refused busy instead of accepted for later.
func TestRespondAsyncWithParametersIsHonoured(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	holdPaymentSlot(t, ctrl)
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "p-1", "Prefer": "respond-async; x=1, wait=0.5"})
	if r.Status != 202 {
		t.Fatalf("busy with Prefer: respond-async; x=1: %d %s, want 202", r.Status, r.Body)
	}
}

// TestAKeyInUseHoldsUpOnlyItsAccountsIntents: an intent whose key another
// request holds (a client's synchronous retry, or a lease left by a
// process that died, until it is stale) waits, with its account's later
// intents; the other accounts' intents are settled in the same pass.
// Before 2026-11-27 the pass stopped there, and every pass started again
// from that oldest intent: one key held up the whole queue.
func TestAKeyInUseHoldsUpOnlyItsAccountsIntents(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	ctx := context.Background()
	var ids []string
	var held *pw.IdempotencyRecord
	for i := range 3 {
		w := env.MustWallet(t, 100)
		now := time.Now().UTC().Truncate(time.Microsecond)
		body := []byte(transferBody(w, 10))
		in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "operator:root", IdempotencyKey: fmt.Sprint("in-use-", i),
			Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body,
			Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now, Authorized: true}
		if _, err := env.Store.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
		if i == 0 { // the oldest intent's key is held by another request
			claim, _, err := env.Ledger.BeginIdempotent(ctx, pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}, in.Fingerprint)
			if err != nil || claim == nil {
				t.Fatalf("claim: %v", err)
			}
			held = claim
		}
	}
	if _, err := env.Server.SettleIntents(ctx); err != nil {
		t.Fatal(err)
	}
	if got := []string{mustStatus(t, env, ids[0]), mustStatus(t, env, ids[1]), mustStatus(t, env, ids[2])}; got[0] != pw.IntentPending ||
		got[1] != pw.IntentPosted || got[2] != pw.IntentPosted {
		t.Fatalf("with the oldest intent's key held elsewhere, one pass left the intents %v; want the oldest pending and the others posted", got)
	}
	env.Ledger.ReleaseIdempotent(ctx, held)
	if _, err := env.Server.SettleIntents(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustStatus(t, env, ids[0]); got != pw.IntentPosted {
		t.Fatalf("once its key was free, the oldest intent is %s, want posted", got)
	}
}

func mustStatus(t *testing.T, env *Env, id string) string {
	t.Helper()
	in, err := env.Store.Intent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in.Status
}

// TestAReadOnlyWindowRefusesOpeningAWallet: a read-only window refuses
// every write to the ledger, not only those that move money: opening a
// wallet writes an account (before 2026-11-27 it went on in the window).
// Signing in and reading go on.
func TestAReadOnlyWindowRefusesOpeningAWallet(t *testing.T) {
	var sched *admission.Schedule
	e := mustOpenSecEnvWith(t, testLimits, func(c *pwhttp.Config, _ *sqlite.Store) {
		var err error
		if sched, err = admission.NewSchedule(filepath.Join(t.TempDir(), "maintenance.json"), nil); err != nil {
			t.Fatal(err)
		}
		c.Maintenance = sched
	})
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	now := time.Now().UTC()
	if _, err := sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	e.Do(t, "POST", "/v1/wallets", ann.Token, `{"currency":"USD"}`).Want(t, 503, pw.EMAINTENANCE)
	e.Do(t, "GET", "/v1/wallets", ann.Token, "").Want(t, 200, "")
}

// TestTheSettlerWaitsForAnotherBodyInFlightUnderTheKey: while a request
// with another body holds a pending intent's key (it is about to be
// refused idempotency_key_reused, or to fail), the settler leaves the
// intent pending and pays it once the key is free. Until 2026-11-28 (found
// in review) it failed the intent idempotency_key_reused on the spot and
// left the key free: the client, told its payment had failed, could pay it
// again, and the payment was never made by the queue that accepted it.
func TestTheSettlerWaitsForAnotherBodyInFlightUnderTheKey(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "k")
	stored, err := e.Store.Intent(context.Background(), in.ID) // its principal is not in the API's JSON
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := e.Ledger.BeginIdempotent(context.Background(), pw.IdempotencyKey{Principal: stored.Principal, Key: "k"}, "fp-of-another-body")
	if err != nil || other == nil {
		t.Fatalf("another body's claim: %+v, %v", other, err)
	}
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentPending {
		t.Fatalf("the intent while another body held its key: %+v, want pending", got)
	}
	e.Ledger.ReleaseIdempotent(context.Background(), other)
	if n, err := e.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v once the key is free", n, err)
	}
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
		t.Fatalf("bob has %d, want the intent's 1000", b.Posted)
	}
}

// TestTheSettlerDoesNotWaitForADeadRequestWithAnotherBodyUnderTheKey: a
// request with another body that claimed the intent's key and died before
// committing (its process killed) left a lease no one renews. Only the same
// body may take such a lease over (storetest IdempotencyStaleLease), so it
// holds the key until the key is forgotten (IdempotencyRetention, a day):
// it is not "in flight", and the intent, which can never be paid under its
// key, fails idempotency_key_reused as it did before leases of another
// body were waited for. Waited for, it stayed pending for a day, the
// account's later intents behind it, and its cancellation was refused in
// use at every attempt.
func TestTheSettlerDoesNotWaitForADeadRequestWithAnotherBodyUnderTheKey(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "k")
	later := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 2_00, "k2")
	stored, err := e.Store.Intent(context.Background(), in.ID) // its principal is not in the API's JSON
	if err != nil {
		t.Fatal(err)
	}
	died := time.Now().Add(-2 * pw.IdempotencyLease)
	dead := &pw.IdempotencyRecord{IdempotencyKey: pw.IdempotencyKey{Principal: stored.Principal, Key: "k"},
		Fingerprint: "fp-of-another-body", Token: "dead", State: pw.IdempotencyInFlight, CreatedAt: died, LockedAt: died}
	if existing, err := e.Store.ClaimIdempotency(context.Background(), dead, died.Add(-pw.IdempotencyLease)); err != nil || existing != nil {
		t.Fatalf("the dead request's claim: %+v, %v", existing, err)
	}
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got pw.Intent
	e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EIDEMREUSED {
		t.Fatalf("the intent whose key a dead request with another body holds: %+v, want failed %s", got, pw.EIDEMREUSED)
	}
	e.Do(t, "GET", "/v1/intents/"+later.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
	if got.Status != pw.IntentPosted {
		t.Fatalf("the account's later intent: %+v, want posted", got)
	}
}
