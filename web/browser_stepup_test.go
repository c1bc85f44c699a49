package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stepUpMe is ann's /v1/me from a server that says the step-up threshold
// of each of her wallets' currencies (since 2026-11-29): 100.00 EUR and
// 15,000 JPY; totp says whether she has an authenticator app.
func stepUpMe(totp bool) string {
	return fmt.Sprintf(`{"id":"usr_1","handle":"ann@example.com","step_up_threshold":10000,"step_up_thresholds":{"EUR":10000,"JPY":15000},"totp_enabled":%t}`, totp)
}

// eurAndJPY are ann's wallets: acc_1 in EUR, acc_2 in JPY.
const eurAndJPY = `{"data":[{"id":"acc_1","currency":"EUR","balance":{"available":50000,"posted":50000,"pending_out":0,"pending_in":0}},` +
	`{"id":"acc_2","currency":"JPY","balance":{"available":90000,"posted":90000,"pending_out":0,"pending_in":0}}]}`

// TestBrowserTheSecurityViewSaysWhichPaymentsAskForACode: the Security
// view says, for each currency of the user's wallets, above which amount
// a payment asks for a second factor, in the currency's decimals
// ("Payments above 100.00 EUR", "above 15,000 JPY"), and which code: one
// sent by message to the handle, or, with an authenticator app, the app's;
// in English and in Chinese. Until 2026-11-29 it said neither (seen
// failing so: no such section).
func TestBrowserTheSecurityViewSaysWhichPaymentsAskForACode(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.wallets, f.me = eurAndJPY, stepUpMe(false) })
	s.open(t, "#/security", nil)
	s.do(t, "the thresholds shown", chromedp.WaitVisible(chromedp.CSS("[data-step-up] li")))
	lines := func() string {
		return eval[string](t, s, `[...document.querySelectorAll("[data-step-up-list] li")].map((li) => li.textContent).join(" | ")`)
	}
	how := func() string { return eval[string](t, s, `document.querySelector("[data-step-up-how]").textContent`) }
	if got, want := lines(), "Payments above 100.00 EUR ask for a code. | Payments above 15,000 JPY ask for a code."; got != want {
		t.Errorf("the Security view says %q, want %q", got, want)
	}
	if got := how(); !strings.Contains(got, "by message to ann@example.com") {
		t.Errorf("without an authenticator app it says %q of the code, want that it comes by message to ann@example.com", got)
	}

	s.api.set(func(f *fakeAPI) { f.me = stepUpMe(true) })
	s.do(t, "reload in Chinese",
		js(`document.cookie = "pw_lang=zh-CN; path=/"; location.reload()`),
		chromedp.WaitVisible(chromedp.CSS("[data-step-up] li")))
	if got, want := lines(), "超过 100.00 EUR 的付款需要输入验证码。 | 超过 15,000 JPY 的付款需要输入验证码。"; got != want {
		t.Errorf("the Security view in Chinese says %q, want %q", got, want)
	}
	if got := how(); !strings.Contains(got, "身份验证器应用") {
		t.Errorf("with an authenticator app it says %q of the code, want the app's (身份验证器应用)", got)
	}
}

