package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAWalletsReadRefusedIsReadAgain: at a surge the server refuses
// the wallets view's read of the wallets (503 busy). The view says they
// could not be read (not "Open a wallet first"), reads them again while it
// is shown, and shows them once they are read. Until 2026-11-29 the refused
// read was kept for the page's life as no wallets: the view said to open a
// wallet, and the Send form had none to pay from, until a reload.
func TestBrowserAWalletsReadRefusedIsReadAgain(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.walletsRefused = 1 })
	s.open(t, "#/wallets", nil)
	s.do(t, "the wallets said unread", chromedp.WaitVisible(chromedp.CSS("[data-unread]")))
	if text := eval[string](t, s, `document.querySelector("[data-unread]").textContent`); !strings.Contains(text, "could not be read") {
		t.Errorf("the unread line says %q", text)
	}
	if empty := eval[bool](t, s, `document.querySelector("[data-empty]").hidden`); !empty {
		t.Error(`the view says "open a wallet first" of wallets it could not read`)
	}
	s.do(t, "the wallet shown once read again", chromedp.WaitVisible(chromedp.CSS(".wallet")))
	if hidden := eval[bool](t, s, `document.querySelector("[data-unread]").hidden`); !hidden {
		t.Error("the unread line stays after the wallets were read")
	}
	if n := s.api.read(func(f *fakeAPI) int { return f.walletReads }); n != 2 {
		t.Errorf("the wallets were read %d times, want 2 (refused, then read)", n)
	}
}

// TestBrowserAmountsKeepTheirExponentWhenCurrenciesCannotBeRead: the
// server refuses every read of /v1/currencies. An amount typed in a JPY
// wallet (no decimals) is still sent in yen: the exponents come in the
// page. Until 2026-11-29 the refused read left the app with no currencies,
// every amount was taken to have 2 decimals, and 1000 typed was sent as
// 100000 (yen).
func TestBrowserAmountsKeepTheirExponentWhenCurrenciesCannotBeRead(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) {
		f.currenciesRefused = true
		f.wallets = `{"data":[{"id":"acc_1","currency":"JPY","balance":{"available":50000,"posted":50000,"pending_out":0,"pending_in":0}}]}`
	})
	s.open(t, "#/wallets", nil)
	s.do(t, "the JPY wallet shown", chromedp.WaitVisible(chromedp.CSS(".wallet")))
	if shown := eval[string](t, s, `document.querySelector("[data-available]").textContent`); shown != "50,000 JPY" {
		t.Errorf("the JPY wallet shows %q available, want 50,000 JPY", shown)
	}
	s.do(t, "send 1000 JPY",
		js(`location.hash = "#/send"`),
		chromedp.WaitReady(chromedp.CSS(`#send-from option[data-currency="JPY"]`)),
		js(`document.querySelector("#send-to").value = "bob@example.com";
			document.querySelector("#send-amount").value = "1000";
			document.querySelector("#send-form").requestSubmit()`),
	)
	var sent []map[string]any
	for deadline := time.Now().Add(10 * time.Second); len(sent) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no payment sent in 10 s")
		}
		s.api.set(func(f *fakeAPI) { sent = append(sent[:0], f.transfers...) })
	}
	if got := fmt.Sprint(sent[0]["amount"]); got != "1000" || sent[0]["currency"] != "JPY" {
		t.Fatalf("sent %v %v, want 1000 JPY", got, sent[0]["currency"])
	}
}

// TestBrowserSendFromAWalletsLinkHintsItsCurrency: a wallet's own Send
// link (#/send/{id}) opens the Send form with that wallet chosen, and the
// form's hints follow it as if it had been chosen by hand: for the JPY
// wallet, listed after the EUR one, the amount hint is JPY's ("In JPY, up
// to 0 decimals."), not the first wallet's. Until 2026-11-29 the wallet
// was chosen but the hint kept the first wallet's currency.
func TestBrowserSendFromAWalletsLinkHintsItsCurrency(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) {
		f.wallets = `{"data":[{"id":"acc_1","currency":"EUR","balance":{"available":20000,"posted":20000,"pending_out":0,"pending_in":0}},` +
			`{"id":"acc_2","currency":"JPY","balance":{"available":50000,"posted":50000,"pending_out":0,"pending_in":0}}]}`
	})
	s.open(t, "#/wallets", nil)
	for _, c := range []struct{ id, cur, other string }{{"acc_2", "JPY", "EUR"}, {"acc_1", "EUR", "JPY"}} {
		s.do(t, "open Send from the "+c.cur+" wallet's link",
			js(`location.hash = "#/wallets"`),
			chromedp.WaitVisible(chromedp.CSS(`.wallet a[data-send][href="#/send/`+c.id+`"]`)),
			js(`document.querySelector('.wallet a[data-send][href="#/send/`+c.id+`"]').click()`),
			// The route is done once it focuses the view's heading: after
			// sendRoute has chosen the wallet.
			until(`location.hash === "#/send/`+c.id+`" && !!document.querySelector("#send-form") &&
				document.activeElement === document.querySelector("#view h1")`),
		)
		if from := eval[string](t, s, `document.querySelector("#send-from").value`); from != c.id {
			t.Errorf("#/send/%s chose wallet %q", c.id, from)
		}
		hint := eval[string](t, s, `document.querySelector("[data-amount-hint]").textContent`)
		if !strings.Contains(hint, "In "+c.cur) || strings.Contains(hint, c.other) {
			t.Errorf("#/send/%s (%s) hints %q, want the %s hint", c.id, c.cur, hint, c.cur)
		}
	}
}
