package http_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestAResetTokenDoesNotOutliveANewPassword: a password set by a reset or
// a change ends every reset token still outstanding. Before, a second
// token asked for (by the user twice, or by an intruder with the mailbox)
// still reset the password after the first had been used, and one issued
// before a password change still took the account back. (Since a later
// change of 2026-11-29 a new token also ends the older ones, so the first
// is refused for that reason too.)
func TestAResetTokenDoesNotOutliveANewPassword(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "reset@example.com", 0)
	first := e.MustResetToken(t, a.Handle)
	second := e.MustResetToken(t, a.Handle)
	e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+second+`","new_password":"a brand new passphrase"}`).Want(t, 204, "")
	e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+first+`","new_password":"the intruder's passphrase"}`).Want(t, 401, pw.EUNAUTHORIZED)

	a.Password = "a brand new passphrase"
	e.MustLogin(t, a, "")
	third := e.MustResetToken(t, a.Handle)
	e.Do(t, "POST", "/v1/me/password", a.Token, `{"current_password":"a brand new passphrase","new_password":"yet another passphrase"}`).Want(t, 204, "")
	e.Do(t, "POST", "/v1/password-resets/confirm", "", `{"token":"`+third+`","new_password":"the intruder's passphrase"}`).Want(t, 401, pw.EUNAUTHORIZED)
	a.Password = "yet another passphrase"
	e.MustLogin(t, a, "")
}

// TestALockedHandleAndAnUnknownOneAnswerAlike: LockAfter failures from
// many addresses lock a user's handle (429 to a new address); the same
// failures on a handle no one has must answer the same, or the lock tells
// which handles exist (docs/security.md: login does not reveal them).
func TestALockedHandleAndAnUnknownOneAnswerAlike(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	e.MustPerson(t, "known@example.com", 0)
	answers := map[string]string{}
	for _, handle := range []string{"known@example.com", "ghost@example.com"} {
		for i := 0; i < testLimits.LockAfter; i++ {
			ctx := auth.NewContextWithClientAddress(t.Context(), "198.51.100."+strconv.Itoa(i))
			_, err := e.Auth.Login(ctx, auth.Login{Handle: handle, Password: "wrong guess number " + strconv.Itoa(i)})
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("%s failure %d: %v", handle, i, err)
			}
		}
		for _, mfa := range []string{"", "123456"} {
			ctx := auth.NewContextWithClientAddress(t.Context(), "203.0.113.9")
			_, err := e.Auth.Login(ctx, auth.Login{Handle: handle, Password: "one more wrong guess", MFACode: mfa})
			answers[handle+" mfa="+mfa] = pw.ErrorCode(err) + ": " + pw.ErrorMessage(err)
		}
	}
	for _, mfa := range []string{"", "123456"} {
		known, ghost := answers["known@example.com mfa="+mfa], answers["ghost@example.com mfa="+mfa]
		if known != ghost {
			t.Errorf("mfa_code %q: a locked user's handle answers %q, an unknown handle %q", mfa, known, ghost)
		}
		if !strings.HasPrefix(known, pw.ERATELIMITED) {
			t.Errorf("mfa_code %q: a locked handle answers %q, want rate_limited", mfa, known)
		}
	}
}

