package web_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// LimitScale shortens the API's time limits in these tests (shortenLimits):
// 20 s becomes 1 s, a payment's 15 s 0.75 s.
const LimitScale = 20

// TestBrowserAnUnansweredPaymentIsRetriedUnderItsKey: a payment whose
// request is never answered (a stalled server, a proxy that holds it) is
// given up at its time limit, the API's deadline for it plus slack (15
// s), and read as no answer: the card says it may already have gone
// through, and the payment is sent again under the same Idempotency-Key,
// never a new one. Until 2026-11-29 the request had no limit, and the
// payment waited for ever, its retry never made.
func TestBrowserAnUnansweredPaymentIsRetriedUnderItsKey(t *testing.T) {
	s := newScene(t)
	s.shortenLimits(t, LimitScale)
	s.api.set(func(f *fakeAPI) { f.hangPay = map[int]bool{1: true} })
	s.open(t, "#/wallets", nil)
	s.send(t, "12.50")
	s.do(t, "the payment given up, said to be maybe paid", until(`(() => {
		const c = document.querySelector("#pay-state");
		return c && c.classList.contains("busy") && c.textContent.includes("It may already have gone through")
			&& c.textContent.includes("did not answer in time") && c.textContent.includes("check again in");
	})()`))
	s.do(t, "paid at the retry", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	keys := func(f *fakeAPI) []string { f.mu.Lock(); defer f.mu.Unlock(); return slices.Clone(f.keys) }(s.api)
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("the payment was sent with the keys %q, want twice the same", keys)
	}
	if n := s.api.read(func(f *fakeAPI) int { return f.payCancelled }); n != 1 {
		t.Errorf("the browser gave up %d unanswered payments, want 1", n)
	}
	if asked := eval[[]int](t, s, `window.limitsAsked`); !slices.Contains(asked, 15000) {
		t.Errorf("the time limits asked were %v ms, want a payment's 15000 among them", asked)
	}
}

// TestBrowserAnUnansweredStatusReadIsGivenUp: the status banner reads
// GET /v1/status every 30 s after its last read ended. A read the server
// never answers is given up at the time limit (20 s), and the banner reads
// again 30 s later and shows what it says. Until 2026-11-29 such a read
// was never given up, and the banner never read the status again.
func TestBrowserAnUnansweredStatusReadIsGivenUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the banner's 30 s status read")
	}
	s := newScene(t)
	s.shortenLimits(t, LimitScale)
	s.api.set(func(f *fakeAPI) { f.hangStatus = map[int]bool{1: true}; f.statusState = "busy" })
	s.do(t, "open", chromedp.Navigate(s.base+"/#/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	cancelled := func(f *fakeAPI) int { return f.statusCancelled }
	for deadline := time.Now().Add(5 * time.Second); s.api.read(cancelled) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the banner's unanswered status read was not given up in 5 s (its limit: 1 s here)")
		}
	}
	if asked := eval[[]int](t, s, `window.limitsAsked`); !slices.Contains(asked, 20000) {
		t.Errorf("the time limits asked were %v ms, want a read's 20000 among them", asked)
	}
	var banner string
	for deadline := time.Now().Add(40 * time.Second); !strings.Contains(banner, "busy"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the banner says %q 40 s after its read was given up, want it read again (busy)", banner)
		}
		banner = eval[string](t, s, `document.querySelector("#status-banner").textContent`)
	}
	if n := s.api.read(func(f *fakeAPI) int { return f.statusReads }); n != 2 {
		t.Errorf("the banner read the status %d times, want 2", n)
	}
}

// TestBrowserTheConsolesUnansweredSummaryIsGivenUp: the console reads the
// summary every 2 s after its last read ended. A read the server never
// answers is given up at the time limit, and the console says its figures
// are old and why ("did not answer in time"), and goes on reading. Until
// 2026-11-29 it waited for ever, its figures frozen, saying nothing.
func TestBrowserTheConsolesUnansweredSummaryIsGivenUp(t *testing.T) {
	s := newScene(t)
	s.shortenLimits(t, LimitScale)
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")),
		js(`sessionStorage.setItem("pw_op", "key"); location.reload()`))
	s.do(t, "console shown", chromedp.WaitVisible(chromedp.CSS("#console")))
	s.api.set(func(f *fakeAPI) { f.hangSummary = true })
	s.do(t, "the figures said to be old", until(`(() => {
		const n = document.querySelector("#live-stale");
		return !n.hidden && n.textContent.includes("did not answer in time");
	})()`))
	// It goes on reading: each read held is given up in turn.
	cancelled := func(f *fakeAPI) int { return f.summaryCancelled }
	for deadline := time.Now().Add(10 * time.Second); s.api.read(cancelled) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the console gave up %d unanswered summary reads in 10 s, want it to go on reading", s.api.read(cancelled))
		}
	}
}
