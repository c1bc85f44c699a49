package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestBadInput sends each bad request to the real server: each must be a
// 4xx problem with its stable code, and move no money.
func TestBadInput(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	usd := e.MustCreateAccount(t, pw.AccountUser, "USD")
	const unknown = "acc_01jz0000000000000000000000"

	transfer := func(amount string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%s,"currency":"EUR"}`, w.User.ID, w.Merchant.ID, amount)
	}
	key := func(i int) map[string]string {
		return map[string]string{"Idempotency-Key": fmt.Sprintf("bad-%d", i)}
	}
	tests := []struct {
		name    string
		path    string
		body    string
		headers map[string]string
		status  int
		code    string
		field   string
	}{
		{"float amount", "/v1/transfers", transfer("1.5"), nil, 400, pw.EINVALID, "amount"},
		{"exponent amount", "/v1/transfers", transfer("1e3"), nil, 400, pw.EINVALID, "amount"},
		{"string amount", "/v1/transfers", transfer(`"100"`), nil, 400, pw.EINVALID, "amount"},
		{"zero amount", "/v1/transfers", transfer("0"), nil, 400, pw.EINVALID, "amount"},
		{"negative amount", "/v1/transfers", transfer("-5"), nil, 400, pw.EINVALID, "amount"},
		{"overflowing amount", "/v1/transfers", transfer("9223372036854775808"), nil, 400, pw.EINVALID, "amount"},
		{"huge amount", "/v1/transfers", transfer("100000000000000000000000000"), nil, 400, pw.EINVALID, "amount"},
		{"unknown currency", "/v1/transfers", strings.Replace(transfer("5"), "EUR", "XYZ", 1), nil, 400, pw.EINVALID, "currency"},
		{"malformed currency", "/v1/transfers", strings.Replace(transfer("5"), "EUR", "eur", 1), nil, 400, pw.EINVALID, "currency"},
		{"same account", "/v1/transfers",
			fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":5,"currency":"EUR"}`, w.User.ID, w.User.ID), nil,
			422, pw.ESAMEACCOUNT, "to_account"},
		{"unknown account", "/v1/transfers",
			fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":5,"currency":"EUR"}`, w.User.ID, unknown), nil,
			404, pw.EACCOUNTNOTFOUND, ""},
		{"currency not the accounts'", "/v1/transfers", strings.Replace(transfer("5"), "EUR", "USD", 1), nil,
			422, pw.ECURRENCYMISMATCH, ""},
		{"accounts of two currencies", "/v1/transfers",
			fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":5,"currency":"EUR"}`, w.User.ID, usd.ID), nil,
			422, pw.ECURRENCYMISMATCH, ""},
		{"malformed JSON", "/v1/transfers", `{"from_account":`, nil, 400, pw.EINVALID, ""},
		{"not JSON", "/v1/transfers", `amount=5`, nil, 400, pw.EINVALID, ""},
		{"unknown field", "/v1/transfers", strings.Replace(transfer("5"), `"amount"`, `"fee":1,"amount"`, 1), nil,
			400, pw.EINVALID, "fee"},
		{"trailing data", "/v1/transfers", transfer("5") + `{}`, nil, 400, pw.EINVALID, ""},
		{"array body", "/v1/transfers", `[` + transfer("5") + `]`, nil, 400, pw.EINVALID, ""},
		{"null body", "/v1/transfers", `null`, nil, 400, pw.EINVALID, ""},
		{"empty body", "/v1/transfers", ``, nil, 400, pw.EINVALID, ""},
		{"wrong content type", "/v1/transfers", transfer("5"), map[string]string{"Content-Type": "text/plain"},
			400, pw.EINVALID, ""},
		{"2 MiB body", "/v1/transfers", `{"description":"` + strings.Repeat("x", 2<<20) + `"}`, nil,
			413, pw.ETOOLARGE, ""},
		{"missing Idempotency-Key", "/v1/transfers", transfer("5"), map[string]string{"Idempotency-Key": ""},
			400, pw.EIDEMREQUIRED, ""},
		{"Idempotency-Key too long", "/v1/transfers", transfer("5"),
			map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, 400, pw.EINVALID, ""},
		{"insufficient funds", "/v1/transfers", transfer("10001"), nil, 409, pw.EINSUFFICIENT, ""},
		{"negative refund", "/v1/transfers/tr_01jz0000000000000000000000/refunds", `{"amount":-1}`, nil,
			400, pw.EINVALID, "amount"},
		{"refund of unknown transfer", "/v1/transfers/tr_01jz0000000000000000000000/refunds", ``, nil,
			404, pw.ENOTFOUND, ""},
		{"refund of malformed ID", "/v1/transfers/nope/refunds", ``, nil, 404, pw.ENOTFOUND, ""},
		{"capture of unknown hold", "/v1/holds/hold_01jz0000000000000000000000/capture", `{}`, nil,
			404, pw.ENOTFOUND, ""},
		{"void with a body member", "/v1/holds/hold_01jz0000000000000000000000/void", `{"amount":1}`, nil,
			400, pw.EINVALID, "amount"},
		{"hold without expiry", "/v1/holds", transfer("5"), nil, 400, pw.EINVALID, "expires_in_seconds"},
		{"account of unknown kind", "/v1/accounts", `{"kind":"bank","currency":"EUR"}`, nil, 400, pw.EINVALID, "kind"},
		{"batch with a float", "/v1/transfers/batch", `{"transfers":[` + transfer("2.5") + `]}`, nil,
			400, pw.EINVALID, "transfers.amount"},
		{"empty batch", "/v1/transfers/batch", `{"transfers":[]}`, nil, 400, pw.EINVALID, "transfers"},
		// The batch endpoint reads up to 8 MiB: 2 MiB gets as far as decoding.
		{"2 MiB batch", "/v1/transfers/batch", `{"transfers":[],"x":"` + strings.Repeat("x", 2<<20) + `"}`, nil,
			400, pw.EINVALID, "x"},
		{"9 MiB batch", "/v1/transfers/batch", `{"transfers":[],"x":"` + strings.Repeat("x", 9<<20) + `"}`, nil,
			413, pw.ETOOLARGE, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := key(i)
			for k, v := range tt.headers {
				headers[k] = v
			}
			r := e.Do(t, http.MethodPost, tt.path, tt.body, headers)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			p := r.Problem(t)
			if p.Code != tt.code || p.Field != tt.field {
				t.Fatalf("code %q field %q, want %q %q: %s", p.Code, p.Field, tt.code, tt.field, r.Body)
			}
		})
	}

	for _, a := range []*pw.Account{w.User, w.Merchant, usd} {
		b := e.MustBalance(t, a)
		want := map[string]int64{w.User.ID: 10_000}[a.ID]
		if b.Posted != want || b.PendingOut != 0 {
			t.Errorf("%s %s: balance %+v after bad requests, want posted %d", a.Kind, a.Currency, b, want)
		}
	}
}

