// refund.js: sending back money one received, from its receipt (POST
// /v1/transfers/{id}/refunds). The refund is sent by pay.js's pay, so
// that it meets every answer as a payment does: its own Idempotency-Key
// per attempt, kept and reused for every retry; the busy countdowns; the
// step-up prompt (docs/webapp.md, "Every answer a payment can get").
"use strict";

const PWRefund = (() => {
  const { t, api } = PW;

  // remains is what remains to refund of tr for a viewer whose wallets
  // are wallets, in minor units (a BigInt): 0n when there is nothing they
  // may refund. Only the payee refunds, so only a payment the viewer
  // received (to one of their wallets, not from one), never a refund, and
  // only while some of it is not refunded yet. A top-up (from one of the
  // wallet's system accounts) is no one's payment to send back.
  function remains(tr, wallets) {
    if (tr.kind !== "payment" || tr.refund_of) return 0n;
    if (tr.from_party && tr.from_party.kind === "system") return 0n;
    const mine = new Set(wallets.map((w) => w.id));
    if (!mine.has(tr.to_account) || mine.has(tr.from_account)) return 0n;
    try {
      const left = BigInt(tr.amount) - BigInt(tr.refunded_amount || 0);
      return left > 0n ? left : 0n;
    } catch (_) { return 0n; } // an amount the browser could not read
  }

  // refundForm shows the Refund action of the receipt in root, for tr,
  // when the viewer may refund it; reload draws the receipt again.
  async function refundForm(root, app, tr, reload) {
    const section = root.querySelector("[data-refund]");
    const left = remains(tr, await app.wallets());
    if (!section.isConnected || !left) return;
    const form = section.querySelector("#refund-form");
    const state = section.querySelector("#refund-state");
    const open = section.querySelector("[data-refund-open]");
    const error = (text, field) => {
      form.querySelector("[data-error]").textContent = text;
      if (field) field.focus();
    };
    // The payer, to whom the money goes back, as the receipt names them,
    // and their account, which the server's message with a code names.
    const name = PW.partyName(tr.from_party, "from");
    const to = name ? name + " (" + tr.from_account + ")" : tr.from_account;
    section.querySelector("[data-refund-left]").textContent = t("refund.left", { amount: PW.formatMoney(left, tr.currency), to });
    form.elements.amount.value = PWPay.minorToInput(left, tr.currency);
    section.hidden = false;
    open.addEventListener("click", () => {
      open.hidden = true;
      form.hidden = false;
      form.elements.amount.focus();
    });
    const request = {
      // A refund is never queued at a surge: only a payment may be.
      prefer: "wait=" + PW.PayWaitSeconds,
      whatKey: "mfa.what_refund",
      what: (b) => ({ amount: PW.formatMoney(b.amount, tr.currency), to }),
      done(app, show, refund) {
        PW.notice(t("refund.done", { amount: PW.formatMoney(refund.amount, tr.currency), to }), "ok");
        app.invalidate();
        if (section.isConnected) reload();
      },
      failed: (res) => refusedText(app, tr, left, res),
      leftBehind(app, b, vars) {
        PW.notice(t("refund.confirm_to_finish", vars), "error");
      },
    };
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error("");
      const text = form.elements.amount.value;
      const amount = PW.parseAmount(text, tr.currency);
      // More than remains is the server's to refuse (refund_exceeds_original):
      // what remains may have changed since this receipt was read.
      if (amount == null) return error(PWPay.badAmountText(text, tr.currency), form.elements.amount);
      const body = { amount };
      const note = form.elements.note.value.trim();
      if (note) body.description = note;
      const json = JSON.stringify(body);
      const path = "/v1/transfers/" + encodeURIComponent(tr.id) + "/refunds";
      const attempt = PWPay.loadAttempt(json, path) || { key: PW.newKey(), body: json, path };
      await PWPay.pay(app, form, state, attempt, null, request);
    });
  }

  // refusedText says why a refund was refused. One above what remains
  // says what remains now, read again (another refund may have been made
  // since the receipt was read), or, that read failing, what remained
  // when it was (left).
  async function refusedText(app, tr, left, res) {
    if (res.data.code !== "refund_exceeds_original") return PW.problemText(res);
    const r = await api("GET", "/v1/transfers/" + encodeURIComponent(tr.id), { token: app.token() });
    const now = r.ok ? remains(r.data, [{ id: tr.to_account }]) : left;
    return now > 0n ? t("refund.exceeds", { amount: PW.formatMoney(now, tr.currency) }) : t("refund.exceeds_none");
  }

  return { refundForm };
})();
