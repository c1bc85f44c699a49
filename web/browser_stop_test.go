package web_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// openConsoleWithQueue opens the console with ids waiting in the surge
// queue, and their Stop… buttons shown.
func (s *scene) openConsoleWithQueue(t *testing.T, ids ...string) {
	t.Helper()
	var list []string
	for _, id := range ids {
		list = append(list, fmt.Sprintf(`{"id":%q,"status":"pending","created_at":"2026-11-29T12:00:00Z",
			"request":{"amount":1250,"currency":"EUR","from_account":"acc_1","to_handle":"bob@example.com"}}`, id))
	}
	s.api.set(func(f *fakeAPI) {
		f.summary = `{"time":"2026-11-29T12:00:00Z","operator":{"id":"op_1","role":"support"},"requests":0,"busy":0,
			"surge_queue_oldest_seconds":12}`
		f.intents = `{"data":[` + strings.Join(list, ",") + `]}`
	})
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")),
		js(`sessionStorage.setItem("pw_op", "key"); location.reload()`))
	s.do(t, "the queue shown", chromedp.WaitVisible(chromedp.CSS("#console")),
		until(fmt.Sprintf(`document.querySelectorAll("#surge-table button[data-stop-intent]").length === %d`, len(ids))))
}

// stopIntent asks to stop intent id, giving reason.
func (s *scene) stopIntent(t *testing.T, id, reason string) {
	t.Helper()
	s.do(t, "stop "+id,
		js(fmt.Sprintf(`document.querySelector('#surge-table button[data-stop-intent=%q]').click()`, id)),
		chromedp.WaitVisible(chromedp.CSS("#stop-form")),
		js(fmt.Sprintf(`document.querySelector("#stop-reason").value = %q; document.querySelector("#stop-form").requestSubmit()`, reason)))
}

// TestBrowserTheConsolesUnansweredStopMayHaveTakenEffect: an operator's
// stop of a queued payment (POST /v1/intents/{id}/cancel) has a payment's
// time limit, 15 s (PayTimeoutMs), as the payer's own cancellation, not a
// read's 20 s. One left unanswered says that the payment may or may not
// have been stopped and that asking again is safe (a stop asked twice
// stops once), keeps the form open with its reason, and the stop asked
// again is said as made. Until 2026-11-29 it waited 20 s and then said
// only that the wallet did not answer, in red, as a failure.
func TestBrowserTheConsolesUnansweredStopMayHaveTakenEffect(t *testing.T) {
	s := newScene(t)
	s.shortenLimits(t, LimitScale)
	s.api.set(func(f *fakeAPI) { f.hangCancel = map[int]bool{1: true} })
	s.openConsoleWithQueue(t, "int_1")
	s.stopIntent(t, "int_1", "account takeover")
	s.do(t, "the stop said to be unsure", until(`document.querySelector("#stop-out").textContent.includes("may or may not")`))
	out := eval[string](t, s, `document.querySelector("#stop-out").textContent`)
	for _, want := range []string{"int_1", "may or may not have been stopped", "ask again", "did not answer in time"} {
		if !strings.Contains(out, want) {
			t.Errorf("after an unanswered stop the console says %q, want %q in it", out, want)
		}
	}
	if n := s.api.read(func(f *fakeAPI) int { return f.cancelCancelled }); n != 1 {
		t.Errorf("the browser gave up %d unanswered stops, want 1", n)
	}
	if asked := eval[[]int](t, s, `window.limitsAsked`); !slices.Contains(asked, 15000) {
		t.Errorf("the time limits asked were %v ms, want a stop's 15000 among them", asked)
	}
	if open := eval[bool](t, s, `!document.querySelector("#stop-form").hidden && document.querySelector("#stop-reason").value === "account takeover"`); !open {
		t.Error("after an unanswered stop the form is closed or its reason gone, want it open to ask again")
	}
	s.do(t, "ask again", js(`document.querySelector("#stop-form").requestSubmit()`),
		until(`document.querySelector("#stop-out .ok") !== null`))
	if out := eval[string](t, s, `document.querySelector("#stop-out").textContent`); !strings.Contains(out, "Stopped: payment int_1") {
		t.Errorf("the stop asked again says %q, want it stopped", out)
	}
	cancels := func(f *fakeAPI) []string { f.mu.Lock(); defer f.mu.Unlock(); return slices.Clone(f.cancels) }(s.api)
	if want := []string{"int_1 account takeover", "int_1 account takeover"}; !slices.Equal(cancels, want) {
		t.Errorf("the stops asked were %q, want %q", cancels, want)
	}
}

// TestBrowserTheConsolesStopTooLateSaysHow: a stop that comes after the
// payment was made (409 intent_not_pending, the intent in the problem)
// says it was too late and how the payment settled, and closes the form.
// Until 2026-11-29 the console threw there (its answer's code shadowed
// the function that puts codes into words) and said nothing but
// "Stopping payment…".
func TestBrowserTheConsolesStopTooLateSaysHow(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.tooLate = map[string]bool{"int_2": true} })
	s.openConsoleWithQueue(t, "int_2")
	s.stopIntent(t, "int_2", "asked by phone")
	s.do(t, "the stop said to be too late", until(`document.querySelector("#stop-out").textContent.startsWith("Too late")`))
	if out := eval[string](t, s, `document.querySelector("#stop-out").textContent`); out != "Too late: payment int_2 was already settled (paid); nothing was stopped." {
		t.Errorf("a stop too late says %q", out)
	}
	if hidden := eval[bool](t, s, `document.querySelector("#stop-form").hidden`); !hidden {
		t.Error("after a stop too late the form is still open")
	}
}

// TestBrowserTheConsolesStopOfAPaymentItsPayerCancelledSaysSo: support
// stops a queued payment its payer had cancelled a moment before; the
// server answers the payment as it is (200, cancelled_by payer) and
// records no stop. The console says the payer cancelled it, not that
// support stopped it. Until 2026-11-29 it said "Stopped … its payer sees
// it was stopped by support".
func TestBrowserTheConsolesStopOfAPaymentItsPayerCancelledSaysSo(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.payerCancelled = map[string]bool{"int_3": true} })
	s.openConsoleWithQueue(t, "int_3")
	s.stopIntent(t, "int_3", "asked by phone")
	s.do(t, "the stop answered", until(`document.querySelector("#stop-out").textContent.includes("int_3") && !document.querySelector("#stop-out").textContent.startsWith("Stopping")`))
	out := eval[string](t, s, `document.querySelector("#stop-out").textContent`)
	if strings.Contains(out, "stopped by support") || !strings.Contains(out, "cancelled by its payer") {
		t.Errorf("the console says %q of a payment its payer had cancelled", out)
	}
}
