package http_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

func idem(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

// TestAmbiguousMembersAreRefused sends bodies that name a member twice,
// or in another case than its own: encoding/json lets the last one win,
// matching names case-insensitively, so that a body a proxy, a log or a
// signature check reads as a payment of 1 paid 5000. Each is refused
// invalid_request naming the member, moves nothing and leaves the key free.
func TestAmbiguousMembersAreRefused(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	pay := func(rest string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"currency":"EUR",%s}`, w.User.ID, w.Merchant.ID, rest)
	}
	for i, tt := range []struct {
		name, path, body, field string
	}{
		{"member twice", "/v1/transfers", pay(`"amount":1,"amount":5000`), "amount"},
		{"member twice in another case", "/v1/transfers", pay(`"amount":1,"Amount":5000`), "Amount"},
		{"member in another case", "/v1/transfers", pay(`"AMOUNT":1`), "AMOUNT"},
		{"metadata key twice", "/v1/transfers", pay(`"amount":1,"metadata":{"order":"a","order":"b"}`), "metadata"},
		{"batch item member twice", "/v1/transfers/batch",
			`{"transfers":[` + pay(`"amount":1,"amount":5000`) + `]}`, "transfers.amount"},
		{"batch flag twice", "/v1/transfers/batch",
			`{"atomic":true,"transfers":[` + pay(`"amount":1`) + `],"atomic":false}`, "atomic"},
		{"hold expiry twice", "/v1/holds", pay(`"amount":1,"expires_in_seconds":60,"expires_in_seconds":2592000`),
			"expires_in_seconds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := idem(fmt.Sprint("ambiguous-", i))
			r := e.Do(t, "POST", tt.path, tt.body, h)
			if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != tt.field {
				t.Fatalf("%d %s, want 400 invalid_request on %q", r.Status, r.Body, tt.field)
			}
			if b := e.MustBalance(t, w.User); b.Posted != 10_000 || b.PendingOut != 0 {
				t.Fatalf("user balance %+v after a refused body", b)
			}
		})
	}
	// The corrected body goes through under the refused one's key. Metadata
	// keys are the client's own, and case tells them apart.
	r := e.Do(t, "POST", "/v1/transfers", pay(`"amount":1,"metadata":{"Order":"a","order":"b"}`), idem("ambiguous-0"))
	if r.Status != 201 {
		t.Fatalf("corrected body under the refused one's key: %d %s", r.Status, r.Body)
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9_999 {
		t.Fatalf("user posted %d, want 9999", b.Posted)
	}
}

// TestAnExplicitZeroAmountRefundsAndCapturesNothing: an absent amount
// means "all that remains" (all that is held), but a zero the client sent
// is a mistake like a zero payment, not a request for everything.
func TestAnExplicitZeroAmountRefundsAndCapturesNothing(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	tr := e.MustTransfer(t, w.User, w.Merchant, 1000)
	hold := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":500,"currency":"EUR","expires_in_seconds":60}`,
		w.User.ID, w.Merchant.ID)
	var h pw.Hold
	e.Do(t, "POST", "/v1/holds", hold, idem("zero-hold")).Want(t, 201, "").Decode(t, &h)
	for i, body := range []string{`{"amount":0}`, `{"amount":-0}`} {
		r := e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", body, idem(fmt.Sprint("zero-refund-", i)))
		if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != "amount" {
			t.Errorf("refund %s: %d %s, want 400 invalid_request on amount", body, r.Status, r.Body)
		}
		r = e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", body, idem(fmt.Sprint("zero-capture-", i)))
		if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != "amount" {
			t.Errorf("capture %s: %d %s, want 400 invalid_request on amount", body, r.Status, r.Body)
		}
	}
	if b := e.MustBalance(t, w.Merchant); b.Posted != 1000 || b.PendingIn != 500 {
		t.Fatalf("merchant %+v after zero refunds and captures, want posted 1000, pending_in 500", b)
	}
	// Absent, it is everything, with the key the refused request had.
	var rf pw.Transfer
	e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", `{}`, idem("zero-refund-0")).Want(t, 201, "").Decode(t, &rf)
	var cp pw.Transfer
	e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", ``, idem("zero-capture-0")).Want(t, 201, "").Decode(t, &cp)
	if rf.Amount != 1000 || cp.Amount != 500 {
		t.Fatalf("refund %d, capture %d: want 1000 and 500", rf.Amount, cp.Amount)
	}
}

// TestTwoIdempotencyKeysAreRefused: a request with two Idempotency-Key
// headers names no one key; taking the first would make a retry whose
// headers a proxy reordered another payment.
func TestTwoIdempotencyKeysAreRefused(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	req, err := http.NewRequest("POST", e.HTTP.URL+"/v1/transfers", strings.NewReader(transferBody(w, 100)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Idempotency-Key", "first")
	req.Header.Add("Idempotency-Key", "second")
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID {
		t.Fatalf("%d %s, want 400 invalid_request", r.Status, r.Body)
	}
	if b := e.MustBalance(t, w.User); b.Posted != 10_000 {
		t.Fatalf("user posted %d, want 10000: two keys moved money", b.Posted)
	}
}
