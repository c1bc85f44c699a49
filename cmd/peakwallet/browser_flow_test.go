package main_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"
)

const (
	annHandle   = "ann@example.com"
	annPassword = "correct horse battery"
	bobHandle   = "bob@example.com"
)

// TestBrowserUserJourney: a new user signs up, enrols TOTP, receives a
// top-up, pays another user (once plainly, once with a step-up), sees the
// receipt, filters the history, makes a payment request, and meets the
// busy, queued and insufficient-funds states, and cancels a queued payment
// (in time, and too late); then in Chinese.
func TestBrowserUserJourney(t *testing.T) {
	ctx := newBrowser(t)
	s := startServer(t, "--data", t.TempDir())
	p := newFaultProxy(t, s.url)
	base := p.URL

	// Bob exists already, with a EUR wallet, made through the API.
	apiCall(t, "POST", s.url+"/v1/users", "", map[string]string{"handle": bobHandle, "password": "bob has a long password"}, "")
	bob := apiCall(t, "POST", s.url+"/v1/sessions", "", map[string]string{"handle": bobHandle, "password": "bob has a long password"}, "")["token"].(string)
	apiCall(t, "POST", s.url+"/v1/wallets", bob, map[string]string{"currency": "EUR"}, "")

	run(t, ctx, "sign up",
		chromedp.Navigate(base+"/#/signup"),
		chromedp.WaitVisible(chromedp.CSS("#signup-form")),
	)
	screenshot(t, ctx, "signup")
	run(t, ctx, "sign up",
		chromedp.SendKeys(chromedp.CSS("#signup-handle"), annHandle),
		chromedp.SendKeys(chromedp.CSS("#signup-password"), annPassword),
		submit("#signup-form"),
		chromedp.WaitVisible(chromedp.CSS("[data-start]")),
		chromedp.Click(chromedp.CSS("[data-start]")),
		chromedp.WaitVisible(chromedp.CSS("[data-enrol]")),
	)
	var secret string
	run(t, ctx, "read the TOTP secret", readInto(&secret, chromedp.Text(chromedp.CSS("[data-secret]"))))
	screenshot(t, ctx, "totp-enrol")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var recovery string // to sign in again later: the TOTP codes of this minute are spent
	run(t, ctx, "confirm TOTP",
		chromedp.SendKeys(chromedp.CSS("#totp-code"), code),
		submit("#totp-form"),
		chromedp.WaitVisible(chromedp.CSS("[data-done]")),
		readInto(&recovery, chromedp.Text(chromedp.CSS("[data-codes] li"))),
	)

	run(t, ctx, "open a EUR wallet",
		chromedp.Navigate(base+"/#/wallets"),
		chromedp.WaitVisible(chromedp.CSS("#open-wallet-form")),
		// The form shows before the currencies arrive: on a busy machine
		// setting the value first finds no EUR option to select.
		chromedp.WaitReady(chromedp.CSS(`#open-currency option[value="EUR"]`)),
		chromedp.SetValue(chromedp.CSS("#open-currency"), "EUR"),
		submit("#open-wallet-form"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
	var token string
	run(t, ctx, "read the session", readInto(&token, chromedp.Evaluate[string](`sessionStorage.getItem("pw_token")`)))
	wallet := apiCall(t, "GET", s.url+"/v1/wallets", token, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)

	// The operator tops Ann up with 200.00 EUR.
	bank := apiCall(t, "POST", s.url+"/v1/accounts", testOperatorKey, map[string]string{"kind": "system", "currency": "EUR"}, "bank")["id"].(string)
	apiCall(t, "POST", s.url+"/v1/transfers", testOperatorKey, map[string]any{"from_account": bank, "to_account": wallet, "amount": 20000, "currency": "EUR"}, "topup")
	var avail string
	run(t, ctx, "see the top-up",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
		readInto(&avail, chromedp.Text(chromedp.CSS("[data-available]"))),
	)
	if avail != "200.00 EUR" {
		t.Fatalf("available after the top-up = %q, want 200.00 EUR", avail)
	}
	screenshot(t, ctx, "wallets")

	pay := func(what, amount, note string) {
		t.Helper()
		run(t, ctx, what,
			// Through another view, so that the send view starts afresh.
			chromedp.Navigate(base+"/#/request"),
			chromedp.WaitVisible(chromedp.CSS("#request-form")),
			chromedp.Navigate(base+"/#/send"),
			chromedp.WaitVisible(chromedp.CSS("#send-form")),
			chromedp.SendKeys(chromedp.CSS("#send-to"), bobHandle),
			chromedp.SendKeys(chromedp.CSS("#send-amount"), amount),
			chromedp.SendKeys(chromedp.CSS("#send-note"), note),
			submit("#send-form"),
		)
	}
	pay("pay Bob", "12.50", "lunch")
	run(t, ctx, "paid", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	screenshot(t, ctx, "send-paid")
	var amount string
	run(t, ctx, "receipt",
		chromedp.Click(chromedp.CSS("#pay-state a")),
		chromedp.WaitVisible(chromedp.CSS(".receipt")),
		readInto(&amount, chromedp.Text(chromedp.CSS(".receipt [data-amount]"))),
	)
	if amount != "12.50 EUR" {
		t.Fatalf("receipt amount = %q", amount)
	}
	screenshot(t, ctx, "receipt")

	// 150.00 EUR is above the step-up threshold: the app asks for a code
	// and repeats the same request with it.
	pay("pay Bob with a step-up", "150", "rent")
	run(t, ctx, "step-up prompt", chromedp.WaitVisible(chromedp.CSS("#mfa-form")))
	screenshot(t, ctx, "step-up")
	code, _ = totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the enrolment code is spent
	run(t, ctx, "step-up",
		chromedp.SendKeys(chromedp.CSS("#mfa-code"), code),
		submit("#mfa-form"),
		chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")),
	)
	if keys := p.paymentKeys(); len(keys) != 3 || keys[1] != keys[2] || keys[0] == keys[1] {
		t.Fatalf("Idempotency-Keys = %q, want a new key per payment and the same one for its step-up", keys)
	}

	// Busy: the proxy answers 503 with Retry-After: 2; the app counts down
	// and retries by itself with the same key.
	p.setMode(modeBusy)
	pay("pay while busy", "1", "busy")
	var countdown string
	run(t, ctx, "busy countdown",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.busy .countdown")),
		readInto(&countdown, chromedp.Text(chromedp.CSS("#pay-state .countdown"))),
	)
	if !strings.Contains(countdown, "s") {
		t.Fatalf("countdown = %q", countdown)
	}
	screenshot(t, ctx, "busy")
	run(t, ctx, "retried after busy", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	if keys := p.paymentKeys(); len(keys) != 5 || keys[3] != keys[4] {
		t.Fatalf("the retry after busy used another Idempotency-Key: %q", keys)
	}

	// Queued: 202, then the intent settles on the third poll.
	p.setMode(modeQueued)
	pay("pay at a surge", "2", "queued")
	run(t, ctx, "queued", chromedp.WaitVisible(chromedp.CSS("#pay-state.queued")))
	screenshot(t, ctx, "queued")
	run(t, ctx, "settled", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))

	// The answer lost: the payment commits, but the proxy answers 504
	// outcome_unknown ("outcome": "unknown"), as a server whose database
	// connection broke at COMMIT does. The app must not call it failed nor start a new attempt:
	// it says the payment may have gone through and checks again with the
	// same key, which answers the payment made (a replay), paid once.
	p.setMode(modeAnswerLost)
	pay("pay as the answer is lost", "3", "lost answer")
	var unsure string
	run(t, ctx, "outcome unknown",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.busy .countdown")),
		readInto(&unsure, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	if !strings.Contains(unsure, "may already have gone through") || strings.Contains(unsure, "Nothing was paid") {
		t.Fatalf("a lost answer shows %q", unsure)
	}
	// The check is refused busy (before the server looks at the key): that
	// says nothing of the first try, which did pay. The app must still say
	// the payment may have gone through, not that nothing was paid.
	run(t, ctx, "busy after the lost answer",
		pollTrue(`document.querySelector("#pay-state.busy .title") !== null && document.querySelector("#pay-state .title").textContent.includes("busy")`),
		readInto(&unsure, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	if !strings.Contains(unsure, "may already have gone through") || strings.Contains(unsure, "Nothing was paid") {
		t.Fatalf("a refusal after a lost answer shows %q", unsure)
	}
	// Then a gateway in front of the API answers 502 in HTML: not the
	// API's answer, so not a final one. The app keeps the key and checks
	// again, saying the wallet did not answer (not the gateway's page).
	run(t, ctx, "a gateway's 502",
		pollTrue(`document.querySelector("#pay-state.busy .title") !== null && document.querySelector("#pay-state .title").textContent.includes("did not answer")`),
		readInto(&unsure, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	if !strings.Contains(unsure, "may already have gone through") || strings.Contains(unsure, "<html") {
		t.Fatalf("a gateway's 502 shows %q", unsure)
	}
	run(t, ctx, "checked after the lost answer", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	if keys := p.paymentKeys(); len(keys) != 10 || keys[6] != keys[7] || keys[7] != keys[8] || keys[8] != keys[9] {
		t.Fatalf("the checks after a lost answer used another Idempotency-Key: %q", keys)
	}

	pay("pay too much", "99", "too much") // under the step-up threshold, over the balance
	var failed string
	run(t, ctx, "insufficient funds",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.failed")),
		readInto(&failed, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	if !strings.Contains(failed, "Not enough money") {
		t.Fatalf("insufficient funds shows %q", failed)
	}

	var count string
	run(t, ctx, "history and search",
		chromedp.Navigate(base+"/#/wallet/"+wallet),
		chromedp.WaitVisible(chromedp.CSS(".tx")),
		chromedp.SendKeys(chromedp.CSS("#h-q"), "lunch"),
		readInto(&count, chromedp.Text(chromedp.CSS("[data-count]"))),
	)
	if !strings.HasPrefix(count, "Showing 1 of 6") {
		t.Fatalf("history count = %q, want 1 of 6 (top-up and five payments: the lost answer's once)", count)
	}
	run(t, ctx, "clear the search", evalVoid(`const q = document.getElementById("h-q"); q.value = ""; q.dispatchEvent(new Event("input", {bubbles: true}))`))
	screenshot(t, ctx, "history")

	run(t, ctx, "request money",
		chromedp.Navigate(base+"/#/request"),
		chromedp.WaitVisible(chromedp.CSS("#request-form")),
		chromedp.SendKeys(chromedp.CSS("#req-amount"), "8.40"),
		chromedp.SendKeys(chromedp.CSS("#req-note"), "coffee"),
		submit("#request-form"),
		pollTrue(`document.querySelector("[data-qr]").naturalWidth > 0`),
	)
	screenshot(t, ctx, "request")

	// A payment link pre-fills the send form.
	var to, amt string
	run(t, ctx, "open a pay link",
		chromedp.Navigate(base+"/pay?to="+bobHandle+"&amount=840&currency=EUR&note=coffee"),
		chromedp.WaitVisible(chromedp.CSS("#send-form")),
		// The form shows before the wallets arrive, and it is filled after
		// them: reading at once read the payee empty on a busy machine.
		pollTrue(`document.querySelector("#send-amount").value !== ""`),
		readInto(&to, chromedp.Value(chromedp.CSS("#send-to"))),
		readInto(&amt, chromedp.Value(chromedp.CSS("#send-amount"))),
	)
	if to != bobHandle || amt != "8.40" {
		t.Fatalf("pay link pre-filled to=%q amount=%q", to, amt)
	}

	// Queued, then cancelled: the proxy answers 202 without making the
	// payment, and its intent stays pending until it is cancelled. Ann
	// presses "Cancel payment": the app sends one cancellation, says that
	// nothing was paid, stops polling, and never shows the payment paid.
	balance := func() float64 {
		return apiCall(t, "GET", s.url+"/v1/accounts/"+wallet, token, nil, "")["balance"].(map[string]any)["posted"].(float64)
	}
	before, keys := balance(), len(p.paymentKeys())
	p.setMode(modeQueuedCancel)
	pay("pay at a surge, then cancel", "5", "cancel me")
	run(t, ctx, "queued, polling, with a cancel button",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.queued button[data-cancel-intent]")),
		pollTrue(`document.querySelector("#pay-state.queued .hint").textContent.includes("pending")`),
		// From here on, the state must never read paid, not even for a moment.
		evalVoid(`window.sawPaid = false; new MutationObserver(() => { if (document.querySelector("#pay-state.paid")) window.sawPaid = true; })
			.observe(document.getElementById("pay-state"), { attributes: true, childList: true, subtree: true })`),
		chromedp.Click(chromedp.CSS("#pay-state button[data-cancel-intent]")),
		chromedp.WaitVisible(chromedp.CSS("#pay-state.cancelled")),
	)
	screenshot(t, ctx, "queued-cancelled")
	// Three of the app's poll intervals (1.5 s): a poll that went on would
	// read the intent again, and could show it.
	time.Sleep(4500 * time.Millisecond)
	var cancelled string
	var sawPaid bool
	run(t, ctx, "still cancelled",
		readInto(&cancelled, chromedp.Text(chromedp.CSS("#pay-state.cancelled"))),
		readInto(&sawPaid, chromedp.Evaluate[bool](`window.sawPaid || !!document.querySelector("#pay-state.paid, #pay-state button")`)),
	)
	if !strings.Contains(cancelled, "Payment cancelled — nothing was paid") || sawPaid {
		t.Fatalf("a cancelled payment shows %q (shown paid, or a button left: %v)", cancelled, sawPaid)
	}
	in := p.intent("int_cancel")
	if len(in.cancels) != 1 || in.cancels[0] != "Bearer "+token {
		t.Fatalf("the cancellations of the queued payment: %q, want one, by Ann's session", in.cancels)
	}
	if in.polls == 0 || in.pollsAfterCancel > 1 {
		t.Fatalf("the intent was read %d times, %d after its cancellation: the poll did not stop", in.polls, in.pollsAfterCancel)
	}
	if n := len(p.paymentKeys()); n != keys+1 {
		t.Fatalf("%d payment requests for one cancelled payment", n-keys)
	}
	if after := balance(); after != before {
		t.Fatalf("the wallet went from %.0f to %.0f for a cancelled payment", before, after)
	}

	// Queued, then cancelled elsewhere (another tab, through the API): the
	// app's poll reads the intent failed intent_cancelled and says the
	// payment is cancelled, not failed, not paid; this tab sends nothing.
	p.setMode(modeQueuedCancel)
	pay("pay at a surge, cancelled elsewhere", "5", "cancel elsewhere")
	run(t, ctx, "queued", chromedp.WaitVisible(chromedp.CSS("#pay-state.queued button[data-cancel-intent]")))
	apiCall(t, "POST", p.URL+"/v1/intents/int_cancel2/cancel", token, nil, "")
	run(t, ctx, "the poll sees the cancellation",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.cancelled")),
		readInto(&cancelled, chromedp.Text(chromedp.CSS("#pay-state.cancelled"))),
	)
	if !strings.Contains(cancelled, "Payment cancelled — nothing was paid") {
		t.Fatalf("a payment cancelled elsewhere shows %q", cancelled)
	}
	if in := p.intent("int_cancel2"); len(in.cancels) != 1 {
		t.Fatalf("%d cancellations of the payment cancelled elsewhere, want the other tab's only", len(in.cancels))
	}

	// Queued, then stopped by support on Ann's behalf: the app says
	// support stopped it, not that she cancelled it.
	p.setMode(modeQueuedCancel)
	pay("pay at a surge, stopped by support", "5", "stopped by support")
	run(t, ctx, "queued", chromedp.WaitVisible(chromedp.CSS("#pay-state.queued button[data-cancel-intent]")))
	apiCall(t, "POST", p.URL+"/v1/intents/int_cancel3/cancel", testOperatorKey, map[string]string{"reason": "Ann called: phone stolen"}, "")
	run(t, ctx, "the poll sees the stop",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.cancelled")),
		readInto(&cancelled, chromedp.Text(chromedp.CSS("#pay-state.cancelled"))),
	)
	if !strings.Contains(cancelled, "stopped by peakwallet support on your behalf") || strings.Contains(cancelled, "Payment cancelled") {
		t.Fatalf("a payment support stopped shows %q", cancelled)
	}
	screenshot(t, ctx, "queued-stopped-by-support")

	// Queued, and failed unauthorized when it settled (the session that
	// queued it was ended, by a password change elsewhere): the app says
	// so in words, not "the handle or password is not right", and says
	// nothing was paid.
	before = balance()
	p.setMode(modeQueuedEnded)
	pay("pay at a surge, its session ended", "5", "ended")
	var endedText string
	run(t, ctx, "the queued payment fails unauthorized",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.failed")),
		readInto(&endedText, chromedp.Text(chromedp.CSS("#pay-state.failed"))),
	)
	if !strings.Contains(endedText, "the session or key that queued it was ended") || strings.Contains(endedText, "password is not right") {
		t.Fatalf("a queued payment failed because its session was ended shows %q", endedText)
	}
	if after := balance(); after != before {
		t.Fatalf("the wallet went from %.0f to %.0f for a payment that failed", before, after)
	}

	// Queued, and paid before the cancellation could win. Pressed from the
	// keyboard: the first cancellation is refused busy (Retry-After: 2), so
	// the app says it will try again and does; the next is 409
	// intent_not_pending, so it reads the intent again, posted, and shows
	// the payment paid, with its receipt.
	before = balance()
	p.setMode(modeQueuedTooLate)
	pay("pay at a surge, cancel too late", "6", "too late")
	var trying string
	run(t, ctx, "cancel from the keyboard, busy",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.queued button[data-cancel-intent]")),
		chromedp.Focus(chromedp.CSS("#pay-state button[data-cancel-intent]")),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#pay-state.queued .countdown")),
		readInto(&trying, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	if !strings.Contains(trying, "busy") || !strings.Contains(trying, "try to cancel it again") {
		t.Fatalf("a busy cancellation shows %q", trying)
	}
	run(t, ctx, "paid after all", chromedp.WaitVisible(chromedp.CSS(`#pay-state.paid a[href^="#/receipt/"]`)))
	if late := p.intent("int_late"); len(late.cancels) != 2 {
		t.Fatalf("%d cancellations of the payment paid first, want 2 (busy, then too late)", len(late.cancels))
	}
	if after := balance(); before-after != 600 {
		t.Fatalf("the wallet went from %.0f to %.0f: want the 6.00 EUR paid once", before, after)
	}

	// The answer lost, then the session ends before the app can check: it
	// sends the user to sign in. The payment's key must outlive that, so
	// that the same payment sent again after signing in is the same
	// attempt (the server answers the payment made), not a second payment
	// under a new key (until 2026-11-27 a 401 dropped the attempt).
	before = balance()
	p.setMode(modeLostThenSignedOut)
	pay("pay as the session ends", "4", "session")
	run(t, ctx, "sent to sign in", chromedp.WaitVisible(chromedp.CSS("#login-form")))
	run(t, ctx, "signed in again", evalVoid(`sessionStorage.setItem("pw_token", `+strconv.Quote(token)+`)`))
	pay("pay the same again", "4", "session")
	run(t, ctx, "paid once", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	if keys := p.paymentKeys(); len(keys) < 3 || keys[len(keys)-1] != keys[len(keys)-2] || keys[len(keys)-2] != keys[len(keys)-3] {
		t.Fatalf("the payment sent again after signing in used another Idempotency-Key: %q", keys)
	}
	if after := balance(); before-after != 400 {
		t.Fatalf("the wallet went from %.0f to %.0f: want the 4.00 EUR paid once", before, after)
	}

	// 409 idempotency_key_in_use: an earlier try of the payment is still
	// being made. The app says so in its own words (not the server's
	// English detail), that it may already have gone through (that try may
	// pay), and retries with the same key after Retry-After.
	before = balance()
	p.setMode(modeKeyInUse)
	pay("pay while an earlier try is being made", "1", "in use")
	var inUse string
	run(t, ctx, "an earlier try in progress",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.busy .countdown")),
		readInto(&inUse, chromedp.Text(chromedp.CSS("#pay-state"))),
	)
	if !strings.Contains(inUse, "An earlier try of this payment is still being processed") ||
		!strings.Contains(inUse, "may already have gone through") || strings.Contains(inUse, "in progress") {
		t.Fatalf("409 idempotency_key_in_use shows %q", inUse)
	}
	run(t, ctx, "paid after the earlier try", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	if keys := p.paymentKeys(); keys[len(keys)-1] != keys[len(keys)-2] {
		t.Fatalf("the retry after idempotency_key_in_use used another Idempotency-Key: %q", keys)
	}
	if after := balance(); before-after != 100 {
		t.Fatalf("the wallet went from %.0f to %.0f: want the 1.00 EUR paid once", before, after)
	}

	waitingPayments(t, ctx, s, p, &token, recovery, balance)

	var nav string
	run(t, ctx, "switch to Chinese",
		chromedp.Navigate(base+"/#/wallets"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
		// The change reloads the page: fire it after this script returns,
		// so that the evaluation is not cut short by the navigation.
		evalVoid(`setTimeout(() => { const s = document.getElementById("lang"); s.value = "zh-CN"; s.dispatchEvent(new Event("change")) }, 0)`),
	)
	waitReloaded(t, ctx, `document.documentElement.lang === "zh-CN" && !!document.querySelector(".wallet")`)
	run(t, ctx, "the app in Chinese",
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
		pollTrue(`document.documentElement.lang === "zh-CN"`),
		readInto(&nav, chromedp.Text(chromedp.CSS("#nav"))),
	)
	if !strings.Contains(nav, "钱包") {
		t.Fatalf("nav in Chinese = %q", nav)
	}
	screenshot(t, ctx, "wallets-zh")
}

// waitingPayments: a payment queued at a surge is left behind (Ann signs
// out in another tab, which does not stop her payments, so this tab is
// sent to sign in). Signed in again, she finds it under "Waiting payments"
// on the wallets view, with what it pays, and cancels it there: one
// cancellation, by her new session, the entry gone, nothing paid, and the
// list no longer read once it is empty. token is replaced by the new
// session's.
func waitingPayments(t *testing.T, ctx context.Context, s *server, p *faultProxy, token *string, recovery string, balance func() float64) {
	t.Helper()
	base := p.URL
	reads := p.intentListReads()
	run(t, ctx, "the wallets view, nothing waiting",
		chromedp.Navigate(base+"/#/wallets"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
	waitListRead(t, ctx, p, reads)
	var shown bool
	run(t, ctx, "no waiting payments shown", readInto(&shown, chromedp.Evaluate[bool](`!document.getElementById("waiting").hidden`)))
	if shown {
		t.Fatal("the waiting payments are shown with none waiting")
	}

	// From here the proxy's queue says where each payment stands, as the
	// server does since 2026-11-28 (until here it did not, as an older
	// server's: the queued state then said "Still settling (pending)…",
	// never NaN or undefined), and twelve of someone else's payments are
	// queued ahead of Ann's.
	p.setPlaces(true)
	p.queueOthers(12)
	defer p.setPlaces(false)
	defer p.settleOthers(12)
	before, keys := balance(), len(p.paymentKeys())
	p.setMode(modeQueuedCancel)
	run(t, ctx, "pay at a surge, then leave it",
		chromedp.Navigate(base+"/#/send"),
		chromedp.WaitVisible(chromedp.CSS("#send-form")),
		chromedp.SendKeys(chromedp.CSS("#send-to"), bobHandle),
		chromedp.SendKeys(chromedp.CSS("#send-amount"), "7"),
		chromedp.SendKeys(chromedp.CSS("#send-note"), "left behind"),
		submit("#send-form"),
		chromedp.WaitVisible(chromedp.CSS("#pay-state.queued button[data-cancel-intent]")),
		// Its first poll says where it stands: 12 ahead, 4 s each.
		pollTrue(`document.querySelector("#pay-state.queued .hint").textContent === "12 payments ahead · about 52 s"`),
	)
	id := p.lastIntent()
	apiCall(t, "DELETE", s.url+"/v1/sessions/current", *token, nil, "") // signed out in another tab
	run(t, ctx, "sent to sign in",
		chromedp.Navigate(base+"/#/wallets"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-handle"), annHandle),
		chromedp.SendKeys(chromedp.CSS("#login-password"), annPassword),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS("#login-code")),
		chromedp.SendKeys(chromedp.CSS("#login-code"), recovery),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
	old := *token
	run(t, ctx, "read the new session", readInto(token, chromedp.Evaluate[string](`sessionStorage.getItem("pw_token")`)))
	if *token == "" || *token == old {
		t.Fatalf("signed in again with session %q (was %q)", *token, old)
	}

	entry := fmt.Sprintf(`#waiting li[data-intent=%q]`, id)
	var text string
	run(t, ctx, "the payment waits on the wallets view",
		chromedp.WaitVisible(chromedp.CSS(entry+" button[data-cancel-intent]")),
		readInto(&text, chromedp.Text(chromedp.CSS("#waiting"))),
	)
	if !strings.Contains(text, "7.00 EUR to "+bobHandle) || !strings.Contains(text, "left behind") || !strings.Contains(text, "queued") ||
		!strings.Contains(text, "12 payments ahead · about 52 s") || strings.Contains(text, "NaN") || strings.Contains(text, "undefined") {
		t.Fatalf("the waiting payment shows %q", text)
	}
	screenshot(t, ctx, "wallets-waiting")
	// While a payment waits the list is read again, but every few seconds,
	// not more; each read says anew where it stands (ten of the twelve
	// ahead of it settle meanwhile).
	p.settleOthers(10)
	reads = p.intentListReads()
	time.Sleep(5500 * time.Millisecond)
	if n := p.intentListReads() - reads; n < 1 || n > 2 {
		t.Fatalf("the waiting payments were read %d times in 5.5 s, want 1 or 2 (every 5 s)", n)
	}
	run(t, ctx, "its place after ten ahead settled",
		pollTrue(`document.querySelector(`+strconv.Quote(entry+" [data-queue-position]")+`).textContent === "2 payments ahead · about 12 s"`))

	var focused bool
	run(t, ctx, "cancel it from the list",
		chromedp.Click(chromedp.CSS(entry+" button[data-cancel-intent]")),
		chromedp.WaitVisible(chromedp.CSS("#waiting .state.cancelled")),
		chromedp.WaitNotPresent(chromedp.CSS(entry)),
		readInto(&text, chromedp.Text(chromedp.CSS("#waiting .state.cancelled"))),
		readInto(&focused, chromedp.Evaluate[bool](`!!document.activeElement.closest("[data-waiting-outcomes]")`)),
	)
	if !strings.Contains(text, "7.00 EUR to "+bobHandle) || !strings.Contains(text, "Payment cancelled — nothing was paid") || !focused {
		t.Fatalf("the payment cancelled from the list shows %q (focus on it: %v)", text, focused)
	}
	if in := p.intent(id); len(in.cancels) != 1 || in.cancels[0] != "Bearer "+*token {
		t.Fatalf("the cancellations of the waiting payment: %q, want one, by Ann's new session", in.cancels)
	}
	if n := len(p.paymentKeys()); n != keys+1 {
		t.Fatalf("%d payment requests for one cancelled payment", n-keys)
	}
	if after := balance(); after != before {
		t.Fatalf("the wallet went from %.0f to %.0f for a cancelled payment", before, after)
	}
	// Nothing waits now: the list is not read again while this view shows
	// (the reads the cancellation caused come at once).
	time.Sleep(2 * time.Second)
	reads = p.intentListReads()
	time.Sleep(5500 * time.Millisecond)
	if n := p.intentListReads() - reads; n != 0 {
		t.Fatalf("the empty list of waiting payments was read %d times in 5.5 s", n)
	}
	// Shown again, the view has nothing to show.
	reads = p.intentListReads()
	run(t, ctx, "the wallets view again",
		chromedp.Navigate(base+"/#/request"),
		chromedp.WaitVisible(chromedp.CSS("#request-form")),
		chromedp.Navigate(base+"/#/wallets"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
	waitListRead(t, ctx, p, reads)
	run(t, ctx, "no waiting payments shown", readInto(&shown, chromedp.Evaluate[bool](`!document.getElementById("waiting").hidden`)))
	if shown {
		t.Fatal("the waiting payments are shown after the last was cancelled")
	}
}

// waitListRead waits until the proxy has answered a GET /v1/intents after
// the reads-th, and the page has had time to show it.
func waitListRead(t *testing.T, ctx context.Context, p *faultProxy, reads int) {
	t.Helper()
	deadline := time.Now().Add(BrowserStepTimeout)
	for p.intentListReads() <= reads {
		if time.Now().After(deadline) {
			failureScreenshot(t, ctx)
			t.Fatal("the app did not read the waiting payments")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
}

// TestBrowserConsole: an operator opens the console with their key, sees
// live metrics move while load runs, and the surge queue (how long its
// oldest payment has waited, how many wait and how fast they settle, and
// its first page; stops one of its
// payments on the payer's behalf, with a reason; then it is empty),
// looks up an account, runs verify and reads the audit log; a support
// operator sees no verify or audit.
func TestBrowserConsole(t *testing.T) {
	ctx := newBrowser(t)
	s := startServer(t, "--data", t.TempDir())
	p := newFaultProxy(t, s.url) // its surge queue: two of a user's payments wait
	from, to := setup(t, s.client)
	apiCall(t, "POST", s.url+"/v1/users", "", map[string]string{"handle": annHandle, "password": annPassword}, "")
	ann := apiCall(t, "POST", s.url+"/v1/sessions", "", map[string]string{"handle": annHandle, "password": annPassword}, "")["token"].(string)
	p.setMode(modeQueuedCancel)
	apiCall(t, "POST", p.URL+"/v1/transfers", ann, map[string]any{"from_account": from[0].ID, "to_handle": bobHandle, "amount": 1234, "currency": "EUR"}, "console-1")
	p.setMode(modeQueuedCancel)
	apiCall(t, "POST", p.URL+"/v1/transfers", ann, map[string]any{"from_account": from[1].ID, "to_account": to[1].ID, "amount": 500, "currency": "EUR"}, "console-2")

	run(t, ctx, "open the console",
		chromedp.EmulateViewport(1100, 900),
		chromedp.Navigate(p.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#key-form")),
		chromedp.SendKeys(chromedp.CSS("#op-key"), testOperatorKey),
		submit("#key-form"),
		chromedp.WaitVisible(chromedp.CSS("#console")),
		chromedp.WaitVisible(chromedp.CSS("#verify-run")),
	)
	stop := make(chan struct{})
	done := make(chan []string)
	go func() { done <- load(t, s.client, from, to, stop) }()
	run(t, ctx, "live throughput moves", pollTrue(`parseFloat(document.querySelector('[data-m="rps"]').textContent) > 10 &&
		document.querySelector("#spark polyline").getAttribute("points").split(" ").length >= 5`))
	run(t, ctx, "admission state by class", pollTrue(`!document.querySelector("#admission").hidden &&
		document.querySelectorAll("#admission-classes tbody tr").length === 4 &&
		document.querySelectorAll("#admission-classes tbody tr:first-child td").length === 5 &&
		/\d/.test(document.querySelector("#admission-state").textContent)`))
	var queue string
	var buttons int
	run(t, ctx, "the surge queue",
		pollTrue(`document.querySelectorAll("#surge-table tbody tr").length === 2`),
		readInto(&queue, chromedp.Text(chromedp.CSS("#surge-table"))),
		readInto(&buttons, chromedp.Evaluate[int](`document.querySelectorAll("#surge-table button[data-stop-intent]").length`)),
	)
	if !strings.Contains(queue, "12.34 EUR") || !strings.Contains(queue, from[0].ID+" → "+bobHandle) ||
		!strings.Contains(queue, "5.00 EUR") || !strings.Contains(queue, to[1].ID) || buttons != 2 {
		t.Fatalf("the surge queue shows %q (%d stop buttons, want one a payment)", queue, buttons)
	}
	var oldest, count, page string
	run(t, ctx, "the queue's oldest wait, length and first page",
		readInto(&oldest, chromedp.Text(chromedp.CSS("#surge-oldest"))),
		readInto(&count, chromedp.Text(chromedp.CSS("#surge-count"))),
		readInto(&page, chromedp.Text(chromedp.CSS("#surge-page"))),
	)
	if !strings.HasPrefix(oldest, "The oldest payment waiting has waited ") || !strings.HasPrefix(page, "2 waiting, the oldest accepted ") ||
		count != "2 payments waiting. Settling 0.25 a second: about 8.0 s to clear at that pace." {
		t.Fatalf("the surge queue says %q, %q and %q", oldest, count, page)
	}
	screenshot(t, ctx, "console-live")
	close(stop)
	<-done
	// The operator stops the first on its payer's behalf: a blank reason
	// is refused (the server's 400 field reason, said in words), a reason
	// stops it, and the console says so; it leaves the queue.
	var refused, stopped string
	run(t, ctx, "stop a payment from the console",
		chromedp.Click(chromedp.CSS(`#surge-table button[data-stop-intent="int_cancel"]`)),
		chromedp.WaitVisible(chromedp.CSS("#stop-form")),
		chromedp.SendKeys(chromedp.CSS("#stop-reason"), "   "),
		submit("#stop-form"),
		chromedp.WaitVisible(chromedp.CSS("#stop-out .error")),
		readInto(&refused, chromedp.Text(chromedp.CSS("#stop-out"))),
		evalVoid(`document.querySelector("#stop-reason").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#stop-reason"), "account takeover, ticket 4711"),
		submit("#stop-form"),
		chromedp.WaitVisible(chromedp.CSS("#stop-out .ok")),
		readInto(&stopped, chromedp.Text(chromedp.CSS("#stop-out"))),
		pollTrue(`document.querySelectorAll("#surge-table tbody tr").length === 1 && document.querySelector("#stop-form").hidden &&
			document.querySelector("#surge-count").textContent.startsWith("1 payment waiting. ")`),
	)
	if !strings.Contains(refused, "Give a reason") || !strings.Contains(stopped, "Stopped: payment int_cancel will not be paid") {
		t.Fatalf("the console's stop said %q, then %q", refused, stopped)
	}
	if in := p.intent("int_cancel"); !in.cancelled || len(in.reasons) != 1 || in.reasons[0] != "account takeover, ticket 4711" ||
		len(in.cancels) != 1 || in.cancels[0] != "Bearer "+testOperatorKey { // the blank reason was refused before it
		t.Fatalf("the stopped payment: cancelled %v, reasons %q, cancellations by %q", in.cancelled, in.reasons, in.cancels)
	}
	screenshot(t, ctx, "console-stop")
	// Its payer cancels the other: the queue is empty, and the console says so.
	apiCall(t, "POST", p.URL+"/v1/intents/int_cancel2/cancel", ann, nil, "")
	run(t, ctx, "the surge queue empties", pollTrue(`document.querySelector("#surge-table").hidden &&
		document.querySelector("#surge-oldest").textContent === "No payment is waiting." &&
		document.querySelector("#surge-count").textContent === "" &&
		document.querySelector("#surge-page").textContent === ""`))
	run(t, ctx, "look up an account, verify, audit",
		chromedp.SendKeys(chromedp.CSS("#lookup-id"), from[0].ID),
		submit("#lookup-form"),
		chromedp.WaitVisible(chromedp.CSS("#lookup-out table")),
		chromedp.Click(chromedp.CSS("#verify-run")),
		chromedp.WaitVisible(chromedp.CSS("#verify-out .ok")),
		chromedp.Click(chromedp.CSS("#audit-load")),
		chromedp.WaitVisible(chromedp.CSS("#audit-table tbody tr")),
	)
	screenshot(t, ctx, "console")

	// A support operator: reads, but verify and the audit log are not shown.
	support := apiCall(t, "POST", s.url+"/v1/operators", testOperatorKey, map[string]string{"name": "sam", "role": "support"}, "")
	var verifyHidden bool
	run(t, ctx, "console as support",
		evalVoid(`sessionStorage.clear()`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#key-form")),
		chromedp.SendKeys(chromedp.CSS("#op-key"), support["key"].(string)),
		submit("#key-form"),
		chromedp.WaitVisible(chromedp.CSS("#console")),
		readInto(&verifyHidden, chromedp.Evaluate[bool](`document.getElementById("verify-run").offsetParent === null`)),
	)
	if !verifyHidden {
		t.Fatal("a support operator is shown the verify action")
	}

	// The summary cannot be read (its connection closes unanswered): the
	// last figures stay up, and the console says since when and why; once
	// it is read again, that goes. Then an admin revokes the support
	// operator's key: the console asks for a key again, saying it was not
	// accepted (until 2026-11-29 it said neither, and went on showing the
	// figures it last read).
	var stale, refusedKey string
	p.setFailSummary(true)
	run(t, ctx, "the console says its figures are old",
		pollTrue(`!document.getElementById("live-stale").hidden`),
		readInto(&stale, chromedp.Text(chromedp.CSS("#live-stale"))))
	if !strings.HasPrefix(stale, "These figures are from ") || !strings.Contains(stale, "No connection to the wallet.") {
		t.Fatalf("with the summary out of reach the console says %q", stale)
	}
	p.setFailSummary(false)
	run(t, ctx, "fresh figures again", pollTrue(`document.getElementById("live-stale").hidden`))
	apiCall(t, "DELETE", s.url+"/v1/operators/"+support["id"].(string), testOperatorKey, nil, "")
	run(t, ctx, "a key revoked while in use",
		chromedp.WaitVisible(chromedp.CSS("#key-form")),
		readInto(&refusedKey, chromedp.Text(chromedp.CSS("#key-form [data-error]"))))
	if refusedKey != "This operator key was not accepted: it may be mistyped, or revoked." {
		t.Fatalf("after its key was revoked the console says %q", refusedKey)
	}
	var console bool
	run(t, ctx, "the console is closed", readInto(&console, chromedp.Evaluate[bool](`document.getElementById("console").hidden && sessionStorage.getItem("pw_op") === null`)))
	if !console {
		t.Fatal("the console stays open, or keeps the key, after its key was revoked")
	}
}