// TestAStepUpCodePaysOnePayment: a step-up code spent on one payment
// does not pass another (another key, payee or amount), and a payment
// above the threshold never moves without one.
func TestAStepUpCodePaysOnePayment(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	ann := e.MustPerson(t, "ann@example.com", 500_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	e.MustPerson(t, "mallory@example.com", 0)
	e.MustEnrollTOTP(t, ann)
	pay := func(to string, amount int) string {
		return `{"from_account":"` + ann.Wallet.ID + `","to_handle":"` + to + `","amount":` + strconv.Itoa(amount) + `,"currency":"EUR"}`
	}
	code := e.TOTP(t, ann, 0)
	e.Do(t, "POST", "/v1/transfers", ann.Token, pay(bob.Handle, 60_00), "Idempotency-Key", "one", "MFA-Code", code).Want(t, 201, "")
	for _, c := range []struct {
		key, to string
		amount  int
	}{{"two", "mallory@example.com", 60_00}, {"three", bob.Handle, 400_00}, {"four", bob.Handle, 60_00}} {
		hold := `{"from_account":"` + ann.Wallet.ID + `","to_account":"` + bob.Wallet.ID + `","amount":` + strconv.Itoa(c.amount) + `,"currency":"EUR","expires_in_seconds":3600}`
		for path, body := range map[string]string{"/v1/transfers": pay(c.to, c.amount), "/v1/holds": hold} {
			// Refused: mfa_required, or rate_limited once the spent code
			// has fed the MFA back-off.
			r := e.Do(t, "POST", path, ann.Token, body, "Idempotency-Key", c.key+path, "MFA-Code", code)
			if p := r.Problem(t); r.Status != 403 && r.Status != 429 || p.Code != pw.EMFAREQUIRED && p.Code != pw.ERATELIMITED {
				t.Fatalf("%s %s with a spent code: %d %s", path, c.key, r.Status, r.Body)
			}
		}
	}
	if got := e.Balance(t, ann.Wallet.ID); got.Posted != 440_00 || got.PendingOut != 0 {
		t.Fatalf("balance %+v, want posted 44000, nothing held: a spent code paid again", got)
	}
	e.Clock.Advance(time.Hour)
	e.Do(t, "POST", "/v1/transfers", ann.Token, pay(bob.Handle, 60_00), "Idempotency-Key", "five").Want(t, 403, pw.EMFAREQUIRED)
}

// TestXForwardedForDoesNotResetTheThrottle: the per-address back-off is
// the peer's; a client that sends a new X-Forwarded-For with each guess is
// still the same address.
func TestXForwardedForDoesNotResetTheThrottle(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "xff@example.com", 0)
	for i := 0; i < testLimits.FailuresFree; i++ {
		e.Do(t, "POST", "/v1/sessions", "", `{"handle":"xff@example.com","password":"wrong guess `+strconv.Itoa(i)+`"}`,
			"X-Forwarded-For", "203.0.113."+strconv.Itoa(i), "X-Real-IP", "203.0.113."+strconv.Itoa(i), "Forwarded", "for=203.0.113."+strconv.Itoa(i)).Want(t, 401, pw.EUNAUTHORIZED)
	}
	e.Do(t, "POST", "/v1/sessions", "", `{"handle":"xff@example.com","password":"`+a.Password+`"}`,
		"X-Forwarded-For", "198.51.100.1", "X-Real-IP", "198.51.100.1", "Forwarded", "for=198.51.100.1").Want(t, 429, pw.ERATELIMITED)
}

// TestMalformedCredentialsAre401Not500: odd Authorization schemes and
// bytes, and malformed MFA codes and login bodies, are refused as what
// they are, never a 500 or a panic.
func TestMalformedCredentialsAre401Not500(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "odd@example.com", 100_00)
	for _, h := range []string{
		"Bearer pws_\xff\xfe" + strings.Repeat("A", 41), "Bearer " + a.Token + "\xff", "Bearer\t" + a.Token, "bearer  " + a.Token + "  x",
		"Digest username=\"x\"", "Basic Og==", "Bearer " + strings.Repeat("\xc3", 900), "Bearer pws_" + strings.Repeat("A", 43) + "=",
		"Bearer " + a.Token[:len(a.Token)-1] + "\u00e9", "Bearer ,", "Bearer \"" + a.Token + "\"",
	} {
		r := e.Do(t, "GET", "/v1/wallets", "", "", "Authorization", h)
		if r.Status != 401 {
			t.Errorf("Authorization %.40q: %d %s", h, r.Status, r.Body)
		}
	}
	e.MustPerson(t, "even@example.com", 0)
	body := `{"from_account":"` + a.Wallet.ID + `","to_handle":"even@example.com","amount":6000,"currency":"EUR"}`
	for i, code := range []string{"\xff\xfe\xfd\xfc\xfb\xfa", strings.Repeat("1", 65), "12 34 56", "аааааа", "0000-0000-0000-000\xff"} {
		r := e.Do(t, "POST", "/v1/transfers", a.Token, body, "Idempotency-Key", "odd-"+strconv.Itoa(i), "MFA-Code", code)
		if r.Status != 403 && r.Status != 400 {
			t.Errorf("MFA-Code %.20q: %d %s", code, r.Status, r.Body)
		}
	}
	for _, login := range []string{
		"{\"handle\":\"odd@example.com\xff\",\"password\":\"x\"}", `{"handle":["odd@example.com"],"password":"x"}`,
		`{"handle":"odd@example.com","password":"` + strings.Repeat("p", 300) + `"}`, `{"handle":"odd@example.com","password":"x","mfa_code":"` + strings.Repeat("9", 5000) + `"}`,
		`{"handle":"` + strings.Repeat("a", 300) + `@example.com","password":"x"}`, `{"handle":"\u0000odd@example.com","password":"x"}`,
	} {
		if r := e.Do(t, "POST", "/v1/sessions", "", login); r.Status >= 500 {
			t.Errorf("login %.50q: %d %s", login, r.Status, r.Body)
		}
	}
}

