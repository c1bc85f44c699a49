package http_test

import (
	"fmt"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestANullAmountIsRefusedOnEveryMoneyRoute: encoding/json decodes null
// into an int64 as nothing at all, so {"amount":null} from a client whose
// variable was unset refunded everything and captured the whole hold, as
// a left-out amount does; an overdraft_limit of null opened an account
// without one. Every number member refuses null, naming itself; the body
// moves nothing and leaves its key free, and leaving the member out still
// means all.
func TestANullAmountIsRefusedOnEveryMoneyRoute(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	tr := e.MustTransfer(t, w.User, w.Merchant, 1000)
	var h pw.Hold
	e.Do(t, "POST", "/v1/holds", fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":500,"currency":"EUR","expires_in_seconds":60}`,
		w.User.ID, w.Merchant.ID), idem("null-hold")).Want(t, 201, "").Decode(t, &h)
	pay := func(rest string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"currency":"EUR",%s}`, w.User.ID, w.Merchant.ID, rest)
	}
	for i, tt := range []struct {
		name, path, body, field string
	}{
		{"refund", "/v1/transfers/" + tr.ID + "/refunds", `{"amount":null}`, "amount"},
		{"refund with a description", "/v1/transfers/" + tr.ID + "/refunds", `{"description":"x","amount": null}`, "amount"},
		{"capture", "/v1/holds/" + h.ID + "/capture", `{"amount":null}`, "amount"},
		{"transfer", "/v1/transfers", pay(`"amount":null`), "amount"},
		{"batch item", "/v1/transfers/batch", `{"transfers":[` + pay(`"amount":1`) + `,` + pay(`"amount":null`) + `]}`, "transfers.amount"},
		{"hold", "/v1/holds", pay(`"amount":null,"expires_in_seconds":60`), "amount"},
		{"hold expiry", "/v1/holds", pay(`"amount":1,"expires_in_seconds":null`), "expires_in_seconds"},
		{"overdraft limit", "/v1/accounts", `{"kind":"user","currency":"EUR","overdraft_limit":null}`, "overdraft_limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Do(t, "POST", tt.path, tt.body, idem(fmt.Sprint("null-", i)))
			if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != tt.field || !strings.Contains(p.Detail, "null") {
				t.Fatalf("%d %s, want 400 invalid_request on %q saying null", r.Status, r.Body, tt.field)
			}
		})
	}
	if b := e.MustBalance(t, w.Merchant); b.Posted != 1000 || b.PendingIn != 500 {
		t.Fatalf("merchant %+v after null amounts, want posted 1000, pending_in 500", b)
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9000 || b.PendingOut != 500 {
		t.Fatalf("user %+v after null amounts, want posted 9000, pending_out 500", b)
	}
	// Left out, it is everything, under the keys the refused requests had.
	var rf, cp pw.Transfer
	e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", `{}`, idem("null-0")).Want(t, 201, "").Decode(t, &rf)
	e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", ``, idem("null-2")).Want(t, 201, "").Decode(t, &cp)
	if rf.Amount != 1000 || cp.Amount != 500 {
		t.Fatalf("refund %d, capture %d: want 1000 and 500", rf.Amount, cp.Amount)
	}
}

// TestInvalidUTF8IsRefusedWhereItIs: encoding/json replaces bytes that are
// not UTF-8, and lone surrogate escapes, with U+FFFD, so a description or
// a metadata value was stored other than the client sent (and signed).
// Such a body is refused invalid_request naming the member and the byte,
// moves nothing and leaves its key free; text in any script, and escaped
// surrogate pairs, are stored as sent.
func TestInvalidUTF8IsRefusedWhereItIs(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	tr := e.MustTransfer(t, w.User, w.Merchant, 1000)
	pay := func(rest string) string {
		return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":100,"currency":"EUR",%s}`, w.User.ID, w.Merchant.ID, rest)
	}
	for i, tt := range []struct {
		name, path, body, field string
	}{
		{"description", "/v1/transfers", pay("\"description\":\"caf\xe9\""), "description"},
		{"metadata value", "/v1/transfers", pay("\"metadata\":{\"order\":\"\xc3\x28\"}"), "metadata"},
		{"metadata key", "/v1/transfers", pay("\"metadata\":{\"\xff\":\"1\"}"), "metadata"},
		{"lone surrogate escape", "/v1/transfers", pay(`"description":"\ud800"`), "description"},
		{"batch item", "/v1/transfers/batch", `{"transfers":[` + pay("\"description\":\"\xf0\x9f\x98\"") + `]}`, "transfers.description"},
		{"refund", "/v1/transfers/" + tr.ID + "/refunds", "{\"description\":\"\x80\"}", "description"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Do(t, "POST", tt.path, tt.body, idem(fmt.Sprint("utf8-", i)))
			if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != tt.field || !strings.Contains(p.Detail, "not valid UTF-8 at byte") {
				t.Fatalf("%d %s, want 400 invalid_request on %q naming the byte", r.Status, r.Body, tt.field)
			}
		})
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9_000 {
		t.Fatalf("user posted %d after refused bodies, want 9000", b.Posted)
	}
	var got pw.Transfer
	e.Do(t, "POST", "/v1/transfers", pay(`"description":"Kaffee für Zoë \ud83d\ude00","metadata":{"note":"珈琲"}`), idem("utf8-0")).
		Want(t, 201, "").Decode(t, &got)
	if got.Description != "Kaffee für Zoë 😀" || got.Metadata["note"] != "珈琲" {
		t.Fatalf("stored %q %q, want the text as sent", got.Description, got.Metadata["note"])
	}
}
