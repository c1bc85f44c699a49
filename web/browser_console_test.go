package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTheConsoleSaysCodesInWords: the console shows the codes the
// API sends — the operator's role, the admission classes, the breaker's
// state, refusal reasons, why ledger batches failed, what the surge queue
// did, the status's state, an incident's status and impact — in words of
// the page's language, and a code it has no words for (a newer server's)
// as itself, never "undefined". Until 2026-11-29 it showed them raw.
func TestBrowserTheConsoleSaysCodesInWords(t *testing.T) {
	s := newScene(t)
	s.api.set(func(f *fakeAPI) {
		f.summary = `{"time":"2026-11-29T12:00:00Z","operator":{"id":"op_1","role":"support"},"requests":10,"busy":1,
			"ledger_batches_failed":{"out_of_time":2,"mystery":1},
			"surge_queue":{"accepted":5,"writers_busy":1,"novel_result":4},"surge_queue_oldest_seconds":0,
			"admission":{"limit":8,"admitted":2,"breaker":"half_open","retry_after_seconds":0,
				"queued":{"payment":1},"refused":{"payment":4},"shed":{},
				"refusals":{"payment":{"queue_wait":3,"brand_new_rule":1}}}}`
		f.status = `{"state":"degraded","time":"2026-11-29T12:00:00Z","maintenance":[],"incidents":[
			{"title":"Slow payments","status":"monitoring","impact":"busy"},
			{"title":"Something new","status":"postmortem"}]}`
	})
	cases := []struct {
		lang string
		want map[string][]string // a CSS selector, what its text says
		tips map[string][]string // a CSS selector, what its title says
	}{
		{"zh-CN", map[string][]string{
			"[data-who]":         {"（客服）"},
			"#admission-state":   {"熔断器 半开（以一个请求试探存储）"},
			"#admission-classes": {"付款", "充值", "查询", "报表"},
			"#surge-offers":      {"已接受 5", "写入繁忙 1", "novel_result 4"},
			"#status-state":      {"当前状态：降级。"},
			"#incident-list":     {"Slow payments — 监控中（影响：繁忙）", "Something new — postmortem（影响：–）"},
		}, map[string][]string{
			"#admission-classes tbody tr:first-child td:nth-child(3)": {"预计等待过长 3", "brand_new_rule 1"},
			`[data-m="failed"]`: {"超时 2", "mystery 1"},
		}},
		{"en", map[string][]string{
			"[data-who]":         {"(support)"},
			"#admission-state":   {"breaker half-open (one request probes the store)"},
			"#admission-classes": {"Payments", "Top-ups", "Reads", "Reports"},
			"#surge-offers":      {"accepted 5", "writers busy 1", "novel_result 4"},
			"#status-state":      {"State now: degraded."},
			"#incident-list":     {"Slow payments — monitoring (impact: busy)", "Something new — postmortem (impact: –)"},
		}, map[string][]string{
			"#admission-classes tbody tr:first-child td:nth-child(3)": {"wait too long 3", "brand_new_rule 1"},
			`[data-m="failed"]`: {"out of time 2", "mystery 1"},
		}},
	}
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	for _, c := range cases {
		s.do(t, "open the console in "+c.lang,
			js(`document.cookie = "pw_lang=`+c.lang+`; path=/"; sessionStorage.setItem("pw_op", "key"); location.reload()`))
		s.do(t, "the console in "+c.lang, chromedp.WaitVisible(chromedp.CSS("#console")),
			until(`document.documentElement.lang === "`+c.lang+`" && document.querySelector("#incident-list").children.length === 2`))
		for sel, wants := range c.want {
			got := eval[string](t, s, `document.querySelector(`+quote(sel)+`).textContent`)
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s says %q, want %q in it", c.lang, sel, got, w)
				}
			}
		}
		for sel, wants := range c.tips {
			got := eval[string](t, s, `document.querySelector(`+quote(sel)+`).title`)
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s's tooltip says %q, want %q in it", c.lang, sel, got, w)
				}
			}
		}
		for _, raw := range []string{"undefined", "half_open", "writers_busy", "queue_wait", "out_of_time"} {
			text := eval[string](t, s, `document.querySelector("#console").innerHTML`)
			if strings.Contains(text, raw) {
				t.Errorf("%s: the console shows %q", c.lang, raw)
			}
		}
	}
}

