package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAnUnansweredCancelMayHaveTakenEffect: the person cancels a
// payment queued at a surge, and the cancellation gets no answer within its
// limit. It may have taken effect, so the pay form says so (not that it
// failed), offers the button again, and asking again cancels it. Until
// 2026-11-29 it said the payment could not be cancelled.
func TestBrowserAnUnansweredCancelMayHaveTakenEffect(t *testing.T) {
	s := newScene(t)
	s.shortenLimits(t, LimitScale)
	s.api.set(func(f *fakeAPI) { f.queue, f.hangCancel = true, map[int]bool{1: true} })
	s.open(t, "#/wallets", nil)
	s.send(t, "12.50")
	s.do(t, "cancel the queued payment",
		chromedp.WaitVisible(chromedp.CSS("#pay-state.queued [data-cancel-intent]")),
		js(`document.querySelector("#pay-state [data-cancel-intent]").click()`),
		until(`document.querySelector("#pay-state").textContent.includes("No answer to the cancellation")`))
	text := eval[string](t, s, `document.querySelector("#pay-state").textContent`)
	if strings.Contains(text, "could not be cancelled") {
		t.Errorf("an unanswered cancellation is said to have failed: %q", text)
	}
	if !strings.Contains(text, "may or may not have taken effect") {
		t.Errorf("the pay form says %q, want that the cancellation may have taken effect", text)
	}
	s.do(t, "ask again",
		until(`!document.querySelector("#pay-state [data-cancel-intent]").disabled`),
		js(`document.querySelector("#pay-state [data-cancel-intent]").click()`),
		until(`document.querySelector("#pay-state").textContent.includes("nothing was paid")`))
	if n := s.api.read(func(f *fakeAPI) int { return len(f.cancels) }); n != 2 {
		t.Errorf("%d cancellations asked, want 2 (the unanswered one, then again)", n)
	}
}
