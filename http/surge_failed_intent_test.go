package http_test

import (
	"bytes"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestASurgeRetryOfAKeyPaidAfterItsIntentFailedIsReplayed: an intent that
// failed without its key being used (its session was ended, and the key
// released) is sent again with the same key by its owner, signed in again,
// and paid. A retry of that key at a surge is answered with that payment,
// as a synchronous retry is. Found in review (2026-11-28): the surge queue
// preferred the failed intent to the key's finished request, and answered
// 202 with an intent that says "failed" for a payment that was made; a
// client that trusts it pays again under a new key.
func TestASurgeRetryOfAKeyPaidAfterItsIntentFailedIsReplayed(t *testing.T) {
	e, ctrl, ann, bob := annPaysBob(t)
	phone := secondSession(t, e, ann)
	ids := queuedWhileBusy(t, ctrl, func() []*Response {
		return []*Response{asyncPay(e, t, phone, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent")}
	})
	e.Do(t, "DELETE", "/v1/sessions/"+phone.Session, ann.Token, "").Want(t, 204, "")
	settledAs(t, e, ids, pw.EUNAUTHORIZED)
	// Sent again, the server has room: paid.
	paid := asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent").Want(t, 201, "")
	// Its answer was lost; the retry comes at a surge.
	release := holdPaymentSlot(t, ctrl)
	defer release()
	r := asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "rent")
	if r.Status != 201 || r.Header.Get(pwhttp.HeaderIdempotencyReplayed) != "true" || !bytes.Equal(r.Body, paid.Body) {
		t.Fatalf("a surge retry of a key paid after its intent failed: %d %s; want the payment's 201 replayed", r.Status, r.Body)
	}
	// Another body under it is reused, as a synchronous retry hears.
	asyncPay(e, t, ann, ann.Wallet.ID, bob.Wallet.ID, 20_00, "rent").Want(t, 422, pw.EIDEMREUSED)
	if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
		t.Fatalf("bob has %d, want 1000", b.Posted)
	}
}
