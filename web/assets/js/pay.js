// pay.js: sending money (with every calm state a payment can meet),
// requesting money as a link and QR code, and reading such a link back
// (pasted, opened, or scanned with the camera).
"use strict";

const PWPay = (() => {
  const { t, api, el } = PW;
  // Bounds: automatic retries of one attempt, and polls of a queued one.
  const AutoRetriesMax = 6;
  // EarlyRetriesMax bounds the retries made before the Retry-After of a
  // 503 maintenance because GET /v1/status said no read-only window is in
  // force any more. They are not among AutoRetriesMax: a window ended
  // early is no failure, and the person keeps every retry a window that
  // ran its course would have left them. But the status and the refusal
  // may disagree (a process that reloads the schedule up to half a second
  // later, a handover, a new window at once), and then each early retry
  // is refused again, one every CountdownCheckMs. After EarlyRetriesMax of
  // them the countdown waits the Retry-After the server gave, reading no
  // status, and the retry after it counts as any other: one attempt is
  // sent at most 1 + AutoRetriesMax + EarlyRetriesMax times by itself, and
  // one cancellation asked as often.
  const EarlyRetriesMax = 3;
  // told: an outcome shown where the person no longer looks (they went
  // to another view while the app kept at what they had asked: a
  // payment's retries, a cancellation's) is told in the page's notice
  // too, which every view shows. Until 2026-11-29 it was shown only in
  // the view left behind, and nobody saw it. node: where it was shown;
  // cls: its state ("busy final": the retries are spent).
  const ToldKinds = { paid: "ok", cancelled: "ok", queued: "", failed: "error", final: "error" };
  function told(node, cls) {
    if (node.isConnected) return;
    const kind = cls.split(" ").map((c) => ToldKinds[c]).find((k) => k !== undefined);
    if (kind === undefined) return;
    const lines = [...node.querySelectorAll("p.waiting-what, p.title, p.error")].map((p) => p.textContent).filter(Boolean);
    PW.notice(lines.join(" · ") || node.textContent, kind);
  }
  // A payment's wait and time limit, and a cancellation's (common.js: the
  // console's stop has the same).
  const { PayWaitSeconds, PayTimeoutMs } = PW;
  const IntentPollMs = 1500;
  const IntentPollsMax = 200;
  const AttemptsKey = "pw_attempts";

  // The payment attempts not yet finished, by body: {key, body, unseen}.
  // An attempt's Idempotency-Key is reused for every retry of the same
  // body (busy, network, MFA), also across a reload and signing in again,
  // so that no retry can pay twice; a changed body is a new attempt.
  // Kept by body, not one at a time: a payment counting down goes on when
  // the person leaves its view, and they may send another from the form
  // meanwhile. A payment's own tries keep and forget only their own.
  // Until the review of 2026-11-29 one attempt was kept, and the first
  // payment's outcome (even a 401) forgot the second's, whose answer had
  // been lost: sent again after signing in, that payment went out under a
  // new key and was paid twice
  // (TestBrowserACountdownLeftBehindKeepsTheNextPaymentsKey); the first
  // fix kept whichever came first, which could still lose the other's.
  //
  // The record is bounded. An attempt answered for good (paid, queued,
  // refused) is forgotten at once. What stays: attempts whose outcome is
  // unknown (unseen: a try's answer was lost, so it may have paid; only
  // its key can tell, and it is never dropped), attempts being tried in
  // this page now (trying: the same payment sent again from the form must
  // go with the key its countdown will retry with), and idle ones, each of
  // whose tries was refused before the server looked at its key (503,
  // 429, a step-up: nothing paid) and which nothing tries now (retries
  // spent, countdown cancelled, view left). An idle attempt sent again may
  // as well go under a new key; only the AttemptsIdleMax most recently
  // tried (at) keep theirs. Until 2026-11-29 every attempt that was not
  // answered for good was kept for the tab's life.
  const AttemptsIdleMax = 5;
  const trying = new Map(); // key → how many pay loops try it now
  // attemptID names an attempt in the record: its body, and, for a request
  // sent elsewhere than a payment's /v1/transfers (a refund's path), that
  // path before it, so that refunds of two transfers with the same body
  // are two attempts with two keys.
  const attemptID = (a) => (a.path ? a.path + " " : "") + a.body;
  function attempts() {
    try { return JSON.parse(sessionStorage.getItem(AttemptsKey)) || {}; } catch (_) { return {}; }
  }
  function storeAttempts(all) {
    const idle = Object.entries(all).filter(([, a]) => !(a && a.unseen) && !(a && trying.has(a.key)))
      .sort(([, a], [, b]) => ((b && b.at) || 0) - ((a && a.at) || 0));
    for (const [body] of idle.slice(AttemptsIdleMax)) delete all[body];
    if (Object.keys(all).length) sessionStorage.setItem(AttemptsKey, JSON.stringify(all)); else sessionStorage.removeItem(AttemptsKey);
  }
  // loadAttempt is the attempt kept for body sent to path (none: a
  // payment's), or null.
  function loadAttempt(body, path) {
    const a = attempts()[attemptID({ body, path })];
    return a && a.body === body && (a.path || "") === (path || "") && a.key ? a : null;
  }
  function keepAttempt(a) {
    const all = attempts();
    a.at = Date.now();
    all[attemptID(a)] = a;
    storeAttempts(all);
  }
  function forgetAttempt(a) {
    const all = attempts();
    const id = attemptID(a);
    if (all[id] && all[id].key === a.key) {
      delete all[id];
      storeAttempts(all);
    }
  }

  // Payment is what pay sends unless told otherwise: a payment, POST
  // /v1/transfers, which the server may queue at a surge (202). Another
  // request that moves money (a refund, refund.js) is sent by the same
  // pay, so that it meets every answer as a payment does (docs/webapp.md,
  // "Every answer a payment can get"), as its own request: its attempt's
  // path, its Prefer, and what it says where it differs. what: the amount
  // and the payee the step-up prompt names (whatKey); done: a 201;
  // failed: the words for a final refusal; leftBehind: a step-up asked
  // while the person is on another view.
  const Payment = {
    prefer: "respond-async, wait=" + PayWaitSeconds,
    whatKey: "mfa.what",
    what: (b) => ({ amount: PW.formatMoney(b.amount, b.currency), to: b.to_handle }),
    done: (app, show, tr) => paid(app, show, tr, true),
    failed: async (res) => PW.problemText(res),
    leftBehind(app, b, vars) {
      // Asked for a code, the server paid nothing: the payment waits in
      // the Send form, filled in, and the notice says so.
      app.pendingPay({ to: b.to_handle, amount: b.amount, currency: b.currency, note: b.description || "" });
      PW.notice(t("pay.confirm_to_finish", vars), "error");
    },
  };

  function minorToInput(minor, cur) {
    const e = PW.exponent(cur), d = String(minor).padStart(e + 1, "0");
    return e ? d.slice(0, -e) + "." + d.slice(-e) : d;
  }

  // sendView renders the send form into root; prefill may name a payee,
  // amount (minor units), currency and note from a payment request.
  async function sendView(root, app, prefill) {
    root.replaceChildren(PW.fromTemplate("tpl-send"));
    const form = root.querySelector("#send-form");
    const state = root.querySelector("#pay-state");
    const from = form.elements.from;
    await PW.loadCurrencies();
    const wallets = await app.wallets();
    for (const w of wallets) {
      from.append(el("option", { value: w.id, "data-currency": w.currency },
        w.currency + " — " + t("wallet.available") + " " + PW.formatMoney(w.balance.available, w.currency)));
    }
    const currencyOf = () => (from.selectedOptions[0] || {}).dataset?.currency || "";
    const hint = () => {
      root.querySelector("[data-amount-hint]").textContent = t("send.amount_hint", { n: PW.exponent(currencyOf()), cur: currencyOf() });
    };
    from.addEventListener("change", hint);
    // The step-up hint: above the chosen wallet's currency's threshold,
    // the form says before sending that the payment will ask for a code,
    // and which. It reads the /v1/me the app keeps (app.me), once for the
    // view and never while typing; until it is read, or when it says no
    // threshold (an older server, a /v1/me not read), the hint is empty.
    let me = null;
    const stepUp = root.querySelector("[data-step-up-hint]");
    const stepUpHint = () => {
      const text = stepUpText(me, currencyOf(), PW.parseAmount(form.elements.amount.value, currencyOf()));
      if (stepUp.textContent !== text) stepUp.textContent = text; // a live region: said only when it changes
    };
    form.elements.amount.addEventListener("input", stepUpHint);
    from.addEventListener("change", stepUpHint);
    app.me().then((m) => { if (form.isConnected) { me = m; stepUpHint(); } });
    const fill = (p) => {
      if (!p) return;
      if (p.to) form.elements.to.value = p.to;
      if (p.note) form.elements.note.value = p.note;
      if (p.currency) {
        const w = wallets.find((x) => x.currency === p.currency);
        if (w) from.value = w.id; else showError(form, t("send.no_wallet", { cur: p.currency }));
      }
      if (p.amount > 0) form.elements.amount.value = minorToInput(p.amount, p.currency || currencyOf());
      if (p.amountTooLarge) showError(form, amountTooLargeText(p.currency || currencyOf()));
      hint();
      stepUpHint();
    };
    hint();
    fill(prefill);
    if (!wallets.length) showError(form, wallets.unread ? t("wallets.unread", { why: wallets.unread }) : t("send.no_wallets"));

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(form, "");
      const cur = currencyOf();
      const amount = PW.parseAmount(form.elements.amount.value, cur);
      const to = form.elements.to.value.trim();
      if (!from.value) return showError(form, wallets.unread ? t("wallets.unread", { why: wallets.unread }) : t("send.no_wallets"));
      if (!to) return showError(form, t("send.need_to"), form.elements.to);
      if (amount == null) return showError(form, badAmountText(form.elements.amount.value, cur), form.elements.amount);
      const body = { from_account: from.value, to_handle: to, amount, currency: cur };
      const note = form.elements.note.value.trim();
      if (note) body.description = note;
      const json = JSON.stringify(body);
      const attempt = loadAttempt(json) || { key: PW.newKey(), body: json };
      await pay(app, form, state, attempt, null);
    });
    setupScan(root, fill);
  }

  // stepUpThreshold is the step-up threshold of cur, in minor units, that
  // me (GET /v1/me) says in step_up_thresholds: the server asks for a
  // second factor for a payment above it (auth/stepup.go). It is null when
  // me does not say it (an older server, which has no step_up_thresholds;
  // a /v1/me that could not be read; a wallet opened after it was read):
  // then nothing is said, rather than a wrong figure such as EUR's
  // step_up_threshold taken for another currency's.
  function stepUpThreshold(me, cur) {
    const all = me && me.step_up_thresholds;
    const v = all && typeof all === "object" && Object.hasOwn(all, cur) ? all[cur] : null;
    if (typeof v === "bigint") return v > 0n ? v : null;
    return Number.isSafeInteger(v) && v > 0 ? v : null;
  }

  // stepUpText is what the Send form says of amount (minor units, or
  // null when the text is no amount) in cur: that the payment will ask for
  // a code, when it is above cur's threshold (at it, none is asked), and
  // which code when me says (totp_enabled); "" otherwise.
  function stepUpText(me, cur, amount) {
    const limit = stepUpThreshold(me, cur);
    if (limit == null || amount == null || BigInt(amount) <= BigInt(limit)) return "";
    const vars = { amount: PW.formatMoney(limit, cur), handle: me.handle || "" };
    if (me.totp_enabled === true) return t("send.step_up_app", vars);
    if (me.totp_enabled === false && me.handle) return t("send.step_up_message", vars);
    return t("send.step_up", vars);
  }

  // badAmountText says why text is not an amount the app sends: too
  // large (PW.AmountMax), or not an amount of cur at all.
  function badAmountText(text, cur) {
    return PW.amountTooLarge(text, cur) ? amountTooLargeText(cur) : t("send.bad_amount", { n: PW.exponent(cur) });
  }
  function amountTooLargeText(cur) {
    return t("send.amount_too_large", { max: PW.formatMoney(PW.AmountMax, cur) });
  }

  function showError(form, text, field) {
    form.querySelector("[data-error]").textContent = text;
    if (field) field.focus();
  }

  function setBusy(form, busy) {
    form.querySelector("[data-submit]").disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // pay sends attempt, retrying the same Idempotency-Key while the server
  // says "not now", and shows each state in the live region state.
  // request: what is sent (Payment unless said).
  async function pay(app, form, state, attempt, mfa, request = Payment) {
    const show = (cls, ...children) => {
      state.hidden = false;
      state.className = "card state " + cls;
      state.replaceChildren(...children);
      told(state, cls);
    };
    setBusy(form, true);
    trying.set(attempt.key, (trying.get(attempt.key) || 0) + 1);
    keepAttempt(attempt);
    // attempt.unseen: a try's answer was lost (or said the outcome is
    // unknown), so the attempt may have paid. It is kept with the attempt,
    // across a step-up, a reload and signing in again. A later refusal
    // (503, 429) comes before the server looks at the key and speaks only
    // for its own try: it must not tell the user that nothing was paid.
    try {
      // tries: the retries after a wait ran its course; early: those made
      // sooner, the window over (EarlyRetriesMax).
      for (let tries = 0, early = 0; ;) {
        show("sending", el("p", null, t("pay.sending")));
        const res = await api("POST", attempt.path || "/v1/transfers", { token: app.token(), idem: attempt.key, mfa,
          body: JSON.parse(attempt.body), prefer: request.prefer, timeoutMs: PayTimeoutMs });
        if (res.status === 200 || res.status === 201) {
          forgetAttempt(attempt);
          return request.done(app, show, res.data);
        }
        if (res.status === 202) return queued(app, show, res, attempt);
        const code = res.data.code;
        if (code === "mfa_required") return askMFA(app, form, state, show, attempt, mfa, res.data.mfa_methods, request);
        if (res.status === 401) {
          // Signed out. An earlier try that may have paid keeps its key, so
          // that the same payment sent again after signing in is the same
          // attempt, answered with what happened, never a second payment.
          if (!attempt.unseen) forgetAttempt(attempt);
          return app.loggedOut();
        }
        // A 504 outcome_unknown (the database connection broke as the
        // payment was committed; a 500 with the same member before
        // 2026-11-27) may have paid: only a retry with the same key can
        // tell, never a new attempt.
        const unknown = res.data.outcome === "unknown";
        // A 5xx without the API's problem code is a gateway's (a proxy in
        // front of the API), which may have passed the payment on: no
        // answer came from the API, as when the network drops it, or when
        // none came within PayTimeoutMs (status 0, code "timeout").
        const noAnswer = res.status === 0 || (res.status >= 500 && !code);
        const later = noAnswer || res.status === 503 || res.status === 429 || code === "idempotency_key_in_use" || unknown;
        if (!later) {
          forgetAttempt(attempt); // a final answer: the next try is a new attempt
          show("failed", el("p", { class: "error" }, await request.failed(res)));
          return;
        }
        const wait = noAnswer && !res.headers.get("Retry-After") ? Math.min(2 ** tries, 30) : PW.retryAfter(res);
        // 409 idempotency_key_in_use: an earlier try of this attempt is
        // still being made (one cut short by a reload, whose answer this
        // page never saw), and it may pay: as unsure as a lost answer.
        const inUse = code === "idempotency_key_in_use";
        if ((noAnswer || unknown || inUse) && !attempt.unseen) { // an answer was lost: it may have paid
          attempt.unseen = true;
          keepAttempt(attempt);
        }
        const unsure = attempt.unseen;
        const title = unknown ? t("pay.outcome_unknown") : noAnswer && res.status !== 0 ? t("error.gateway") : PW.problemText(res);
        if (tries >= AutoRetriesMax) {
          const again = el("button", { type: "button" }, t("pay.try_again"));
          again.addEventListener("click", () => pay(app, form, state, attempt, mfa, request));
          show("busy final", el("p", { class: "title" }, title),
            el("p", null, t(unsure ? "pay.still_unsure" : "pay.still_busy")), again);
          return;
        }
        const line = el("p", { class: "countdown" });
        const cancel = el("button", { type: "button", class: "secondary" }, t("action.cancel"));
        const kind = code === "maintenance" ? "pay.maintenance_in" : res.status === 429 ? "pay.limited_in" : res.status === 0 && code !== "timeout" ? "pay.offline_in" : unknown || noAnswer ? "pay.checking_in" : "pay.busy_in";
        // A refusal (503 busy, 429) moved nothing; a lost answer, this
        // try's or an earlier one's, or a try still being made (409), may have.
        const hint = unsure ? "pay.maybe_paid" : "pay.safe_retry";
        show("busy", el("p", { class: "title" }, title), line, el("p", { class: "hint" }, t(hint)), cancel);
        // A maintenance window may be ended before the end its Retry-After
        // names: the status is read every few seconds, and the same attempt
        // is sent again as soon as no read-only window is in force. Leaving
        // the view does not stop it: the person asked for this payment, and
        // its outcome is told in the notice wherever they are (told).
        const over = code === "maintenance" && early < EarlyRetriesMax ? PW.maintenanceOver : null;
        const waiting = PW.countdown(line, wait, kind, over);
        cancel.addEventListener("click", () => waiting.cancel());
        const how = await waiting;
        if (how === "cancelled") {
          show("cancelled", el("p", null, t("pay.cancelled")));
          return;
        }
        if (how === "over") early++; else tries++;
      }
    } finally {
      setBusy(form, false);
      const n = trying.get(attempt.key) - 1;
      if (n > 0) trying.set(attempt.key, n); else trying.delete(attempt.key);
    }
  }

  // paid shows a payment made. It leaves the attempt alone: a queued
  // payment settling is not the attempt the form may be making now. focus:
  // the person is waiting for this outcome, so it takes the focus.
  function paid(app, show, tr, focus) {
    const id = tr.id || tr.transfer_id || (tr.transfer && tr.transfer.id);
    const link = el("a", { href: "#/receipt/" + encodeURIComponent(id) }, t("pay.view_receipt"));
    // An amount unknown (neither the transfer nor the intent could be read
    // with it) is not shown as "NaN".
    const known = typeof tr.amount === "bigint" || Number.isFinite(tr.amount);
    const text = known && tr.currency ? t("pay.paid", { amount: PW.formatMoney(tr.amount, tr.currency) }) : t("pay.paid_no_amount");
    show("paid", el("p", { class: "ok title" }, text), link);
    app.invalidate();
    if (focus) link.focus();
  }

  // queued follows a payment accepted for later settlement (202): it polls
  // the intent until it settles or fails, and while it is pending offers
  // to cancel it. The intent's shape is read defensively: the queue is
  // built beside this app. Leaving the view does not stop the poll: the
  // person asked for this payment, so its outcome is told in the page's
  // notice on whatever view they are on (show, through tell), and the poll
  // ends with it (TestBrowserAQueuedPaymentsOutcomeIsToldWhenItsViewIsLeft).
  async function queued(app, show, res, attempt) {
    forgetAttempt(attempt); // accepted: the server owns it now
    const id = res.data.id || res.data.intent_id || "";
    const url = res.headers.get("Location") || (id ? "/v1/intents/" + encodeURIComponent(id) : "");
    // The person just sent it and watches it here: its outcome takes the focus.
    const q = intentControl(app, url, show, true);
    q.line = el("p", { class: "hint" }, t("pay.queued_explain"));
    show("queued", el("p", { class: "title" }, t("pay.queued")), el("span", { class: "spinner", "aria-hidden": "true" }), q.line,
      ...(url ? [q.note, q.button] : []));
    if (!url) return;
    for (let i = 0; i < IntentPollsMax; i++) {
      await new Promise((r) => setTimeout(r, IntentPollMs));
      if (q.done) return; // cancelled here while it waited
      // While a cancellation is on its way, its answer will tell; a read
      // now would only add to the surge. While one counts down to ask
      // again, the poll goes on: the payment may settle meanwhile, which
      // ends that countdown (done).
      if (q.asking) continue;
      const r = await api("GET", url, { token: app.token() });
      if (q.done) return;
      if (q.asking) continue; // asked while this read was out
      if (r.status === 404 || r.status === 405) return untracked(q);
      if (!r.ok) continue; // busy or offline: keep waiting, the intent is safe
      if (await showOutcome(q, r.data, false)) return;
      q.line.textContent = placeText(r.data) || t("pay.queued_position", { state: r.data.status || "queued" });
    }
    q.line.textContent = t("pay.queued_no_tracking");
  }

  // placeText says where a queued payment stands, from its intent's
  // queue_position: "12 payments ahead · about 8 s", "At least 1,000
  // payments ahead · at least 40 s" past the server's bound, or, in a
  // read-only maintenance window, when payments resume. It is "" when the
  // server does not say (one before 2026-11-28, a settled intent, a count
  // that failed), and a member that is missing or not a number is left
  // out: never NaN or undefined.
  function placeText(intent) {
    const p = intent && intent.queue_position;
    if (!p || !Number.isSafeInteger(p.ahead) || p.ahead < 0) return "";
    const least = p.ahead_at_least === true;
    const n = formatCount(p.ahead);
    const parts = [least ? t("queue.ahead_at_least", { n }) : p.ahead === 0 ? t("queue.ahead_none")
      : p.ahead === 1 ? t("queue.ahead_one") : t("queue.ahead", { n })];
    const resumes = typeof p.settling_resumes_at === "string" ? PW.formatDate(p.settling_resumes_at) : "";
    const w = p.expected_wait_seconds;
    if (resumes) {
      parts.push(t("queue.resumes", { when: resumes }));
    } else if (Number.isSafeInteger(w) && w >= 0) {
      // A lower bound is rounded down, an estimate to the nearest minute.
      if (w < 120) parts.push(t(least ? "queue.wait_least_seconds" : "queue.wait_seconds", { n: formatCount(Math.max(w, 1)) }));
      else parts.push(t(least ? "queue.wait_least_minutes" : "queue.wait_minutes", { n: formatCount(least ? Math.floor(w / 60) : Math.round(w / 60)) }));
    }
    return parts.join(" · ");
  }

  // formatCount writes a count in the page's language (1,000; 1 000).
  function formatCount(n) {
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);
    } catch (_) {
      return String(n);
    }
  }

  // intentControl is what following a queued payment and cancelling it
  // share, for the intent at url; the pay form's queued state and the list
  // of waiting payments each make one per payment. show(cls, ...children)
  // shows the outcome where that payment is shown. done: an outcome is
  // shown, and neither a poll nor a cancellation shows anything more (see
  // finish). cancelling: Cancel payment was pressed and cancelQueued has
  // not ended. asking: a cancellation is on its way, or its answer being
  // read, and that answer, not a poll, says what happened. waiting: the
  // countdown to ask again after "not now", while it counts. follow: the
  // person is watching this payment, so its outcome takes the focus even
  // when nobody pressed anything (a payment settling in a list must not
  // pull the focus away).
  function intentControl(app, url, show, follow) {
    const q = { app, show, url, follow, done: false, cancelling: false, asking: false, waiting: null,
      note: el("div", { class: "cancel-state" }),
      button: el("button", { type: "button", class: "secondary", "data-cancel-intent": true }, t("pay.cancel_payment")) };
    q.button.addEventListener("click", () => cancelQueued(q));
    return q;
  }

  // finish marks q done: its outcome is shown (or the person was signed
  // out). A cancellation counting down to ask again is cancelled with it,
  // so that no timer and no status read (a maintenance countdown's)
  // outlive the payment's outcome.
  function finish(q) {
    q.done = true;
    if (q.waiting) q.waiting.cancel();
  }

  // untracked: the server has no intent to read (an older one), so none to
  // cancel either; the payment settles in order as the server said.
  function untracked(q) {
    q.line.textContent = t("pay.queued_no_tracking");
    q.note.replaceChildren();
    q.button.hidden = true;
  }

  // showOutcome shows a settled intent's outcome, ends the queued state and
  // is true; while the intent is pending it is false. A cancellation, from
  // this tab or another, is a failure with the code intent_cancelled: it
  // is shown as cancelled, and nothing is shown as paid unless the intent
  // names its transfer. focus: the person pressed Cancel payment here, and
  // their button is gone, so focus moves to the outcome.
  async function showOutcome(q, intent, focus) {
    const st = intent.status || "";
    const e = intent.error || {};
    if (st === "posted" && intent.transfer_id) {
      finish(q); // before the read below, so that nothing else is shown meanwhile
      // The intent names its transfer; the transfer has the amount.
      const tr = await api("GET", "/v1/transfers/" + encodeURIComponent(intent.transfer_id), { token: q.app.token() });
      // Should that read fail, the intent's own request has the amount.
      const req = intent.request || {};
      paid(q.app, q.show, tr.ok ? tr.data : { id: intent.transfer_id, amount: req.amount, currency: req.currency }, focus || q.follow);
      return true;
    }
    if (st === "cancelled" || (st === "failed" && e.code === "intent_cancelled")) {
      showCancelled(q, focus, e.cancelled_by === "operator");
      return true;
    }
    if (["failed", "rejected", "expired"].includes(st)) {
      finish(q);
      // unauthorized here is not a wrong password: the session or key that
      // queued the payment was ended before it was paid (docs/security.md).
      const text = e.code === "unauthorized" ? t("pay.intent_credential_ended")
        : PW.problemText({ status: 409, data: { code: e.code, detail: e.message } });
      const msg = el("p", { class: "error", tabindex: "-1" }, text);
      q.show("failed", msg);
      if (focus) msg.focus();
      return true;
    }
    return false;
  }

  // showCancelled ends the queued state: cancelled, so nothing was paid.
  // byOperator: support stopped it on the person's behalf (the intent's
  // error says cancelled_by "operator"), which the app says, so that no
  // one reads "you cancelled" of a payment they did not cancel.
  function showCancelled(q, focus, byOperator) {
    finish(q);
    const msg = el("p", { class: "title", tabindex: "-1" }, t(byOperator ? "pay.intent_stopped" : "pay.intent_cancelled"));
    q.show("cancelled", msg);
    q.app.invalidate(); // the wallet's figures may have counted the pending payment
    if (focus) msg.focus();
  }

  // cancelQueued asks the server to cancel the queued payment. The server
  // lets exactly one of "paid" and "cancelled" happen, so the app shows
  // what it answers: cancelled (200); too late (409 intent_not_pending),
  // when the intent, read again, says how it settled; or "not now" (503,
  // 429, or 409 idempotency_key_in_use: it is being paid this very
  // moment), asked again after Retry-After, a bounded number of times as
  // the pay loop does. Cancelling twice is harmless: the server answers
  // 200 again. The countdown is kept on q (waiting): the payment settling
  // meanwhile, as the poll or the list finds, cancels it (finish), which
  // ends this. Leaving the view does not: the person asked to cancel, and
  // the answer is told in the notice wherever they are (told).
  async function cancelQueued(q) {
    if (q.done || q.cancelling) return;
    const cancelURL = q.url.replace(/[?#].*$/, "") + "/cancel";
    q.cancelling = true;
    q.button.disabled = true;
    q.note.replaceChildren(el("p", null, t("pay.cancelling")));
    try {
      for (let tries = 0, early = 0; ;) { // as in pay
        q.asking = true;
        const r = await api("POST", cancelURL, { token: q.app.token(), timeoutMs: PayTimeoutMs });
        if (q.done) return;
        const code = r.data.code;
        // 200 is the intent, cancelled (by this request, or by support a
        // moment before); a 409 intent_cancelled is the key's answer.
        const by = r.ok ? (r.data.error || {}).cancelled_by : r.data.cancelled_by;
        if (r.ok || code === "intent_cancelled") return showCancelled(q, true, by === "operator");
        if (r.status === 401) { finish(q); return q.app.loggedOut(); }
        if (code === "intent_not_pending") { await settledMeanwhile(q); return; }
        const later = r.status === 503 || r.status === 429 || code === "idempotency_key_in_use";
        if (!later || tries >= AutoRetriesMax) return cancelFailed(q, r);
        const line = el("p", { class: "countdown" });
        q.note.replaceChildren(el("p", null, code === "idempotency_key_in_use" ? t("pay.cancel_in_use") : PW.problemText(r)), line);
        // As in pay: a maintenance window ended early ends the wait, up to
        // EarlyRetriesMax times.
        q.asking = false;
        const over = code === "maintenance" && early < EarlyRetriesMax ? PW.maintenanceOver : null;
        q.waiting = PW.countdown(line, PW.retryAfter(r), "pay.cancel_retry_in", over);
        const how = await q.waiting;
        q.waiting = null;
        if (q.done || how === "cancelled") return; // settled meanwhile, or the line left the page
        if (how === "over") early++; else tries++;
        q.note.replaceChildren(el("p", null, t("pay.cancelling")));
      }
    } finally {
      q.cancelling = false;
      q.asking = false;
    }
  }

  // settledMeanwhile: too late to cancel, the intent settled first. It is
  // read again to show how; should that read fail, the poll, which goes
  // on, finds it.
  async function settledMeanwhile(q) {
    q.button.hidden = true; // nothing is left to cancel
    q.note.replaceChildren(el("p", null, t("error.intent_not_pending")));
    const r = await api("GET", q.url, { token: q.app.token() });
    if (!q.done && r.ok) await showOutcome(q, r.data, true);
  }

  // cancelFailed: no answer, or a refusal that says nothing of the payment.
  // It may still be paid (the poll goes on, and shows what happens), and
  // the button is offered again. With no answer (none in time, no
  // connection, a gateway's page, outcome_unknown) the cancellation may
  // have taken effect too, and is said so, not as a failure: asking again
  // is safe, a cancelled payment is not cancelled twice (as the console's
  // stop says since 2026-11-29; TestBrowserAnUnansweredCancelMayHaveTakenEffect).
  function cancelFailed(q, r) {
    const unanswered = r.status === 0 || (r.status >= 500 && !r.data.code) || r.data.outcome === "unknown";
    q.note.replaceChildren(unanswered ? el("p", null, t("pay.cancel_unknown"))
      : el("p", { class: "error" }, t("pay.cancel_failed")), el("p", null, PW.problemText(r)));
    q.button.disabled = false;
    q.button.focus();
    told(q.note, "failed");
  }

  // Waiting payments: the person's payments accepted at a surge and not
  // settled yet (GET /v1/intents), in the order they will be settled, each
  // with Cancel payment: a payment whose 202 was left behind (a closed tab,
  // a session that ended) is found here. The list is read when the wallets
  // view shows it and when the app's figures change (refresh), then every
  // WaitingPollMs while it shows a payment and the page is seen; an empty
  // list is not read again until then, and a refused read backs off.
  const WaitingPollMs = 5000;
  const WaitingBackoffMaxMs = 60000;
  const WaitingPageSize = 50;

  // waitingList fills section (the wallets view's) and returns {refresh}.
  function waitingList(section, app) {
    const w = { section, app, entries: new Map(), finished: new Set(), gen: 0, timer: 0, fails: 0,
      list: section.querySelector("[data-waiting-list]"),
      outcomes: section.querySelector("[data-waiting-outcomes]"),
      more: section.querySelector("[data-waiting-more]") };
    w.refresh = () => readWaiting(w);
    w.refresh();
    return { refresh: w.refresh };
  }

  // readWaiting reads the first page of waiting payments and shows it. A
  // read that an earlier one overtook is dropped (gen), so that an old
  // answer never brings back a payment settled since.
  async function readWaiting(w) {
    clearTimeout(w.timer);
    if (!w.section.isConnected || !w.app.token()) return; // another view, or signed out
    if (document.hidden) return nextWaitingRead(w, WaitingPollMs);
    const gen = ++w.gen;
    const res = await api("GET", "/v1/intents?limit=" + WaitingPageSize, { token: w.app.token() });
    if (gen !== w.gen || !w.section.isConnected) return;
    if (res.status === 401) return w.app.loggedOut();
    if (res.status === 404 || res.status === 405) return; // a server without the list: nothing to show
    if (!res.ok) {
      // Busy or offline: what is shown stays, and the list is read again later.
      w.fails++;
      return nextWaitingRead(w, Math.max(PW.retryAfter(res) * 1000, Math.min(WaitingPollMs * 2 ** w.fails, WaitingBackoffMaxMs)));
    }
    w.fails = 0;
    showWaiting(w, res.data);
    if (w.entries.size) nextWaitingRead(w, WaitingPollMs);
  }

  function nextWaitingRead(w, ms) {
    clearTimeout(w.timer);
    w.timer = setTimeout(() => readWaiting(w), ms);
  }

  // showWaiting makes the list what the server says waits: an entry for
  // each new payment, in order; a payment no longer listed has settled (or
  // was cancelled elsewhere), and is read once to say how. One whose
  // cancellation is on its way stays: that answer will tell. One whose
  // cancellation counts down to ask again is read, as the pay form's poll
  // reads it: settled, that countdown ends.
  function showWaiting(w, page) {
    const pending = (page.data || []).filter((i) => i && i.id && !w.finished.has(i.id));
    const listed = new Set(pending.map((i) => i.id));
    for (const [id, q] of w.entries) {
      if (!listed.has(id) && !q.asking && !q.done) waitingSettled(w, id, q);
    }
    for (const intent of pending) if (!w.entries.has(intent.id)) w.entries.set(intent.id, waitingEntry(w, intent));
    // Each read says anew where each payment stands.
    for (const intent of pending) showPlace(w.entries.get(intent.id), intent);
    // New payments come last, as they are accepted; reorder only if not
    // (moving an entry would take the focus off its button).
    const order = pending.map((i) => w.entries.get(i.id).li);
    if (order.some((li, n) => w.list.children[n] !== li)) w.list.append(...order);
    w.more.hidden = !page.next_cursor;
    syncWaiting(w);
  }

  // The section shows while a payment waits or an outcome is shown here.
  function syncWaiting(w) {
    w.section.hidden = w.entries.size === 0 && !w.outcomes.hasChildNodes();
  }

  // waitingEntry makes one payment's entry: what it pays, to whom, when it
  // was queued, and Cancel payment, which cancels it as the pay form does.
  // Its outcome replaces the entry, in the section's outcomes, where it
  // stays until the view is left (the next read no longer lists it).
  function waitingEntry(w, intent) {
    const r = intent.request || {}; // servers before 2026-11-28 do not say
    const what = r.amount > 0 && r.currency
      ? t("waiting.payment", { amount: PW.formatMoney(r.amount, r.currency), to: r.to_handle || r.to_account || "" })
      : t("waiting.unknown");
    const titleID = "waiting-" + intent.id;
    let box = null;
    const show = (cls, ...children) => {
      w.entries.delete(intent.id);
      w.finished.add(intent.id);
      q.li.remove();
      if (!box) w.outcomes.append(box = el("div", null));
      box.className = "card state " + cls;
      box.replaceChildren(el("p", { class: "waiting-what" }, what), ...children); // which payment it was
      syncWaiting(w);
      told(box, cls);
    };
    const q = intentControl(w.app, "/v1/intents/" + encodeURIComponent(intent.id), show, false);
    q.note.setAttribute("aria-live", "polite");
    q.button.setAttribute("aria-describedby", titleID);
    q.place = el("p", { class: "muted", "data-queue-position": true });
    q.li = el("li", { class: "waiting-item", "data-intent": intent.id },
      el("p", { class: "waiting-what", id: titleID }, what),
      el("p", { class: "muted" }, [r.description, t("waiting.queued_at", { when: PW.formatDate(intent.created_at) })].filter(Boolean).join(" · ")),
      q.place, q.note, q.button);
    return q;
  }

  // showPlace shows where a listed payment stands; nothing when the
  // server does not say.
  function showPlace(q, intent) {
    if (!q || !q.place) return;
    const text = placeText(intent);
    q.place.textContent = text;
    q.place.hidden = !text;
  }

  // waitingSettled: a payment left the list without this page's doing.
  // It is read once, and its outcome shown as the pay form shows it; a
  // read that fails says only that it is no longer waiting (unless it is
  // being cancelled: that answer will tell).
  async function waitingSettled(w, id, q) {
    w.entries.delete(id);
    w.finished.add(id); // a read overtaken by this one must not list it again
    const r = await api("GET", q.url, { token: w.app.token() });
    if (q.done) return; // a cancellation answered meanwhile
    if (r.ok && await showOutcome(q, r.data, false)) return;
    if (q.cancelling) {
      // Still pending, or not read: one being cancelled keeps its entry,
      // and its cancellation, asked again when its countdown ends, will
      // tell.
      w.finished.delete(id);
      w.entries.set(id, q);
      return;
    }
    if (r.ok) { // still pending (a read just before it was listed): the next read lists it
      w.finished.delete(id);
      q.li.remove();
      syncWaiting(w);
      return;
    }
    finish(q);
    q.show("settled", el("p", null, t("waiting.left")));
  }

  // askMFA shows the step-up prompt; its code repeats the same request
  // (attempt: the same key and body, never a changed one). previous: the
  // code just refused, if any. methods: the challenge's mfa_methods.
  //
  // The prompt says what is being confirmed, the amount and the payee of
  // the attempt it repeats: PSD2 wants the payer made aware of both as
  // they authenticate (RTS Art. 5), and for a code from an authenticator
  // app or a recovery code, which name nothing, this is the only place
  // they are shown. It says which code to enter: a user without TOTP is
  // offered ["message"] and was just sent a code bound to this payment (to
  // their handle; auth/stepup.go); a user with TOTP ["totp",
  // "recovery_code"], and a recovery code (xxxx-xxxx-xxxx-xxxx) has
  // letters, so that field is not numeric. Until 2026-11-29 it asked
  // everyone for their authenticator app's 6-digit code and named no
  // amount or payee
  // (TestBrowserAStepUpByMessageSaysWhatItConfirmsAndWhereTheCodeWent,
  // TestBrowserAStepUpWithAnAuthenticatorSaysWhatItConfirms).
  async function askMFA(app, form, state, show, attempt, previous, methods, request) {
    const b = JSON.parse(attempt.body);
    const vars = request.what(b);
    // A server that offers both (before 2026-11-29) sent no message to a
    // user with an app: the app is what they have.
    const m = Array.isArray(methods) ? methods : [];
    const byMessage = m.includes("message") && !m.includes("totp");
    const handle = byMessage ? (await app.me()).handle : "";
    if (!state.isConnected) {
      // The person left the view while the payment counted down, and the
      // prompt would be drawn where nobody sees it. Asked for a code, the
      // server paid nothing: the notice says where it waits (a payment in
      // the Send form, filled in: request.leftBehind). Until 2026-11-29 the
      // prompt went to the view left behind, and nothing told the person.
      request.leftBehind(app, b, vars);
      return;
    }
    const frag = PW.fromTemplate("tpl-mfa");
    frag.querySelector("[data-what]").textContent = t(request.whatKey, vars);
    const explain = frag.querySelector("[data-explain]");
    // A wrong message code is refused without a new one being sent; the
    // code still works for its own payment (5 tries), and the payment
    // repeated without a code is sent a new one (rate limited).
    if (previous) {
      explain.className = "error";
      explain.textContent = byMessage ? t("mfa.invalid_message") : t("mfa.invalid_app");
    } else if (byMessage) {
      explain.textContent = handle ? t("mfa.explain_message", { handle }) : t("mfa.explain_message_you");
    } else {
      explain.textContent = t("mfa.explain_app");
    }
    frag.querySelector("[data-label]").textContent = byMessage ? t("field.mfa_stepup_message") : t("field.mfa_stepup_app");
    frag.querySelector("#mfa-code").inputMode = byMessage ? "numeric" : "text";
    show("mfa", frag);
    const f = state.querySelector("#mfa-form");
    f.querySelector("[data-cancel]").addEventListener("click", () => { forgetAttempt(attempt); state.hidden = true; });
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const code = f.elements.code.value.trim();
      if (code) pay(app, form, state, attempt, code, request);
    });
    f.elements.code.focus();
  }

  // readPayLink reads a payment request from a /pay link (or its query).
  function readPayLink(text) {
    let u;
    try { u = new URL((text || "").trim(), location.origin); } catch (_) { return null; }
    if (!/\/pay\/?$/.test(u.pathname) || !u.searchParams.get("to")) return null;
    const q = u.searchParams;
    // An amount beyond PW.AmountMax is not filled in rounded: the form
    // says it is too large (amountTooLarge).
    const digits = /^\d+$/.test(q.get("amount") || "") ? q.get("amount") : "0";
    const tooLarge = BigInt(digits) > BigInt(PW.AmountMax);
    const amount = tooLarge ? 0 : Number(digits);
    return { to: q.get("to"), amount, amountTooLarge: tooLarge || undefined, currency: (q.get("currency") || "").toUpperCase(), note: q.get("note") || "" };
  }

  // setupScan: paste a link, or scan a QR code where the browser can.
  function setupScan(root, fill) {
    const input = root.querySelector("#scan-paste"), err = root.querySelector("#scan-error");
    root.querySelector("#scan-use").addEventListener("click", () => {
      const p = readPayLink(input.value);
      err.textContent = p ? "" : t("scan.bad_link");
      if (p) { fill(p); root.querySelector("#send-amount").focus(); }
    });
    const cam = root.querySelector("#scan-camera"), video = root.querySelector("#scan-video");
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    cam.hidden = false;
    cam.addEventListener("click", async () => {
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      } catch (_) { err.textContent = t("scan.no_camera"); return; }
      const detector = new BarcodeDetector({ formats: ["qr_code"] });
      video.srcObject = stream; video.hidden = false; await video.play();
      const stop = () => { stream.getTracks().forEach((tr) => tr.stop()); video.hidden = true; };
      for (let i = 0; i < 600 && !video.hidden; i++) { // about two minutes
        const codes = await detector.detect(video).catch(() => []);
        const p = codes.map((c) => readPayLink(c.rawValue)).find(Boolean);
        if (p) { stop(); fill(p); return; }
        await new Promise((r) => setTimeout(r, 200));
      }
      stop();
    });
  }

  // requestView makes a payment request link and its QR code.
  async function requestView(root, app) {
    root.replaceChildren(PW.fromTemplate("tpl-request"));
    const form = root.querySelector("#request-form");
    await PW.loadCurrencies();
    const wallets = await app.wallets();
    for (const w of wallets) form.elements.currency.append(el("option", { value: w.currency }, w.currency));
    if (!wallets.length) showError(form, wallets.unread ? t("wallets.unread", { why: wallets.unread }) : t("send.no_wallets"));
    const me = await app.me();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const cur = form.elements.currency.value;
      const q = new URLSearchParams({ to: me.handle, currency: cur });
      const text = form.elements.amount.value.trim();
      if (text) {
        const amount = PW.parseAmount(text, cur);
        if (amount == null) return showError(form, badAmountText(text, cur));
        q.set("amount", String(amount));
      }
      if (form.elements.note.value.trim()) q.set("note", form.elements.note.value.trim());
      showError(form, "");
      const out = root.querySelector("[data-result]");
      out.hidden = false;
      out.querySelector("[data-qr]").src = "/pay/qr.png?" + q;
      out.querySelector("[data-link]").value = location.origin + "/pay?" + q;
      out.querySelector("[data-copy]").onclick = () => {
        navigator.clipboard?.writeText(out.querySelector("[data-link]").value).then(() => PW.notice(t("request.copied")));
      };
      out.querySelector("[data-link]").focus();
    });
  }

  return { sendView, requestView, readPayLink, waitingList, stepUpThreshold, pay, loadAttempt, minorToInput, badAmountText };
})();
