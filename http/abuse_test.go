package http_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestBrokenAuth: expired, revoked and malformed tokens are all just 401
// (OWASP API2).
func TestBrokenAuth(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "a@example.com", 0)
	for _, tok := range []string{
		"pws_", "pws_short", a.Token + "x", a.Token[:len(a.Token)-1], strings.ToUpper(a.Token),
		"pk_live_" + a.Token[4:], "pwo_" + a.Token[4:], "pwr_" + a.Token[4:], "Bearer", "pws_\u00e9", strings.Repeat("a", 2000),
	} {
		if r := e.Do(t, "GET", "/v1/wallets", tok, ""); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("token %.40q: %d %s", tok, r.Status, r.Body)
		}
	}
	e.Do(t, "GET", "/v1/wallets", a.Token, "").Want(t, 200, "")
	e.Clock.Advance(auth.DefaultSessionTTL)
	e.Do(t, "GET", "/v1/wallets", a.Token, "").Want(t, 401, pw.EUNAUTHORIZED)
	e.MustLogin(t, a, "")
	e.Do(t, "DELETE", "/v1/sessions/current", a.Token, "").Want(t, 204, "")
	e.Do(t, "GET", "/v1/wallets", a.Token, "").Want(t, 401, pw.EUNAUTHORIZED)
}

// TestBruteForce: back-off engages after FailuresFree failures from one
// address, the handle locks after LockAfter failures from many, and the
// owner still gets in with their second factor (OWASP API2/API4). Counts
// and states are asserted, not timing.
func TestBruteForce(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	a := e.MustPerson(t, "a@example.com", 0)
	wrong := `{"handle":"a@example.com","password":"not the password"}`
	right := `{"handle":"a@example.com","password":"` + a.Password + `"}`

	t.Run("per address back-off", func(t *testing.T) {
		for i := 0; i < testLimits.FailuresFree; i++ {
			e.Do(t, "POST", "/v1/sessions", "", wrong).Want(t, 401, pw.EUNAUTHORIZED)
		}
		r := e.Do(t, "POST", "/v1/sessions", "", right).Want(t, 429, pw.ERATELIMITED)
		if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 1 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		e.Clock.Advance(testLimits.BackoffFirst)
		e.Do(t, "POST", "/v1/sessions", "", wrong).Want(t, 401, pw.EUNAUTHORIZED)
		e.Do(t, "POST", "/v1/sessions", "", right).Want(t, 429, pw.ERATELIMITED)
		e.Clock.Advance(2 * testLimits.BackoffFirst)
		e.Do(t, "POST", "/v1/sessions", "", right).Want(t, 201, "")
		// Unknown handles count too: no free guessing of who exists.
		from := auth.NewContextWithClientAddress(t.Context(), "192.0.2.99")
		for i := 0; i < testLimits.FailuresFree; i++ {
			if _, err := e.Auth.Login(from, auth.Login{Handle: "ghost@example.com", Password: "whatever it is"}); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("ghost %d: %v", i, err)
			}
		}
		if _, err := e.Auth.Login(from, auth.Login{Handle: "a@example.com", Password: a.Password}); pw.ErrorCode(err) != pw.ERATELIMITED {
			t.Fatalf("after guessing handles: %v", err)
		}
		e.Clock.Advance(testLimits.BackoffMax)
	})

	t.Run("per handle lock from many addresses", func(t *testing.T) {
		ctx := t.Context()
		for i := 0; i < testLimits.LockAfter; i++ {
			addr := "198.51.100." + strconv.Itoa(i)
			_, err := e.Auth.Login(auth.NewContextWithClientAddress(ctx, addr), auth.Login{Handle: "a@example.com", Password: "wrong guess " + addr})
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		u, _ := e.Auth.Store().UserByID(ctx, a.ID)
		if u.FailedLogins != testLimits.LockAfter || !u.LockedUntil.After(e.Clock.Now()) {
			t.Fatalf("after %d failures: failed %d, locked until %v", testLimits.LockAfter, u.FailedLogins, u.LockedUntil)
		}
		stranger := auth.NewContextWithClientAddress(ctx, "203.0.113.9")
		if _, err := e.Auth.Login(stranger, auth.Login{Handle: "a@example.com", Password: a.Password}); pw.ErrorCode(err) != pw.ERATELIMITED {
			t.Fatalf("right password from a new address while locked: %v, want rate_limited (and no hint that it was right)", err)
		}
		if _, err := e.Auth.Login(stranger, auth.Login{Handle: "a@example.com", Password: "wrong again"}); pw.ErrorCode(err) != pw.ERATELIMITED {
			t.Fatalf("wrong password while locked: %v, want the same rate_limited", err)
		}
		// The owner's usual address is not locked out...
		e.Do(t, "POST", "/v1/sessions", "", right).Want(t, 201, "")
		// ...and the lock ends by itself: at most BackoffMax.
		for i := 0; i < 20; i++ {
			_, _ = e.Auth.Login(auth.NewContextWithClientAddress(ctx, "198.51.100."+strconv.Itoa(100+i)), auth.Login{Handle: "a@example.com", Password: "x" + strconv.Itoa(i) + "yyyyyyyy"})
		}
		u, _ = e.Auth.Store().UserByID(ctx, a.ID)
		if d := u.LockedUntil.Sub(e.Clock.Now()); d > testLimits.BackoffMax || d <= 0 {
			t.Fatalf("lock of %v, want (0, %v]", d, testLimits.BackoffMax)
		}
		e.Clock.Advance(testLimits.BackoffMax)
		if _, err := e.Auth.Login(stranger, auth.Login{Handle: "a@example.com", Password: a.Password}); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})

	t.Run("MFA holders pass a lock with their code", func(t *testing.T) {
		ctx := t.Context()
		e.MustEnrollTOTP(t, a)
		for i := 0; i < testLimits.LockAfter; i++ {
			_, _ = e.Auth.Login(auth.NewContextWithClientAddress(ctx, "192.0.2."+strconv.Itoa(i)), auth.Login{Handle: "a@example.com", Password: "bad guess number " + strconv.Itoa(i)})
		}
		stranger := auth.NewContextWithClientAddress(ctx, "203.0.113.77")
		if _, err := e.Auth.Login(stranger, auth.Login{Handle: "a@example.com", Password: a.Password}); pw.ErrorCode(err) != pw.ERATELIMITED {
			t.Fatalf("locked, no code: %v", err)
		}
		if _, err := e.Auth.Login(stranger, auth.Login{Handle: "a@example.com", Password: a.Password, MFACode: e.TOTP(t, a, 0)}); err != nil {
			t.Fatalf("locked, right password and code: %v", err)
		}
	})

	t.Run("wrong MFA codes back off", func(t *testing.T) {
		e.Clock.Advance(time.Hour)
		for i := 0; i < testLimits.FailuresFree; i++ {
			_, err := e.Auth.Login(auth.NewContextWithClientAddress(t.Context(), "192.0.2.200"), auth.Login{Handle: "a@example.com", Password: a.Password, MFACode: "000000"})
			if pw.ErrorCode(err) != pw.EUNAUTHORIZED && pw.ErrorCode(err) != pw.ERATELIMITED {
				t.Fatalf("wrong code %d: %v", i, err)
			}
		}
		e.MustPerson(t, "payee@example.com", 0)
		body := `{"from_account":"` + a.Wallet.ID + `","to_handle":"payee@example.com","amount":9000,"currency":"EUR"}`
		e.Do(t, "POST", "/v1/transfers", a.Token, body, "Idempotency-Key", "z", "MFA-Code", "123456").Want(t, 429, pw.ERATELIMITED)
	})
}

