package http_test

import (
	"bytes"
	"context"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// messagesTo counts the messages the outbox holds for handle.
func (o *Outbox) messagesTo(handle string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.msgs {
		if m.To == handle {
			n++
		}
	}
	return n
}

// TestASurgeRetryOfAPaidStepUpPaymentIsReplayed: a payment above the
// step-up threshold, paid with its MFA code, and retried at a surge with
// its key (with the code it was paid with, or without one) is answered
// with its replay, as the synchronous retry is — not with a new step-up
// challenge. Found in review (2026-11-28): the surge queue checked the
// payment (AuthorizePayment) before the key's history, so the retry was
// refused 403 mfa_required (the code, single-use, was spent), fed the
// user's MFA back-off, and sent a new one-time code for a payment already
// made; the synchronous path claims the key first and replays.
func TestASurgeRetryOfAPaidStepUpPaymentIsReplayed(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	body := paymentBody(ann.Wallet.ID, bob.Wallet.ID, 60_00)
	h := []string{"Idempotency-Key", "big", "Prefer", "respond-async, wait=0.5"}
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, h...).Want(t, 403, pw.EMFAREQUIRED)
	code := e.Outbox.LastCode(t, ann.Handle)
	first := e.Do(t, "POST", "/v1/transfers", ann.Token, body, append(h, "MFA-Code", code)...).Want(t, 201, "")
	sent := e.Outbox.messagesTo(ann.Handle)

	release := holdPaymentSlot(t, ctrl)
	for _, hh := range [][]string{append(h, "MFA-Code", code), h} {
		r := e.Do(t, "POST", "/v1/transfers", ann.Token, body, hh...)
		if r.Status != 201 || r.Header.Get(pwhttp.HeaderIdempotencyReplayed) != "true" || !bytes.Equal(r.Body, first.Body) {
			t.Errorf("a surge retry %v of the paid payment: %d (replayed %q) %s; want its 201 replayed",
				hh[4:], r.Status, r.Header.Get(pwhttp.HeaderIdempotencyReplayed), r.Body)
		}
	}
	// Another body under the paid key is refused as reused, before any
	// step-up either.
	e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 70_00), h...).Want(t, 422, pw.EIDEMREUSED)
	if n := e.Outbox.messagesTo(ann.Handle); n != sent {
		t.Errorf("%d messages sent to ann for retries of a payment already made", n-sent)
	}
	if pending, err := e.Store.PendingIntents(context.Background(), "", 10); err != nil || len(pending) != 0 {
		t.Fatalf("pending intents %v, %v; want none", pending, err)
	}
	// A new step-up payment at the surge still meets its challenge.
	e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 55_00), "Idempotency-Key", "big-2", "Prefer", "respond-async, wait=0.5").
		Want(t, 403, pw.EMFAREQUIRED)
	release()
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 60_00 {
		t.Fatalf("bob has %d, want 6000: paid once", b.Posted)
	}
}

// TestASurgeRetryOfAQueuedStepUpPaymentFindsItsIntent: a payment above the
// step-up threshold, queued at a surge with its MFA code (202), and retried
// with its key while it waits (its 202 was lost: with the code it was
// queued with, or without one) is answered 202 with its intent, as a retry
// of any queued payment is — not with a new step-up challenge. Found in
// review (2026-11-29): the look at the key's history before the step-up
// (2026-11-28) saw a finished request only; a key whose payment waited in
// the surge queue read as free, the retry was refused 403 mfa_required (the
// code, single-use, was spent), fed the user's MFA back-off and sent a new
// one-time code for a payment already accepted.
func TestASurgeRetryOfAQueuedStepUpPaymentFindsItsIntent(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	body := paymentBody(ann.Wallet.ID, bob.Wallet.ID, 60_00)
	h := []string{"Idempotency-Key", "big", "Prefer", "respond-async, wait=0.5"}
	release := holdPaymentSlot(t, ctrl)
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, h...).Want(t, 403, pw.EMFAREQUIRED)
	code := e.Outbox.LastCode(t, ann.Handle)
	var queued pw.Intent
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, append(h, "MFA-Code", code)...).Want(t, 202, "").Decode(t, &queued)
	sent := e.Outbox.messagesTo(ann.Handle)

	for _, hh := range [][]string{append(h, "MFA-Code", code), h} {
		r := e.Do(t, "POST", "/v1/transfers", ann.Token, body, hh...)
		var got pw.Intent
		if r.Status == 202 {
			r.Decode(t, &got)
		}
		if r.Status != 202 || got.ID != queued.ID {
			t.Errorf("a surge retry %v of the queued payment: %d %s; want 202 with intent %s", hh[4:], r.Status, r.Body, queued.ID)
		}
	}
	// Another body under the queued key is refused as reused, before any
	// step-up either.
	e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 70_00), h...).Want(t, 422, pw.EIDEMREUSED)
	if n := e.Outbox.messagesTo(ann.Handle); n != sent {
		t.Errorf("%d messages sent to ann for retries of a payment already queued", n-sent)
	}
	// A new step-up payment at the surge still meets its challenge.
	e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 55_00), "Idempotency-Key", "big-2", "Prefer", "respond-async, wait=0.5").
		Want(t, 403, pw.EMFAREQUIRED)
	release()
	if _, err := e.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 60_00 {
		t.Fatalf("bob has %d, want 6000: paid once", b.Posted)
	}
}

// TestASurgeRetryWhileItsFirstAttemptRunsIsToldToWait: a payment above the
// step-up threshold whose first attempt still runs (it holds its key: its
// answer was lost on the way) and that is retried at a surge is answered
// 409 idempotency_key_in_use ("retry a moment later"), as the synchronous
// path answers it, with no step-up: no code is spent, no message sent. Until
// 2026-11-29 the key in flight read as free, and the retry was refused
// mfa_required, with a one-time code sent for a payment already under way.
// Once the first attempt has ended (here, it let the key go), the retry
// meets its step-up.
func TestASurgeRetryWhileItsFirstAttemptRunsIsToldToWait(t *testing.T) {
	e, ctrl := secSurgeEnv(t)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	body := paymentBody(ann.Wallet.ID, bob.Wallet.ID, 60_00)
	h := []string{"Idempotency-Key", "big", "Prefer", "respond-async, wait=0.5"}
	first, _, err := e.Ledger.BeginIdempotent(context.Background(), pw.IdempotencyKey{Principal: "user:" + ann.ID, Key: "big"},
		pwhttp.Fingerprint("POST", "/v1/transfers", []byte(body)))
	if err != nil || first == nil {
		t.Fatalf("the first attempt's claim: %v, %v", first, err)
	}
	sent := e.Outbox.messagesTo(ann.Handle)
	release := holdPaymentSlot(t, ctrl)
	defer release()
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, h...).Want(t, 409, pw.EIDEMINUSE)
	if n := e.Outbox.messagesTo(ann.Handle); n != sent {
		t.Errorf("%d messages sent to ann for a retry of a payment under way", n-sent)
	}
	e.Ledger.ReleaseIdempotent(context.Background(), first)
	e.Do(t, "POST", "/v1/transfers", ann.Token, body, h...).Want(t, 403, pw.EMFAREQUIRED)
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 0 {
		t.Fatalf("bob has %d, want 0", b.Posted)
	}
}
