package web_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserARefundIsRetriedUnderItsKey: Ann refunds 10.00 EUR of a
// payment she received from its receipt. The server first says busy (503,
// nothing moved), then that the outcome is unknown (504: it may have
// moved); the app counts down and sends the same refund again each time,
// under the same Idempotency-Key, never a new one, and the third try's
// 201 reads the receipt again with 10.00 refunded and forgets the
// attempt. While unsure, it says the refund may already have gone
// through. Until 2026-11-29 no receipt offered a refund.
func TestBrowserARefundIsRetriedUnderItsKey(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.refundAnswers = []string{"503 busy", "504 outcome_unknown"} })
	s.open(t, "#/receipt/tr_in", nil)
	s.do(t, "refund 10.00",
		chromedp.WaitVisible(chromedp.CSS("[data-refund-open]")),
		js(`document.querySelector("[data-refund-open]").click()`),
		chromedp.WaitVisible(chromedp.CSS("#refund-form")),
		js(`document.querySelector("#refund-amount").value = "10.00"; document.querySelector("#refund-form").requestSubmit()`),
		until(`document.querySelector("#refund-state").textContent.includes("may already")`),
	)
	s.do(t, "the receipt read again",
		until(`document.querySelector(".receipt [data-refunded]").textContent === "10.00 EUR"`),
	)
	keys := s.api.read(func(f *fakeAPI) int { return len(f.refundKeys) })
	if keys != 3 {
		t.Fatalf("%d refunds sent, want 3: busy, outcome unknown, created", keys)
	}
	var all []string
	s.api.set(func(f *fakeAPI) { all = slices.Clone(f.refundKeys) })
	if all[0] == "" || all[1] != all[0] || all[2] != all[0] {
		t.Errorf("the refund's tries went with the keys %q, want one key for all three", all)
	}
	if notice := eval[string](t, s, `document.querySelector("#notice").textContent`); !strings.Contains(notice, "Refunded 10.00 EUR to bob@example.com") {
		t.Errorf("the notice says %q, want the refund", notice)
	}
	if kept := eval[string](t, s, `sessionStorage.getItem("pw_attempts") || ""`); kept != "" {
		t.Errorf("the attempts kept after the refund: %s, want none", kept)
	}
}
