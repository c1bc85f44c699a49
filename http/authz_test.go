package http_test

import (
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestBOLA: user A reaches for B's wallet, transfer, hold and session by
// ID. Every attempt is 404, exactly as if the object did not exist
// (OWASP API1: broken object level authorization).
func TestBOLA(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "a@example.com", 100_00)
	b := e.MustPerson(t, "b@example.com", 100_00)
	shop := e.MustPerson(t, "shop@example.com", 0)
	var tr pw.Transfer
	e.Do(t, "POST", "/v1/transfers", b.Token, `{"from_account":"`+b.Wallet.ID+`","to_account":"`+shop.Wallet.ID+`","amount":100,"currency":"EUR"}`,
		"Idempotency-Key", "bt").Want(t, 201, "").Decode(t, &tr)
	var h pw.Hold
	e.Do(t, "POST", "/v1/holds", b.Token, `{"from_account":"`+b.Wallet.ID+`","to_account":"`+shop.Wallet.ID+`","amount":100,"currency":"EUR","expires_in_seconds":60}`,
		"Idempotency-Key", "bh").Want(t, 201, "").Decode(t, &h)

	// What B sees of its own, A must see as missing.
	for _, c := range []struct{ method, path, body, code string }{
		{"GET", "/v1/accounts/" + b.Wallet.ID, "", pw.EACCOUNTNOTFOUND},
		{"GET", "/v1/accounts/" + b.Wallet.ID + "/entries", "", pw.EACCOUNTNOTFOUND},
		{"GET", "/v1/accounts/" + b.Wallet.ID + "/transfers", "", pw.EACCOUNTNOTFOUND},
		{"GET", "/v1/transfers?account=" + b.Wallet.ID, "", pw.EACCOUNTNOTFOUND},
		{"GET", "/v1/transfers/" + tr.ID, "", pw.ENOTFOUND},
		{"GET", "/v1/holds/" + h.ID, "", pw.ENOTFOUND},
		{"POST", "/v1/transfers", `{"from_account":"` + b.Wallet.ID + `","to_account":"` + a.Wallet.ID + `","amount":1,"currency":"EUR"}`, pw.EACCOUNTNOTFOUND},
		{"POST", "/v1/holds", `{"from_account":"` + b.Wallet.ID + `","to_account":"` + a.Wallet.ID + `","amount":1,"currency":"EUR","expires_in_seconds":9}`, pw.EACCOUNTNOTFOUND},
		{"POST", "/v1/holds/" + h.ID + "/capture", "", pw.ENOTFOUND},
		{"POST", "/v1/holds/" + h.ID + "/void", "", pw.ENOTFOUND},
		{"POST", "/v1/transfers/" + tr.ID + "/refunds", "", pw.ENOTFOUND},
		{"DELETE", "/v1/sessions/" + b.Session, "", pw.ENOTFOUND},
	} {
		var hdr []string
		if c.method == "POST" {
			hdr = []string{"Idempotency-Key", "k-" + c.path}
		}
		r := e.Do(t, c.method, c.path, a.Token, c.body, hdr...)
		if r.Status != 404 || r.Problem(t).Code != c.code {
			t.Errorf("A %s %s: %d %s, want 404 %s", c.method, c.path, r.Status, r.Body, c.code)
		}
		// B (or the payee) can: the 404 above was about ownership.
		if c.method == "GET" {
			e.Do(t, c.method, c.path, b.Token, "").Want(t, 200, "")
		}
	}
	if got := e.Balance(t, b.Wallet.ID); got.Posted != 100_00-100 || got.PendingOut != 100 {
		t.Fatalf("B's wallet changed: %+v", got)
	}
	// B's session survived A's attempt.
	e.Do(t, "GET", "/v1/wallets", b.Token, "").Want(t, 200, "")
	// The payer sees the hold but only the payee captures it.
	e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", b.Token, "", "Idempotency-Key", "cap").Want(t, 403, pw.EFORBIDDEN)
	e.Do(t, "POST", "/v1/holds/"+h.ID+"/capture", shop.Token, "", "Idempotency-Key", "cap").Want(t, 201, "")
	// Whole-ledger lists are for operators.
	e.Do(t, "GET", "/v1/accounts", a.Token, "").Want(t, 403, pw.EFORBIDDEN)
	e.Do(t, "GET", "/v1/transfers", a.Token, "").Want(t, 403, pw.EFORBIDDEN)
}

