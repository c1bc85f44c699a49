// console.js: the operator console. The operator key is kept in
// sessionStorage (this tab only) and sent as a bearer token; the API
// decides what each role may do, and the console hides what it may not.
"use strict";

(() => {
  // Codes the API sends (a role, a class, a state, a reason) are shown in
  // words through code: one this console does not know is shown as itself.
  const { t, api, el } = PW, code = PW.codeText;
  const KeyKey = "pw_op";
  const PollMs = 2000;
  const SparkPoints = 60; // two minutes at PollMs
  // The surge queue's first page is read at most every QueueReadMs, and
  // only while the summary says a payment waits: at a surge the console
  // should not add to the reads.
  const QueueReadMs = 10000;
  const QueuePageSize = 20;
  let timer = null, last = null;
  const samples = [];
  const key = () => sessionStorage.getItem(KeyKey);
  const $ = (sel) => document.querySelector(sel);

  // keyRefused ends the console's session, as Sign out does, and asks for
  // a key again, saying why: a key refused (401: mistyped, or revoked
  // since it was entered) is said as such, not as a person's wrong
  // password.
  function keyRefused(res) {
    clearTimeout(timer);
    sessionStorage.removeItem(KeyKey);
    $("#console").hidden = true;
    $("#key-form").hidden = false;
    $("#key-form [data-error]").textContent = res.status === 401 ? t("console.key_refused") : PW.problemText(res);
  }

  async function open() {
    const res = await api("GET", "/v1/ops/summary", { token: key() });
    if (!res.ok) return keyRefused(res);
    const op = res.data.operator || {};
    $("#key-form").hidden = true;
    $("#console").hidden = false;
    $("[data-who]").textContent = t("console.role", { id: op.id || "", role: code("console.role_name", op.role) });
    $("[data-readonly]").hidden = op.role === "admin";
    for (const s of document.querySelectorAll("[data-roles]")) {
      s.hidden = !s.dataset.roles.split(" ").includes(op.role);
    }
    show(res.data);
    poll();
    status();
  }

  // poll reads the summary every PollMs. One the server does not give
  // leaves the last figures up, and says since when they are old and why
  // (no connection, a gateway's error, the server busy), so that a frozen
  // console is not read as a quiet one; until 2026-11-29 it said nothing,
  // and an outage froze the figures as they were when it began. A key
  // refused (revoked meanwhile) ends the session.
  async function poll() {
    clearTimeout(timer);
    const res = await api("GET", "/v1/ops/summary", { token: key() });
    if (res.status === 401) return keyRefused(res);
    const note = $("#live-stale");
    note.hidden = res.ok;
    if (res.ok) show(res.data);
    else note.textContent = t("console.stale", { time: last ? PW.formatDate(last.time) : "–", why: PW.problemText(res) });
    timer = setTimeout(poll, PollMs);
  }

  const fmtS = (s) => (s >= 1 ? s.toFixed(2) + " s" : (s * 1000).toFixed(s < 0.01 ? 2 : 0) + " ms");

  // admission shows the limit, the breaker and each class's queue and
  // refusals; a refusal count's tooltip says which rules made them.
  function admission(a) {
    $("#admission").hidden = !a;
    if (!a) return;
    $("#admission-state").textContent = t("console.admission_state", { limit: a.limit, admitted: a.admitted, breaker: code("console.breaker_state", a.breaker),
      retry: a.retry_after_seconds ? fmtS(a.retry_after_seconds) : "0 s" });
    $("#admission-classes").tBodies[0].replaceChildren(...["payment", "topup", "read", "report"].map((c) => {
      const r = (a.refusals && a.refusals[c]) || {};
      const why = Object.keys(r).filter((k) => r[k] > 0).map((k) => code("console.refusal", k) + " " + r[k]).join(" · ");
      const refused = el("td", null, String(a.refused[c] || 0));
      if (why) refused.title = why;
      return el("tr", null, el("td", null, code("console.class_name", c)), el("td", null, String(a.queued[c] || 0)), refused,
        el("td", null, String(a.shed[c] || 0)), el("td", null, String((r.gave_up || 0) + (r.expired || 0))));
    }));
  }

  // show turns two readings of totals into rates, and plots them.
  function show(s) {
    admission(s.admission);
    surgeQueue(s);
    const set = (k, v) => { $('[data-m="' + k + '"]').textContent = v; };
    set("inflight", s.in_flight);
    set("commits", s.ledger_commits);
    set("batch", s.ledger_commits ? (s.ledger_transfers / s.ledger_commits).toFixed(1) : "–");
    // Ledger batches that did not commit, by reason in the tooltip:
    // out_of_time is a surge the store cannot keep up with; refused is a bug.
    const failed = s.ledger_batches_failed || {};
    set("failed", Object.values(failed).reduce((n, v) => n + v, 0));
    $('[data-m="failed"]').title = Object.keys(failed).sort().map((k) => code("console.batch_failure", k) + " " + failed[k]).join(" · ");
    set("mean", s.latency_mean_seconds ? fmtS(s.latency_mean_seconds) : "–");
    set("p95", s.latency_p95_seconds ? "≤ " + fmtS(s.latency_p95_seconds) : "–");
    set("busy", s.requests ? (100 * s.busy / s.requests).toFixed(1) + " %" : "0 %");
    if (last) {
      const dt = (Date.parse(s.time) - Date.parse(last.time)) / 1000;
      if (dt > 0) {
        const rps = Math.max(0, (s.requests - last.requests) / dt);
        set("rps", rps.toFixed(rps < 10 ? 1 : 0));
        lastRPS = rps;
        samples.push(rps);
        if (samples.length > SparkPoints) samples.shift();
        spark();
      }
    }
    last = s;
  }

  // surgeQueue shows how long the oldest waiting payment has waited (the
  // summary's, as the settler last found it), what the queue did with busy
  // payments since start, and the queue's first page, each payment with
  // Stop…: any operator may stop a waiting payment on its payer's behalf
  // ("my account was taken over", "I paid twice"), giving a reason that
  // the server keeps in the audit log with the stop.
  let queueReadAt = 0, queueShown = false;
  function surgeQueue(s) {
    const oldest = s.surge_queue_oldest_seconds || 0;
    $("#surge-oldest").textContent = oldest > 0 ? t("console.surge_oldest", { wait: fmtWait(oldest) }) : t("console.surge_none");
    const offers = s.surge_queue || {};
    const counts = Object.keys(offers).filter((k) => offers[k] > 0).sort().map((k) => code("console.surge_result", k) + " " + offers[k]).join(" · ");
    $("#surge-offers").textContent = counts ? t("console.surge_offers", { counts }) : "";
    // The length is read from the queue's head at most a second ago, the
    // oldest's wait when the settler last looked: when that says none
    // waits, a length left from before it emptied is not shown.
    $("#surge-count").textContent = oldest > 0 ? queueLength(s.surge_queue_pending) : "";
    if (oldest > 0 && Date.now() - queueReadAt >= QueueReadMs) queuePage();
    if (oldest === 0 && queueShown) showQueuePage({ data: [] }); // it emptied: nothing to read
  }

  // queueLength says how many payments wait and how fast the queue moves
  // (the summary's surge_queue_pending: counted up to 1,000, then "or
  // more"; this server's settling rate, or when a read-only window lets
  // it resume); nothing when none waits, or the server does not say
  // (servers before 2026-11-28, or a store that cannot be read now).
  function queueLength(q) {
    if (!q || !q.count) return "";
    const more = q.at_least ? "_more" : "";
    const parts = [q.count === 1 && !more ? t("console.surge_count_one") : t("console.surge_count" + more, { n: q.count })];
    if (q.settling_resumes_at) parts.push(t("console.surge_resumes", { at: PW.formatDate(q.settling_resumes_at) }));
    else if (q.settled_per_second > 0) {
      parts.push(t("console.surge_rate" + more, { rate: q.settled_per_second, eta: fmtWait(q.count / q.settled_per_second) }));
    }
    return parts.join(" ");
  }

  async function queuePage() {
    queueReadAt = Date.now();
    const res = await api("GET", "/v1/intents?limit=" + QueuePageSize, { token: key() });
    if (!res.ok) { $("#surge-page").textContent = PW.problemText(res); return; }
    showQueuePage(res.data);
  }

  // showQueuePage shows one page of waiting payments, oldest first.
  function showQueuePage(page) {
    const list = page.data || [];
    queueShown = list.length > 0;
    $("#surge-page").textContent = !list.length ? "" // the line above says none waits
      : t(page.next_cursor ? "console.surge_page_more" : "console.surge_page", { n: list.length, oldest: PW.formatDate(list[0].created_at) });
    $("#surge-table").hidden = !list.length;
    $("#surge-table").tBodies[0].replaceChildren(...list.map((i) => {
      const r = i.request || {}; // servers before 2026-11-28 do not say
      const stop = el("button", { type: "button", class: "secondary", "data-stop-intent": i.id }, t("console.surge_stop"));
      stop.addEventListener("click", () => askStop(i.id));
      return el("tr", null, el("td", null, PW.formatDate(i.created_at)),
        el("td", null, r.amount > 0 ? PW.formatMoney(r.amount, r.currency) : "–"),
        el("td", { class: "mono" }, r.from_account ? r.from_account + " → " + (r.to_handle || r.to_account || "") : "–"),
        el("td", { class: "mono" }, i.id), el("td", null, stop));
    }));
  }

  // askStop opens the stop form for intent id: the reason is required
  // (the server refuses a stop without one, 400 field reason), and the
  // form says whose payment it stops.
  let stopping = "";
  function askStop(id) {
    stopping = id;
    const f = $("#stop-form");
    f.hidden = false;
    $("#stop-title").textContent = t("console.stop_title", { id });
    $("#stop-out").replaceChildren();
    f.elements.reason.value = "";
    f.elements.reason.focus();
  }

  // stop sends the stop and shows its outcome: stopped (200, the intent
  // failed intent_cancelled by an operator); too late (409
  // intent_not_pending: the payment was made first, and the problem
  // carries the intent); or the refusal (a reason the server would not
  // take, busy, in use: the form stays, to try again). A stop is a money
  // request, with a payment's time limit (PW.PayTimeoutMs, 15 s), as the
  // payer's own cancellation. One the API did not answer (none in time, no
  // connection, a gateway's 5xx, outcome_unknown) may or may not have
  // taken effect: it says so, and that asking again is safe — the server
  // answers a stop of a stopped payment with the payment, stopped, and
  // records the stop once — with the form left open, its reason in it.
  // Until 2026-11-29 the stop had a read's 20 s and an unanswered one was
  // said as a failure; and a stop too late threw (its answer's code
  // shadowed code, the words for codes) and said nothing
  // (TestBrowserTheConsolesUnansweredStopMayHaveTakenEffect,
  // TestBrowserTheConsolesStopTooLateSaysHow).
  async function stop(reason) {
    const id = stopping, out = $("#stop-out");
    if (!id) return;
    out.replaceChildren(el("p", null, t("console.stopping", { id })));
    const res = await api("POST", "/v1/intents/" + encodeURIComponent(id) + "/cancel",
      { token: key(), body: { reason }, timeoutMs: PW.PayTimeoutMs });
    const why = res.data && res.data.code;
    if (res.ok || why === "intent_not_pending") {
      stopping = "";
      $("#stop-form").hidden = true;
      // A payment its payer had cancelled already is answered as it is
      // (200, cancelled_by payer): nothing was stopped by support, and no
      // stop recorded; until 2026-11-29 it was said stopped by support
      // (TestBrowserTheConsolesStopOfAPaymentItsPayerCancelledSaysSo).
      const byPayer = res.ok && (res.data.error || {}).cancelled_by === "payer";
      const text = byPayer ? t("console.stop_by_payer", { id }) : res.ok ? t("console.stop_done", { id })
        : t("console.stop_too_late", { id, status: code("console.intent_status", res.data.intent && res.data.intent.status) });
      out.replaceChildren(el("p", { class: res.ok ? "ok" : "error", tabindex: "-1" }, text));
      out.firstChild.focus();
      queuePage(); // the stopped payment leaves the queue
      return;
    }
    const gateway = res.status >= 500 && !why;
    if (res.status === 0 || gateway || res.data.outcome === "unknown") {
      out.replaceChildren(el("p", null, t("console.stop_unknown", { id })),
        el("p", { class: "hint" }, gateway ? t("error.gateway") : PW.problemText(res)));
      return;
    }
    const text = why === "invalid_request" && res.data.field === "reason" ? t("console.stop_reason_required") : PW.problemText(res);
    out.replaceChildren(el("p", { class: "error" }, text));
  }

  // fmtWait is a wait in seconds as "4.2 s", "37 s", "5 min 12 s" or "2 h 5 min".
  // The units are the page's language's (console.wait_*).
  function fmtWait(s) {
    if (s < 10) return t("console.wait_seconds", { s: s.toFixed(1) });
    if (s < 60) return t("console.wait_seconds", { s: Math.round(s) });
    if (s < 3600) return t("console.wait_minutes", { m: Math.floor(s / 60), s: Math.floor(s % 60) });
    return t("console.wait_hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }

  // spark draws the throughput samples as a polyline in a 120×40 box.
  function spark() {
    const max = Math.max(1, ...samples);
    const step = 120 / (SparkPoints - 1);
    const off = SparkPoints - samples.length;
    const pts = samples.map((v, i) => ((off + i) * step).toFixed(1) + "," + (38 - (v / max) * 36).toFixed(1));
    $("#spark polyline").setAttribute("points", pts.join(" "));
    $("#spark").setAttribute("data-max", max.toFixed(1));
  }

  // status shows the live state, the forecast against capacity and what
  // is measured now, the recommendation, maintenance and incidents, read
  // every StatusReadMs. A read still out when the next begins (a server
  // slow to answer) is given up: its answer, older than the next's, must
  // not replace it. Until 2026-11-29 the last to answer was shown, however
  // old.
  const StatusReadMs = 15000;
  let lastRPS = null, statusRead = null;
  async function status() {
    setTimeout(status, StatusReadMs);
    if (statusRead) statusRead.abort();
    const read = statusRead = new AbortController();
    const res = await api("GET", "/v1/status", { signal: read.signal });
    if (read.signal.aborted) return;
    if (!res.ok) { $("#status-state").textContent = PW.problemText(res); return; }
    const st = res.data, f = st.forecast;
    $("#status-state").textContent = t("console.state", { state: code("console.state_name", st.state) });
    const days = (f && f.next_7d) || [];
    if (!days.length) {
      $("#forecast-now").textContent = t("console.no_forecast");
    } else {
      const expected = f.next_24h && f.next_24h.length ? f.next_24h[0].expected / 3600 : 0;
      $("#forecast-now").textContent = t("console.now_vs_forecast", { actual: lastRPS == null ? "–" : lastRPS.toFixed(1), expected: expected.toFixed(1) }) +
        (f.capacity && f.capacity.rps ? " " + t("console.capacity", { cap: f.capacity.rps.toFixed(0) }) : "");
    }
    // No chart or table without a forecast (CSSOM: allowed by the CSP).
    $("#forecast-bars").style.display = $("#forecast-days").style.display = days.length ? "" : "none";
    bars(days, f && f.capacity && f.capacity.rps);
    $("#forecast-days").tBodies[0].replaceChildren(...days.map((d) => el("tr", null,
      el("td", null, d.date), el("td", null, d.peak_rps.toFixed(1)),
      el("td", null, d.busy_probability < 0 ? "–" : (100 * d.busy_probability).toFixed(0) + " %"), el("td", null, (d.events || []).join(", ")))));
    $("#maintenance-list").replaceChildren(...(st.maintenance || []).map((w) => el("li", null,
      PW.formatDate(w.start) + " – " + PW.formatDate(w.end) + ": " + (w.title || "") + (w.read_only ? " (" + t("console.read_only") + ")" : ""))));
    $("#incident-list").replaceChildren(...(st.incidents || []).map((i) => el("li", null, t("console.incident",
      { title: i.title || "", status: code("console.incident_status", i.status), impact: code("console.state_name", i.impact) }))));
    const rec = await api("GET", "/v1/forecast/recommendations", { token: key(), signal: read.signal });
    if (read.signal.aborted) return;
    $("#forecast-advice").textContent = rec.ok ? rec.data.summary || "" : "";
    // Without a forecast the recommendation already says why; say it once.
    if (!days.length && rec.ok && rec.data.summary) $("#forecast-now").textContent = "";
  }

  // bars draws each day's expected peak, with the capacity as a line.
  function bars(days, capacity) {
    const svg = $("#forecast-bars");
    const ns = "http://www.w3.org/2000/svg";
    const top = Math.max(1, capacity || 0, ...days.map((d) => d.peak_rps)) * 1.1;
    const w = 280 / Math.max(1, days.length);
    const kids = days.map((d, i) => {
      const r = document.createElementNS(ns, "rect");
      const h = (d.peak_rps / top) * 96;
      r.setAttribute("x", (i * w + 4).toFixed(1)); r.setAttribute("width", (w - 8).toFixed(1));
      r.setAttribute("y", (98 - h).toFixed(1)); r.setAttribute("height", h.toFixed(1));
      if (capacity && d.peak_rps > capacity) r.setAttribute("class", "over");
      return r;
    });
    if (capacity) {
      const l = document.createElementNS(ns, "line");
      const y = (98 - (capacity / top) * 96).toFixed(1);
      l.setAttribute("x1", "0"); l.setAttribute("x2", "280"); l.setAttribute("y1", y); l.setAttribute("y2", y);
      kids.push(l);
    }
    svg.replaceChildren(...kids);
  }

  // dl lists an object's members; show, by member, draws a value as
  // something other than text (null: as text after all).
  function dl(obj, show) {
    const out = el("dl", { class: "facts" });
    for (const [k, v] of Object.entries(obj || {})) {
      const node = show && show[k] && show[k](v);
      out.append(el("dt", null, k), node ? el("dd", null, node) : el("dd", { class: "mono" }, typeof v === "object" ? PW.stringify(v) : String(v)));
    }
    return out;
  }

  // IDPaths: the look-up of an ID, by its prefix. A user's ID (usr_, as
  // an account's owner_id names them) opens the user (GET /v1/users/{id}),
  // and anything else typed is tried as a handle (an email address or a
  // phone number, any spelling): what customer support starts from (GET
  // /v1/users?handle=). Both are audited.
  const IDPaths = { acc_: "/v1/accounts/", tr_: "/v1/transfers/", hold_: "/v1/holds/", int_: "/v1/intents/" };
  const UserIDPrefix = "usr_";

  async function lookup(q) {
    const out = $("#lookup-out");
    const prefix = Object.keys(IDPaths).find((p) => q.startsWith(p));
    out.replaceChildren(el("p", null, t("app.loading")));
    out.replaceChildren(...(prefix ? await objectParts(IDPaths[prefix], q) : await userParts(q)));
  }

  // objectParts shows an account, transfer, hold or intent; an account
  // with its latest transfers, each side named as the server names it
  // to operators (a user's handle, a merchant's name, a top-up).
  async function objectParts(path, id) {
    const res = await api("GET", path + encodeURIComponent(id), { token: key() });
    if (!res.ok) return [el("p", { class: "error" }, PW.problemText(res))];
    const parts = [dl(res.data, path === IDPaths.acc_ ? { owner_id: ownerButton } : null)];
    if (path === IDPaths.acc_) {
      const trs = await api("GET", "/v1/accounts/" + encodeURIComponent(id) + "/transfers?limit=10", { token: key() });
      const side = (tr, s) => {
        const name = PW.partyName(tr[s + "_party"], s);
        return name ? [el("span", { "data-party": s }, name), " ", el("span", { class: "mono small" }, tr[s + "_account"])] : [el("span", { class: "mono" }, tr[s + "_account"])];
      };
      const rows = ((trs.ok && trs.data.data) || []).map((tr) => el("tr", null,
        el("td", null, PW.formatDate(tr.created_at)), el("td", { class: "mono" }, tr.id),
        el("td", null, ...side(tr, "from"), " → ", ...side(tr, "to")), el("td", null, PW.formatMoney(tr.amount, tr.currency))));
      if (rows.length) parts.push(el("table", { id: "lookup-transfers" }, el("tbody", null, ...rows)));
    }
    return parts;
  }

  // ownerButton opens an account's owner, when a user, as if their ID
  // were typed (a merchant's or a system account's owner stays text).
  function ownerButton(id) {
    if (typeof id !== "string" || !id.startsWith(UserIDPrefix)) return null;
    const open = el("button", { type: "button", class: "link mono", "data-owner": id, title: t("console.open_user") }, id);
    open.addEventListener("click", () => { $("#lookup-id").value = id; lookup(id); });
    return open;
  }

  // userParts shows the user of an ID (usr_…) or a handle: who they are,
  // whether they can sign in (TOTP, a lock after failed logins), and
  // their wallets, each opening the account's look-up below it.
  async function userParts(q) {
    const byID = q.startsWith(UserIDPrefix);
    const res = await api("GET", byID ? "/v1/users/" + encodeURIComponent(q) : "/v1/users?" + new URLSearchParams({ handle: q }), { token: key() });
    const field = res.data && res.data.field;
    const why = res.status === 400 && field === "handle" ? t("console.lookup_not_handle")
      : res.status === 404 && field === "id" ? t("console.user_id_not_found") : PW.problemText(res);
    if (!res.ok) return [el("p", { class: "error" }, why)];
    const u = res.data;
    const facts = el("dl", { class: "facts", id: "lookup-user" });
    const fact = (k, v, cls) => facts.append(el("dt", null, t(k)), el("dd", cls ? { class: cls } : null, v));
    fact("console.user_handle", u.handle, "mono");
    fact("console.user_id", u.id, "mono");
    fact("console.user_since", PW.formatDate(u.created_at));
    fact("console.user_totp", t(u.totp_enabled ? "console.user_totp_on" : "console.user_totp_off"));
    fact("console.user_signin", u.locked
      ? t("console.user_locked", { until: PW.formatDate(u.locked_until), n: u.failed_logins })
      : t("console.user_unlocked", { n: u.failed_logins || 0 }), u.locked ? "error" : null);
    const account = el("div", { id: "lookup-account" });
    const rows = (u.wallets || []).map((w) => {
      const open = el("button", { type: "button", class: "link mono", "data-account": w.id }, w.id);
      open.addEventListener("click", async () => account.replaceChildren(...await objectParts(IDPaths.acc_, w.id)));
      const b = w.balance || {};
      return el("tr", null, el("td", null, w.currency), el("td", null, PW.formatMoney(b.available, w.currency)),
        el("td", null, PW.formatMoney(b.posted, w.currency)), el("td", null, open));
    });
    const wallets = rows.length
      ? el("table", { id: "lookup-wallets" },
        el("thead", null, el("tr", null, ...["console.wallet_currency", "console.wallet_available", "console.wallet_posted", "console.wallet_account"].map((k) => el("th", { scope: "col" }, t(k))))),
        el("tbody", null, ...rows))
      : el("p", null, t("console.user_no_wallets"));
    return [facts, el("h3", null, t("console.user_wallets")), wallets, account];
  }

  // verify runs the invariant check. The audit anchors typed (one
  // "seq:hash" a line, as an earlier check gave them) are sent as
  // audit_anchors: each must still be in the audit chain with its hash. A
  // malformed one is refused by the server (400, field audit_anchors[i]),
  // shown with the line it was typed on. The report's audit.anchor, the
  // chain's head, is shown to be kept elsewhere for a later check. Until
  // 2026-11-29 the console sent no anchors and showed none
  // (TestBrowserTheConsolesVerifyTakesAndGivesAuditAnchors).
  async function verify() {
    const out = $("#verify-out");
    const anchors = [], lineOf = [];
    $("#verify-anchors").value.split("\n").forEach((line, i) => {
      const a = line.trim();
      if (a) { anchors.push(a); lineOf.push(i + 1); }
    });
    out.replaceChildren(el("p", null, t("app.loading")));
    const res = await api("POST", "/v1/verify", anchors.length ? { token: key(), body: { audit_anchors: anchors } } : { token: key() });
    if (!res.ok) { out.replaceChildren(el("p", { class: "error" }, verifyRefusal(res, lineOf))); return; }
    const r = res.data, l = r.ledger || {}, a = r.audit || {};
    const lines = [el("p", { class: r.ok ? "ok" : "error" }, r.ok ? t("console.verify_ok") : t("console.verify_bad", { n: (l.violation_count || 0) + (a.violations || []).length }))];
    if (a.anchors_checked) lines.push(el("p", null, t("console.verify_anchors_checked", { n: a.anchors_checked })));
    lines.push(el("pre", null, [...(l.checks || []), ...(l.violations || []), ...(a.violations || [])].join("\n")));
    if (a.anchor) lines.push(...anchorToKeep(a.anchor));
    out.replaceChildren(...lines);
  }

  // verifyRefusal says why a check was refused: an anchor the server
  // would not read with the line it was typed on, in the server's words.
  function verifyRefusal(res, lineOf) {
    const field = (res.data && res.data.field) || "";
    const m = /^audit_anchors\[(\d+)\]$/.exec(field);
    if (res.status === 400 && m && lineOf[Number(m[1])]) return t("console.verify_anchor_bad", { line: lineOf[Number(m[1])], detail: res.data.detail || "" });
    if (res.status === 400 && field === "audit_anchors" && res.data.detail) return res.data.detail;
    return PW.problemText(res);
  }

  // anchorToKeep is the report's anchor, selectable and with a copy button.
  function anchorToKeep(anchor) {
    const field = el("input", { id: "verify-anchor", class: "mono", readonly: true, "aria-describedby": "verify-anchor-hint" });
    field.value = anchor;
    field.addEventListener("focus", () => field.select());
    const copy = el("button", { type: "button", class: "secondary" }, t("console.verify_anchor_copy"));
    copy.addEventListener("click", () => {
      field.select();
      navigator.clipboard?.writeText(anchor).then(() => PW.notice(t("console.verify_anchor_copied")), () => {});
    });
    return [el("div", { class: "row" }, el("label", { for: "verify-anchor" }, t("console.verify_anchor")), field, copy),
      el("p", { class: "hint", id: "verify-anchor-hint" }, t("console.verify_anchor_hint"))];
  }

  let auditCursor = "";
  async function audit() {
    const q = new URLSearchParams({ limit: "20" });
    if (auditCursor) q.set("cursor", auditCursor);
    const res = await api("GET", "/v1/audit?" + q, { token: key() });
    if (!res.ok) { PW.notice(PW.problemText(res), "error"); return; }
    const table = $("#audit-table");
    table.hidden = false;
    for (const a of res.data.data) {
      table.tBodies[0].append(el("tr", null, el("td", null, PW.formatDate(a.at)), el("td", { class: "mono" }, a.actor),
        el("td", null, a.action), el("td", { class: "mono" }, [a.target, a.client_address, a.detail ? PW.stringify(a.detail) : ""].filter(Boolean).join(" "))));
    }
    auditCursor = res.data.next_cursor || "";
    $("#audit-load").hidden = !auditCursor && res.data.data.length === 0 ? false : !auditCursor;
  }

  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KeyKey, ev.target.elements.key.value.trim());
    ev.target.elements.key.value = "";
    open();
  });
  $("#op-logout").addEventListener("click", () => {
    sessionStorage.removeItem(KeyKey);
    location.reload();
  });
  $("#lookup-form").addEventListener("submit", (ev) => { ev.preventDefault(); lookup(ev.target.elements.id.value.trim()); });
  $("#stop-form").addEventListener("submit", (ev) => { ev.preventDefault(); stop(ev.target.elements.reason.value); });
  $("#stop-close").addEventListener("click", () => { stopping = ""; $("#stop-form").hidden = true; });
  $("#verify-run").addEventListener("click", verify);
  $("#audit-load").addEventListener("click", audit);
  PW.initLanguage();
  PW.pollStatus();
  PW.loadCurrencies();
  if (key()) open();
})();
