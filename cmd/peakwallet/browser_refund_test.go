package main_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// openReceipt opens the receipt of transfer id in the tab, signed in with
// token (a page of its own, so that nothing read as someone else stays),
// and waits until the view is drawn (the app moves the focus to its
// heading once the view, its Refund action included, is done).
func (m *stepUpScene) openReceipt(t *testing.T, who, token, id string) {
	t.Helper()
	run(t, m.ctx, who+" opens the receipt",
		chromedp.Navigate(m.s.url+"/"),
		chromedp.WaitReady(chromedp.CSS("#view")),
		evalVoid(`sessionStorage.setItem("pw_token", `+strconv.Quote(token)+`)`),
		chromedp.Navigate(m.s.url+"/?as="+who+"#/receipt/"+id),
		pollTrue(`document.activeElement !== null && document.activeElement.matches(".receipt h1")`),
	)
}

// refundShown is whether the receipt shows the Refund action.
func (m *stepUpScene) refundShown(t *testing.T) bool {
	t.Helper()
	var shown bool
	run(t, m.ctx, "is Refund shown", readInto(&shown, chromedp.Evaluate[bool](`!document.querySelector("[data-refund]").hidden`)))
	return shown
}

// refund opens the receipt's refund form, types amount and sends it.
func (m *stepUpScene) refund(t *testing.T, amount string) {
	t.Helper()
	run(t, m.ctx, "refund "+amount,
		evalVoid(`document.querySelector("[data-refund-open]").click()`),
		chromedp.WaitVisible(chromedp.CSS("#refund-form")),
		chromedp.SetValue(chromedp.CSS("#refund-amount"), amount),
		submit("#refund-form"),
	)
}

func (m *stepUpScene) posted(t *testing.T, token string) float64 {
	t.Helper()
	w := apiCall(t, "GET", m.s.url+"/v1/wallets", token, nil, "")["data"].([]any)[0].(map[string]any)
	return w["balance"].(map[string]any)["posted"].(float64)
}

// TestBrowserAPaymentReceivedIsRefundedFromItsReceipt: Ann pays Bob 25.00
// EUR. Bob's receipt of it offers Refund, filled in with all that remains
// (25.00); he refunds 10.00, and the receipt, read again, says 10.00
// refunded, his balance 10.00 lower and Ann's 10.00 higher. A second
// refund of 20.00, more than the 15.00 that remain, is refused by the
// server (refund_exceeds_original), said with what remains, and moves
// nothing. Ann's receipt of her payment offers no Refund (she sent it),
// nor her receipt of the refund (a refund is not refunded). Until
// 2026-11-29 no receipt offered a refund: the payee could not send money
// back from the web app.
func TestBrowserAPaymentReceivedIsRefundedFromItsReceipt(t *testing.T) {
	m := newStepUpScene(t)
	annWallet := apiCall(t, "GET", m.s.url+"/v1/wallets", m.ann, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)
	id := apiCall(t, "POST", m.s.url+"/v1/transfers", m.ann, map[string]any{"from_account": annWallet, "to_handle": bobHandle, "amount": 2500, "currency": "EUR", "description": "paid twice"}, "twice")["id"].(string)

	m.openReceipt(t, "Bob", m.bob, id)
	if !m.refundShown(t) {
		t.Fatal("Bob's receipt of the payment he received offers no Refund")
	}
	var left, amount string
	run(t, m.ctx, "the refund form",
		readInto(&left, chromedp.Text(chromedp.CSS("[data-refund-left]"))),
		evalVoid(`document.querySelector("[data-refund-open]").click()`),
		chromedp.WaitVisible(chromedp.CSS("#refund-form")),
		readInto(&amount, chromedp.Value(chromedp.CSS("#refund-amount"))),
	)
	if amount != "25.00" || !strings.Contains(left, "25.00 EUR remains") || !strings.Contains(left, annHandle) {
		t.Errorf("the refund form says %q with %q in the amount; want 25.00 EUR remaining to %s, and 25.00", left, amount, annHandle)
	}

	m.refund(t, "10.00")
	var refunded, notice string
	run(t, m.ctx, "the receipt read again",
		pollTrue(`document.querySelector(".receipt [data-refunded]").textContent === "10.00 EUR"`),
		readInto(&notice, chromedp.Text(chromedp.CSS("#notice"))),
		readInto(&refunded, chromedp.Text(chromedp.CSS("[data-refund-left]"))),
	)
	if want := "Refunded 10.00 EUR to " + annHandle; !strings.Contains(notice, want) {
		t.Errorf("the notice says %q, want %q", notice, want)
	}
	if !strings.Contains(refunded, "15.00 EUR remains") {
		t.Errorf("after the refund the form says %q, want 15.00 EUR remaining", refunded)
	}
	if bob, ann := m.posted(t, m.bob), m.posted(t, m.ann); bob != 1500 || ann != 18500 {
		t.Fatalf("after refunding 10.00, Bob has %v and Ann %v posted, want 1500 and 18500", bob, ann)
	}

	m.refund(t, "20.00")
	var refused string
	run(t, m.ctx, "a refund of more than remains",
		chromedp.WaitVisible(chromedp.CSS("#refund-state.failed")),
		readInto(&refused, chromedp.Text(chromedp.CSS("#refund-state"))),
	)
	if !strings.Contains(refused, "15.00 EUR remains") || !strings.Contains(refused, "Nothing was refunded") {
		t.Errorf("a refund of 20.00 with 15.00 left says %q, want what remains and that nothing was refunded", refused)
	}
	if bob, ann := m.posted(t, m.bob), m.posted(t, m.ann); bob != 1500 || ann != 18500 {
		t.Fatalf("after a refused refund, Bob has %v and Ann %v posted, want 1500 and 18500 still", bob, ann)
	}

	m.openReceipt(t, "Ann", m.ann, id)
	if m.refundShown(t) {
		t.Error("Ann's receipt of the payment she sent offers Refund")
	}
	refundID := apiCall(t, "GET", m.s.url+"/v1/accounts/"+annWallet+"/transfers", m.ann, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)
	m.openReceipt(t, "Ann", m.ann, refundID)
	if m.refundShown(t) {
		t.Error("Ann's receipt of the refund she received offers Refund")
	}
}

