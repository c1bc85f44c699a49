package main_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A countdown to try again (a payment, or the cancellation of a queued
// one, refused "not now") ends with what it waits for: when the payment
// settles meanwhile it is cancelled, and a maintenance countdown reads GET
// /v1/status no more. Until 2026-11-29 it ran on, and read the status
// every 5 s, to the end of its Retry-After (up to 600 s). When the person
// leaves the view, it goes on: they asked for the payment (or its
// cancellation), and its outcome is told in the page's notice.

// StatusQuietFor is how long these tests watch that no countdown reads
// the status: more than two of a countdown's reads (every 5 s,
// CountdownCheckMs in common.js), less than two of the status banner's
// (every 30 s), so that at most one read in it is not a countdown's.
const StatusQuietFor = 16 * time.Second

// webEarlyRetriesMax is EarlyRetriesMax in pay.js.
const webEarlyRetriesMax = 3

var cancelCountdown = regexp.MustCompile(`We will try to cancel it again in (\d+) s\.`)

// quiet watches for StatusQuietFor that the app reads /v1/status at most
// once (the status banner's own read) and that sent, what a countdown
// would send again, stays as it is.
func (m *maintenanceScene) quiet(t *testing.T, what string, sent func() int) {
	t.Helper()
	reads, was := m.p.statusReadsSeen(), sent()
	for deadline := time.Now().Add(StatusQuietFor); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if now := sent(); now != was {
			failureScreenshot(t, m.ctx)
			t.Fatalf("%s: the app sent it again (%d times, then %d)", what, was, now)
		}
	}
	if n := m.p.statusReadsSeen() - reads; n > 1 {
		failureScreenshot(t, m.ctx)
		t.Fatalf("%s: the app read /v1/status %d times in %v, want at most 1 (the status banner's, every 30 s): a countdown still reads it",
			what, n, StatusQuietFor)
	}
}

// cancelInWindow pays Bob, queued in mode, starts a read-only window and
// asks to cancel the queued payment, which the server refuses in it; it
// returns the window's id.
func (m *maintenanceScene) cancelInWindow(t *testing.T, mode proxyMode) string {
	t.Helper()
	m.p.setMode(mode)
	m.pay(t)
	run(t, m.ctx, "queued", chromedp.WaitVisible(chromedp.CSS("#pay-state.queued [data-cancel-intent]")))
	id := m.startReadOnly(t)
	run(t, m.ctx, "cancel the queued payment", chromedp.Click(chromedp.CSS("#pay-state.queued [data-cancel-intent]")))
	return id
}

// cancels counts the cancellations of intent id the proxy saw.
func (m *maintenanceScene) cancels(id string) func() int {
	return func() int { return len(m.p.intent(id).cancels) }
}