// TestRateLimits: sign-up, login and OTP sending are rate limited per
// address or user, with Retry-After (OWASP API4).
func TestRateLimits(t *testing.T) {
	limits := testLimits
	limits.SignUpBurst, limits.SignUpEvery = 3, time.Hour
	limits.LoginBurst, limits.LoginEvery = 4, time.Hour
	e := MustOpenSecEnv(t, limits)
	for i := 0; i < 3; i++ {
		e.Do(t, "POST", "/v1/users", "", `{"handle":"u`+strconv.Itoa(i)+`@example.com","password":"long enough passphrase"}`).Want(t, 201, "")
	}
	r := e.Do(t, "POST", "/v1/users", "", `{"handle":"u9@example.com","password":"long enough passphrase"}`).Want(t, 429, pw.ERATELIMITED)
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 60 {
		t.Fatalf("sign-up Retry-After %q", r.Header.Get("Retry-After"))
	}
	login := `{"handle":"u0@example.com","password":"long enough passphrase"}`
	var tok auth.NewSession
	for i := 0; i < 4; i++ {
		e.Do(t, "POST", "/v1/sessions", "", login).Want(t, 201, "").Decode(t, &tok)
	}
	e.Do(t, "POST", "/v1/sessions", "", login).Want(t, 429, pw.ERATELIMITED)
	// Message codes come with step-up challenges (users without TOTP), each
	// bound to its payment: a challenge is a code sent. POST
	// /v1/me/mfa/otp, which named no payment, sends none since 2026-11-29.
	e.Do(t, "POST", "/v1/me/mfa/otp", tok.Token, "").Want(t, 403, pw.EFORBIDDEN)
	var w pw.Account
	e.Do(t, "POST", "/v1/wallets", tok.Token, `{"currency":"EUR"}`).Want(t, 201, "").Decode(t, &w)
	e.MustTopUp(t, w.ID, 100_00)
	challenge := func(i int) *Response {
		sys, _ := systemOnce.Load(e) // MustTopUp's account: a payee that exists
		body := `{"from_account":"` + w.ID + `","to_account":"` + sys.(string) + `","amount":6000,"currency":"EUR"}`
		return e.Do(t, "POST", "/v1/transfers", tok.Token, body, "Idempotency-Key", "otp-"+strconv.Itoa(i))
	}
	for i := 0; i < limits.OTPBurst; i++ {
		challenge(i).Want(t, 403, pw.EMFAREQUIRED)
	}
	challenge(limits.OTPBurst).Want(t, 429, pw.ERATELIMITED)
	e.Clock.Advance(limits.OTPEvery)
	challenge(limits.OTPBurst+1).Want(t, 403, pw.EMFAREQUIRED)
}

// TestSecureHeaders: every response carries them; HSTS only over TLS.
func TestSecureHeaders(t *testing.T) {
	e := MustOpenSecEnv(t, testLimits)
	for _, path := range []string{"/v1/status", "/v1/nope", "/v1/wallets"} {
		r := e.Do(t, "GET", path, "", "")
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: no %s", path, h)
			}
		}
		if !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || r.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: %v", path, r.Header)
		}
	}
}