// TestMassAssignment: a user cannot set what the server decides (OWASP
// API3: broken object property level authorization).
func TestMassAssignment(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "a@example.com", 10_00)
	for _, body := range []string{
		`{"currency":"GBP","kind":"system"}`,
		`{"currency":"GBP","overdraft_limit":1000000}`,
		`{"currency":"GBP","owner_id":"usr_someone"}`,
	} {
		r := e.Do(t, "POST", "/v1/wallets", a.Token, body).Want(t, 400, pw.EINVALID)
		if f := r.Problem(t).Field; f == "" || f == "currency" {
			t.Errorf("%s: field %q", body, f)
		}
	}
	e.Do(t, "POST", "/v1/accounts", a.Token, `{"kind":"user","currency":"GBP","overdraft_limit":1000000,"owner_id":"`+a.ID+`"}`,
		"Idempotency-Key", "acc").Want(t, 403, pw.EFORBIDDEN)
	e.Do(t, "POST", "/v1/users", "", `{"handle":"x@example.com","password":"a fine passphrase","role":"admin"}`).Want(t, 400, pw.EINVALID)
	e.Do(t, "POST", "/v1/users", "", `{"handle":"x@example.com","password":"a fine passphrase","step_up_threshold":999999999}`).Want(t, 400, pw.EINVALID)
	var me auth.User
	e.Do(t, "GET", "/v1/me", a.Token, "").Want(t, 200, "").Decode(t, &me)
	if me.StepUpThreshold != 50_00 {
		t.Fatalf("threshold %d", me.StepUpThreshold)
	}
	if w := e.Balance(t, a.Wallet.ID); w.Posted != 10_00 {
		t.Fatalf("wallet %+v", w)
	}
	// Without an overdraft of its own, the wallet cannot go below zero.
	e.MustPerson(t, "b@example.com", 0)
	e.Do(t, "POST", "/v1/transfers", a.Token, `{"from_account":"`+a.Wallet.ID+`","to_handle":"b@example.com","amount":2000,"currency":"EUR"}`,
		"Idempotency-Key", "overdraw").Want(t, 409, pw.EINSUFFICIENT)
}