// leave goes from the shown view to the wallets view, as the nav does.
func (m *maintenanceScene) leave(t *testing.T) {
	t.Helper()
	run(t, m.ctx, "leave for the wallets view",
		evalVoid(`location.hash = "#/wallets"`),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
}

// TestBrowserMaintenanceCancelCountdownEndsWhenPaid: the cancellation of
// a queued payment is refused 503 maintenance, and the app counts down
// from 600 s to ask again. The window ends, but the status cannot be read
// (503 busy, a connection closed), so the countdown goes on; the settler
// pays the payment. The poll, which goes on while the cancellation
// counts down, shows it paid at once; the countdown is gone, no status
// read follows, and the cancellation is not asked again.
func TestBrowserMaintenanceCancelCountdownEndsWhenPaid(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.cancelInWindow(t, modeQueuedThenPaid)
	if left := m.countdown(t, "the cancellation's countdown", "#pay-state.queued .cancel-state .countdown", cancelCountdown); left < 590 {
		t.Fatalf("the countdown starts at %d s, want about 600 (the window's end, capped)", left)
	}
	m.p.setFailStatus(true)
	m.endWindow(t, id)
	m.awaitStatusReads(t, m.p.statusReadsSeen(), 2, m.cancels("int_paid"))

	m.p.postIntent("int_paid")
	run(t, m.ctx, "paid while the cancellation counted down", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	var countdowns int
	run(t, m.ctx, "no countdown shown", readInto(&countdowns, chromedp.Evaluate[int](`document.querySelectorAll(".countdown").length`)))
	if countdowns != 0 {
		t.Fatalf("%d countdowns shown once the payment is shown paid", countdowns)
	}
	m.quiet(t, "once paid", m.cancels("int_paid"))
	if n := m.cancels("int_paid")(); n != 1 {
		t.Errorf("the app asked %d times to cancel, want 1 (refused; then paid)", n)
	}
	if got := m.bobPosted(t); got != 1250 {
		t.Errorf("Bob's posted balance is %v, want 1250: one payment of 12.50 EUR", got)
	}
}

// noticeSays waits for the page's notice, which every view shows, to be
// of kind (its class) and returns its text.
func (m *maintenanceScene) noticeSays(t *testing.T, what, kind string) string {
	t.Helper()
	var text string
	run(t, m.ctx, what,
		pollTrue(`document.querySelector("#notice").classList.contains(`+strconv.Quote(kind)+`) && document.querySelector("#notice").textContent !== ""`),
		readInto(&text, chromedp.Text(chromedp.CSS("#notice"))),
	)
	return text
}

// TestBrowserMaintenanceCancelCountdownGoesOnWhenViewLeft: the
// cancellation of a queued payment is refused 503 maintenance and counts
// down; the person goes to the wallets view, and the operator ends the
// window. The cancellation is asked again by itself, and its answer,
// cancelled, is told in the notice on the wallets view: the person asked
// for it, and leaving a view does not take that back.
func TestBrowserMaintenanceCancelCountdownGoesOnWhenViewLeft(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.cancelInWindow(t, modeQueuedMaintenance)
	m.countdown(t, "the cancellation's countdown", "#pay-state.queued .cancel-state .countdown", cancelCountdown)

	m.leave(t)
	m.endWindow(t, id)
	if text := m.noticeSays(t, "the cancellation told on the wallets view", "ok"); !strings.Contains(text, "cancel") {
		t.Errorf("the notice says %q, want the payment cancelled", text)
	}
	if in := m.p.intent("int_maint"); len(in.cancels) != 2 || !in.cancelled {
		t.Errorf("the app asked %d times to cancel (cancelled: %v), want 2: refused, then, by itself once the window was over, answered", len(in.cancels), in.cancelled)
	}
	var hash string
	run(t, m.ctx, "still on the wallets view", readInto(&hash, chromedp.Evaluate[string](`location.hash`)))
	if hash != "#/wallets" {
		t.Errorf("the app went to %q, want to stay where the person went (#/wallets)", hash)
	}
}

// TestBrowserMaintenancePayCountdownGoesOnWhenViewLeft: a payment refused
// 503 maintenance counts down; the person goes to the wallets view, and
// the operator ends the window. The payment is sent again by itself, the
// same attempt (its Idempotency-Key), paid once, and told in the notice on
// the wallets view. For a few minutes on 2026-11-29 leaving the view
// dropped it instead, unseen, and nothing told the person.
func TestBrowserMaintenancePayCountdownGoesOnWhenViewLeft(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.startReadOnly(t)
	m.pay(t)
	m.countdown(t, "the maintenance countdown", "#pay-state.busy .countdown", maintenanceCountdown)

	m.leave(t)
	m.endWindow(t, id)
	if text := m.noticeSays(t, "the payment told on the wallets view", "ok"); !strings.Contains(text, "12.50") {
		t.Errorf("the notice says %q, want the payment of 12.50 EUR paid", text)
	}
	m.onePayment(t, 2)
}

// TestBrowserAStepUpAfterTheViewWasLeftWaitsInTheSendForm: a payment
// refused 503 maintenance counts down; the person goes to the wallets
// view; once the window ends its retry is asked to confirm it is you
// (403 mfa_required: nothing paid). The prompt would be drawn in the view
// left behind; the notice says so instead, and the payment waits in the
// Send form, filled in. Until 2026-11-29 nothing told the person.
func TestBrowserAStepUpAfterTheViewWasLeftWaitsInTheSendForm(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.startReadOnly(t)
	m.pay(t)
	m.countdown(t, "the maintenance countdown", "#pay-state.busy .countdown", maintenanceCountdown)
	m.leave(t)
	m.p.setMode(modeStepUp)
	m.endWindow(t, id)
	if text := m.noticeSays(t, "the step-up told on the wallets view", "error"); !strings.Contains(text, "12.50") || !strings.Contains(text, "confirm") {
		t.Errorf("the notice says %q, want the payment of 12.50 EUR to be confirmed", text)
	}
	var to, amount string
	run(t, m.ctx, "the Send form, filled in",
		evalVoid(`location.hash = "#/send"`),
		chromedp.WaitVisible(chromedp.CSS("#send-form")),
		pollTrue(`document.querySelector("#send-amount").value !== ""`),
		readInto(&to, chromedp.Value(chromedp.CSS("#send-to"))),
		readInto(&amount, chromedp.Value(chromedp.CSS("#send-amount"))),
	)
	if to != bobHandle || amount != "12.50" {
		t.Errorf("the Send form holds %q, %q; want %q, %q", to, amount, bobHandle, "12.50")
	}
	if got := m.bobPosted(t); got != 0 {
		t.Errorf("Bob's posted balance is %v, want 0: a step-up pays nothing", got)
	}
}

// TestBrowserMaintenanceEarlyRetriesBounded: the payments are refused 503
// maintenance (Retry-After: 600) although the status says no window is in
// force (a process whose schedule lags). Each countdown ends early at the
// status read, and the payment is sent again, EarlyRetriesMax times; then
// the app waits the Retry-After the server gave, reading no status, and
// sends nothing more. Until 2026-11-29 these early retries took the
// automatic retries (6) within half a minute, and the person was handed
// Try again while the window may still have been in force.
func TestBrowserMaintenanceEarlyRetriesBounded(t *testing.T) {
	m := newMaintenanceScene(t)
	m.p.setMode(modeMaintenanceStale)
	m.pay(t)
	m.countdown(t, "the maintenance countdown", "#pay-state.busy .countdown", maintenanceCountdown)
	for deadline := time.Now().Add(40 * time.Second); m.payments() < 1+webEarlyRetriesMax; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			failureScreenshot(t, m.ctx)
			t.Fatalf("the app sent the payment %d times in 40 s, want %d: one, then one at each status read saying no window",
				m.payments(), 1+webEarlyRetriesMax)
		}
	}
	m.quiet(t, "the early retries spent", m.payments)
	if left := m.countdown(t, "counting down the Retry-After", "#pay-state.busy .countdown", maintenanceCountdown); left < 570 {
		t.Fatalf("the countdown says %d s, want about 600: the Retry-After the server gave", left)
	}
	keys := m.p.paymentKeys()
	for _, k := range keys {
		if k == "" || k != keys[0] {
			t.Fatalf("the tries of one payment went out under more than one Idempotency-Key: %q", keys)
		}
	}
}

