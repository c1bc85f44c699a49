// console.js: the operator console. The operator key is kept in
// sessionStorage (this tab only) and sent as a bearer token; the API
// decides what each role may do, and the console hides what it may not.
"use strict";

(() => {
  const { t, api, el } = PW;
  const KeyKey = "pw_op";
  const PollMs = 2000;
  const SparkPoints = 60; // two minutes at PollMs
  let timer = null, last = null;
  const samples = [];
  const key = () => sessionStorage.getItem(KeyKey);
  const $ = (sel) => document.querySelector(sel);

  async function open() {
    const res = await api("GET", "/v1/ops/summary", { token: key() });
    if (!res.ok) {
      sessionStorage.removeItem(KeyKey);
      $("#key-form").hidden = false;
      $("#key-form [data-error]").textContent = PW.problemText(res);
      return;
    }
    const op = res.data.operator || {};
    $("#key-form").hidden = true;
    $("#console").hidden = false;
    $("[data-who]").textContent = t("console.role", { id: op.id || "", role: op.role || "" });
    $("[data-readonly]").hidden = op.role === "admin";
    for (const s of document.querySelectorAll("[data-roles]")) {
      s.hidden = !s.dataset.roles.split(" ").includes(op.role);
    }
    show(res.data);
    poll();
    status();
  }

  async function poll() {
    clearTimeout(timer);
    const res = await api("GET", "/v1/ops/summary", { token: key() });
    if (res.ok) show(res.data);
    timer = setTimeout(poll, PollMs);
  }

  const fmtS = (s) => (s >= 1 ? s.toFixed(2) + " s" : (s * 1000).toFixed(s < 0.01 ? 2 : 0) + " ms");

  // show turns two readings of totals into rates, and plots them.
  function show(s) {
    const set = (k, v) => { $('[data-m="' + k + '"]').textContent = v; };
    set("inflight", s.in_flight);
    set("commits", s.ledger_commits);
    set("batch", s.ledger_commits ? (s.ledger_transfers / s.ledger_commits).toFixed(1) : "–");
    set("mean", s.latency_mean_seconds ? fmtS(s.latency_mean_seconds) : "–");
    set("p95", s.latency_p95_seconds ? "≤ " + fmtS(s.latency_p95_seconds) : "–");
    set("busy", s.requests ? (100 * s.busy / s.requests).toFixed(1) + " %" : "0 %");
    if (last) {
      const dt = (Date.parse(s.time) - Date.parse(last.time)) / 1000;
      if (dt > 0) {
        const rps = Math.max(0, (s.requests - last.requests) / dt);
        set("rps", rps.toFixed(rps < 10 ? 1 : 0));
        samples.push(rps);
        if (samples.length > SparkPoints) samples.shift();
        spark();
      }
    }
    last = s;
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

  async function status() {
    const res = await api("GET", "/v1/status");
    $("#status-detail").textContent = res.ok ? JSON.stringify(res.data, null, 2) : PW.problemText(res);
    setTimeout(status, 15000);
  }

  function dl(obj) {
    const out = el("dl", { class: "facts" });
    for (const [k, v] of Object.entries(obj || {})) {
      out.append(el("dt", null, k), el("dd", { class: "mono" }, typeof v === "object" ? JSON.stringify(v) : String(v)));
    }
    return out;
  }

  async function lookup(id) {
    const out = $("#lookup-out");
    const path = id.startsWith("acc_") ? "/v1/accounts/" : id.startsWith("hold_") ? "/v1/holds/" : "/v1/transfers/";
    const res = await api("GET", path + encodeURIComponent(id), { token: key() });
    if (!res.ok) { out.replaceChildren(el("p", { class: "error" }, PW.problemText(res))); return; }
    const parts = [dl(res.data)];
    if (id.startsWith("acc_")) {
      const trs = await api("GET", "/v1/accounts/" + encodeURIComponent(id) + "/transfers?limit=10", { token: key() });
      const rows = ((trs.ok && trs.data.data) || []).map((tr) => el("tr", null,
        el("td", null, PW.formatDate(tr.created_at)), el("td", { class: "mono" }, tr.id),
        el("td", { class: "mono" }, tr.from_account + " → " + tr.to_account), el("td", null, PW.formatMoney(tr.amount, tr.currency))));
      if (rows.length) parts.push(el("table", null, el("tbody", null, ...rows)));
    }
    out.replaceChildren(...parts);
  }

  async function verify() {
    const out = $("#verify-out");
    out.replaceChildren(el("p", null, t("app.loading")));
    const res = await api("POST", "/v1/verify", { token: key() });
    if (!res.ok) { out.replaceChildren(el("p", { class: "error" }, PW.problemText(res))); return; }
    const r = res.data, l = r.ledger || {};
    const lines = [el("p", { class: r.ok ? "ok" : "error" }, r.ok ? t("console.verify_ok") : t("console.verify_bad", { n: (l.violation_count || 0) + ((r.audit && r.audit.violations) || []).length }))];
    lines.push(el("pre", null, [...(l.checks || []), ...(l.violations || []), ...((r.audit && r.audit.violations) || [])].join("\n")));
    out.replaceChildren(...lines);
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
        el("td", null, a.action), el("td", { class: "mono" }, [a.target, a.client_address, a.detail ? JSON.stringify(a.detail) : ""].filter(Boolean).join(" "))));
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
  $("#verify-run").addEventListener("click", verify);
  $("#audit-load").addEventListener("click", audit);
  PW.initLanguage();
  PW.pollStatus();
  PW.loadCurrencies();
  if (key()) open();
})();
