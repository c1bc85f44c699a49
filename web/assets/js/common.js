// common.js: what the app and the console share — strings, the API call,
// money formatting, the status banner and calm messages. No framework: the
// pages are server-rendered shells and these scripts fill them.
"use strict";

const PW = (() => {
  const S = JSON.parse(document.getElementById("strings").textContent);

  // t returns the text of key with {name} placeholders filled.
  function t(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(S, key) ? S[key] : key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  // codeText is the words, in the page's language, for code, an API code
  // of a kind: the string group + "." + code ("console.class_name.topup"
  // is "Top-ups"). A code this page has no words for (a newer server's) is
  // shown as itself, and none at all as "–": never "undefined".
  function codeText(group, code) {
    if (code === undefined || code === null || code === "") return "–";
    const key = group + "." + code;
    return Object.prototype.hasOwnProperty.call(S, key) ? t(key) : String(code);
  }

  // The language switch: persisted in a cookie the server reads, so the
  // next page is rendered in that language from the first byte.
  function initLanguage() {
    const sel = document.getElementById("lang");
    if (!sel) return;
    sel.addEventListener("change", () => {
      document.cookie = "pw_lang=" + encodeURIComponent(sel.value) + "; path=/; max-age=31536000; samesite=lax";
      location.reload();
    });
  }

  // PayWaitSeconds is the wait a payment asks the server for (Prefer:
  // wait=N): the server answers within it (sooner when the payment's
  // class deadline is shorter, 2 s by default), with the payment made,
  // queued or refused busy. PayTimeoutMs, the payment's time limit in
  // api, is that plus PaySlackMs for the network, a proxy in front of the
  // API and a commit asked for at the deadline, which the server waits
  // out. Past it, no answer is coming: the payment may have gone through,
  // and the attempt is retried under the same key as after any lost
  // answer (the server then answers what happened, or 409 while the first
  // try is still being made). A cancellation is a money request too, and
  // has the same limit, the payer's (pay.js) as an operator's stop
  // (console.js).
  const PayWaitSeconds = 5;
  const PaySlackMs = 10000;
  const PayTimeoutMs = PayWaitSeconds * 1000 + PaySlackMs;

  // api calls the JSON API and never throws for HTTP answers: it resolves
  // to {status, ok, data, headers}. A network failure resolves to
  // status 0, so callers treat "no answer" as one more calm state.
  // opts.signal (an AbortSignal) gives the request up: it then resolves to
  // status 0 with the code "aborted", which whoever gave it up reads as
  // no answer wanted. The body is read with its integers exact (exact).
  // opts.keepalive lets the request outlive the page (a logout sent as the
  // tab closes).
  //
  // Every request has a time limit, the answer's body included:
  // opts.timeoutMs, or ApiTimeoutMs. A request that outlives it is given
  // up and resolves to status 0 with the code "timeout": no answer, as
  // when the network drops one, so every caller's "no answer" path applies
  // (a payment's retry under the same key, pay.js). Until 2026-11-29 no
  // request had a limit, and one that a stalled server or proxy never
  // answered held its caller for ever: the status banner stopped
  // refreshing, a payment never reached its retry, the console's reads
  // stopped (TestBrowserAnUnansweredRequestIsGivenUp). The limit is an
  // AbortSignal.timeout; the browser tests shorten it by wrapping that
  // function before the page's scripts run (web/browser_test.go,
  // limitScale): the product has no switch for it.
  const ApiTimeoutMs = 20000;
  async function api(method, path, opts) {
    opts = opts || {};
    const headers = { Accept: "application/json" };
    if (opts.token) headers.Authorization = "Bearer " + opts.token;
    if (opts.idem) headers["Idempotency-Key"] = opts.idem;
    if (opts.mfa) headers["MFA-Code"] = opts.mfa;
    if (opts.prefer) headers.Prefer = opts.prefer;
    let body;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    // giveUp ends the request at the caller's word (opts.signal) or at the
    // limit, whichever comes first.
    const giveUp = new AbortController();
    const limit = AbortSignal.timeout(opts.timeoutMs || ApiTimeoutMs);
    const stop = () => giveUp.abort();
    limit.addEventListener("abort", stop);
    if (opts.signal) {
      if (opts.signal.aborted) stop();
      opts.signal.addEventListener("abort", stop);
    }
    try {
      const res = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit",
        keepalive: !!opts.keepalive, signal: giveUp.signal });
      let data = null;
      const text = await res.text();
      if (text) {
        try { data = JSON.parse(text, exact); } catch (_) { data = { detail: text }; }
      }
      return { status: res.status, ok: res.ok, data: data || {}, headers: res.headers };
    } catch (err) {
      const code = opts.signal && opts.signal.aborted ? "aborted" : limit.aborted ? "timeout" : "network";
      return { status: 0, ok: false, data: { code }, headers: new Headers() };
    } finally {
      // A caller's signal may outlive many requests (a countdown's).
      limit.removeEventListener("abort", stop);
      if (opts.signal) opts.signal.removeEventListener("abort", stop);
    }
  }

  // exact is JSON.parse's reviver that keeps integers exact. Amounts are
  // int64 minor units (the server takes up to 2^63 − 1), and a JavaScript
  // number holds integers exactly only to 2^53 − 1: beyond, the integer is
  // read from its source text as a BigInt (JSON.parse source text access,
  // in current browsers). Where the browser does not give the source, the
  // rounded number stays, and formatMoney says it is too large to show
  // rather than show a wrong figure. Until 2026-11-29 every such amount
  // was shown rounded.
  function exact(_key, value, ctx) {
    if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
    const src = ctx && ctx.source;
    return typeof src === "string" && /^-?\d+$/.test(src) ? BigInt(src) : value;
  }

  // stringify is JSON.stringify for what api read: a BigInt is written as
  // the integer it is.
  function stringify(v) {
    return JSON.stringify(v, (_k, x) => typeof x !== "bigint" ? x
      : typeof JSON.rawJSON === "function" ? JSON.rawJSON(x.toString()) : x.toString());
  }

  // retryAfter is the wait the server asked for, in seconds (1..600).
  function retryAfter(res) {
    let s = parseInt(res.headers.get("Retry-After") || "", 10);
    if (!(s > 0) && res.data && res.data.retry_after > 0) s = res.data.retry_after;
    if (!(s > 0)) s = 1;
    return Math.min(s, 600);
  }

  // problemText is the calm sentence for an API error.
  function problemText(res) {
    const code = (res.data && res.data.code) || (res.status === 0 ? "network" : "");
    // A payment support stopped on the payer's behalf is not "you cancelled".
    if (code === "intent_cancelled" && res.data.cancelled_by === "operator") return t("error.intent_stopped");
    const key = "error." + code;
    if (code && Object.prototype.hasOwnProperty.call(S, key)) return t(key);
    return t("error.generic", { detail: (res.data && (res.data.detail || res.data.title)) || res.status });
  }

  // Currencies: exponents from the API, cached for the page's life.
  let currencies = currenciesInPage();
  // The server's currencies come in the page (#currencies, web.go), so
  // that amounts are read and written in their exponents without a
  // request. A page without them reads /v1/currencies, and keeps only an
  // answer: until 2026-11-29 a refused or unanswered read was kept as no
  // currencies for the page's life, and every amount was taken to have 2
  // decimals, so that 1000 typed in a JPY wallet was sent as 100,000 yen
  // (TestBrowserAmountsKeepTheirExponentWhenCurrenciesCannotBeRead).
  function currenciesInPage() {
    const node = document.getElementById("currencies");
    try {
      const m = node && JSON.parse(node.textContent);
      return m && typeof m === "object" && Object.keys(m).length ? m : null;
    } catch (_) { return null; }
  }
  async function loadCurrencies() {
    if (currencies) return currencies;
    const res = await api("GET", "/v1/currencies");
    if (!res.ok) return {};
    const read = {};
    for (const c of (res.data && res.data.data) || []) read[c.code] = c.exponent;
    currencies = read;
    return currencies;
  }
  function exponent(cur) { return currencies && cur in currencies ? currencies[cur] : 2; }

  // formatMoney shows minor units (a number or, beyond 2^53, a BigInt: see
  // exact) as a decimal string without floats. A number that is not an
  // exact integer, one rounded beyond 2^53, is said to be too large to
  // show: never a wrong figure. One that is no amount at all shows "–".
  function formatMoney(minor, cur) {
    if (typeof minor !== "bigint") {
      if (typeof minor !== "number" || !Number.isInteger(minor)) return "– " + cur;
      if (!Number.isSafeInteger(minor)) return t("money.too_large", { cur });
    }
    const e = exponent(cur);
    let n = BigInt(minor);
    const neg = n < 0n;
    if (neg) n = -n;
    let digits = n.toString().padStart(e + 1, "0");
    let int = e ? digits.slice(0, -e) : digits;
    const frac = e ? digits.slice(-e) : "";
    int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "−" : "") + int + (frac ? "." + frac : "") + " " + cur;
  }

  // AmountMax is the largest amount, in minor units, the app sends: its
  // requests carry amounts as JavaScript numbers, exact to 2^53 − 1 (the
  // server would take up to 2^63 − 1). 90 trillion euros is far beyond
  // any payment a person makes here.
  const AmountMax = Number.MAX_SAFE_INTEGER;

  // parseAmount turns "12.5" into 1250 minor units (for 2 decimals), or
  // null when the text is not a positive amount with at most e decimals
  // or is above AmountMax (amountTooLarge tells which).
  function parseAmount(text, cur) {
    const d = amountDigits(text, cur);
    if (d == null) return null;
    const n = BigInt(d);
    return n > 0n && n <= BigInt(AmountMax) ? Number(n) : null;
  }

  // amountTooLarge is true when text is an amount above AmountMax, which
  // the app refuses rather than send it rounded.
  function amountTooLarge(text, cur) {
    const d = amountDigits(text, cur);
    return d != null && BigInt(d) > BigInt(AmountMax);
  }

  // amountDigits is the text's amount as a string of minor units' digits,
  // or null when it is not a number with at most the currency's decimals.
  function amountDigits(text, cur) {
    const e = exponent(cur);
    const m = /^\s*(\d+)(?:[.,](\d*))?\s*$/.exec(text || "");
    if (!m) return null;
    const frac = m[2] || "";
    if (frac.length > e) return null;
    return m[1] + frac.padEnd(e, "0");
  }

  function formatDate(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString(document.documentElement.lang);
  }

  // newKey is a fresh Idempotency-Key for one payment attempt.
  function newKey() {
    if (crypto.randomUUID) return "web-" + crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // notice shows a short message in the page's live region.
  function notice(text, kind) {
    const el = document.getElementById("notice");
    if (!el) return;
    el.textContent = text || "";
    el.className = "notice" + (kind ? " " + kind : "");
  }

  // Status banner: GET /v1/status, coded defensively — forecast and
  // maintenance may or may not be there, in whatever shape the server has.
  const StatusPollMs = 30000;
  async function pollStatus() {
    const el = document.getElementById("status-banner");
    if (!el) return;
    const res = await api("GET", "/v1/status");
    const s = res.ok ? res.data : null;
    const lines = [];
    if (!s && res.status !== 0) lines.push(t("status.unknown"));
    if (s && s.state && s.state !== "normal") {
      // A state this page does not know yet reads as "degraded".
      const key = Object.prototype.hasOwnProperty.call(S, "status." + s.state) ? "status." + s.state : "status.degraded";
      lines.push(t(key));
    }
    if (s) {
      const m = nextMaintenance(s.maintenance);
      if (m) lines.push(t("status.maintenance_window", { start: formatDate(m.start), end: formatDate(m.end) }));
      const advice = s.best_time_to_pay || s.best_time || s.advice;
      if (typeof advice === "string" && advice) lines.push(advice);
      else if (advice && typeof advice.sentence === "string") lines.push(advice.sentence);
    }
    el.hidden = lines.length === 0;
    el.className = "banner" + (s && s.state && s.state !== "normal" ? " warn" : "");
    el.textContent = lines.join(" · ");
    setTimeout(pollStatus, StatusPollMs);
  }
  function nextMaintenance(list) {
    if (!Array.isArray(list)) return null;
    const now = Date.now();
    for (const w of list) {
      const start = w && (w.start || w.starts_at), end = w && (w.end || w.ends_at);
      if (start && end && Date.parse(end) > now) return { start, end };
    }
    return null;
  }

  // countdown shows "retrying in N s" in el and resolves, once, to how it
  // ended: "elapsed" after seconds, "over" when over said
  // so, or "cancelled" by cancel(). over, when given, is an async check
  // asked every CountdownCheckMs while it counts, one at a time: when it
  // resolves true the countdown ends early. It goes on when el has left
  // the page (the person went to another view): what it counts down to is
  // what they asked for (a payment, a cancellation), and the app goes on
  // with it there, telling its outcome in the page's notice (pay.js,
  // told); whoever learns that what it waits for is settled cancels it.
  // over is given an AbortSignal, and once the countdown is settled no
  // timer is left and a check still out is given up (aborted): its answer
  // is wanted no more, and a read the server holds must not keep one of
  // the browser's few connections to it. Until 2026-11-29 that read was
  // left to run.
  const CountdownCheckMs = 5000;
  function countdown(el, seconds, key, over) {
    let left = seconds, tick = 0, check = 0, settled = false, done, asking = null;
    const p = new Promise((resolve) => { done = resolve; });
    const settle = (how) => {
      if (settled) return;
      settled = true;
      clearTimeout(tick);
      clearTimeout(check);
      if (asking) asking.abort();
      done(how);
    };
    const step = () => {
      el.textContent = t(key, { s: left });
      if (left <= 0) return settle("elapsed");
      left--;
      tick = setTimeout(step, 1000);
    };
    const ask = async () => {
      let yes = false;
      asking = new AbortController();
      try { yes = await over(asking.signal); } catch (_) { /* as a "no": keep counting */ }
      asking = null;
      if (settled) return;
      if (yes) return settle("over");
      check = setTimeout(ask, CountdownCheckMs);
    };
    step();
    if (over && !settled) check = setTimeout(ask, CountdownCheckMs);
    p.cancel = () => settle("cancelled");
    return p;
  }

  // maintenanceOver is true when GET /v1/status says no read-only window
  // is in force: its state is not "maintenance" and none of its read_only
  // windows covers the server's time. A read that fails, is refused (busy)
  // or does not say is false: the caller keeps waiting. A payment refused
  // 503 maintenance is told to come back at the window's end; the
  // operator may end the window sooner, and the server then takes writes
  // at once. signal, when given, gives the read up (a "no").
  async function maintenanceOver(signal) {
    const res = await api("GET", "/v1/status", { signal });
    const s = res.ok ? res.data : null;
    if (!s || typeof s.state !== "string" || s.state === "maintenance") return false;
    const now = Date.parse(s.time) || Date.now();
    const inForce = (w) => w && w.read_only === true && Date.parse(w.start) <= now && now < Date.parse(w.end);
    return !(Array.isArray(s.maintenance) && s.maintenance.some(inForce));
  }

  // partyName says who holds one side of a transfer (its from_party or
  // to_party, side "from" or "to"), as the server lets the reader know
  // (a user, or an operator in the console):
  // a user's handle, a merchant's name; a system account is the wallet's
  // own, money in from outside (a top-up) or out to it (a withdrawal).
  // "" when the server sent no party (an older server).
  function partyName(party, side) {
    if (!party) return "";
    switch (party.kind) {
      case "system": return t(side === "from" ? "party.topup" : "party.withdrawal");
      case "user": return party.handle || t("party.user");
      case "merchant": return party.name || t("party.merchant");
      default: return "";
    }
  }

  // el makes an element: el("p", {class: "x"}, "text", child, ...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v == null) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  // fromTemplate clones a <template> of the page.
  function fromTemplate(id) {
    return document.getElementById(id).content.cloneNode(true);
  }

  return { t, codeText, api, PayWaitSeconds, PayTimeoutMs, stringify, retryAfter, problemText, loadCurrencies, exponent, formatMoney, AmountMax, parseAmount,
    amountTooLarge, formatDate, partyName, newKey, notice, pollStatus, countdown, maintenanceOver, el, fromTemplate, initLanguage };
})();
