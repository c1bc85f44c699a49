package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserAQueuedPaymentsPollStopsWhenItsViewIsLeft(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.queue = true })
	s.open(t, "#/wallets", nil)
	s.send(t, "12.50")
	s.do(t, "queued", chromedp.WaitVisible(chromedp.CSS("#pay-state.queued")))
	reads := func(f *fakeAPI) int { return f.intentReads }
	for deadline := time.Now().Add(10 * time.Second); s.api.read(reads) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the queued payment was read %d times in 10 s, want it polled", s.api.read(reads))
		}
	}
	s.leave(t)
	left := s.api.read(reads)
	time.Sleep(5 * time.Second) // more than three polls' worth
	if n := s.api.read(reads) - left; n > 0 {
		t.Errorf("the intent was read %d more times in 5 s after its view was left, want none", n)
	}
}

func TestBrowserAQueuedPaymentsLateAnswerIsNotShownElsewhere(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.queue, f.holdIntent = true, true })
	s.open(t, "#/wallets", nil)
	s.send(t, "12.50")
	s.do(t, "queued", chromedp.WaitVisible(chromedp.CSS("#pay-state.queued")))
	reads := func(f *fakeAPI) int { return f.intentReads }
	for deadline := time.Now().Add(10 * time.Second); s.api.read(reads) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the queued payment was not read in 10 s")
		}
	}
	s.leave(t)
	s.api.set(func(f *fakeAPI) { close(f.intentGo) }) // the held read answers: posted
	time.Sleep(2 * time.Second)
	notice := eval[string](t, s, `document.querySelector("#notice").textContent`)
	view := eval[string](t, s, `document.querySelector("#view").textContent`)
	if strings.Contains(notice, "Paid") || strings.Contains(view, "Paid") {
		t.Errorf("the late answer of the Send view's poll was shown on the wallets view: notice %q", notice)
	}
	if n := s.api.read(reads); n != 1 {
		t.Errorf("the intent was read %d times, want 1 (the read given up when its view was left)", n)
	}
}

func TestBrowserAmountsBeyondJavaScriptNumbersAreExact(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) {
		f.wallets = `{"data":[{"id":"acc_1","currency":"EUR","balance":{"available":9007199254740993,"posted":9007199254740993,"pending_out":0,"pending_in":0}}]}`
	})
	s.open(t, "#/wallets", nil)
	s.do(t, "wallets", chromedp.WaitVisible(chromedp.CSS(".wallet")))
	if got := eval[string](t, s, `document.querySelector("[data-available]").textContent`); got != "90,071,992,547,409.93 EUR" {
		t.Errorf("available shown as %q, want 90,071,992,547,409.93 EUR", got)
	}
	s.do(t, "receipt", js(`location.hash = "#/receipt/tr_big"`), chromedp.WaitVisible(chromedp.CSS("[data-amount]")))
	if got := eval[string](t, s, `document.querySelector("[data-amount]").textContent`); got != "92,233,720,368,547,758.07 EUR" {
		t.Errorf("the receipt's amount shown as %q, want 92,233,720,368,547,758.07 EUR", got)
	}
	if got := eval[string](t, s, `document.querySelector("[data-refunded]").textContent`); got != "90,071,992,547,409.93 EUR" {
		t.Errorf("the receipt's refunded amount shown as %q, want 90,071,992,547,409.93 EUR", got)
	}
	// A number already rounded (a browser that cannot read the source
	// text) is not shown as a figure.
	if got := eval[string](t, s, `PW.formatMoney(2 ** 53 + 2, "EUR")`); !strings.Contains(got, "too large to show") {
		t.Errorf("an unsafe number is shown as %q, want it said too large to show", got)
	}
	if got := eval[string](t, s, `PW.formatMoney(-1250, "EUR") + " | " + PW.formatMoney(5, "JPY")`); got != "−12.50 EUR | 5 JPY" {
		t.Errorf("small amounts shown as %q", got)
	}
}

func TestBrowserATypedAmountBeyondJavaScriptNumbersIsRefused(t *testing.T) {
	s := newScene(t)
	s.open(t, "#/wallets", nil)
	s.send(t, "90071992547409.92")
	s.do(t, "refused", until(`document.querySelector("#send-form [data-error]").textContent !== ""`))
	if got := eval[string](t, s, `document.querySelector("#send-form [data-error]").textContent`); !strings.Contains(got, "too large") {
		t.Errorf("the form says %q, want the amount too large", got)
	}
	s.send(t, "900719925474099999")
	s.do(t, "refused", until(`document.querySelector("#send-form [data-error]").textContent.includes("too large")`))
	if n := s.api.read(func(f *fakeAPI) int { return len(f.transfers) }); n != 0 {
		t.Fatalf("%d payments sent, want none", n)
	}
	s.send(t, "90071992547409.91")
	s.do(t, "paid", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	s.api.set(func(f *fakeAPI) {
		if len(f.transfers) != 1 || f.transfers[0]["amount"] != json.Number("9007199254740991") {
			t.Errorf("sent %v, want one payment of 9007199254740991 minor units", f.transfers)
		}
	})
}
