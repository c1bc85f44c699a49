package http_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestUserJourney is issue 5's "done when", through the API: sign up, enrol
// TOTP, open a EUR wallet, receive a top-up, pay another user by handle,
// pass a step-up.
func TestUserJourney(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	ann := e.MustPerson(t, "ann@example.com", 200_00)
	bob := e.MustPerson(t, "+49 151 2345 6789", 0)
	if bob.Handle != "+49 151 2345 6789" {
		t.Fatal(bob.Handle)
	}

	t.Run("wallets: one per currency", func(t *testing.T) {
		var again pw.Account
		e.Do(t, "POST", "/v1/wallets", ann.Token, `{"currency":"EUR"}`).Want(t, 200, "").Decode(t, &again)
		if again.ID != ann.Wallet.ID || again.Kind != pw.AccountUser || again.OwnerID != ann.ID {
			t.Fatalf("second EUR wallet = %+v, want %s", again, ann.Wallet.ID)
		}
		e.Do(t, "POST", "/v1/wallets", ann.Token, `{"currency":"USD"}`).Want(t, 201, "")
		var list struct{ Data []pw.Account }
		e.Do(t, "GET", "/v1/wallets", ann.Token, "").Want(t, 200, "").Decode(t, &list)
		if len(list.Data) != 2 {
			t.Fatalf("wallets = %+v", list.Data)
		}
	})

	t.Run("pay by handle", func(t *testing.T) {
		r := e.Do(t, "POST", "/v1/transfers", ann.Token,
			`{"from_account":"`+ann.Wallet.ID+`","to_handle":"+4915123456789","amount":1500,"currency":"EUR"}`, "Idempotency-Key", "p1")
		var tr pw.Transfer
		r.Want(t, 201, "").Decode(t, &tr)
		if tr.ToAccount != bob.Wallet.ID || e.Balance(t, bob.Wallet.ID).Posted != 1500 {
			t.Fatalf("transfer %+v; bob has %+v", tr, e.Balance(t, bob.Wallet.ID))
		}
		e.Do(t, "POST", "/v1/transfers", ann.Token,
			`{"from_account":"`+ann.Wallet.ID+`","to_handle":"nobody@example.com","amount":1,"currency":"EUR"}`, "Idempotency-Key", "p2").
			Want(t, 404, pw.EACCOUNTNOTFOUND)
	})

	recovery := e.MustEnrollTOTP(t, ann)
	if len(recovery) != auth.RecoveryCodesN {
		t.Fatalf("recovery codes %v", recovery)
	}

	t.Run("login needs the second factor", func(t *testing.T) {
		body := `{"handle":"ann@example.com","password":"` + ann.Password + `"}`
		e.Do(t, "POST", "/v1/sessions", "", body).Want(t, 401, pw.EMFAREQUIRED)
		code := e.TOTP(t, ann, 0)
		e.MustLogin(t, ann, code)
		// The same code again, within its 30 seconds: a replay.
		withCode := `{"handle":"ann@example.com","password":"` + ann.Password + `","mfa_code":"` + code + `"}`
		e.Do(t, "POST", "/v1/sessions", "", withCode).Want(t, 401, pw.EUNAUTHORIZED)
		e.MustLogin(t, ann, recovery[0])
		// Without the app: a code by message.
		e.Do(t, "POST", "/v1/sessions", "", strings.Replace(body, "}", `,"send_code":true}`, 1)).Want(t, 401, pw.EMFAREQUIRED)
		e.MustLogin(t, ann, e.Outbox.LastCode(t, "ann@example.com"))
		e.Do(t, "POST", "/v1/sessions", "", strings.Replace(withCode, code, recovery[0], 1)).Want(t, 401, pw.EUNAUTHORIZED)
	})

	t.Run("step-up pays exactly once", func(t *testing.T) {
		e.Clock.Advance(30 * time.Second)
		body := `{"from_account":"` + ann.Wallet.ID + `","to_handle":"+4915123456789","amount":6000,"currency":"EUR"}`
		before := e.Balance(t, ann.Wallet.ID).Posted
		r := e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "big-1").Want(t, 403, pw.EMFAREQUIRED)
		var ch struct {
			ChallengeID string   `json:"challenge_id"`
			Methods     []string `json:"mfa_methods"`
		}
		r.Decode(t, &ch)
		if !pw.IDHasPrefix(ch.ChallengeID, pw.PrefixChallenge) || len(ch.Methods) == 0 {
			t.Fatalf("challenge %s", r.Body)
		}
		// The challenge is not remembered as the key's answer...
		e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "big-1").Want(t, 403, pw.EMFAREQUIRED)
		e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "big-1", "MFA-Code", "000000").Want(t, 403, pw.EMFAREQUIRED)
		if got := e.Balance(t, ann.Wallet.ID).Posted; got != before {
			t.Fatalf("a challenged payment moved money: %d → %d", before, got)
		}
		// ...the code passes it...
		code := e.TOTP(t, ann, 0)
		first := e.Do(t, "POST", "/v1/transfers", ann.Token, body, "Idempotency-Key", "big-1", "MFA-Code", code).Want(t, 201, "")
		// ...and every repeat replays the payment, code or not.
		for _, h := range [][]string{{"Idempotency-Key", "big-1", "MFA-Code", code}, {"Idempotency-Key", "big-1"}} {
			again := e.Do(t, "POST", "/v1/transfers", ann.Token, body, h...).Want(t, 201, "")
			if again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body, first.Body) {
				t.Fatalf("repeat %v: %v %s", h, again.Header, again.Body)
			}
		}
		if got := e.Balance(t, ann.Wallet.ID).Posted; got != before-6000 {
			t.Fatalf("posted %d, want %d: paid more than once", got, before-6000)
		}
	})

	t.Run("step-up by message for users without TOTP", func(t *testing.T) {
		e.MustTopUp(t, bob.Wallet.ID, 100_00)
		body := `{"from_account":"` + bob.Wallet.ID + `","to_handle":"ann@example.com","amount":7000,"currency":"EUR"}`
		r := e.Do(t, "POST", "/v1/transfers", bob.Token, body, "Idempotency-Key", "b1").Want(t, 403, pw.EMFAREQUIRED)
		if !strings.Contains(string(r.Body), `"mfa_methods":["message"]`) {
			t.Fatalf("challenge %s", r.Body)
		}
		code := e.Outbox.LastCode(t, "+4915123456789")
		e.Do(t, "POST", "/v1/transfers", bob.Token, body, "Idempotency-Key", "b1", "MFA-Code", code).Want(t, 201, "")
	})

	t.Run("sessions: list and end", func(t *testing.T) {
		var list struct{ Data []auth.Session }
		e.Do(t, "GET", "/v1/sessions", ann.Token, "").Want(t, 200, "").Decode(t, &list)
		if len(list.Data) < 3 || !list.Data[0].Current {
			t.Fatalf("sessions %+v", list.Data)
		}
		old := list.Data[len(list.Data)-1].ID
		e.Do(t, "DELETE", "/v1/sessions/"+old, ann.Token, "").Want(t, 204, "")
		e.Do(t, "DELETE", "/v1/sessions/"+old, ann.Token, "").Want(t, 404, pw.ENOTFOUND)
		e.Do(t, "DELETE", "/v1/sessions/current", ann.Token, "").Want(t, 204, "")
		e.Do(t, "GET", "/v1/wallets", ann.Token, "").Want(t, 401, pw.EUNAUTHORIZED)
	})

	t.Run("password change ends the other sessions", func(t *testing.T) {
		other := *bob
		e.MustLogin(t, &other, "")
		e.Do(t, "POST", "/v1/me/password", bob.Token, `{"current_password":"wrong one","new_password":"x"}`).Want(t, 403, pw.EFORBIDDEN)
		e.Do(t, "POST", "/v1/me/password", bob.Token, `{"current_password":"`+bob.Password+`","new_password":"12345678"}`).Want(t, 422, pw.EWEAKPASSWORD)
		e.Do(t, "POST", "/v1/me/password", bob.Token, `{"current_password":"`+bob.Password+`","new_password":"a changed passphrase"}`).Want(t, 204, "")
		e.Do(t, "GET", "/v1/wallets", other.Token, "").Want(t, 401, pw.EUNAUTHORIZED)
		e.Do(t, "GET", "/v1/wallets", bob.Token, "").Want(t, 200, "")
		bob.Password = "a changed passphrase"
	})

	t.Run("password reset ends every session", func(t *testing.T) {
		e.Do(t, "POST", "/v1/password-resets", "", `{"handle":"nobody@example.com"}`).Want(t, 202, "")
		token := e.MustResetToken(t, "+4915123456789")
		e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+token+`","new_password":"password"}`).Want(t, 422, pw.EWEAKPASSWORD)
		e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+token+`","new_password":"a brand new passphrase"}`).Want(t, 204, "")
		e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+token+`","new_password":"another passphrase"}`).Want(t, 401, pw.EUNAUTHORIZED)
		e.Do(t, "GET", "/v1/wallets", bob.Token, "").Want(t, 401, pw.EUNAUTHORIZED)
		bob.Password = "a brand new passphrase"
		e.MustLogin(t, bob, "")
	})
}
