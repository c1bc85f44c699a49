package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserALoginTakesARecoveryCode: Ann has an authenticator app (TOTP
// enrolled) and logs in through the form. Her password asks for a code;
// the code field takes a recovery code (xxxx-xxxx-xxxx-xxxx: letters and
// digits, so not a numeric keypad). A wrong one says the password or the
// code was not right, in words true of every kind of code (never only an
// authenticator app's "wait for the next one", nor only "the handle or
// password"); one of her recovery codes signs her in. Until 2026-11-29
// the field was numeric, and a wrong code was said to be a wrong handle
// or password.
func TestBrowserALoginTakesARecoveryCode(t *testing.T) {
	m := newStepUpScene(t)
	secret := apiCall(t, "POST", m.s.url+"/v1/me/mfa/totp", m.ann, nil, "")["secret"].(string)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := apiCall(t, "POST", m.s.url+"/v1/me/mfa/totp/confirm", m.ann, map[string]string{"code": code}, "")["recovery_codes"].([]any)
	recovery := codes[0].(string)

	var mode, capitalize string
	run(t, m.ctx, "log in with a password: a code is asked for",
		chromedp.Navigate(m.s.url+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-handle"), annHandle),
		chromedp.SendKeys(chromedp.CSS("#login-password"), annPassword),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS("#login-code")),
		readInto(&mode, chromedp.Evaluate[string](`document.querySelector("#login-code").inputMode`)),
		readInto(&capitalize, chromedp.Evaluate[string](`document.querySelector("#login-code").autocapitalize`)),
	)
	if mode == "numeric" || mode == "decimal" || mode == "tel" {
		t.Errorf("the code field's inputmode is %q, want one that takes a recovery code's letters", mode)
	}
	if capitalize != "none" {
		t.Errorf("the code field's autocapitalize is %q, want none: a recovery code is lowercase", capitalize)
	}

	// A recovery code with one character changed: not one of hers.
	wrong := []byte(recovery)
	if wrong[0] == 'a' {
		wrong[0] = 'b'
	} else {
		wrong[0] = 'a'
	}
	var said string
	run(t, m.ctx, "a wrong recovery code",
		evalVoid(`document.querySelector("#login-form [data-error]").textContent = ""`),
		chromedp.SetValue(chromedp.CSS("#login-code"), string(wrong)),
		submit("#login-form"),
		pollTrue(`document.querySelector("#login-form [data-error]").textContent !== ""`),
		readInto(&said, chromedp.Text(chromedp.CSS("#login-form [data-error]"))),
	)
	for _, want := range []string{"password or the code", "recovery code"} {
		if !strings.Contains(said, want) {
			t.Errorf("after a wrong code the form says %q, want it to say %q", said, want)
		}
	}

	var token string
	run(t, m.ctx, "one of her recovery codes",
		chromedp.SetValue(chromedp.CSS("#login-code"), recovery),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
		readInto(&token, chromedp.Evaluate[string](`sessionStorage.getItem("pw_token")`)),
	)
	if token == "" || token == m.ann {
		t.Fatalf("signed in with session %q, want a new one", token)
	}
}
