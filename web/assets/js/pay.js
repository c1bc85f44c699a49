// pay.js: sending money (with every calm state a payment can meet),
// requesting money as a link and QR code, and reading such a link back
// (pasted, opened, or scanned with the camera).
"use strict";

const PWPay = (() => {
  const { t, api, el } = PW;
  // Bounds: automatic retries of one attempt, and polls of a queued one.
  const AutoRetriesMax = 6;
  const IntentPollMs = 1500;
  const IntentPollsMax = 200;
  const AttemptKey = "pw_attempt";

  // The current payment attempt {key, body}: its Idempotency-Key is reused
  // for every retry of the same body (busy, network, MFA), also across a
  // reload, so that no retry can pay twice; a changed body is a new attempt.
  function loadAttempt() {
    try { return JSON.parse(sessionStorage.getItem(AttemptKey)); } catch (_) { return null; }
  }
  function saveAttempt(a) {
    if (a) sessionStorage.setItem(AttemptKey, JSON.stringify(a)); else sessionStorage.removeItem(AttemptKey);
  }

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
    const fill = (p) => {
      if (!p) return;
      if (p.to) form.elements.to.value = p.to;
      if (p.note) form.elements.note.value = p.note;
      if (p.currency) {
        const w = wallets.find((x) => x.currency === p.currency);
        if (w) from.value = w.id; else showError(form, t("send.no_wallet", { cur: p.currency }));
      }
      if (p.amount > 0) form.elements.amount.value = minorToInput(p.amount, p.currency || currencyOf());
      hint();
    };
    hint();
    fill(prefill);
    if (!wallets.length) showError(form, t("send.no_wallets"));

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(form, "");
      const cur = currencyOf();
      const amount = PW.parseAmount(form.elements.amount.value, cur);
      const to = form.elements.to.value.trim();
      if (!from.value) return showError(form, t("send.no_wallets"));
      if (!to) return showError(form, t("send.need_to"), form.elements.to);
      if (amount == null) return showError(form, t("send.bad_amount", { n: PW.exponent(cur) }), form.elements.amount);
      const body = { from_account: from.value, to_handle: to, amount, currency: cur };
      const note = form.elements.note.value.trim();
      if (note) body.description = note;
      const json = JSON.stringify(body);
      let attempt = loadAttempt();
      if (!attempt || attempt.body !== json) attempt = { key: PW.newKey(), body: json };
      saveAttempt(attempt);
      await pay(app, form, state, attempt, null);
    });
    setupScan(root, fill);
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
  async function pay(app, form, state, attempt, mfa) {
    const show = (cls, ...children) => {
      state.hidden = false;
      state.className = "card state " + cls;
      state.replaceChildren(...children);
    };
    setBusy(form, true);
    // attempt.unseen: a try's answer was lost (or said the outcome is
    // unknown), so the attempt may have paid. It is kept with the attempt,
    // across a step-up, a reload and signing in again. A later refusal
    // (503, 429) comes before the server looks at the key and speaks only
    // for its own try: it must not tell the user that nothing was paid.
    try {
      for (let tries = 0; ; tries++) {
        show("sending", el("p", null, t("pay.sending")));
        const res = await api("POST", "/v1/transfers", { token: app.token(), idem: attempt.key, mfa,
          body: JSON.parse(attempt.body), prefer: "respond-async, wait=5" });
        if (res.status === 200 || res.status === 201) return paid(app, show, res.data);
        if (res.status === 202) return queued(app, show, res);
        const code = res.data.code;
        if (code === "mfa_required") return askMFA(app, form, state, show, attempt, mfa);
        if (res.status === 401) {
          // Signed out. An earlier try that may have paid keeps its key, so
          // that the same payment sent again after signing in is the same
          // attempt, answered with what happened, never a second payment.
          if (!attempt.unseen) saveAttempt(null);
          return app.loggedOut();
        }
        // A 504 outcome_unknown (the database connection broke as the
        // payment was committed; a 500 with the same member before
        // 2026-11-27) may have paid: only a retry with the same key can
        // tell, never a new attempt.
        const unknown = res.data.outcome === "unknown";
        // A 5xx without the API's problem code is a gateway's (a proxy in
        // front of the API), which may have passed the payment on: no
        // answer came from the API, as when the network drops it.
        const noAnswer = res.status === 0 || (res.status >= 500 && !code);
        const later = noAnswer || res.status === 503 || res.status === 429 || code === "idempotency_key_in_use" || unknown;
        if (!later) {
          saveAttempt(null); // a final answer: the next try is a new attempt
          show("failed", el("p", { class: "error" }, PW.problemText(res)));
          return;
        }
        const wait = noAnswer && !res.headers.get("Retry-After") ? Math.min(2 ** tries, 30) : PW.retryAfter(res);
        if ((noAnswer || unknown) && !attempt.unseen) { // an answer was lost: it may have paid
          attempt.unseen = true;
          saveAttempt(attempt);
        }
        const unsure = attempt.unseen;
        const title = unknown ? t("pay.outcome_unknown") : noAnswer && res.status !== 0 ? t("error.gateway") : PW.problemText(res);
        if (tries >= AutoRetriesMax) {
          const again = el("button", { type: "button" }, t("pay.try_again"));
          again.addEventListener("click", () => pay(app, form, state, attempt, mfa));
          show("busy", el("p", null, title),
            el("p", null, t(unsure ? "pay.still_unsure" : "pay.still_busy")), again);
          return;
        }
        const line = el("p", { class: "countdown" });
        const cancel = el("button", { type: "button", class: "secondary" }, t("action.cancel"));
        const kind = code === "maintenance" ? "pay.maintenance_in" : res.status === 429 ? "pay.limited_in" : res.status === 0 ? "pay.offline_in" : unknown || noAnswer ? "pay.checking_in" : "pay.busy_in";
        // A refusal (503 busy, 429, 409) moved nothing; a lost answer, this
        // try's or an earlier one's, may have.
        const hint = unsure ? "pay.maybe_paid" : "pay.safe_retry";
        show("busy", el("p", { class: "title" }, title), line, el("p", { class: "hint" }, t(hint)), cancel);
        const waiting = PW.countdown(line, wait, kind);
        cancel.addEventListener("click", () => waiting.cancel());
        if (!(await waiting)) {
          show("cancelled", el("p", null, t("pay.cancelled")));
          return;
        }
      }
    } finally {
      setBusy(form, false);
    }
  }

  function paid(app, show, tr) {
    saveAttempt(null);
    const id = tr.id || tr.transfer_id || (tr.transfer && tr.transfer.id);
    const link = el("a", { href: "#/receipt/" + encodeURIComponent(id) }, t("pay.view_receipt"));
    show("paid", el("p", { class: "ok title" }, t("pay.paid", { amount: PW.formatMoney(tr.amount, tr.currency) })), link);
    app.invalidate();
    link.focus();
  }

  // queued follows a payment accepted for later settlement (202): it polls
  // the intent until it settles or fails. The intent's shape is read
  // defensively: the queue is built beside this app.
  async function queued(app, show, res) {
    saveAttempt(null); // accepted: the server owns it now
    const id = res.data.id || res.data.intent_id || "";
    const url = res.headers.get("Location") || (id ? "/v1/intents/" + encodeURIComponent(id) : "");
    const line = el("p", { class: "hint" }, t("pay.queued_explain"));
    show("queued", el("p", { class: "title" }, t("pay.queued")), el("span", { class: "spinner", "aria-hidden": "true" }), line);
    if (!url) return;
    for (let i = 0; i < IntentPollsMax; i++) {
      await new Promise((r) => setTimeout(r, IntentPollMs));
      const r = await api("GET", url, { token: app.token() });
      if (r.status === 404 || r.status === 405) { line.textContent = t("pay.queued_no_tracking"); return; }
      if (!r.ok) continue; // busy or offline: keep waiting, the intent is safe
      const st = r.data.status || "";
      if (st === "posted" && r.data.transfer_id) {
        // The intent names its transfer; the transfer has the amount.
        const tr = await api("GET", "/v1/transfers/" + encodeURIComponent(r.data.transfer_id), { token: app.token() });
        return paid(app, show, tr.ok ? tr.data : { id: r.data.transfer_id });
      }
      if (["failed", "rejected", "expired", "cancelled"].includes(st)) {
        const e = r.data.error || {};
        show("failed", el("p", { class: "error" }, PW.problemText({ status: 409, data: { code: e.code, detail: e.message } })));
        return;
      }
      line.textContent = t("pay.queued_position", { state: st || "queued" });
    }
    line.textContent = t("pay.queued_no_tracking");
  }

  // askMFA shows the step-up prompt; its code repeats the same request.
  function askMFA(app, form, state, show, attempt, previous) {
    const frag = PW.fromTemplate("tpl-mfa");
    show("mfa", frag);
    const f = state.querySelector("#mfa-form");
    if (previous) state.querySelector("p").textContent = t("mfa.invalid");
    f.querySelector("[data-cancel]").addEventListener("click", () => { saveAttempt(null); state.hidden = true; });
    f.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const code = f.elements.code.value.trim();
      if (code) pay(app, form, state, attempt, code);
    });
    f.elements.code.focus();
  }

  // readPayLink reads a payment request from a /pay link (or its query).
  function readPayLink(text) {
    let u;
    try { u = new URL((text || "").trim(), location.origin); } catch (_) { return null; }
    if (!/\/pay\/?$/.test(u.pathname) || !u.searchParams.get("to")) return null;
    const q = u.searchParams;
    const amount = parseInt(q.get("amount") || "0", 10);
    return { to: q.get("to"), amount: amount > 0 ? amount : 0, currency: (q.get("currency") || "").toUpperCase(), note: q.get("note") || "" };
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
    if (!wallets.length) showError(form, t("send.no_wallets"));
    const me = await app.me();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const cur = form.elements.currency.value;
      const q = new URLSearchParams({ to: me.handle, currency: cur });
      const text = form.elements.amount.value.trim();
      if (text) {
        const amount = PW.parseAmount(text, cur);
        if (amount == null) return showError(form, t("send.bad_amount", { n: PW.exponent(cur) }));
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

  return { sendView, requestView, readPayLink };
})();
