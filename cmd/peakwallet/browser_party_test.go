package main_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAHistorySaysWhoPaid: when Ann pays Bob by handle, Bob's
// history says "From ann@example.com" under the payment's note, or as its
// title when it has none, his search finds it by her handle, and its
// receipt names her beside her account's ID; Ann's history says "To
// bob@example.com" and "Top-up" for the operator's top-up (from_party and
// to_party, docs/webapp.md). Before 2026-11-29 the rows said "Received"
// and the receipt only account IDs, which Bob cannot even read.
func TestBrowserAHistorySaysWhoPaid(t *testing.T) {
	m := newStepUpScene(t)
	wallet := func(token string) string {
		return apiCall(t, "GET", m.s.url+"/v1/wallets", token, nil, "")["data"].([]any)[0].(map[string]any)["id"].(string)
	}
	annWallet, bobWallet := wallet(m.ann), wallet(m.bob)
	apiCall(t, "POST", m.s.url+"/v1/transfers", m.ann, map[string]any{"from_account": annWallet, "to_handle": bobHandle, "amount": 1250, "currency": "EUR", "description": "lunch"}, "lunch")
	apiCall(t, "POST", m.s.url+"/v1/transfers", m.ann, map[string]any{"from_account": annWallet, "to_handle": bobHandle, "amount": 300, "currency": "EUR"}, "coffee")

	// rows reads the history's rows as "title | who" (who empty when the
	// row has none), newest first.
	const rows = `[...document.querySelectorAll(".tx")].map((li) => li.querySelector(".tx-what").textContent + " | " + ((li.querySelector(".tx-who") || {}).textContent || "")).join("\n")`
	history := func(who, token, wallet string) string {
		t.Helper()
		var got string
		run(t, m.ctx, who+"'s history",
			chromedp.Navigate(m.s.url+"/"),
			chromedp.WaitReady(chromedp.CSS("#view")),
			evalVoid(`sessionStorage.setItem("pw_token", `+strconv.Quote(token)+`)`),
			// A page of its own (another query), so that nothing the app
			// read as someone else stays.
			chromedp.Navigate(m.s.url+"/?as="+who+"#/wallet/"+wallet),
			chromedp.WaitVisible(chromedp.CSS(".tx")),
			readInto(&got, chromedp.Evaluate[string](rows)),
		)
		return got
	}
	if got, want := history("Bob", m.bob, bobWallet), "From ann@example.com | \nlunch | From ann@example.com"; got != want {
		t.Fatalf("Bob's history rows:\n%s\nwant:\n%s", got, want)
	}
	var count string
	run(t, m.ctx, "search by handle",
		chromedp.SendKeys(chromedp.CSS("#h-q"), "ann@"),
		readInto(&count, chromedp.Text(chromedp.CSS("[data-count]"))),
	)
	if !strings.HasPrefix(count, "Showing 2 of 2") {
		t.Fatalf("searching ann@ shows %q, want 2 of 2", count)
	}
	var from, to string
	run(t, m.ctx, "receipt",
		chromedp.Click(chromedp.CSS(".tx a")),
		chromedp.WaitVisible(chromedp.CSS(".receipt")),
		readInto(&from, chromedp.Text(chromedp.CSS(".receipt [data-from]"))),
		readInto(&to, chromedp.Text(chromedp.CSS(".receipt [data-to]"))),
	)
	if !strings.Contains(from, annHandle) || !strings.Contains(from, annWallet) || !strings.Contains(to, bobHandle) || !strings.Contains(to, bobWallet) {
		t.Fatalf("the receipt says from %q, to %q; want Ann's and Bob's handles beside their accounts", from, to)
	}

	if got, want := history("Ann", m.ann, annWallet), "To bob@example.com | \nlunch | To bob@example.com\nTop-up | "; got != want {
		t.Fatalf("Ann's history rows:\n%s\nwant:\n%s", got, want)
	}
}