// TestBrowserTheSendFormSaysWhenAPaymentWillAskForACode: typing an amount
// above the chosen wallet's currency's threshold, the Send form says,
// before anything is sent, that the payment will ask for a code, and which
// (here the authenticator app's); at the threshold it says nothing, as the
// server asks nothing: 100.00 EUR no hint, 100.01 the hint; in the JPY
// wallet 15000 none, 15001 the hint. The hint is tied to the amount field
// (aria-describedby) and is a polite live region; typing reads /v1/me no
// more than once. Until 2026-11-29 the form said nothing (seen failing
// so: no hint above the threshold).
func TestBrowserTheSendFormSaysWhenAPaymentWillAskForACode(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.wallets, f.me = eurAndJPY, stepUpMe(true) })
	s.open(t, "#/send", nil)
	s.do(t, "type 100.01 EUR",
		chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="JPY"]`)),
		chromedp.SendKeys(chromedp.CSS("#send-amount"), "100.01"),
		until(`document.querySelector("#send-step-up-hint").textContent !== ""`))
	hint := func() string { return eval[string](t, s, `document.querySelector("#send-step-up-hint").textContent`) }
	typed := func(amount string) string {
		t.Helper()
		s.do(t, "type "+amount, js(fmt.Sprintf(`(() => {
			const a = document.querySelector("#send-amount");
			a.value = %q;
			a.dispatchEvent(new Event("input", { bubbles: true }));
		})()`, amount)))
		return hint()
	}
	want := "This payment will ask for a code: it is above 100.00 EUR. Have your authenticator app, or a recovery code, at hand."
	if got := hint(); got != want {
		t.Errorf("100.01 EUR: the hint says %q, want %q", got, want)
	}
	for _, c := range []struct{ amount, want string }{
		{"100.00", ""},
		{"100", ""},
		{"99.99", ""},
		{"100.01", want},
		{"abc", ""},
		{"250", want},
	} {
		if got := typed(c.amount); got != c.want {
			t.Errorf("%s EUR: the hint says %q, want %q", c.amount, got, c.want)
		}
	}
	s.do(t, "choose the JPY wallet", js(`(() => {
		const f = document.querySelector("#send-from");
		f.value = "acc_2";
		f.dispatchEvent(new Event("change", { bubbles: true }));
	})()`))
	if got := hint(); got != "" {
		t.Errorf("250 JPY: the hint says %q, want none", got)
	}
	wantJPY := "This payment will ask for a code: it is above 15,000 JPY. Have your authenticator app, or a recovery code, at hand."
	for _, c := range []struct{ amount, want string }{
		{"15000", ""},
		{"15001", wantJPY},
		{"150.01", ""}, // no amount in yen
	} {
		if got := typed(c.amount); got != c.want {
			t.Errorf("%s JPY: the hint says %q, want %q", c.amount, got, c.want)
		}
	}
	if d := eval[string](t, s, `document.querySelector("#send-amount").getAttribute("aria-describedby")`); !strings.Contains(" "+d+" ", " send-step-up-hint ") {
		t.Errorf("the amount field is described by %q, not by the step-up hint", d)
	}
	if live := eval[string](t, s, `document.querySelector("#send-step-up-hint").getAttribute("aria-live")`); live != "polite" {
		t.Errorf("the step-up hint's aria-live is %q, want polite", live)
	}
	if n := s.api.read(func(f *fakeAPI) int { return f.meReads }); n != 1 {
		t.Errorf("/v1/me read %d times while typing, want 1", n)
	}
	if n := s.api.read(func(f *fakeAPI) int { return len(f.transfers) }); n != 0 {
		t.Errorf("%d payments sent, want none: the hint only says", n)
	}
}

// TestBrowserNoStepUpFigureWithoutThresholds: from a server that says no
// step_up_thresholds in /v1/me (one before 2026-11-29: its
// step_up_threshold held for every currency, and was EUR's figure in
// cents), or a /v1/me that cannot be read, the app shows no threshold: the
// Security view has no such section and the Send form no hint, even far
// above 100.00 — rather than a figure that may be wrong. Seen failing
// when the app took step_up_threshold for every currency.
func TestBrowserNoStepUpFigureWithoutThresholds(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(f *fakeAPI)
	}{
		{"older server", func(f *fakeAPI) {
			f.me = `{"id":"usr_1","handle":"ann@example.com","step_up_threshold":10000}`
		}},
		{"me refused", func(f *fakeAPI) { f.meRefused = true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(t)
			s.api.set(c.set)
			s.open(t, "#/security", nil)
			s.do(t, "the Security view", chromedp.WaitVisible(chromedp.CSS("[data-who]")))
			if hidden := eval[bool](t, s, `document.querySelector("[data-step-up]").hidden`); !hidden {
				t.Errorf("the Security view shows %q", eval[string](t, s, `document.querySelector("[data-step-up]").textContent`))
			}
			reads := s.api.read(func(f *fakeAPI) int { return f.meReads })
			s.do(t, "type 5000.00 EUR",
				js(`location.hash = "#/send"`),
				chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="EUR"]`)),
				chromedp.SendKeys(chromedp.CSS("#send-amount"), "5000.00"))
			for deadline := time.Now().Add(5 * time.Second); s.api.read(func(f *fakeAPI) int { return f.meReads }) == reads && c.name == "me refused"; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the Send form did not read /v1/me again")
				}
			}
			time.Sleep(300 * time.Millisecond) // the answer handled
			if got := eval[string](t, s, `document.querySelector("#send-step-up-hint").textContent`); got != "" {
				t.Errorf("5000.00 EUR: the hint says %q, want none", got)
			}
		})
	}
}