func quote(s string) string { return "`" + s + "`" }

// consoleIn reloads the console, signed in, in lang.
func (s *scene) consoleIn(t *testing.T, lang string) {
	t.Helper()
	s.do(t, "open the console in "+lang,
		js(`document.cookie = "pw_lang=`+lang+`; path=/"; sessionStorage.setItem("pw_op", "key"); location.reload()`))
	s.do(t, "the console in "+lang, chromedp.WaitVisible(chromedp.CSS("#lookup-form")),
		until(`document.documentElement.lang === "`+lang+`"`))
}

// lookUp clears the Look-up's answer, types q into its box and submits
// it, and waits until done is true.
func (s *scene) lookUp(t *testing.T, what, q, done string) {
	t.Helper()
	s.do(t, what,
		js(`document.querySelector("#lookup-out").replaceChildren()`),
		js(`document.querySelector("#lookup-id").value = `+quote(q)+`; document.querySelector("#lookup-form").requestSubmit()`),
		until(done))
}

// textOf is the text of the first element sel selects ("" with none).
func (s *scene) textOf(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, s, `(document.querySelector(`+quote(sel)+`) || {}).textContent || ""`)
}

// bobsDesk is the fake API of a support desk whose customer Bob
// (+4915112345678, usr_bob) has a EUR and a JPY wallet, the EUR one with
// two transfers (to a merchant, a top-up); a merchant's account,
// acc_shop, is owned by mer_shop.
func bobsDesk(f *fakeAPI) {
	f.summary = `{"time":"2026-11-29T12:00:00Z","operator":{"id":"op_1","role":"support"},"requests":0,"busy":0}`
	bob := `{"id":"usr_bob","handle":"+4915112345678","created_at":"2026-11-01T09:00:00Z",
		"totp_enabled":true,"failed_logins":10,"locked":true,"locked_until":"2026-11-29T12:15:00Z",
		"wallets":[{"id":"acc_bobeur","kind":"user","currency":"EUR","owner_id":"usr_bob","balance":{"posted":4250,"pending_out":250,"pending_in":0,"available":4000}},
			{"id":"acc_bobjpy","kind":"user","currency":"JPY","owner_id":"usr_bob","balance":{"posted":1500,"pending_out":0,"pending_in":0,"available":1500}}]}`
	f.users = map[string]string{"+4915112345678": bob}
	f.usersByID = map[string]string{"usr_bob": bob}
	f.accounts = map[string]string{
		"/v1/accounts/acc_bobeur": `{"id":"acc_bobeur","kind":"user","currency":"EUR","owner_id":"usr_bob","balance":{"posted":4250,"pending_out":250,"pending_in":0,"available":4000}}`,
		"/v1/accounts/acc_bobeur/transfers": `{"data":[
			{"id":"tr_2","from_account":"acc_bobeur","to_account":"acc_shop","amount":350,"currency":"EUR","created_at":"2026-11-29T11:00:00Z",
				"from_party":{"kind":"user","handle":"+4915112345678"},"to_party":{"kind":"merchant","name":"Coffee Corner"}},
			{"id":"tr_1","from_account":"acc_sys","to_account":"acc_bobeur","amount":4600,"currency":"EUR","created_at":"2026-11-28T11:00:00Z",
				"from_party":{"kind":"system"},"to_party":{"kind":"user","handle":"+4915112345678"}}]}`,
		"/v1/accounts/acc_shop": `{"id":"acc_shop","kind":"merchant","currency":"EUR","owner_id":"mer_shop","balance":{"posted":350,"pending_out":0,"pending_in":0,"available":350}}`,
	}
}

