package main_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A payment refused 503 maintenance is told to come back at the read-only
// window's end (Retry-After, at most 600 s in the app). The operator may
// end the window sooner: the server then takes writes at once, and the
// app, which reads GET /v1/status every few seconds while it counts down
// such a refusal, goes on at once with the same attempt. Until 2026-11-29
// it counted down the whole Retry-After.

// MaintenanceWindowLength is the windows' length in these tests: far
// longer than any bound they wait for an outcome within.
const MaintenanceWindowLength = 10 * time.Minute

// maintenanceScene is a server with the proxy in front, Ann signed in in
// the browser with 200.00 EUR, and Bob with a EUR wallet.
type maintenanceScene struct {
	ctx  context.Context
	s    *server
	p    *faultProxy
	bob  string // Bob's session
	base string // where the browser goes: the proxy
}

func newMaintenanceScene(t *testing.T) *maintenanceScene {
	t.Helper()
	m := &maintenanceScene{ctx: newBrowser(t), s: startServer(t, "--data", t.TempDir())}
	m.p = newFaultProxy(t, m.s.url)
	m.base = m.p.URL
	session := func(handle, password string) string {
		apiCall(t, "POST", m.s.url+"/v1/users", "", map[string]string{"handle": handle, "password": password}, "")
		token := apiCall(t, "POST", m.s.url+"/v1/sessions", "", map[string]string{"handle": handle, "password": password}, "")["token"].(string)
		apiCall(t, "POST", m.s.url+"/v1/wallets", token, map[string]string{"currency": "EUR"}, "")
		return token
	}
	m.bob = session(bobHandle, "bob has a long password")
	ann := session(annHandle, annPassword)
	wallet := apiCall(t, "GET", m.s.url+"/v1/wallets", ann, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)
	bank := apiCall(t, "POST", m.s.url+"/v1/accounts", testOperatorKey, map[string]string{"kind": "system", "currency": "EUR"}, "bank")["id"].(string)
	apiCall(t, "POST", m.s.url+"/v1/transfers", testOperatorKey, map[string]any{"from_account": bank, "to_account": wallet, "amount": 20000, "currency": "EUR"}, "topup")
	run(t, m.ctx, "sign in",
		chromedp.Navigate(m.base+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-handle"), annHandle),
		chromedp.SendKeys(chromedp.CSS("#login-password"), annPassword),
		submit("#login-form"),
		chromedp.WaitVisible(chromedp.CSS(".wallet")),
	)
	return m
}

// pay sends Bob 12.50 EUR from the send form.
func (m *maintenanceScene) pay(t *testing.T) {
	t.Helper()
	run(t, m.ctx, "pay Bob",
		chromedp.Navigate(m.base+"/#/send"),
		chromedp.WaitVisible(chromedp.CSS("#send-form")),
		chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="EUR"]`)),
		chromedp.SendKeys(chromedp.CSS("#send-to"), bobHandle),
		chromedp.SendKeys(chromedp.CSS("#send-amount"), "12.50"),
		submit("#send-form"),
	)
}

// startReadOnly starts a read-only window now, through the operator API,
// and returns its ID.
func (m *maintenanceScene) startReadOnly(t *testing.T) string {
	t.Helper()
	now := time.Now().UTC()
	w := apiCall(t, "POST", m.s.url+"/v1/maintenance", testOperatorKey, map[string]any{
		"start": now.Format(time.RFC3339), "end": now.Add(MaintenanceWindowLength).Format(time.RFC3339),
		"read_only": true, "reason": "database upgrade"}, "")
	return w["id"].(string)
}

// endWindow cancels the window through the operator API, long before its end.
func (m *maintenanceScene) endWindow(t *testing.T, id string) {
	t.Helper()
	apiCall(t, "DELETE", m.s.url+"/v1/maintenance/"+id, testOperatorKey, nil, "")
}

// countdown waits for the countdown of sel to say what re (with one
// number, the seconds left) says, and returns the seconds.
func (m *maintenanceScene) countdown(t *testing.T, what, sel string, re *regexp.Regexp) int {
	t.Helper()
	var text string
	run(t, m.ctx, what,
		pollTrue(`!!document.querySelector(`+strconv.Quote(sel)+`)`),
		readInto(&text, chromedp.Text(chromedp.CSS(sel))),
	)
	got := re.FindStringSubmatch(text)
	if got == nil {
		t.Fatalf("%s: the countdown says %q", what, text)
	}
	n, _ := strconv.Atoi(got[1])
	return n
}

// awaitStatusReads waits until the proxy has seen n more reads of
// /v1/status than before (with the app's own status banner reading it
// every 30 s, two more within 20 s include the countdown's), and fails if
// meanwhile the app sends again what is counted down to (sent counts the
// sendings).
func (m *maintenanceScene) awaitStatusReads(t *testing.T, before, n int, sent func() int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	was := sent()
	for m.p.statusReadsSeen() < before+n {
		if now := sent(); now != was {
			failureScreenshot(t, m.ctx)
			t.Fatalf("the app sent it again (%d times, then %d) after %d reads of /v1/status, which did not say the window had ended",
				was, now, m.p.statusReadsSeen()-before)
		}
		if time.Now().After(deadline) {
			failureScreenshot(t, m.ctx)
			t.Fatalf("the app read /v1/status %d times in 20 s while it counted down a maintenance refusal, want at least %d",
				m.p.statusReadsSeen()-before, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// payments counts the payments (tries) the proxy saw.
func (m *maintenanceScene) payments() int { return len(m.p.paymentKeys()) }

// bobPosted is Bob's posted balance in minor units.
func (m *maintenanceScene) bobPosted(t *testing.T) float64 {
	t.Helper()
	w := apiCall(t, "GET", m.s.url+"/v1/wallets", m.bob, nil, "")["data"].([]any)[0].(map[string]any)
	return w["balance"].(map[string]any)["posted"].(float64)
}

// onePayment checks that every try the proxy saw was the same attempt
// (one Idempotency-Key), tries of them in all, and that Bob was paid once.
func (m *maintenanceScene) onePayment(t *testing.T, tries int) {
	t.Helper()
	keys := m.p.paymentKeys()
	if len(keys) != tries {
		t.Errorf("the app sent the payment %d times, want %d (refused, then paid): %q", len(keys), tries, keys)
	}
	for _, k := range keys {
		if k == "" || k != keys[0] {
			t.Errorf("the tries of one payment went out under more than one Idempotency-Key: %q", keys)
			break
		}
	}
	if got := m.bobPosted(t); got != 1250 {
		t.Errorf("Bob's posted balance is %v, want 1250: one payment of 12.50 EUR", got)
	}
}

var maintenanceCountdown = regexp.MustCompile(`Maintenance: we will try again in (\d+) s\.`)

// TestBrowserMaintenanceEndedEarlyPays: a payment refused 503 maintenance
// in a 10-minute read-only window counts down from 600 s and reads the
// status as it does, without paying, while the window is in force; the
// operator cancels the window, and the payment is made within 30 s, once,
// under the same Idempotency-Key.
func TestBrowserMaintenanceEndedEarlyPays(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.startReadOnly(t)
	m.pay(t)
	if left := m.countdown(t, "the maintenance countdown", "#pay-state.busy .countdown", maintenanceCountdown); left < 590 {
		t.Fatalf("the countdown starts at %d s, want about 600 (the window's end, capped)", left)
	}
	reads := m.p.statusReadsSeen()
	m.awaitStatusReads(t, reads, 2, m.payments)
	// The status said maintenance: the app goes on counting, and sends nothing.
	if n := m.payments(); n != 1 {
		t.Fatalf("the app sent the payment %d times while the window was in force, want 1", n)
	}
	if left := m.countdown(t, "still counting", "#pay-state.busy .countdown", maintenanceCountdown); left < 550 || left >= 600 {
		t.Fatalf("while the window is in force the countdown says %d s", left)
	}

	m.endWindow(t, id)
	start := time.Now()
	run(t, m.ctx, "paid once the window ended", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	t.Logf("paid %v after the window was cancelled, %v before its Retry-After", time.Since(start).Round(time.Millisecond),
		(MaintenanceWindowLength - time.Since(start)).Round(time.Second))
	m.onePayment(t, 2)
}

// TestBrowserMaintenanceStatusReadFailsKeepsCounting: while the app counts
// down a maintenance refusal, reads of the status that fail (a 503 busy,
// a connection closed with no answer) say nothing of the window: the
// countdown goes on and nothing is sent, although the window has ended.
// Once a read answers, the payment is made, once.
func TestBrowserMaintenanceStatusReadFailsKeepsCounting(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.startReadOnly(t)
	m.p.setFailStatus(true)
	m.pay(t)
	m.countdown(t, "the maintenance countdown", "#pay-state.busy .countdown", maintenanceCountdown)
	m.endWindow(t, id)
	reads := m.p.statusReadsSeen()
	m.awaitStatusReads(t, reads, 3, m.payments)
	if n := m.payments(); n != 1 {
		t.Fatalf("the app sent the payment %d times while the status could not be read, want 1", n)
	}
	if left := m.countdown(t, "still counting", "#pay-state.busy .countdown", maintenanceCountdown); left < 550 || left >= 600 {
		t.Fatalf("with the status unreadable the countdown says %d s", left)
	}

	m.p.setFailStatus(false)
	run(t, m.ctx, "paid once the status could be read", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	m.onePayment(t, 2)
}

// TestBrowserMaintenanceEndedEarlyCancels: cancelling a queued payment is
// refused 503 maintenance by the server in a 10-minute read-only window;
// the app counts down to ask again, reading the status; the operator
// cancels the window and the cancellation is asked again and answered
// within 30 s. Nothing is paid.
func TestBrowserMaintenanceEndedEarlyCancels(t *testing.T) {
	m := newMaintenanceScene(t)
	id := m.cancelInWindow(t, modeQueuedMaintenance)
	again := regexp.MustCompile(`We will try to cancel it again in (\d+) s\.`)
	if left := m.countdown(t, "the cancellation's countdown", "#pay-state.queued .cancel-state .countdown", again); left < 590 {
		t.Fatalf("the countdown starts at %d s, want about 600 (the window's end, capped)", left)
	}
	reads := m.p.statusReadsSeen()
	m.awaitStatusReads(t, reads, 2, func() int { return len(m.p.intent("int_maint").cancels) })
	if n := len(m.p.intent("int_maint").cancels); n != 1 {
		t.Fatalf("the app asked %d times to cancel while the window was in force, want 1", n)
	}

	m.endWindow(t, id)
	start := time.Now()
	run(t, m.ctx, "cancelled once the window ended", chromedp.WaitVisible(chromedp.CSS("#pay-state.cancelled")))
	t.Logf("cancelled %v after the window was cancelled", time.Since(start).Round(time.Millisecond))
	if in := m.p.intent("int_maint"); len(in.cancels) != 2 || !in.cancelled {
		t.Errorf("the app asked %d times to cancel (cancelled: %v), want 2: refused, then answered", len(in.cancels), in.cancelled)
	}
	if got := m.bobPosted(t); got != 0 {
		t.Errorf("Bob's posted balance is %v after a cancelled payment, want 0", got)
	}
}