// TestAPasswordChangeIsNotAPasswordOracle: a session's holder who does
// not know the password (a stolen session) cannot guess it through the
// password change's current_password without limit: wrong guesses back
// off as failed logins do, and while backing off the right password gets
// the same 429. Before, every guess was answered at argon2's speed, and
// the one that was right changed the password and ended the owner's
// other sessions.
func TestAPasswordChangeIsNotAPasswordOracle(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "change@example.com", 0)
	for i := 0; i < testLimits.FailuresFree; i++ {
		e.Do(t, "POST", "/v1/me/password", a.Token, `{"current_password":"guess number `+strconv.Itoa(i)+`","new_password":"the intruder's passphrase"}`).Want(t, 403, pw.EFORBIDDEN)
	}
	right := `{"current_password":"` + a.Password + `","new_password":"the intruder's passphrase"}`
	e.Do(t, "POST", "/v1/me/password", a.Token, right).Want(t, 429, pw.ERATELIMITED)
	e.Clock.Advance(testLimits.BackoffFirst)
	e.Do(t, "POST", "/v1/me/password", a.Token, `{"current_password":"guess again","new_password":"the intruder's passphrase"}`).Want(t, 403, pw.EFORBIDDEN)
	e.Do(t, "POST", "/v1/me/password", a.Token, right).Want(t, 429, pw.ERATELIMITED)
	e.Clock.Advance(2 * testLimits.BackoffFirst)
	e.Do(t, "POST", "/v1/me/password", a.Token, `{"current_password":"`+a.Password+`","new_password":"the owner's new passphrase"}`).Want(t, 204, "")
}

// TestALargeRefundNeedsAStepUp: a refund moves money out of the payee's
// wallet, so a user's refund above their threshold needs a step-up as a
// payment does (docs/security.md: users move money from their own wallets
// above their threshold only with MFA). Before, a stolen session refunded
// any payment the user had received, without a code: to a payer who was
// the thief's accomplice, goods and money both.
func TestALargeRefundNeedsAStepUp(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	ann := e.MustPerson(t, "payer@example.com", 500_00)
	bob := e.MustPerson(t, "payee@example.com", 0)
	e.MustEnrollTOTP(t, ann)
	var tr pw.Transfer
	e.Do(t, "POST", "/v1/transfers", ann.Token, `{"from_account":"`+ann.Wallet.ID+`","to_account":"`+bob.Wallet.ID+`","amount":40000,"currency":"EUR"}`,
		"Idempotency-Key", "sale", "MFA-Code", e.TOTP(t, ann, 0)).Want(t, 201, "").Decode(t, &tr)

	small := `{"amount":1000}`
	e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", bob.Token, small, "Idempotency-Key", "small").Want(t, 201, "")
	for i, body := range []string{`{"amount":30000}`, `{}`} {
		key := "large-" + strconv.Itoa(i)
		e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", bob.Token, body, "Idempotency-Key", key).Want(t, 403, pw.EMFAREQUIRED)
		if got := e.Balance(t, bob.Wallet.ID).Posted; got != 390_00 {
			t.Fatalf("after a refund without a code: payee's posted %d, want 39000", got)
		}
	}
	e.Do(t, "POST", "/v1/transfers/"+tr.ID+"/refunds", bob.Token, `{}`, "Idempotency-Key", "large-1",
		"MFA-Code", e.Outbox.LastCode(t, bob.Handle)).Want(t, 201, "")
	if got := e.Balance(t, bob.Wallet.ID).Posted; got != 0 {
		t.Fatalf("after the refund with a code: payee's posted %d, want 0", got)
	}
}

// TestAResetRequestAnswersAlikeForEveryHandle: a reset request for a
// user's handle and for an unknown one get the same status, body and
// headers (but the date), also past the handle's ResetMessagesPerHour,
// where the user is sent nothing more; what was sent is delivered by the
// delivery pass, not by the request. SQLite and PostgreSQL.
func TestAResetRequestAnswersAlikeForEveryHandle(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e, _ := secSurgeEnvOn(t, store, 4)
			a := e.MustPerson(t, "alike@example.com", 0)
			// Within one clock hour: the per-handle limit counts per hour.
			now := e.Clock.Now()
			e.Clock.Advance(now.Truncate(time.Hour).Add(time.Hour).Sub(now))
			answer := func(r *Response) string {
				h := r.Header.Clone()
				h.Del("Date")
				return strconv.Itoa(r.Status) + " " + string(r.Body) + " " + fmt.Sprint(h)
			}
			var first string
			per := auth.ResetMessagesPerHour
			for i := range per + 1 {
				for _, handle := range []string{a.Handle, "nobody@example.com"} {
					e.Clock.Advance(testLimits.OTPEvery) // past the address's own rate limit
					got := answer(e.Do(t, "POST", "/v1/password-resets", "", `{"handle":"`+handle+`"}`))
					if first == "" {
						first = got
					}
					if got != first {
						t.Fatalf("request %d for %s answered\n%s\nthe first request for the user's handle\n%s", i+1, handle, got, first)
					}
				}
			}
			if !strings.HasPrefix(first, "202 ") {
				t.Fatalf("answered %s, want 202", first)
			}
			if n := e.Outbox.messagesTo(a.Handle); n != 0 {
				t.Fatalf("%d messages sent by the requests themselves, want none (the delivery pass sends them)", n)
			}
			if _, err := e.Auth.Deliver(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := e.Outbox.messagesTo(a.Handle); n != per {
				t.Fatalf("%d reset messages delivered for %d requests within the hour, want %d", n, per+1, per)
			}
		})
	}
}