// TestBrowserTheConsoleLooksUpACustomerByHandle: support types the phone
// number a customer wrote from, in any spelling, into the Look-up box
// (anything that is not an ID is a handle): the console asks GET
// /v1/users?handle= and shows the user — handle, ID, whether the
// authenticator app is on, a lock and until when — and their wallets with
// balances; a wallet opens its account's look-up below, whose latest
// transfers name each side (a user's handle, a merchant's name, a
// top-up). An unknown handle says so, and something that is neither an
// ID nor a handle says what the box takes. In English and in Chinese.
// Until the change the box took IDs only and sent anything else to
// /v1/transfers/. (A user's ID is an ID since the look-up by ID:
// TestBrowserTheConsoleOpensAUserByID.)
func TestBrowserTheConsoleLooksUpACustomerByHandle(t *testing.T) {
	s := newScene(t)
	s.api.set(bobsDesk)
	cases := []struct {
		lang                       string
		user, transfers            []string
		unknown, notHandle, header string
	}{
		{"en", []string{"+4915112345678", "usr_bob", "Authenticator appon", "locked until", "10 failed logins", "EUR", "40.00", "42.50", "JPY", "1,500", "acc_bobeur"},
			[]string{"+4915112345678", "Coffee Corner", "Top-up", "acc_shop", "3.50"},
			"No user has that email address or phone number.", "Not an ID", "Available"},
		{"zh-CN", []string{"+4915112345678", "usr_bob", "身份验证器已启用", "锁定至", "10 次登录失败", "EUR", "acc_bobeur"},
			[]string{"Coffee Corner", "充值"},
			"没有用户使用该邮箱或手机号。", "既不是编号", "可用"},
	}
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	for _, c := range cases {
		s.consoleIn(t, c.lang)
		lookUp := func(what, q, done string) { s.lookUp(t, c.lang+": look up "+what, q, done) }
		lookUp("a phone number as the customer wrote it", " +49 (151) 1234-5678 ", `document.querySelector("#lookup-wallets tbody") !== null`)
		text := func(sel string) string { return s.textOf(t, sel) }
		user := text("#lookup-out")
		for _, want := range append(c.user, c.header) {
			if !strings.Contains(user, want) {
				t.Errorf("%s: the look-up shows %q, want %q in it", c.lang, user, want)
			}
		}
		if n := eval[int](t, s, `document.querySelectorAll("#lookup-wallets tbody tr").length`); n != 2 {
			t.Errorf("%s: %d wallets shown, want 2", c.lang, n)
		}
		s.do(t, c.lang+": open the EUR wallet",
			js(`document.querySelector('#lookup-wallets [data-account="acc_bobeur"]').click()`),
			until(`document.querySelector("#lookup-account #lookup-transfers") !== null`))
		transfers := text("#lookup-transfers")
		for _, want := range c.transfers {
			if !strings.Contains(transfers, want) {
				t.Errorf("%s: the wallet's transfers show %q, want %q in it", c.lang, transfers, want)
			}
		}
		if !strings.Contains(text("#lookup-out"), "usr_bob") {
			t.Errorf("%s: opening a wallet hid the user", c.lang)
		}
		lookUp("an unknown handle", "nobody@example.com", `document.querySelector("#lookup-out .error") !== null`)
		if got := text("#lookup-out"); got != c.unknown {
			t.Errorf("%s: an unknown handle shows %q, want %q", c.lang, got, c.unknown)
		}
		lookUp("neither an ID nor a handle", "bob", `document.querySelector("#lookup-out .error") !== null`)
		if got := text("#lookup-out"); !strings.Contains(got, c.notHandle) {
			t.Errorf("%s: %q shows %q, want %q in it", c.lang, "bob", got, c.notHandle)
		}
		if html := eval[string](t, s, `document.querySelector("#lookup-out").innerHTML`); strings.Contains(html, "undefined") {
			t.Errorf("%s: the look-up shows undefined: %s", c.lang, html)
		}
	}
	var asked []string
	s.api.set(func(f *fakeAPI) { asked = append(asked, f.lookups...) })
	if len(asked) != 6 || asked[0] != "+49 (151) 1234-5678" {
		t.Errorf("the console asked for %q, want the handle as typed, trimmed, 3 look-ups a language", asked)
	}
}

