package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// queuedWhileBusy runs queue with ctrl's one payment slot held, so that
// the payments it offers find the server busy and go to the surge queue,
// and returns the IDs of the intents they were accepted as.
func queuedWhileBusy(t *testing.T, ctrl *admission.Controller, queue func() []*Response) []string {
	t.Helper()
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Abandon() // the test's hold is no payment: nothing for the limit to learn
	var ids []string
	for _, r := range queue() {
		var in pw.Intent
		r.Want(t, 202, "").Decode(t, &in)
		ids = append(ids, in.ID)
	}
	return ids
}

// settledAs settles the pending intents and checks how each of ids ended:
// "posted", or the code it failed with.
func settledAs(t *testing.T, e *SecEnv, ids []string, want ...string) {
	t.Helper()
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		in, err := e.Store.Intent(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		got := in.Status
		if in.Error != nil {
			got = in.Error.Code
		}
		if got != want[i] {
			t.Errorf("intent %d settled as %s (%+v), want %s", i, got, in.Error, want[i])
		}
	}
}

// annPaysBob is secSurgeEnv with ann (100 EUR) and bob (nothing).
func annPaysBob(t *testing.T) (*SecEnv, *admission.Controller, *Person, *Person) {
	t.Helper()
	e, ctrl := secSurgeEnv(t)
	return e, ctrl, e.MustPerson(t, "ann@example.com", 100_00), e.MustPerson(t, "bob@example.com", 0)
}

// secondSession logs p in again, as someone else who knows p's password
// would: a Person with the same account and its own session.
func secondSession(t *testing.T, e *SecEnv, p *Person) *Person {
	t.Helper()
	q := *p
	e.MustLogin(t, &q, "")
	return &q
}