// TestFunctionLevelAuthz: roles and key kinds reach only their functions
// (OWASP API5).
func TestFunctionLevelAuthz(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "a@example.com", 10_00)
	newOp := func(role string) string {
		var o auth.NewOperator
		e.Do(t, "POST", "/v1/operators", operatorKey, `{"name":"`+role+` agent","role":"`+role+`"}`).Want(t, 201, "").Decode(t, &o)
		return o.Key
	}
	support, risk, admin := newOp(pw.RoleSupport), newOp(pw.RoleRisk), newOp(pw.RoleAdmin)
	pay := `{"from_account":"` + a.Wallet.ID + `","to_handle":"a@example.com","amount":1,"currency":"EUR"}`

	t.Run("support reads, moves nothing", func(t *testing.T) {
		e.Do(t, "GET", "/v1/accounts/"+a.Wallet.ID, support, "").Want(t, 200, "")
		e.Do(t, "POST", "/v1/transfers", support, pay, "Idempotency-Key", "s1").Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "POST", "/v1/accounts", support, `{"kind":"system","currency":"EUR"}`, "Idempotency-Key", "s2").Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "POST", "/v1/merchants", support, `{"name":"x"}`).Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "POST", "/v1/operators", support, `{"name":"x","role":"admin"}`).Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "GET", "/v1/audit", support, "").Want(t, 403, pw.EFORBIDDEN)
	})
	t.Run("risk reads the audit log", func(t *testing.T) {
		var page struct {
			Data       []auth.AuditRecord
			NextCursor string `json:"next_cursor"`
		}
		e.Do(t, "GET", "/v1/audit?limit=2", risk, "").Want(t, 200, "").Decode(t, &page)
		if len(page.Data) != 2 || page.NextCursor == "" || page.Data[0].Action != "user.signup" || page.Data[1].Action != "login.success" {
			t.Fatalf("audit page %+v", page)
		}
		e.Do(t, "GET", "/v1/audit?limit=2&cursor="+page.NextCursor, risk, "").Want(t, 200, "").Decode(t, &page)
		if page.Data[0].Seq != 3 || page.Data[0].PrevHash == auth.GenesisHash {
			t.Fatalf("second audit page %+v", page.Data)
		}
		e.Do(t, "GET", "/v1/audit?cursor=x", risk, "").Want(t, 400, pw.EINVALID)
		e.Do(t, "POST", "/v1/transfers", risk, pay, "Idempotency-Key", "r1").Want(t, 403, pw.EFORBIDDEN)
	})
	t.Run("operators are revocable", func(t *testing.T) {
		var o auth.NewOperator
		e.Do(t, "POST", "/v1/operators", admin, `{"name":"temp","role":"support"}`).Want(t, 201, "").Decode(t, &o)
		e.Do(t, "GET", "/v1/accounts/"+a.Wallet.ID, o.Key, "").Want(t, 200, "")
		e.Do(t, "DELETE", "/v1/operators/"+o.ID, support, "").Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "DELETE", "/v1/operators/"+o.ID, admin, "").Want(t, 204, "")
		e.Do(t, "GET", "/v1/accounts/"+a.Wallet.ID, o.Key, "").Want(t, 401, pw.EUNAUTHORIZED)
	})
	t.Run("users are not operators", func(t *testing.T) {
		e.Do(t, "GET", "/v1/audit", a.Token, "").Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "POST", "/v1/merchants", a.Token, `{"name":"x"}`).Want(t, 403, pw.EFORBIDDEN)
	})

	var m auth.Merchant
	e.Do(t, "POST", "/v1/merchants", admin, `{"name":"Corner Shop"}`).Want(t, 201, "").Decode(t, &m)
	var key, readKey auth.NewKey
	e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", admin, "").Want(t, 201, "").Decode(t, &key)
	e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", admin, `{"scope":"read"}`).Want(t, 201, "").Decode(t, &readKey)
	if !strings.HasPrefix(key.Key, auth.PrefixMerchantKey) || key.Prefix != key.Key[:12] {
		t.Fatalf("key %+v", key)
	}

	t.Run("merchant keys", func(t *testing.T) {
		e.Do(t, "POST", "/v1/wallets", key.Key, `{"currency":"EUR"}`).Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "POST", "/v1/accounts", key.Key, `{"kind":"user","currency":"EUR"}`, "Idempotency-Key", "m0").Want(t, 403, pw.EFORBIDDEN)
		var acc pw.Account
		e.Do(t, "POST", "/v1/accounts", key.Key, `{"kind":"merchant","currency":"EUR"}`, "Idempotency-Key", "m1").Want(t, 201, "").Decode(t, &acc)
		if acc.OwnerID != m.ID {
			t.Fatalf("merchant account owner %q", acc.OwnerID)
		}
		e.Do(t, "GET", "/v1/accounts/"+a.Wallet.ID, key.Key, "").Want(t, 404, pw.EACCOUNTNOTFOUND)
		e.Do(t, "GET", "/v1/accounts/"+acc.ID, readKey.Key, "").Want(t, 200, "")
		e.Do(t, "POST", "/v1/transfers", readKey.Key, `{"from_account":"`+acc.ID+`","to_account":"`+a.Wallet.ID+`","amount":1,"currency":"EUR"}`,
			"Idempotency-Key", "m2").Want(t, 403, pw.EFORBIDDEN)
		// Rotation: a new key works, the revoked one does not.
		e.Do(t, "DELETE", "/v1/merchants/"+m.ID+"/keys/"+key.ID, admin, "").Want(t, 204, "")
		e.Do(t, "GET", "/v1/accounts/"+acc.ID, key.Key, "").Want(t, 401, pw.EUNAUTHORIZED)
		e.Do(t, "DELETE", "/v1/merchants/"+m.ID+"/keys/"+key.ID, admin, "").Want(t, 404, pw.ENOTFOUND)
	})
}

