package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
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
	recovery := m.enrolTOTP(t)[0]

	var mode, capitalize string
	m.loginToTheCode(t)
	run(t, m.ctx, "the code field",
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

// enrolTOTP gives Ann an authenticator app (TOTP enrolled through the
// API) and returns her recovery codes.
func (m *stepUpScene) enrolTOTP(t *testing.T) []string {
	t.Helper()
	secret := apiCall(t, "POST", m.s.url+"/v1/me/mfa/totp", m.ann, nil, "")["secret"].(string)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range apiCall(t, "POST", m.s.url+"/v1/me/mfa/totp/confirm", m.ann, map[string]string{"code": code}, "")["recovery_codes"].([]any) {
		out = append(out, c.(string))
	}
	return out
}

// loginToTheCode opens the login form and sends Ann's handle and
// password, until the form asks for a code.
func (m *stepUpScene) loginToTheCode(t *testing.T) {
	t.Helper()
	run(t, m.ctx, "log in with a password: a code is asked for",
		chromedp.Navigate(m.s.url+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-handle"), annHandle),
		chromedp.SendKeys(chromedp.CSS("#login-password"), annPassword),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS("#login-code")),
	)
}

// TestBrowserALoginAsksForACodeByMessage: Ann has an authenticator app
// (TOTP enrolled) but not at hand, and no recovery code. Her password
// asks for a code, and the form offers a button that asks for one by
// message (the login again with send_code). Pressed twice at once, it
// sends one code: the button is disabled while the request is out. The
// form says a code was sent to her handle and puts the focus in the code
// field; the code from the message signs her in. Until 2026-11-29 the
// form offered no way to ask, and without her app or a recovery code
// she could not log in from the web app.
func TestBrowserALoginAsksForACodeByMessage(t *testing.T) {
	m := newStepUpScene(t)
	m.enrolTOTP(t)
	m.loginToTheCode(t)

	var tag, kind, said, focused string
	var asked int
	run(t, m.ctx, "ask for a code by message, pressing twice",
		readInto(&tag, chromedp.Evaluate[string](`document.querySelector("#login-send-code").tagName`)),
		readInto(&kind, chromedp.Evaluate[string](`document.querySelector("#login-send-code").type`)),
		// The logins the page sends are counted, and waited for until
		// none is out: a second press's would otherwise be missed.
		evalVoid(`{
			window.testLogins = 0; window.testLoginsOut = 0;
			const fetch0 = window.fetch;
			window.fetch = (...a) => {
				if (!String(a[0]).includes("/v1/sessions")) return fetch0(...a);
				testLogins++; testLoginsOut++;
				return fetch0(...a).finally(() => testLoginsOut--);
			};
		}`),
		evalVoid(`{ const b = document.querySelector("#login-send-code"); b.click(); b.click(); }`),
		pollTrue(`document.querySelector("#login-code-sent").textContent !== "" && testLoginsOut === 0`),
		readInto(&asked, chromedp.Evaluate[int](`testLogins`)),
		readInto(&said, chromedp.Text(chromedp.CSS("#login-code-sent"))),
		readInto(&focused, chromedp.Evaluate[string](`document.activeElement.id`)),
	)
	if tag != "BUTTON" || kind != "button" {
		t.Errorf("the send-code control is a %s of type %q, want a button that does not submit the form", tag, kind)
	}
	for _, want := range []string{"sent", annHandle} {
		if !strings.Contains(said, want) {
			t.Errorf("after asking for a code the form says %q, want it to say %q", said, want)
		}
	}
	if focused != "login-code" {
		t.Errorf("after asking for a code the focus is on %q, want the code field", focused)
	}
	sent := m.codesTo(t, annHandle)
	if asked != 1 || len(sent) != 1 {
		t.Fatalf("two presses at once sent %d logins and %d codes to Ann, want 1 of each", asked, len(sent))
	}
	got := messageCode.FindStringSubmatch(sent[0])
	if got == nil {
		t.Fatalf("no code in the message %q", sent[0])
	}

	var token string
	run(t, m.ctx, "the code from the message",
		chromedp.SetValue(chromedp.CSS("#login-code"), got[1]),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
		readInto(&token, chromedp.Evaluate[string](`sessionStorage.getItem("pw_token")`)),
	)
	if token == "" || token == m.ann {
		t.Fatalf("signed in with session %q, want a new one", token)
	}
}

// TestBrowserALoginSaysWhenNoCodeCanBeSent: Ann has been sent the three
// login codes a user may ask for at once (one more every 5 minutes). Asked
// for a fourth, the server answers 429 rate_limited with Retry-After: the
// form says that no code was sent and how long to wait, keeps what she
// typed and its code field, and offers the button again. No message is
// sent.
func TestBrowserALoginSaysWhenNoCodeCanBeSent(t *testing.T) {
	m := newStepUpScene(t)
	m.enrolTOTP(t)
	body, _ := json.Marshal(map[string]any{"handle": annHandle, "password": annPassword, "send_code": true})
	for i := 0; i < 3; i++ {
		res, err := http.Post(m.s.url+"/v1/sessions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("code %d asked for through the API: %d, want 401 mfa_required (sent)", i+1, res.StatusCode)
		}
	}
	if n := len(m.codesTo(t, annHandle)); n != 3 {
		t.Fatalf("%d codes sent to Ann through the API, want 3", n)
	}
	m.loginToTheCode(t)

	var said, handle, sentNote string
	var disabled, shown bool
	run(t, m.ctx, "ask for a fourth code",
		evalVoid(`document.querySelector("#login-send-code").click()`),
		pollTrue(`document.querySelector("#login-form [data-error]").textContent !== "" && !document.querySelector("#login-send-code").disabled`),
		readInto(&said, chromedp.Text(chromedp.CSS("#login-form [data-error]"))),
		readInto(&sentNote, chromedp.Evaluate[string](`document.querySelector("#login-code-sent").textContent`)),
		readInto(&handle, chromedp.Evaluate[string](`document.querySelector("#login-handle").value`)),
		readInto(&shown, chromedp.Evaluate[bool](`!document.querySelector("#login-mfa").hidden`)),
		readInto(&disabled, chromedp.Evaluate[bool](`document.querySelector("#login-send-code").disabled`)),
	)
	for _, want := range []string{"No code was sent", "5 min"} {
		if !strings.Contains(said, want) {
			t.Errorf("after a refused send the form says %q, want it to say %q", said, want)
		}
	}
	if sentNote != "" {
		t.Errorf("after a refused send the form also says %q: that a code was sent", sentNote)
	}
	if handle != annHandle || !shown || disabled {
		t.Errorf("after a refused send: handle %q, code field shown %v, button disabled %v; want the form as it was", handle, shown, disabled)
	}
	if n := len(m.codesTo(t, annHandle)); n != 3 {
		t.Errorf("%d codes sent to Ann, want still 3: the fourth was refused", n)
	}
}
