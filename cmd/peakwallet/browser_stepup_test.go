package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// stepUpScene: Ann (200.00 EUR) and Bob (a EUR wallet) on a real server,
// Ann signed in in the browser with a session made through the API. A
// payment above 100.00 EUR (the default threshold) needs a step-up.
type stepUpScene struct {
	ctx  context.Context
	s    *server
	data string // the server's data directory; its outbox holds the messages sent
	ann  string // Ann's session
	bob  string // Bob's session
	// hint is what the send form said of the amount before payAndPrompt
	// sent it (the step-up hint).
	hint string
}

func newStepUpScene(t *testing.T) *stepUpScene {
	t.Helper()
	m := &stepUpScene{ctx: newBrowser(t), data: t.TempDir()}
	m.s = startServer(t, "--data", m.data)
	session := func(handle, password string) string {
		apiCall(t, "POST", m.s.url+"/v1/users", "", map[string]string{"handle": handle, "password": password}, "")
		token := apiCall(t, "POST", m.s.url+"/v1/sessions", "", map[string]string{"handle": handle, "password": password}, "")["token"].(string)
		apiCall(t, "POST", m.s.url+"/v1/wallets", token, map[string]string{"currency": "EUR"}, "")
		return token
	}
	m.bob = session(bobHandle, "bob has a long password")
	m.ann = session(annHandle, annPassword)
	wallet := apiCall(t, "GET", m.s.url+"/v1/wallets", m.ann, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)
	bank := apiCall(t, "POST", m.s.url+"/v1/accounts", testOperatorKey, map[string]string{"kind": "system", "currency": "EUR"}, "bank")["id"].(string)
	apiCall(t, "POST", m.s.url+"/v1/transfers", testOperatorKey, map[string]any{"from_account": bank, "to_account": wallet, "amount": 20000, "currency": "EUR"}, "topup")
	return m
}