// TestBrowserARefundAboveTheStepUpThresholdAsksForACode: an operator moves
// 150.00 EUR from Ann's wallet to Bob's (a payment, from Ann). Bob
// refunds 120.00, above his step-up threshold (100.00 EUR): the server
// sends him a code by message for "a refund of 120.00 EUR to" Ann's
// account, and the app shows the step-up prompt naming the refund, its
// amount and Ann; the code from the message refunds it, once.
func TestBrowserARefundAboveTheStepUpThresholdAsksForACode(t *testing.T) {
	m := newStepUpScene(t)
	wallet := func(token string) string {
		return apiCall(t, "GET", m.s.url+"/v1/wallets", token, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)
	}
	annWallet, bobWallet := wallet(m.ann), wallet(m.bob)
	id := apiCall(t, "POST", m.s.url+"/v1/transfers", testOperatorKey, map[string]any{"from_account": annWallet, "to_account": bobWallet, "amount": 15000, "currency": "EUR"}, "big")["id"].(string)

	m.openReceipt(t, "Bob", m.bob, id)
	m.refund(t, "120.00")
	var prompt string
	run(t, m.ctx, "the step-up prompt",
		chromedp.WaitVisible(chromedp.CSS("#refund-state #mfa-form")),
		readInto(&prompt, chromedp.Text(chromedp.CSS("#refund-state"))),
	)
	for _, want := range []string{"refund of 120.00 EUR to " + annHandle, annWallet, "sent", bobHandle} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the prompt says %q, want it to say %q", prompt, want)
		}
	}
	sent := m.codesTo(t, bobHandle)
	if len(sent) != 1 {
		t.Fatalf("%d codes sent to Bob, want the one of the challenge", len(sent))
	}
	if !strings.Contains(sent[0], "a refund of 120.00 EUR to "+annWallet) {
		t.Errorf("the message says %q, want it to name the refund", sent[0])
	}
	code := messageCode.FindStringSubmatch(sent[0])
	if code == nil {
		t.Fatalf("no code in the message %q", sent[0])
	}
	run(t, m.ctx, "the code from the message",
		chromedp.SetValue(chromedp.CSS("#mfa-code"), code[1]),
		submit("#mfa-form"),
		pollTrue(`document.querySelector(".receipt [data-refunded]").textContent === "120.00 EUR"`),
	)
	if bob, ann := m.posted(t, m.bob), m.posted(t, m.ann); bob != 3000 || ann != 17000 {
		t.Fatalf("after refunding 120.00, Bob has %v and Ann %v posted, want 3000 and 17000", bob, ann)
	}
}
