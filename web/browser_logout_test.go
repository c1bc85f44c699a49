package web_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSigningOutDoesNotWaitForTheServer: Log out signs out in the
// page at once — the token gone, the login view shown, the nav hidden —
// and tells the server (DELETE /v1/sessions/current, with the token) in
// the background, whose answer the page no longer needs. Here the server
// never answers. Until 2026-11-29 the page waited for that answer, up to
// the request's 20 s limit, with the person still signed in on screen.
func TestBrowserSigningOutDoesNotWaitForTheServer(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.hangLogout = true })
	s.open(t, "#/wallets", nil)
	s.do(t, "the wallets shown", chromedp.WaitVisible(chromedp.CSS(".wallet")))
	s.do(t, "log out", js(`document.querySelector("#logout").click()`))
	signedOut := `!sessionStorage.getItem("pw_token") && !!document.querySelector("#login-form") &&
		document.querySelector("#nav").hidden && !document.querySelector(".wallet")`
	for deadline := time.Now().Add(3 * time.Second); !eval[bool](t, s, signedOut); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("3 s after Log out the page is not signed out (token %q, login form %v), while the server holds the logout",
				eval[string](t, s, `sessionStorage.getItem("pw_token") || ""`), eval[bool](t, s, `!!document.querySelector("#login-form")`))
		}
	}
	logouts := func(f *fakeAPI) []string { f.mu.Lock(); defer f.mu.Unlock(); return slices.Clone(f.logouts) }
	for deadline := time.Now().Add(3 * time.Second); len(logouts(s.api)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server was not told of the logout")
		}
	}
	if got := logouts(s.api); len(got) != 1 || got[0] != "Bearer tok" {
		t.Errorf("the logouts the server was told of came with %q, want one with the session's token", got)
	}
	if n := s.api.read(func(f *fakeAPI) int { return f.logoutCancelled }); n != 0 {
		t.Errorf("the logout was given up %d times before its time limit, want it left to run", n)
	}
}

// TestBrowserAPaymentTriedAfterLogOutSaysNoSessionEnded: a payment counts
// down to try again (503 busy) when the person logs out; its next try has
// no session and gets 401. The person ended the session: the login view
// does not say it ended by itself, and what they type there stays. Until
// 2026-11-29 the 401 said "Your session ended" and drew the login view
// again, emptying its form. (As at any 401, an attempt that may have paid
// keeps its key in the tab; this one, only refused, is forgotten.)
func TestBrowserAPaymentTriedAfterLogOutSaysNoSessionEnded(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) { f.busy, f.busyRetryAfter = true, "1" })
	s.open(t, "#/wallets", nil)
	s.send(t, "12.50")
	s.do(t, "the payment counts down", chromedp.WaitVisible(chromedp.CSS("#pay-state .countdown")))
	s.do(t, "log out and start typing",
		js(`document.querySelector("#logout").click()`),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		js(`document.querySelector("#login-form").elements[0].value = "ann@example.com"`))
	paid := func(f *fakeAPI) int { return len(f.keys) }
	before := s.api.read(paid)
	time.Sleep(3 * time.Second) // the countdown's try, without a session, is answered 401
	notice := eval[string](t, s, `document.querySelector("#notice").textContent`)
	if strings.Contains(notice, "session ended") {
		t.Errorf("after Log out the login view says %q", notice)
	}
	if typed := eval[string](t, s, `document.querySelector("#login-form").elements[0].value`); typed != "ann@example.com" {
		t.Errorf("what was typed in the login form is now %q", typed)
	}
	if n := s.api.read(paid); n != before {
		t.Errorf("%d payments reached the server without a session", n-before)
	}
}

// TestBrowserASessionEndedElsewhereSignsOutWhereverItIsRead: a session
// ended elsewhere (a password reset, Log out in another tab) is answered
// 401 by every route. Whether the page learns it from GET /v1/wallets or
// from GET /v1/me (the Security view, the Send form's step-up hint), it
// signs out the same way: the token gone, the login view shown, the nav
// hidden, and the notice "Your session ended". Until 2026-11-29 only the
// wallets' 401 did; app.me() took a 401 as any refusal, and the Security
// view stayed up, signed in, showing no one.
func TestBrowserASessionEndedElsewhereSignsOutWhereverItIsRead(t *testing.T) {
	ended := func(f *fakeAPI) { f.meEnded = true }
	notices := map[string]string{}
	for _, c := range []struct {
		name, hash string
		set        func(f *fakeAPI)
	}{
		{"wallets, at the wallets view", "#/wallets", func(f *fakeAPI) { f.walletsEnded = true }},
		{"me, at the security view", "#/security", ended},
		{"me, at the send form", "#/send", ended},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newScene(t)
			s.api.set(c.set)
			s.do(t, "open the app signed in at "+c.hash+", with its session ended",
				chromedp.Navigate(s.base+"/#/login"),
				chromedp.WaitVisible(chromedp.CSS("#login-form")),
				js(`sessionStorage.setItem("pw_token", "tok")`),
				js("location.hash = "+strconv.Quote(c.hash)),
			)
			// location.hash is c.hash from here on until the page signs out.
			s.do(t, "the page signs out",
				until(`location.hash === "#/login" && !sessionStorage.getItem("pw_token") &&
					!!document.querySelector("#login-form") && document.querySelector("#notice").textContent !== ""`))
			if nav := eval[bool](t, s, `document.querySelector("#nav").hidden`); !nav {
				t.Error("the nav is shown after the session ended")
			}
			notice := eval[string](t, s, `document.querySelector("#notice").textContent`)
			if !strings.Contains(notice, "session ended") {
				t.Errorf("the login view says %q, want that the session ended", notice)
			}
			notices[c.name] = notice
		})
	}
	if n := len(slices.Compact(slices.Sorted(maps.Values(notices)))); n != 1 {
		t.Errorf("the notices differ by where the 401 came from: %q", notices)
	}
}