// signIn puts Ann's session in the tab and opens the wallets view.
func (m *stepUpScene) signIn(t *testing.T) {
	t.Helper()
	run(t, m.ctx, "sign in",
		chromedp.Navigate(m.s.url+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		evalVoid(`sessionStorage.setItem("pw_token", `+strconv.Quote(m.ann)+`)`),
		evalVoid(`location.hash = "#/wallets"`),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
}

// payAndPrompt sends Bob 150.00 EUR from the send form and returns the
// text of the step-up prompt it meets; m.hint is what the form said of
// the amount before it was sent, once it said something.
func (m *stepUpScene) payAndPrompt(t *testing.T) string {
	t.Helper()
	var text string
	run(t, m.ctx, "pay Bob 150.00, above the threshold",
		evalVoid(`location.hash = "#/send"`),
		chromedp.WaitVisible(chromedp.CSS("#send-form")),
		chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="EUR"]`)),
		chromedp.SendKeys(chromedp.CSS("#send-to"), bobHandle),
		chromedp.SendKeys(chromedp.CSS("#send-amount"), "150"),
		pollTrue(`document.querySelector("#send-step-up-hint").textContent !== ""`),
		readInto(&m.hint, chromedp.Text(chromedp.CSS("#send-step-up-hint"))),
		submit("#send-form"),
		chromedp.WaitVisible(chromedp.CSS("#mfa-form")),
		readInto(&text, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	return text
}

// confirm enters code in the prompt and waits for the prompt to say
// what the page then says (pollTrue's js).
func (m *stepUpScene) confirm(t *testing.T, what, code, js string) string {
	t.Helper()
	var text string
	run(t, m.ctx, what,
		chromedp.SetValue(chromedp.CSS("#mfa-code"), code),
		submit("#mfa-form"),
		pollTrue(js),
		readInto(&text, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	return text
}

// codesTo is the messages with a code the server wrote to its outbox
// for handle (DirSender: one file each), not its other notices (TOTP
// turned on).
func (m *stepUpScene) codesTo(t *testing.T, handle string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(m.data, "outbox", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), "To: "+handle+"\n") && strings.Contains(string(b), "Subject: Your peakwallet code\n") {
			out = append(out, string(b))
		}
	}
	return out
}

func (m *stepUpScene) bobPosted(t *testing.T) float64 {
	t.Helper()
	w := apiCall(t, "GET", m.s.url+"/v1/wallets", m.bob, nil, "")["data"].([]any)[0].(map[string]any)
	return w["balance"].(map[string]any)["posted"].(float64)
}

var messageCode = regexp.MustCompile(`Your code is (\d{6})\.`)

// TestBrowserAStepUpByMessageSaysWhatItConfirmsAndWhereTheCodeWent: Ann
// has no authenticator app. A payment of 150.00 EUR to Bob is challenged
// (mfa_methods ["message"]) and the server sends her a code by message,
// bound to that payment. The prompt says what she confirms (150.00 EUR to
// bob@example.com: PSD2 wants the payer aware of amount and payee as
// they authenticate), that a code was sent to her handle for it, and
// nothing of an authenticator app; the field is numeric. A wrong code
// says it did not work for this payment, and sends no new one; the code
// from the message pays, once. Until 2026-11-29 the prompt asked for the
// code of an authenticator app she does not have, named no amount and no
// payee, and a wrong code was told to wait for the app's next one.
func TestBrowserAStepUpByMessageSaysWhatItConfirmsAndWhereTheCodeWent(t *testing.T) {
	m := newStepUpScene(t)
	m.signIn(t)
	prompt := m.payAndPrompt(t)
	// Before it was sent, the form said it would ask for a code sent to
	// her, from the real server's /v1/me (since 2026-11-29).
	if want := "This payment will ask for a code: it is above 100.00 EUR. We will send it by message to " + annHandle + "."; m.hint != want {
		t.Errorf("before sending, the form says %q, want %q", m.hint, want)
	}
	for _, want := range []string{"150.00 EUR", bobHandle, "sent", annHandle} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the prompt says %q, want it to say %q", prompt, want)
		}
	}
	if strings.Contains(prompt, "authenticator") {
		t.Errorf("the prompt says %q, want nothing of an authenticator app Ann does not have", prompt)
	}
	var mode string
	run(t, m.ctx, "the field", readInto(&mode, chromedp.Evaluate[string](`document.querySelector("#mfa-code").inputMode`)))
	if mode != "numeric" {
		t.Errorf("the code field's inputmode is %q, want numeric: a message code is 6 digits", mode)
	}
	sent := m.codesTo(t, annHandle)
	if len(sent) != 1 {
		t.Fatalf("%d codes sent to Ann, want the one of the challenge", len(sent))
	}
	got := messageCode.FindStringSubmatch(sent[0])
	if got == nil {
		t.Fatalf("no code in the message %q", sent[0])
	}
	code, _ := strconv.Atoi(got[1])

	wrong := m.confirm(t, "a wrong code", fmt.Sprintf("%06d", (code+1)%1_000_000),
		`document.querySelector("#mfa-form") && document.querySelector("#pay-state").textContent.includes("did not work")`)
	for _, want := range []string{"did not work for this payment", "150.00 EUR", bobHandle} {
		if !strings.Contains(wrong, want) {
			t.Errorf("after a wrong code the prompt says %q, want it to say %q", wrong, want)
		}
	}
	if strings.Contains(wrong, "next one") {
		t.Errorf("after a wrong code the prompt says %q: an authenticator app's advice", wrong)
	}
	if n := len(m.codesTo(t, annHandle)); n != 1 {
		t.Errorf("%d codes sent to Ann after a wrong code, want still 1: a wrong code sends none", n)
	}

	m.confirm(t, "the code from the message", got[1], `document.querySelector("#pay-state.paid") !== null`)
	if posted := m.bobPosted(t); posted != 15000 {
		t.Errorf("Bob's posted balance is %v, want 15000: the 150.00 EUR once", posted)
	}
}

// TestBrowserAStepUpWithAnAuthenticatorSaysWhatItConfirms: Ann has an
// authenticator app (TOTP enrolled). A payment of 150.00 EUR to Bob is
// challenged (mfa_methods ["totp", "recovery_code"]), and no message is
// sent. The prompt says what she confirms (150.00 EUR to
// bob@example.com) and asks for the app's code or a recovery code; the
// field takes a recovery code (not numeric only), and one pays. Until
// 2026-11-29 the prompt named no amount and no payee, asked for a
// "6-digit code" only, and offered a numeric keypad.
func TestBrowserAStepUpWithAnAuthenticatorSaysWhatItConfirms(t *testing.T) {
	m := newStepUpScene(t)
	secret := apiCall(t, "POST", m.s.url+"/v1/me/mfa/totp", m.ann, nil, "")["secret"].(string)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := apiCall(t, "POST", m.s.url+"/v1/me/mfa/totp/confirm", m.ann, map[string]string{"code": code}, "")["recovery_codes"].([]any)
	m.signIn(t)
	prompt := m.payAndPrompt(t)
	// Before it was sent, the form said it would ask for the app's code
	// (/v1/me's totp_enabled, since 2026-11-29).
	if want := "This payment will ask for a code: it is above 100.00 EUR. Have your authenticator app, or a recovery code, at hand."; m.hint != want {
		t.Errorf("before sending, the form says %q, want %q", m.hint, want)
	}
	for _, want := range []string{"150.00 EUR", bobHandle, "authenticator app", "recovery code"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the prompt says %q, want it to say %q", prompt, want)
		}
	}
	if strings.Contains(prompt, "sent") {
		t.Errorf("the prompt says %q, want nothing of a code sent: none is", prompt)
	}
	if n := len(m.codesTo(t, annHandle)); n != 0 {
		t.Errorf("%d codes sent to Ann, want none: a user with TOTP is sent no code", n)
	}
	var mode string
	run(t, m.ctx, "the field", readInto(&mode, chromedp.Evaluate[string](`document.querySelector("#mfa-code").inputMode`)))
	if mode == "numeric" {
		t.Errorf("the code field's inputmode is numeric, want one that takes a recovery code's letters")
	}
	m.confirm(t, "a recovery code", codes[0].(string), `document.querySelector("#pay-state.paid") !== null`)
	if posted := m.bobPosted(t); posted != 15000 {
		t.Errorf("Bob's posted balance is %v, want 15000: the 150.00 EUR once", posted)
	}
}
