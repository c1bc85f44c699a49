package storetest

import (
	"encoding/json"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// RunIntentTampering is RunTampering for the surge queue's books: it edits
// a store's intents (and the transfers they name) behind the ledger's back,
// one way per invariant of the queue, and checks that ledger.Verify
// reports each. The store must implement peakwallet.IntentStore.
//
// Where the two databases need different SQL for one edit (a CHECK
// constraint to lift, a body to rewrite), a tamper gives alt, run when the
// database refuses sql: SQLite's form is first, PostgreSQL's is alt.
func RunIntentTampering(t *testing.T, open TamperOpener) {
	tampers := []struct {
		name, sql, alt, want string
	}{
		{name: "posted intent names a missing transfer",
			sql: "UPDATE intents SET transfer_id = 'tr_missing' WHERE key = 'paid-30'", want: "names transfer tr_missing, which does not exist"},
		{name: "posted intent names no transfer",
			sql: "UPDATE intents SET transfer_id = NULL WHERE key = 'paid-30'", want: "posted, yet names no transfer"},
		{name: "posted intent names a transfer of another amount",
			sql: "UPDATE intents SET transfer_id = (SELECT id FROM transfers WHERE amount = 25) WHERE key = 'paid-30'", want: "moves 25 EUR"},
		{name: "posted intent's request edited",
			sql:  `UPDATE intents SET body = CAST(replace(CAST(body AS TEXT), '"amount":30', '"amount":31') AS BLOB) WHERE key = 'paid-30'`,
			alt:  `UPDATE intents SET body = convert_to(replace(convert_from(body, 'UTF8'), '"amount":30', '"amount":31'), 'UTF8') WHERE key = 'paid-30'`,
			want: "its request 31 EUR"},
		{name: "posted intent names a transfer to another payee",
			sql:  "UPDATE intents SET transfer_id = (SELECT id FROM transfers WHERE amount = 30 AND to_account = (SELECT from_account FROM transfers WHERE amount = 100)) WHERE key = 'paid-30'",
			want: "moves 30 EUR from"},
		{name: "posted intent names a transfer posted under another key",
			sql: "UPDATE intents SET key = 'paid-30-again' WHERE key = 'paid-30'", want: "was not posted under its idempotency key"},
		{name: "two intents name one transfer",
			sql:  "UPDATE intents SET transfer_id = (SELECT transfer_id FROM intents WHERE key = 'paid-30'), body = (SELECT body FROM intents WHERE key = 'paid-30') WHERE key = 'paid-7'",
			want: "both name transfer"},
		{name: "failed intent names a transfer",
			sql: "UPDATE intents SET transfer_id = (SELECT id FROM transfers WHERE amount = 25) WHERE key = 'too-much'", want: "failed, yet names transfer"},
		{name: "cancelled intent names a transfer",
			sql: "UPDATE intents SET transfer_id = (SELECT id FROM transfers WHERE amount = 25) WHERE key = 'cancelled'", want: "failed, yet names transfer"},
		{name: "pending intent names a transfer",
			sql: "UPDATE intents SET transfer_id = (SELECT id FROM transfers WHERE amount = 25) WHERE key = 'waiting'", want: "pending, yet names transfer"},
		{name: "failed intent without an error code",
			sql: "UPDATE intents SET error_code = NULL, error_message = NULL WHERE key = 'too-much'", want: "failed without an error code"},
		{name: "failed intent with an empty error code",
			sql: "UPDATE intents SET error_code = '' WHERE key = 'too-much'", want: "failed without an error code"},
		{name: "posted intent with an error",
			sql: "UPDATE intents SET error_code = 'busy', error_message = 'busy' WHERE key = 'paid-7'", want: `posted, yet with error "busy"`},
		{name: "pending intent with an error code and no message",
			sql: "UPDATE intents SET error_code = 'busy', error_message = NULL WHERE key = 'waiting'", want: `pending, yet with error "busy"`},
		{name: "pending intent with an error",
			sql: "UPDATE intents SET error_code = 'busy', error_message = 'busy' WHERE key = 'waiting'", want: `pending, yet with error "busy"`},
		// Both schemas allow only the three states: the constraint is
		// lifted first, each database its own way.
		{name: "unknown intent status",
			sql:  "PRAGMA ignore_check_constraints = ON; UPDATE intents SET status = 'settled' WHERE key = 'paid-7'",
			alt:  "ALTER TABLE intents DROP CONSTRAINT intents_status_check; UPDATE intents SET status = 'settled' WHERE key = 'paid-7'",
			want: `unknown status "settled"`},
		// The payment made at once under the key "sync" while the intent
		// "cancelled" waited: had it been that intent's key, the
		// cancellation would have found it paid.
		{name: "cancelled intent's key paid while it waited",
			sql: "UPDATE intents SET key = 'sync' WHERE key = 'cancelled'", want: "cancelled, yet transfer"},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			s, exec := open(t)
			intentFixture(t, s)
			mustDetectTampering(t, s, exec, tc.sql, tc.alt, tc.want)
		})
	}
}