// TestInvalidRequestKeepsKey checks that a request rejected before the
// ledger does not use its key up: the corrected request with the same key
// then succeeds.
func TestInvalidRequestKeepsKey(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 1_000)
	h := map[string]string{"Idempotency-Key": "fix-and-retry"}
	body := func(amount string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%s,"currency":"EUR"}`, w.User.ID, w.Merchant.ID, amount)
	}
	if r := e.Do(t, "POST", "/v1/transfers", body("1.5"), h); r.Status != 400 {
		t.Fatalf("float: %d %s", r.Status, r.Body)
	}
	// A failure the ledger reached but that committed nothing frees it too.
	if r := e.Do(t, "POST", "/v1/transfers", body("5000"), h); r.Status != 409 {
		t.Fatalf("insufficient: %d %s", r.Status, r.Body)
	}
	r := e.Do(t, "POST", "/v1/transfers", body("5000"), h)
	if r.Status != 409 || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("remembered business failure: %d replayed=%q %s", r.Status, r.Header.Get("Idempotent-Replayed"), r.Body)
	}
	h["Idempotency-Key"] = "fix-and-retry-2"
	if r := e.Do(t, "POST", "/v1/transfers", body("0"), h); r.Status != 400 {
		t.Fatalf("zero: %d %s", r.Status, r.Body)
	}
	if r := e.Do(t, "POST", "/v1/transfers", body("500"), h); r.Status != 201 {
		t.Fatalf("corrected request with the same key: %d %s", r.Status, r.Body)
	}
}