// TestBrowserACountdownLeftBehindKeepsTheNextPaymentsKey: a payment
// refused 503 maintenance counts down on a view the person left (its
// status reads fail, so it goes on counting after the window ended); on
// the send form they pay someone else, whose answer is lost (504
// outcome_unknown, although it was paid) and whose check is answered 401:
// they are sent to sign in, and that second payment's key is kept for
// the same payment sent again. The first payment's countdown then ends,
// and its try is answered 401 too. Signed in again, the person sends the
// second payment again: it must go out under its key and be answered with
// the payment made. Until the review of 2026-11-29 the first payment's
// loop, ending, forgot whatever attempt the form held, the second's key
// was lost, and the second payment was paid twice.
func TestBrowserACountdownLeftBehindKeepsTheNextPaymentsKey(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.startReadOnly(t)
	m.p.setFailStatus(true) // the first payment's countdown cannot learn that the window ended
	m.pay(t)
	m.countdown(t, "the maintenance countdown", "#pay-state.busy .countdown", maintenanceCountdown)
	m.endWindow(t, id)

	m.leave(t)
	m.p.setMode(modeLostThenSignedOut)
	payAgain := func(what string) {
		run(t, m.ctx, what,
			evalVoid(`location.hash = "#/send"`),
			chromedp.WaitVisible(chromedp.CSS("#send-form")),
			chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="EUR"]`)),
			chromedp.SendKeys(chromedp.CSS("#send-to"), bobHandle),
			chromedp.SendKeys(chromedp.CSS("#send-amount"), "7.00"),
			submit("#send-form"),
		)
	}
	payAgain("pay Bob 7.00 from the send form, the first payment still counting down")
	run(t, m.ctx, "sent to sign in", chromedp.WaitVisible(chromedp.CSS("#login-form")))
	keys := m.p.paymentKeys()
	if len(keys) != 3 || keys[1] != keys[2] || keys[1] == keys[0] {
		t.Fatalf("want the first payment's try, then two of the second's under a key of its own: %q", keys)
	}
	second := keys[1]

	m.p.setFailStatus(false) // the first payment's countdown ends at its next status read, and it is sent again
	for deadline := time.Now().Add(20 * time.Second); m.payments() < 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			failureScreenshot(t, m.ctx)
			t.Fatalf("the first payment was not sent again once the status said the window was over: %q", m.p.paymentKeys())
		}
	}
	var stored string
	run(t, m.ctx, "the attempt kept",
		pollTrue(`!document.querySelector("#pay-state")`), // on the sign-in view
		readInto(&stored, chromedp.Evaluate[string](`sessionStorage.getItem("pw_attempts") || ""`)),
	)
	if !strings.Contains(stored, second) {
		t.Errorf("once the first payment's loop ended, the attempt kept is %q, want the second payment's (key %s)", stored, second)
	}

	token := apiCall(t, "POST", m.s.url+"/v1/sessions", "", map[string]string{"handle": annHandle, "password": annPassword}, "")["token"].(string)
	run(t, m.ctx, "signed in again", evalVoid(`sessionStorage.setItem("pw_token", `+strconv.Quote(token)+`)`))
	payAgain("pay Bob the same 7.00 again")
	run(t, m.ctx, "paid", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	if keys := m.p.paymentKeys(); keys[len(keys)-1] != second {
		t.Errorf("the second payment sent again went out under %q, want its key %q: %q", keys[len(keys)-1], second, keys)
	}
	if got := m.bobPosted(t); got != 700 {
		t.Errorf("Bob's posted balance is %v, want 700: the 7.00 EUR once (the first payment's try was signed out)", got)
	}
}
