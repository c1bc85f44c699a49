package web_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAQueuedPaymentsOutcomeIsToldWhenItsViewIsLeft: a payment
// queued at a surge (202) is followed by reading its intent every 1.5 s.
// The person goes to the wallets view while a read is out; the read then
// answers paid. The person asked for this payment, so its outcome is told
// in the page's notice on the view they are on (as a countdown's is,
// TestBrowserMaintenancePayCountdownGoesOnWhenViewLeft), and the poll
// ends with it. (A review of 2026-11-29 made the poll end with the Send
// view, telling nothing; undone before it landed.)
func TestBrowserAQueuedPaymentsOutcomeIsToldWhenItsViewIsLeft(t *testing.T) {
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
	var notice string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(notice, "Paid 12.50 EUR"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the wallets view's notice says %q 10 s after the payment settled, want it paid", notice)
		}
		notice = eval[string](t, s, `document.querySelector("#notice").textContent`)
	}
	settled := s.api.read(reads)
	time.Sleep(4 * time.Second) // more than two polls' worth
	if n := s.api.read(reads) - settled; n > 0 {
		t.Errorf("the intent was read %d more times after it was told paid, want none", n)
	}
}

// attemptsJSON makes the tab's record of payment attempts: idle attempts
// refused before the server looked at their key (nothing paid), and
// unsure ones whose answer was lost (they may have paid).
func attemptsJSON(t *testing.T, idle, unsure int) string {
	all := map[string]any{}
	for i := range idle + unsure {
		body := fmt.Sprintf(`{"from_account":"acc_1","to_handle":"bob@example.com","amount":%d,"currency":"EUR"}`, 100+i)
		a := map[string]any{"key": fmt.Sprintf("web-%d", i), "body": body, "at": 1000 + i}
		if i >= idle {
			a["unseen"] = true
		}
		all[body] = a
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBrowserTheAttemptsKeptAreBounded: the tab keeps each payment
// attempt not finished (sessionStorage pw_attempts), so that the same
// payment sent again goes with the same Idempotency-Key. Those refused
// before the server looked at their key (busy, rate-limited: nothing was
// paid) and no longer being tried are kept only the AttemptsIdleMax (5)
// newest; every attempt whose outcome is unknown is kept, however many.
// Until 2026-11-29 every one was kept for the tab's life.
func TestBrowserTheAttemptsKeptAreBounded(t *testing.T) {
	s := newScene(t)
	s.open(t, "#/wallets", map[string]string{"pw_attempts": attemptsJSON(t, 40, 3)})
	s.send(t, "7.00")
	s.do(t, "paid", chromedp.WaitVisible(chromedp.CSS("#pay-state.paid")))
	var kept map[string]struct {
		Key    string
		Unseen bool
	}
	if err := json.Unmarshal([]byte(eval[string](t, s, `sessionStorage.getItem("pw_attempts") || "{}"`)), &kept); err != nil {
		t.Fatal(err)
	}
	unsure, idle := 0, []string{}
	for _, a := range kept {
		if a.Unseen {
			unsure++
		} else {
			idle = append(idle, a.Key)
		}
	}
	if unsure != 3 {
		t.Errorf("%d attempts of unknown outcome kept, want all 3", unsure)
	}
	if len(idle) > 5 {
		t.Errorf("%d idle attempts kept, want at most 5", len(idle))
	}
	slices.Sort(idle)
	if len(idle) > 0 && idle[0] < "web-35" { // the newest five are web-35 … web-39
		t.Errorf("idle attempts kept: %v, want only of the five newest (web-35 … web-39)", idle)
	}
}

// TestBrowserTheAttemptsKeptKeepOneBeingTried: an attempt being tried
// now (counting down after 503 busy, its view left) is kept, however many
// idle attempts newer than it the bound meets, so that the same payment
// sent again from the form goes with the same key while the first is
// still being tried. (A guard for the bound above: before it, nothing was
// ever dropped.)
func TestBrowserTheAttemptsKeptKeepOneBeingTried(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.busy = true })
	s.open(t, "#/wallets", nil)
	s.send(t, "7.00")
	s.do(t, "counting down", chromedp.WaitVisible(chromedp.CSS("#pay-state.busy .countdown")))
	first := eval[string](t, s, `Object.values(JSON.parse(sessionStorage.getItem("pw_attempts")))[0].key`)
	// 40 idle attempts, all newer than the one counting down.
	s.do(t, "add idle attempts", js(`const all = JSON.parse(sessionStorage.getItem("pw_attempts"));
		for (let i = 0; i < 40; i++) {
			const body = JSON.stringify({from_account: "acc_1", to_handle: "bob@example.com", amount: 100 + i, currency: "EUR"});
			all[body] = {key: "web-idle-" + i, body, at: Date.now() + 1000000 + i};
		}
		sessionStorage.setItem("pw_attempts", JSON.stringify(all))`))
	s.leave(t)
	s.send(t, "8.00") // refused busy too: its record is kept, and the bound applied
	s.do(t, "counting down", chromedp.WaitVisible(chromedp.CSS("#pay-state.busy .countdown")))
	keys := eval[[]string](t, s, `Object.values(JSON.parse(sessionStorage.getItem("pw_attempts"))).map((a) => a.key)`)
	if !slices.Contains(keys, first) {
		t.Errorf("the attempt counting down (%s) was dropped; kept: %v", first, keys)
	}
	if len(keys) > 7 {
		t.Errorf("%d attempts kept, want at most 7 (two being tried, five idle)", len(keys))
	}
	// The same payment sent again goes with the same key.
	s.send(t, "7.00")
	s.do(t, "counting down", chromedp.WaitVisible(chromedp.CSS("#pay-state.busy .countdown")))
	s.api.set(func(f *fakeAPI) {
		if n := len(f.keys); n != 3 || f.keys[2] != first {
			t.Errorf("payments sent with keys %v, want the third with the first's key %s", f.keys, first)
		}
	})
}

// TestBrowserAmountsBeyondJavaScriptNumbersAreExact: amounts are int64
// minor units in JSON, and a JavaScript number holds integers exactly
// only up to 2^53. A balance of 2^53+1 cents and a transfer of the int64
// maximum are shown to the cent; a figure that could only be read as a
// rounded number says so instead of showing a wrong one. Until
// 2026-11-29 they were shown rounded.
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

// TestBrowserATypedAmountBeyondJavaScriptNumbersIsRefused: an amount
// typed in the Send form that a JavaScript number cannot hold exactly
// (2^53 cents and more) is refused in the form, saying it is too large,
// and nothing is sent; the largest it can hold is sent exactly. Until
// 2026-11-29 it was refused as "at most 2 decimals", which it had.
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