// TestDataExposure: no response, over a whole journey, carries a password
// hash, a token hash, a stored secret or another user's identity (OWASP
// API3: excessive data exposure).
func TestDataExposure(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "a@example.com", 100_00)
	b := e.MustPerson(t, "b@example.com", 0)
	e.MustEnrollTOTP(t, a)
	e.MustLogin(t, a, e.TOTP(t, a, 0))
	e.Do(t, "GET", "/v1/me", a.Token, "").Want(t, 200, "")
	e.Do(t, "GET", "/v1/sessions", a.Token, "").Want(t, 200, "")
	e.Do(t, "POST", "/v1/transfers", a.Token, `{"from_account":"`+a.Wallet.ID+`","to_handle":"b@example.com","amount":100,"currency":"EUR"}`,
		"Idempotency-Key", "x").Want(t, 201, "")
	e.Do(t, "GET", "/v1/audit?limit=500", operatorKey, "").Want(t, 200, "")
	e.Do(t, "GET", "/v1/users?handle=a@example.com", operatorKey, "").Want(t, 200, "") // support's look-up
	e.Do(t, "GET", "/v1/users/"+a.ID, operatorKey, "").Want(t, 200, "")                // and by ID
	e.Do(t, "POST", "/v1/sessions", "", `{"handle":"b@example.com","password":"wrong password"}`).Want(t, 401, "")

	u, _ := e.Auth.Store().UserByID(t.Context(), a.ID)
	ses, _ := e.Auth.Store().Sessions(t.Context(), a.ID, e.Clock.Now(), 100)
	secrets := []string{"$argon2id$", u.PasswordHash, a.Password, b.Password, auth.HashToken(a.Token), auth.HashToken(b.Token), "password_hash", "token_hash", "key_hash", "code_hash"}
	for _, s := range ses {
		secrets = append(secrets, s.TokenHash)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, body := range e.Bodies {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("response %d exposes %q: %s", i, s, body)
			}
		}
		// Only the enrolment response may carry the TOTP secret.
		if strings.Contains(body, a.Secret) && !strings.Contains(body, "otpauth_uri") {
			t.Errorf("response %d exposes the TOTP secret: %s", i, body)
		}
		// A's responses never name B's user ID, nor B's the other way (the audit
		// log, read by the operator, is the exception).
		if strings.Contains(body, `"handle":"b@example.com"`) && strings.Contains(body, a.ID) {
			t.Errorf("response %d mixes two users: %s", i, body)
		}
	}
}

// TestPayingOnesOwnHandleIsRefusedOnToHandle: a user paying their own
// handle names the wallet they pay from. It is refused 422
// accounts_must_be_different on to_handle, the field the request sent,
// before the step-up: above the threshold no code is asked for, and none
// is sent by message, for a payment that cannot be made. Until 2026-11-29
// the ledger refused it after the step-up, on to_account.
func TestPayingOnesOwnHandleIsRefusedOnToHandle(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	ann := e.MustPerson(t, "ann@example.com", 200_00)
	for _, amount := range []string{"10", "15000"} { // within the threshold (50.00 EUR here), and above it
		sent := e.Outbox.messagesTo(ann.Handle)
		body := `{"from_account":"` + ann.Wallet.ID + `","to_handle":"ann@example.com","amount":` + amount + `,"currency":"EUR"}`
		p := e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "self-"+amount).Want(t, 422, pw.ESAMEACCOUNT).Problem(t)
		if p.Field != "to_handle" {
			t.Errorf("paying %s to one's own handle: field %q, want to_handle", amount, p.Field)
		}
		if n := e.Outbox.messagesTo(ann.Handle); n != sent {
			t.Errorf("paying %s to one's own handle sent %d step-up messages", amount, n-sent)
		}
	}
	if b := e.Balance(t, ann.Wallet.ID); b.Posted != 200_00 {
		t.Fatalf("ann has %d, want 20000", b.Posted)
	}
}