// intentFixture writes the surge queue's books every intent tamper starts
// from, each state reached as the server reaches it (the settler's steps:
// the key claimed, the payment made under it, the intent finished), all by
// user:u1 from account a:
//   - posted: "paid-30" (30 EUR to b) and "paid-7" (7 EUR to b), and
//     "by-handle" (4 EUR to b's handle, resolved to b above the ledger);
//   - failed: "too-much" (insufficient_funds), and "handover", whose key a
//     payment with another body (2 EUR) took first, as a process that did
//     not see the intent during a handover may (idempotency_key_reused);
//   - cancelled: "cancelled", while a payment made at once under another
//     key ("sync", 25 EUR) was posted; and "reused", whose key had paid
//     6 EUR more than a day before it was queued (forgotten, then free);
//   - pending: "waiting", and "retried", whose key its client's
//     synchronous retry has paid (10 EUR) before the settler came to it.
//
// Besides, the bank tops a up with 100 and 200, and a pays the bank 30
// (no key).
func intentFixture(t *testing.T, s pw.Store) {
	t.Helper()
	is, ok := s.(pw.IntentStore)
	if !ok {
		t.Fatalf("%T does not implement peakwallet.IntentStore", s)
	}
	e := newEnvOn(t, s, NewClock())
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	b := e.MustAccount(pw.AccountUser, "EUR", 0)
	e.MustTransfer(bank, a, 100)
	e.MustTransfer(bank, a, 200)
	e.MustTransfer(a, bank, 30)
	const principal = "user:u1"
	pay := func(key string, amount int64) *pw.Transfer { // a payment made at once, under key
		t.Helper()
		ctx, _, _, err := e.claimCtx(principal, key, "fp-"+key)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := e.l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: a.ID, ToAccount: b.ID, Amount: amount, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	accept := func(key string, req pw.TransferCreate) *pw.Intent {
		t.Helper()
		e.clock.Advance(time.Second)
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, e.clock.Now()), Principal: principal, IdempotencyKey: key,
			Fingerprint: "fp-" + key, Body: body, Authorized: true, Status: pw.IntentPending,
			CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}
		if ex, err := is.CreateIntent(e.ctx, in); err != nil || ex != nil {
			t.Fatalf("CreateIntent %s: %+v, %v", key, ex, err)
		}
		return in
	}
	finish := func(in *pw.Intent, tr *pw.Transfer, err error) {
		t.Helper()
		if tr != nil {
			err = is.FinishIntent(e.ctx, in.ID, pw.IntentPosted, tr.ID, nil, e.clock.Now())
		} else {
			err = is.FinishIntent(e.ctx, in.ID, pw.IntentFailed, "", &pw.IntentError{Code: pw.ErrorCode(err), Message: err.Error()}, e.clock.Now())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	settle := func(in *pw.Intent) { // as http's settler does
		t.Helper()
		e.clock.Advance(time.Second)
		claim, replay, err := e.l.BeginIdempotent(e.ctx, pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}, in.Fingerprint)
		switch {
		case pw.ErrorCode(err) == pw.EIDEMREUSED:
			finish(in, nil, err)
			return
		case err != nil || replay != nil:
			t.Fatalf("claim of %s: %+v, %v", in.IdempotencyKey, replay, err)
		}
		var req pw.TransferCreate
		if err := json.Unmarshal(in.Body, &req); err != nil {
			t.Fatal(err)
		}
		if req.ToHandle != "" { // resolved above the ledger
			req.ToAccount, req.ToHandle = b.ID, ""
		}
		tr, err := e.l.CreateTransfer(pw.NewContextWithClaim(e.ctx, &pw.Claim{Record: claim, Render: render}), req)
		if err != nil && pw.ErrorCode(err) != pw.EINSUFFICIENT {
			t.Fatalf("settling %s: %v", in.IdempotencyKey, err)
		}
		finish(in, tr, err)
	}
	cancel := func(in *pw.Intent) {
		t.Helper()
		e.clock.Advance(time.Second)
		claim, _, err := e.l.BeginIdempotent(e.ctx, pw.IdempotencyKey{Principal: in.Principal, Key: in.IdempotencyKey}, in.Fingerprint)
		if err != nil || claim == nil {
			t.Fatalf("claim to cancel %s: %v", in.IdempotencyKey, err)
		}
		rec := *claim
		rec.Status, rec.Body = 409, []byte(`{"code":"intent_cancelled"}`)
		got, done, err := is.CancelIntent(e.ctx, in.ID, &rec, &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "cancelled", CancelledBy: pw.CancelledByPayer}, e.clock.Now(), nil)
		if err != nil || done != nil || !got.Cancelled() {
			t.Fatalf("cancel %s: %+v, %+v, %v", in.IdempotencyKey, got, done, err)
		}
		e.l.ReleaseIdempotent(e.ctx, claim)
	}
	to := func(amount int64) pw.TransferCreate {
		return pw.TransferCreate{FromAccount: a.ID, ToAccount: b.ID, Amount: amount, Currency: "EUR"}
	}

	// A key paid, then forgotten past its retention, then queued and cancelled.
	pay("reused", 6)
	e.clock.Advance(pw.IdempotencyRetention + time.Hour)
	if _, err := e.l.CleanupIdempotency(e.ctx); err != nil {
		t.Fatal(err)
	}
	cancel(accept("reused", to(6)))

	settle(accept("paid-30", to(30)))
	settle(accept("paid-7", to(7)))
	settle(accept("by-handle", pw.TransferCreate{FromAccount: a.ID, ToHandle: "bob@example.com", Amount: 4, Currency: "EUR"}))
	settle(accept("too-much", to(1000)))
	handover := accept("handover", to(3))
	e.clock.Advance(time.Second)
	ctx, _, _, err := e.claimCtx(principal, "handover", "fp-another-body")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.CreateTransfer(ctx, to(2)); err != nil {
		t.Fatal(err)
	}
	settle(handover)
	cancelled := accept("cancelled", to(9))
	e.clock.Advance(time.Second)
	pay("sync", 25)
	cancel(cancelled)
	accept("waiting", to(5))
	accept("retried", to(10))
	e.clock.Advance(time.Second)
	pay("retried", 10)

	// Every state is there, as the settler left it.
	got := map[string]*pw.Intent{}
	for after := ""; ; {
		page, err := is.Intents(e.ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page {
			got[in.IdempotencyKey] = in
		}
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].ID
	}
	for key, want := range map[string]string{"paid-30": pw.IntentPosted, "paid-7": pw.IntentPosted, "by-handle": pw.IntentPosted,
		"too-much": pw.EINSUFFICIENT, "handover": pw.EIDEMREUSED, "cancelled": pw.EINTENTCANCELLED, "reused": pw.EINTENTCANCELLED,
		"waiting": pw.IntentPending, "retried": pw.IntentPending} {
		in := got[key]
		if in == nil || (in.Status != want && (in.Error == nil || in.Error.Code != want)) {
			t.Fatalf("intent %s: %+v, want %s", key, in, want)
		}
	}
}