// TestAnIntentIsNotPaidOnceItsCredentialIsEnded: a payment queued at a
// surge is paid later, by the server; it is paid only if the session or
// key that asked for it has not been ended meanwhile. Until 2026-11-27 an
// intent kept only its principal, and a payment an intruder queued was
// paid after the user changed their password, as was one a revoked
// merchant key queued. A session's own logout, which ends nothing in
// distrust, does not stop what it queued.
func TestAnIntentIsNotPaidOnceItsCredentialIsEnded(t *testing.T) {
	t.Run("a password change stops what the other sessions queued", func(t *testing.T) {
		e, ctrl, ann, bob := annPaysBob(t)
		intruder := secondSession(t, e, ann)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{
				asyncPay(e, t, intruder, ann.Wallet.ID, bob.Wallet.ID, 40_00, "steal"),
				asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent"),
			}
		})
		e.Do(t, "POST", "/v1/me/password", ann.Token, `{"current_password":"`+ann.Password+`","new_password":"a fresh passphrase for ann"}`).Want(t, 204, "")
		settledAs(t, e, ids, pw.EUNAUTHORIZED, pw.IntentPosted)
		if a, b := e.Balance(t, ann.Wallet.ID), e.Balance(t, bob.Wallet.ID); a.Posted != 90_00 || b.Posted != 10_00 {
			t.Fatalf("balances %d and %d, want 9000 and 1000: only ann's own payment moved", a.Posted, b.Posted)
		}
		in, _ := e.Store.Intent(context.Background(), ids[0])
		if msg := in.Error.Message; !strings.Contains(msg, "ended by a password change ("+auth.EndedByPasswordChange+")") || !strings.Contains(msg, "sign in") {
			t.Errorf("the failure does not say why, or what to do: %q", msg)
		}
		// The owner sees why on the intent, with the session that is left.
		var got pw.Intent
		e.Do(t, "GET", "/v1/intents/"+ids[0], ann.Token, "").Want(t, 200, "").Decode(t, &got)
		if got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EUNAUTHORIZED {
			t.Fatalf("the owner reads %+v", got)
		}
	})

	t.Run("a session's own logout does not stop what it queued", func(t *testing.T) {
		e, ctrl, ann, bob := annPaysBob(t)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent")}
		})
		e.Do(t, "DELETE", "/v1/sessions/current", ann.Token, "").Want(t, 204, "")
		settledAs(t, e, ids, pw.IntentPosted)
		if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
			t.Fatalf("bob has %d, want 1000", b.Posted)
		}
	})

	t.Run("a session that grew old still pays what it queued", func(t *testing.T) {
		e, ctrl, ann, bob := annPaysBob(t)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent")}
		})
		e.Clock.Advance(auth.DefaultSessionTTL + time.Minute)
		e.Do(t, "GET", "/v1/me", ann.Token, "").Want(t, 401, pw.EUNAUTHORIZED) // it has expired
		settledAs(t, e, ids, pw.IntentPosted)
	})

	t.Run("a session ended by another stops what it queued", func(t *testing.T) {
		e, ctrl, ann, bob := annPaysBob(t)
		intruder := secondSession(t, e, ann)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{asyncPay(e, t, intruder, ann.Wallet.ID, bob.Wallet.ID, 40_00, "steal")}
		})
		e.Do(t, "DELETE", "/v1/sessions/"+intruder.Session, ann.Token, "").Want(t, 204, "")
		settledAs(t, e, ids, pw.EUNAUTHORIZED)
		if a := e.Balance(t, ann.Wallet.ID); a.Posted != 100_00 {
			t.Fatalf("ann has %d, want 10000 untouched", a.Posted)
		}
	})

	t.Run("logging out first does not save it from a password reset", func(t *testing.T) {
		// An intruder who queues payments and logs out at once must not
		// escape the reset that ends every session.
		e, ctrl, ann, bob := annPaysBob(t)
		intruder := secondSession(t, e, ann)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{asyncPay(e, t, intruder, ann.Wallet.ID, bob.Wallet.ID, 40_00, "steal")}
		})
		e.Do(t, "DELETE", "/v1/sessions/current", intruder.Token, "").Want(t, 204, "")
		token := e.MustResetToken(t, "ann@example.com")
		e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+token+`","new_password":"a brand new passphrase"}`).Want(t, 204, "")
		settledAs(t, e, ids, pw.EUNAUTHORIZED)
		if a := e.Balance(t, ann.Wallet.ID); a.Posted != 100_00 {
			t.Fatalf("ann has %d, want 10000 untouched", a.Posted)
		}
	})

	t.Run("a key paid meanwhile by a live session settles as paid", func(t *testing.T) {
		// The intent's session is ended, but its owner, signed in again,
		// sent the same payment with the same key and was paid: the intent
		// tells what happened to its key.
		e, ctrl, ann, bob := annPaysBob(t)
		phone := secondSession(t, e, ann)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{asyncPay(e, t, phone, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent")}
		})
		e.Do(t, "DELETE", "/v1/sessions/"+phone.Session, ann.Token, "").Want(t, 204, "")
		// The synchronous payment with a pending intent's key waits for it
		// only when the bodies differ; the same body is paid at once.
		asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent").Want(t, 201, "")
		settledAs(t, e, ids, pw.IntentPosted)
		if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
			t.Fatalf("bob has %d, want 1000: paid once", b.Posted)
		}
	})

	t.Run("a revoked merchant key stops what it queued", func(t *testing.T) {
		e, ctrl := secSurgeEnv(t)
		ann := e.MustPerson(t, "ann@example.com", 0)
		var m auth.Merchant
		e.Do(t, "POST", "/v1/merchants", operatorKey, `{"name":"Corner Shop"}`).Want(t, 201, "").Decode(t, &m)
		var leaked, fresh auth.NewKey
		e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, "").Want(t, 201, "").Decode(t, &leaked)
		e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, "").Want(t, 201, "").Decode(t, &fresh)
		var acc pw.Account
		e.Do(t, "POST", "/v1/accounts", fresh.Key, `{"kind":"merchant","currency":"EUR"}`, "Idempotency-Key", "acc").Want(t, 201, "").Decode(t, &acc)
		e.MustTopUp(t, acc.ID, 100_00)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{
				asyncPayAs(e, t, leaked.Key, acc.ID, ann.Wallet.ID, 60_00, "payout"),
				asyncPayAs(e, t, fresh.Key, acc.ID, ann.Wallet.ID, 5_00, "refund"),
			}
		})
		e.Do(t, "DELETE", "/v1/merchants/"+m.ID+"/keys/"+leaked.ID, operatorKey, "").Want(t, 204, "")
		settledAs(t, e, ids, pw.EUNAUTHORIZED, pw.IntentPosted)
		if in, _ := e.Store.Intent(context.Background(), ids[0]); !strings.Contains(in.Error.Message, "API key that made this payment was revoked") ||
			!strings.Contains(in.Error.Message, "with a live key") {
			t.Errorf("the merchant's failure reads %q", in.Error.Message)
		}
		if a := e.Balance(t, ann.Wallet.ID); a.Posted != 5_00 {
			t.Fatalf("ann has %d, want 500: only the live key's payment", a.Posted)
		}
	})

	t.Run("a revoked operator stops what it queued", func(t *testing.T) {
		e, ctrl := secSurgeEnv(t)
		ann := e.MustPerson(t, "ann@example.com", 0)
		var op auth.NewOperator
		e.Do(t, "POST", "/v1/operators", operatorKey, `{"name":"Sam","role":"admin"}`).Want(t, 201, "").Decode(t, &op)
		var sys pw.Account
		e.Do(t, "POST", "/v1/accounts", op.Key, `{"kind":"system","currency":"EUR"}`, "Idempotency-Key", "sys").Want(t, 201, "").Decode(t, &sys)
		ids := queuedWhileBusy(t, ctrl, func() []*Response {
			return []*Response{asyncPayAs(e, t, op.Key, sys.ID, ann.Wallet.ID, 40_00, "bonus")}
		})
		e.Do(t, "DELETE", "/v1/operators/"+op.ID, operatorKey, "").Want(t, 204, "")
		settledAs(t, e, ids, pw.EUNAUTHORIZED)
		if a := e.Balance(t, ann.Wallet.ID); a.Posted != 0 {
			t.Fatalf("ann has %d, want 0", a.Posted)
		}
	})
}

// TestAnIntentWithoutACredentialSettlesAsBefore: an intent accepted by a
// server older than the credential column (during a handover) has none,
// and is paid as it was then: failing it would fail every payment queued
// across the upgrade.
func TestAnIntentWithoutACredentialSettlesAsBefore(t *testing.T) {
	e, _ := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	now := time.Now().UTC().Truncate(time.Microsecond)
	body := `{"from_account":"` + ann.Wallet.ID + `","to_account":"` + bob.Wallet.ID + `","amount":1000,"currency":"EUR"}`
	in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "user:" + ann.ID, IdempotencyKey: "old",
		Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", []byte(body)), Body: []byte(body),
		Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now, Authorized: true}
	if _, err := e.Store.CreateIntent(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	settledAs(t, e, []string{in.ID}, pw.IntentPosted)
}
