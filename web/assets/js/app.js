// app.js: the user app's router and views. The session token lives in
// sessionStorage (see docs/decisions/0015-web-session.md): it is sent only
// in the Authorization header, never as a cookie, so there is no CSRF
// surface, and it ends with the tab.
"use strict";

(() => {
  const { t, api, el, partyName } = PW;
  const TokenKey = "pw_token";
  const PendingPayKey = "pw_pending_pay";
  // UnreadRetryMs: how soon the wallets view reads wallets again that
  // could not be read.
  const UnreadRetryMs = 5000;
  const view = document.getElementById("view");

  let walletsCache = null, meCache = null;
  // onInvalidate: what the view shown now reads again when the figures
  // change (a payment made, settled or cancelled); set by the view.
  let onInvalidate = null;
  const app = {
    token: () => sessionStorage.getItem(TokenKey),
    async wallets() {
      // Only an answer is kept. A read refused or unanswered (busy, a
      // timeout) gives no wallets, marked unread with why, and the next
      // call reads again: until 2026-11-29 it was kept for the page's
      // life, and at a surge the wallets view and the Send form said
      // "Open a wallet first" until a reload
      // (TestBrowserAWalletsReadRefusedIsReadAgain).
      if (!walletsCache) {
        const res = await api("GET", "/v1/wallets", { token: app.token() });
        if (res.status === 401) { app.loggedOut(); return []; }
        if (!res.ok) return Object.assign([], { unread: PW.problemText(res) });
        walletsCache = res.data.data || [];
      }
      return walletsCache;
    },
    async me() {
      if (!meCache) {
        const res = await api("GET", "/v1/me", { token: app.token() });
        // A 401 is a session ended elsewhere (a password reset): signed
        // out, as wallets() does. Until 2026-11-29 it was taken as any
        // refusal, and the view stayed up, signed in, showing no one
        // (TestBrowserASessionEndedElsewhereSignsOutWhereverItIsRead).
        if (res.status === 401) { app.loggedOut(); return {}; }
        if (!res.ok) return {}; // not kept: the next call reads again
        meCache = res.data;
      }
      return meCache;
    },
    invalidate() {
      walletsCache = null;
      if (onInvalidate) onInvalidate();
    },
    // pendingPay puts a payment in the Send form for the next time it
    // opens: {to, amount, currency, note}, as a /pay link does.
    pendingPay(p) {
      sessionStorage.setItem(PendingPayKey, JSON.stringify(p));
    },
    // loggedOut: the server answered 401, the session is over. One the
    // person ended (Log out) was over already: a try still running then
    // (a payment counting down) changes nothing on the page, neither a
    // notice that the session "ended" nor the login view drawn again over
    // what they type. Until 2026-11-29 it did both
    // (TestBrowserAPaymentTriedAfterLogOutSaysNoSessionEnded).
    loggedOut() {
      const had = !!app.token();
      sessionStorage.removeItem(TokenKey);
      walletsCache = meCache = null;
      if (!had) return;
      PW.notice(t("login.expired"));
      go("#/login");
    },
  };

  function go(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  }

  // focusView moves focus to the new view's heading, so that screen
  // readers announce the page change and keyboard users start there.
  function focusView() {
    const h = view.querySelector("h1");
    (h || view).focus();
  }

  const routes = [
    [/^#\/login$/, loginView, false],
    [/^#\/signup$/, signupView, false],
    [/^#\/wallets$/, walletsView, true],
    [/^#\/wallet\/([\w-]+)$/, historyView, true],
    [/^#\/send(?:\/([\w-]+))?$/, sendRoute, true],
    [/^#\/request$/, (root) => PWPay.requestView(root, app), true],
    [/^#\/receipt\/([\w-]+)$/, receiptView, true],
    [/^#\/security$/, securityView, true],
  ];

  async function route() {
    const hash = location.hash || "#/wallets";
    const loggedIn = !!app.token();
    onInvalidate = null; // the next view sets its own
    document.getElementById("nav").hidden = !loggedIn;
    for (const [re, fn, needsLogin] of routes) {
      const m = re.exec(hash);
      if (!m) continue;
      if (needsLogin && !loggedIn) return go("#/login");
      if (!needsLogin && loggedIn) return go("#/wallets");
      await fn(view, ...m.slice(1).map((x) => x && decodeURIComponent(x)));
      for (const a of document.querySelectorAll("#nav a")) {
        if (a.getAttribute("href") === hash) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
      }
      return focusView();
    }
    go(loggedIn ? "#/wallets" : "#/login");
  }

  function formError(form, text) {
    form.querySelector("[data-error]").textContent = text;
  }

  // login: with TOTP enrolled, the first answer is mfa_required and the
  // code field appears; the same form then sends the code too. The field
  // takes the app's code, a recovery code (xxxx-xxxx-xxxx-xxxx: letters,
  // so not a numeric keypad) or a code sent by message (send_code). The
  // server answers a wrong code as a wrong password (401 unauthorized: it
  // tells neither apart), so a refusal with a code says that one of the
  // two is not right, in words true of every kind of code. Until
  // 2026-11-29 the field was numeric and a wrong code was said to be a
  // wrong handle or password (TestBrowserALoginTakesARecoveryCode).
  function loginView(root) {
    root.replaceChildren(PW.fromTemplate("tpl-login"));
    const form = root.querySelector("#login-form");
    const credentials = () => ({ handle: form.elements.handle.value.trim(), password: form.elements.password.value });
    sendCodeButton(form, credentials);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = credentials();
      const code = form.elements.mfa_code.value.trim();
      if (code) body.mfa_code = code;
      const res = await api("POST", "/v1/sessions", { body });
      if (res.ok) return loggedIn(res.data.token);
      if (res.data.code === "mfa_required" || (code && res.data.code === "unauthorized")) {
        root.querySelector("#login-mfa").hidden = false;
        formError(form, code ? t("login.wrong_code") : t("login.need_code"));
        form.elements.mfa_code.focus();
        return;
      }
      formError(form, PW.problemText(res));
    });
  }

  // sendCodeButton: with the code field shown, "Send me a code by
  // message" sends the login again with send_code and no mfa_code. The
  // server then sends a one-time code to the handle and answers
  // mfa_required; the form says where the code went and puts the focus in
  // the code field. The button is disabled while the request is out, so a
  // double click sends one code. A rate_limited answer (three codes, then
  // one every 5 minutes; a lock after failed logins) says no code was sent
  // and how long to wait, from Retry-After. Until 2026-11-29 the form
  // offered no way to ask, and a user without their authenticator app and
  // recovery codes could not log in here
  // (TestBrowserALoginAsksForACodeByMessage,
  // TestBrowserALoginSaysWhenNoCodeCanBeSent).
  function sendCodeButton(form, credentials) {
    const button = form.querySelector("#login-send-code");
    const sent = form.querySelector("#login-code-sent");
    button.addEventListener("click", async () => {
      if (button.disabled) return;
      button.disabled = true;
      sent.textContent = "";
      formError(form, "");
      const body = credentials();
      let res;
      try {
        res = await api("POST", "/v1/sessions", { body: Object.assign({ send_code: true }, body) });
      } finally {
        button.disabled = false;
      }
      if (!form.isConnected) return;
      if (res.ok) return loggedIn(res.data.token); // no MFA any more: the password alone signs in
      if (res.data.code === "mfa_required") {
        sent.textContent = t("login.code_sent", { handle: body.handle });
        form.elements.mfa_code.focus();
        return;
      }
      // Disabled, the button lost the focus: a keyboard user gets it back.
      if (!document.activeElement || document.activeElement === document.body) button.focus();
      const wait = waitSeconds(res);
      if (res.data.code === "rate_limited" && wait > 0) {
        formError(form, wait < 60 ? t("login.code_wait_seconds", { s: wait }) : t("login.code_wait_minutes", { m: Math.ceil(wait / 60) }));
        return;
      }
      formError(form, PW.problemText(res));
    });
  }

  // waitSeconds is the wait a refusal asks for (Retry-After, or the
  // problem's retry_after), uncapped: PW.retryAfter caps it at the 600 s
  // its retry loops wait at most, and a login lock lasts up to 15 minutes.
  function waitSeconds(res) {
    const s = parseInt((res.headers && res.headers.get("Retry-After")) || "", 10);
    if (s > 0) return s;
    return res.data && res.data.retry_after > 0 ? res.data.retry_after : 0;
  }

  function loggedIn(token) {
    sessionStorage.setItem(TokenKey, token);
    walletsCache = meCache = null;
    PW.notice("");
    go(sessionStorage.getItem(PendingPayKey) ? "#/send" : "#/wallets");
  }

  function signupView(root) {
    root.replaceChildren(PW.fromTemplate("tpl-signup"));
    const form = root.querySelector("#signup-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { handle: form.elements.handle.value.trim(), password: form.elements.password.value };
      const res = await api("POST", "/v1/users", { body });
      if (!res.ok) return formError(form, PW.problemText(res));
      const login = await api("POST", "/v1/sessions", { body });
      if (!login.ok) return formError(form, PW.problemText(login));
      sessionStorage.setItem(TokenKey, login.data.token);
      PW.notice(t("signup.welcome"), "ok");
      go("#/security");
    });
  }

  // The home view: the wallets with their figures, the payments waiting in
  // the surge queue, and opening a wallet.
  async function walletsView(root) {
    root.replaceChildren(PW.fromTemplate("tpl-wallets"));
    const section = root.querySelector("#waiting");
    const [cur, wallets] = await Promise.all([PW.loadCurrencies(), app.wallets()]);
    // Signed out meanwhile (a 401: the login view follows), or another
    // view already replaced this one.
    if (!app.token() || !section.isConnected) return;
    fillWallets(root, wallets);
    const waiting = PWPay.waitingList(section, app);
    // Wallets that could not be read are read again while this view is
    // shown, every UnreadRetryMs, until they are.
    const again = () => setTimeout(async () => {
      if (!section.isConnected || !app.token()) return;
      const ws = await app.wallets();
      if (!section.isConnected || !app.token()) return;
      fillWallets(root, ws);
      if (ws.unread) again();
    }, UnreadRetryMs);
    if (wallets.unread) again();
    // A payment made, settled or cancelled changes the figures and the
    // list: both are read again, here, while this view is shown.
    onInvalidate = () => {
      if (!section.isConnected) return;
      waiting.refresh();
      app.wallets().then((ws) => { if (section.isConnected && app.token()) fillWallets(root, ws); });
    };
    const form = root.querySelector("#open-wallet-form");
    const have = new Set(wallets.map((w) => w.currency));
    for (const code of Object.keys(cur).sort()) {
      if (!have.has(code)) form.elements.currency.append(el("option", { value: code }, code));
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const res = await api("POST", "/v1/wallets", { token: app.token(), body: { currency: form.elements.currency.value } });
      if (!res.ok) return formError(form, PW.problemText(res));
      meCache = null; // its step_up_thresholds lack the new wallet's currency
      app.invalidate();
      PW.notice(t("wallets.opened", { cur: res.data.currency }), "ok");
      route();
    });
  }

  // fillWallets shows each wallet's figures (again, when they change).
  function fillWallets(root, wallets) {
    const list = root.querySelector("[data-list]");
    const items = [];
    for (const w of wallets) {
      const item = PW.fromTemplate("tpl-wallet-item");
      const set = (sel, v) => { item.querySelector(sel).textContent = v; };
      set("[data-currency]", w.currency);
      set("[data-available]", PW.formatMoney(w.balance.available, w.currency));
      set("[data-posted]", PW.formatMoney(w.balance.posted, w.currency));
      set("[data-pending-out]", PW.formatMoney(w.balance.pending_out, w.currency));
      set("[data-pending-in]", PW.formatMoney(w.balance.pending_in, w.currency));
      item.querySelector("[data-history]").href = "#/wallet/" + w.id;
      item.querySelector("[data-send]").href = "#/send/" + w.id;
      items.push(item);
    }
    list.replaceChildren(...items);
    root.querySelector("[data-empty]").hidden = wallets.length > 0 || !!wallets.unread;
    const unread = root.querySelector("[data-unread]");
    unread.hidden = !wallets.unread;
    unread.textContent = wallets.unread ? t("wallets.unread", { why: wallets.unread }) : "";
  }

  // counterpart is the line a history row says of the other side: "From
  // ann@example.com", "To Coffee Corner", "Top-up"; "" when unknown.
  function counterpart(tr, out) {
    const side = out ? "to" : "from", party = out ? tr.to_party : tr.from_party;
    const name = partyName(party, side);
    if (!name || party.kind === "system") return name;
    return t(out ? "history.to_party" : "history.from_party", { party: name });
  }

  // History: pages of the wallet's transfers, filtered in the browser.
  async function historyView(root, id) {
    root.replaceChildren(PW.fromTemplate("tpl-history"));
    await PW.loadCurrencies();
    const ws = await app.wallets();
    if (ws.unread) { root.replaceChildren(el("h1", { tabindex: "-1" }, t("wallets.unread", { why: ws.unread }))); return; }
    const w = ws.find((x) => x.id === id);
    if (!w) { root.replaceChildren(el("h1", { tabindex: "-1" }, t("error.not_found"))); return; }
    root.querySelector("[data-currency]").textContent = w.currency;
    root.querySelector("[data-balance]").textContent = t("wallet.available") + " " + PW.formatMoney(w.balance.available, w.currency);
    if (w.balance.pending_out || w.balance.pending_in) {
      const h = root.querySelector("[data-holds]");
      h.hidden = false;
      h.textContent = t("history.holds", { out: PW.formatMoney(w.balance.pending_out, w.currency), in: PW.formatMoney(w.balance.pending_in, w.currency) });
    }
    const all = [];
    let cursor = "";
    const filters = root.querySelector("#history-filters");
    const list = root.querySelector("[data-list]"), more = root.querySelector("[data-more]");
    const render = () => {
      const q = filters.elements.q.value.trim().toLowerCase(), dir = filters.elements.dir.value;
      const from = filters.elements.from.value, to = filters.elements.to.value;
      const shown = all.filter((tr) => {
        const out = tr.from_account === id, day = (tr.created_at || "").slice(0, 10);
        if (dir === "in" && out) return false;
        if (dir === "out" && !out) return false;
        if (from && day < from) return false;
        if (to && day > to) return false;
        const text = [tr.id, tr.description, tr.from_account, tr.to_account, tr.kind,
          partyName(tr.from_party, "from"), partyName(tr.to_party, "to")].join(" ").toLowerCase();
        return !q || text.includes(q);
      });
      list.replaceChildren(...shown.map((tr) => {
        const out = tr.from_account === id, who = counterpart(tr, out);
        // The description is the title, and who is under it; without one,
        // who is the title.
        return el("li", { class: "card tx" },
          el("a", { href: "#/receipt/" + tr.id },
            el("span", { class: "tx-what" }, tr.description || who || t(out ? "history.sent" : "history.received")),
            el("span", { class: "amount " + (out ? "out" : "in") }, (out ? "−" : "+") + PW.formatMoney(tr.amount, tr.currency)),
            tr.description && who ? el("span", { class: "tx-who" }, who) : null,
            el("span", { class: "muted tx-when" }, PW.formatDate(tr.created_at))));
      }));
      root.querySelector("[data-count]").textContent = t("history.count", { n: shown.length, total: all.length });
    };
    const load = async () => {
      const q = new URLSearchParams({ limit: "100" });
      if (cursor) q.set("cursor", cursor);
      const res = await api("GET", "/v1/accounts/" + encodeURIComponent(id) + "/transfers?" + q, { token: app.token() });
      if (!res.ok) { PW.notice(PW.problemText(res), "error"); return; }
      all.push(...res.data.data);
      cursor = res.data.next_cursor || "";
      more.hidden = !cursor;
      render();
    };
    filters.addEventListener("input", render);
    filters.addEventListener("submit", (ev) => ev.preventDefault());
    more.addEventListener("click", load);
    await load();
  }

  async function sendRoute(root, walletID) {
    let prefill = null;
    try { prefill = JSON.parse(sessionStorage.getItem(PendingPayKey)); } catch (_) { /* none */ }
    sessionStorage.removeItem(PendingPayKey);
    await PWPay.sendView(root, app, prefill);
    if (!walletID) return;
    // The wallet the link names, as if chosen: the form's hints follow it
    // (until 2026-11-29 they kept the first wallet's currency).
    const from = root.querySelector("#send-from");
    from.value = walletID;
    if (from.value === walletID) from.dispatchEvent(new Event("change"));
  }

  async function receiptView(root, id) {
    await PW.loadCurrencies();
    const res = await api("GET", "/v1/transfers/" + encodeURIComponent(id), { token: app.token() });
    if (!res.ok) { root.replaceChildren(el("h1", { tabindex: "-1" }, PW.problemText(res))); return; }
    const tr = res.data;
    root.replaceChildren(PW.fromTemplate("tpl-receipt"));
    const set = (sel, v) => { root.querySelector(sel).textContent = v; };
    set("[data-amount]", PW.formatMoney(tr.amount, tr.currency));
    set("[data-status]", t("receipt.status." + tr.status));
    set("[data-date]", PW.formatDate(tr.created_at));
    // Who, and the account ID beside it, small: what support asks for.
    for (const side of ["from", "to"]) {
      const account = tr[side + "_account"], name = partyName(tr[side + "_party"], side);
      root.querySelector("[data-" + side + "]").replaceChildren(...(name
        ? [el("span", { "data-party": "" }, name), " ", el("span", { class: "mono small party-account" }, account)]
        : [el("span", { class: "mono" }, account)]));
    }
    set("[data-note]", tr.description || "—");
    set("[data-refunded]", PW.formatMoney(tr.refunded_amount || 0, tr.currency));
    set("[data-id]", tr.id);
    root.querySelector("[data-print]").addEventListener("click", () => window.print());
    // A payment received may be refunded, in part or all that remains.
    await PWRefund.refundForm(root, app, tr, async () => {
      await receiptView(root, id);
      focusView();
    });
  }

  async function securityView(root) {
    root.replaceChildren(PW.fromTemplate("tpl-security"));
    const me = await app.me();
    root.querySelector("[data-who]").textContent = t("security.who", { handle: me.handle || "" });
    fillStepUp(root, me);
    const err = root.querySelector("[data-error]");
    root.querySelector("[data-start]").addEventListener("click", async (ev) => {
      const res = await api("POST", "/v1/me/mfa/totp", { token: app.token() });
      if (!res.ok) { err.textContent = PW.problemText(res); return; }
      ev.target.hidden = true;
      const box = root.querySelector("[data-enrol]");
      box.hidden = false;
      box.querySelector("[data-qr]").src = "data:image/png;base64," + res.data.qr_png_base64;
      box.querySelector("[data-secret]").textContent = res.data.secret;
      box.querySelector("#totp-code").focus();
    });
    const form = root.querySelector("#totp-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const res = await api("POST", "/v1/me/mfa/totp/confirm", { token: app.token(), body: { code: form.elements.code.value.trim() } });
      if (!res.ok) { err.textContent = PW.problemText(res); return; }
      err.textContent = "";
      root.querySelector("[data-enrol]").hidden = true;
      const done = root.querySelector("[data-done]");
      done.hidden = false;
      done.querySelector("[data-codes]").replaceChildren(...(res.data.recovery_codes || []).map((c) => el("li", null, c)));
      PW.notice(t("totp.done"), "ok");
      // A step-up now asks for the app's code: said here and in the Send
      // form, from the /v1/me kept (read again if it said nothing of it).
      if (meCache && typeof meCache.totp_enabled === "boolean") meCache.totp_enabled = true; else meCache = null;
      fillStepUp(root, await app.me());
    });
  }

  // fillStepUp says where a payment starts to ask for a second factor:
  // "Payments above 100.00 EUR ask for a code", for each currency /v1/me
  // gives a threshold (those of the user's wallets), and which code (the
  // authenticator app's, or one sent by message to the handle). When
  // /v1/me says no threshold (an older server, a read that failed) the
  // section stays hidden: no figure rather than a wrong one. Until
  // 2026-11-29 the app said nowhere where that line was, and a payment met
  // the prompt by surprise (TestBrowserTheSecurityViewSaysWhichPaymentsAskForACode).
  function fillStepUp(root, me) {
    const section = root.querySelector("[data-step-up]");
    const all = (me && me.step_up_thresholds) || {};
    const lines = Object.keys(all).sort().flatMap((cur) => {
      const limit = PWPay.stepUpThreshold(me, cur);
      return limit == null ? [] : [el("li", { "data-currency": cur }, t("security.step_up_line", { amount: PW.formatMoney(limit, cur) }))];
    });
    section.querySelector("[data-step-up-list]").replaceChildren(...lines);
    const how = me.totp_enabled === true ? t("security.step_up_app")
      : me.totp_enabled === false && me.handle ? t("security.step_up_message", { handle: me.handle }) : "";
    section.querySelector("[data-step-up-how]").textContent = how;
    section.hidden = lines.length === 0;
  }

  // Log out signs out here at once — the token gone, the login view shown
  // — and tells the server in the background: its answer changes nothing
  // for the page, and a logout that never reaches the server (no answer, a
  // closed tab) leaves a session that only the token, now gone from the
  // tab, could use, and that expires on the server 12 h after it began
  // (auth.DefaultSessionTTL). keepalive lets the request outlive the page.
  // Until 2026-11-29 the page waited for the answer, up to the request's
  // 20 s limit on a stalled server, the person still signed in on screen
  // (TestBrowserSigningOutDoesNotWaitForTheServer).
  document.getElementById("logout").addEventListener("click", () => {
    const token = app.token();
    sessionStorage.removeItem(TokenKey);
    walletsCache = meCache = null;
    go("#/login");
    if (token) api("DELETE", "/v1/sessions/current", { token, keepalive: true });
  });

  // A /pay link opens the app with the payment waiting for the payer.
  if (location.pathname === "/pay") {
    const p = PWPay.readPayLink(location.href);
    if (p) app.pendingPay(p);
    history.replaceState(null, "", "/#/send");
  }
  PW.initLanguage();
  PW.pollStatus();
  window.addEventListener("hashchange", route);
  route();
})();