// TestBrowserTheConsoleOpensAUserByID: a user's ID typed into the
// Look-up box (usr_…) shows the user as their handle does (GET
// /v1/users/{id}: handle, ID, the lock, the wallets); an ID no user has
// says so; and in an account's look-up, typed or opened from a user's
// wallet, the owner_id of a user's account is a button that opens the
// user, while a merchant's account's owner stays text. In English and
// in Chinese. Before the change usr_bob was refused as not a handle
// (the console asked /v1/users?handle=usr_bob) and the owner_id was
// text.
func TestBrowserTheConsoleOpensAUserByID(t *testing.T) {
	s := newScene(t)
	s.api.set(bobsDesk)
	cases := []struct {
		lang, locked, unknown, openUser string
	}{
		{"en", "locked until", "No user has that ID.", "Open this user"},
		{"zh-CN", "锁定至", "没有用户使用该编号。", "打开该用户"},
	}
	s.do(t, "open the console", chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	for _, c := range cases {
		s.consoleIn(t, c.lang)
		lookUp := func(what, q, done string) { s.lookUp(t, c.lang+": look up "+what, q, done) }
		text := func(sel string) string { return s.textOf(t, sel) }
		userShown := func(how string) {
			t.Helper()
			user := text("#lookup-user")
			for _, want := range []string{"+4915112345678", "usr_bob", c.locked} {
				if !strings.Contains(user, want) {
					t.Errorf("%s: %s shows the user as %q, want %q in it", c.lang, how, user, want)
				}
			}
			if n := eval[int](t, s, `document.querySelectorAll("#lookup-wallets tbody tr").length`); n != 2 {
				t.Errorf("%s: %s shows %d wallets, want 2", c.lang, how, n)
			}
		}

		lookUp("a user's ID", " usr_bob ", `document.querySelector("#lookup-user") !== null || document.querySelector("#lookup-out .error") !== null`)
		userShown("usr_bob typed")
		lookUp("an ID no user has", "usr_nobody", `document.querySelector("#lookup-out .error") !== null`)
		if got := text("#lookup-out"); got != c.unknown {
			t.Errorf("%s: an unknown user ID shows %q, want %q", c.lang, got, c.unknown)
		}

		// An account typed: its owner opens the user.
		lookUp("Bob's account", "acc_bobeur", `document.querySelector("#lookup-out dl") !== null`)
		owner := `document.querySelector('#lookup-out [data-owner="usr_bob"]')`
		if eval[string](t, s, `(`+owner+` || {}).title || ""`) != c.openUser {
			t.Fatalf("%s: the account's owner_id is not a button that opens the user: %s", c.lang,
				eval[string](t, s, `document.querySelector("#lookup-out").innerHTML`))
		}
		s.do(t, c.lang+": open the account's owner", js(owner+`.click()`),
			until(`document.querySelector("#lookup-user") !== null`))
		userShown("the owner of acc_bobeur opened")
		if got := eval[string](t, s, `document.querySelector("#lookup-id").value`); got != "usr_bob" {
			t.Errorf("%s: the Look-up box says %q while showing usr_bob", c.lang, got)
		}

		// An account opened from a user's wallet: its owner opens the user
		// again, as if typed.
		s.do(t, c.lang+": open the EUR wallet",
			js(`document.querySelector('#lookup-wallets [data-account="acc_bobeur"]').click()`),
			until(`document.querySelector('#lookup-account [data-owner="usr_bob"]') !== null`))
		s.do(t, c.lang+": open the wallet's owner",
			js(`document.querySelector('#lookup-account [data-owner="usr_bob"]').click()`),
			until(`document.querySelector("#lookup-account") !== null && document.querySelector("#lookup-account").childElementCount === 0`))
		userShown("the owner of a wallet opened")

		// A merchant's account: its owner is not a user, and stays text.
		lookUp("a merchant's account", "acc_shop", `document.querySelector("#lookup-out dl") !== null`)
		if eval[bool](t, s, `document.querySelector("#lookup-out [data-owner]") !== null`) || !strings.Contains(text("#lookup-out"), "mer_shop") {
			t.Errorf("%s: a merchant's account shows %s", c.lang, eval[string](t, s, `document.querySelector("#lookup-out").innerHTML`))
		}
	}
	var byID, byHandle []string
	s.api.set(func(f *fakeAPI) { byID, byHandle = append(byID, f.idLookups...), append(byHandle, f.lookups...) })
	if len(byID) != 8 || byID[0] != "usr_bob" || byID[1] != "usr_nobody" || len(byHandle) != 0 {
		t.Errorf("the console asked by ID for %q and by handle for %q, want usr_bob, usr_nobody, usr_bob twice a language and no handle", byID, byHandle)
	}
}
