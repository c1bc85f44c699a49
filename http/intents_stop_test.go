package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
	"github.com/peakwallet/peakwallet/sqlite"
)

// Tests of an operator stopping a queued payment on its payer's behalf
// (POST /v1/intents/{id}/cancel with a reason; docs/overload.md,
// "Cancelling a queued payment"; ADR 0038). Each runs on SQLite and on
// PostgreSQL, the server as serve builds it (users, keys, the Guard).

// stores are the stores these tests run on.
var stores = []string{"sqlite", "postgres"}

// secSurgeEnvOn is secSurgeEnv on store ("sqlite" or "postgres"), with
// slots payment slots.
func secSurgeEnvOn(t *testing.T, store string, slots int) (*SecEnv, *admission.Controller) {
	t.Helper()
	cfg := admission.Config{LimitInitial: slots, LimitMin: slots, LimitMax: slots}
	var ctrl *admission.Controller
	if store == "sqlite" {
		e := mustOpenSecEnvWith(t, testLimits, func(c *pwhttp.Config, st *sqlite.Store) {
			ctrl = admission.New(cfg)
			c.Admission, c.Intents = ctrl, st
		})
		return e, ctrl
	}
	pg, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	e := mustOpenSecEnvOn(t, pg, testLimits, func(c *pwhttp.Config) {
		ctrl = admission.New(cfg)
		c.Admission, c.Intents = ctrl, pg
	})
	return e, ctrl
}

// mustOperator creates an operator of role (as the root admin) and
// returns its principal and key.
func mustOperator(t *testing.T, e *SecEnv, role string) (principal, key string) {
	t.Helper()
	var o auth.NewOperator
	e.Do(t, "POST", "/v1/operators", operatorKey, `{"name":"`+role+` desk","role":"`+role+`"}`).Want(t, 201, "").Decode(t, &o)
	return "operator:" + o.ID, o.Key
}

// auditOf returns the audit log's records of action (every record for
// ""), read from the store, and fails t unless the whole chain verifies.
func auditOf(t *testing.T, e *SecEnv, action string) []*auth.AuditRecord {
	t.Helper()
	rep, err := auth.VerifyAudit(context.Background(), e.DB)
	if err != nil || !rep.OK() {
		t.Fatalf("the audit chain: %v %+v", err, rep)
	}
	var out []*auth.AuditRecord
	for after := int64(0); ; {
		list, err := e.DB.Audit(context.Background(), after, auth.AuditPageMax)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if action == "" || r.Action == action {
				out = append(out, r)
			}
			after = r.Seq
		}
		if len(list) < auth.AuditPageMax {
			return out
		}
	}
}

// stopBody is a cancellation's body with reason.
func stopBody(reason string) string {
	b, _ := json.Marshal(pw.IntentCancel{Reason: reason})
	return string(b)
}

// TestAnOperatorStopsAQueuedPaymentOnThePayersBehalf: support, risk and
// admin operators may each stop a user's pending payment, with a reason:
// 200 with the intent failed intent_cancelled, cancelled_by "operator";
// the payer reads it so, its key answers so (a replay, at a surge or
// not), nothing is ever paid, and the audit log holds exactly one record
// of each stop (the operator, intent.cancel, the intent; the payer, the
// reason, the amount and currency), whose chain verifies. Stopping again
// answers the same and records nothing more. An operator cancelling its
// own queued payment is the payer's cancel (no reason needed), and is
// audited too. Before the change an operator got 403.
func TestAnOperatorStopsAQueuedPaymentOnThePayersBehalf(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e, ctrl := secSurgeEnvOn(t, store, 1)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			bob := e.MustPerson(t, "bob@example.com", 0)
			for i, role := range []string{pw.RoleSupport, pw.RoleRisk, pw.RoleAdmin} {
				op, key := mustOperator(t, e, role)
				in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, int64(i+1)*10_00, "stop-"+role)
				cancel := "/v1/intents/" + in.ID + "/cancel"
				reason := "account takeover reported by phone, ticket " + role
				var got pw.Intent
				e.Do(t, "POST", cancel, key, stopBody(reason)).Want(t, 200, "").Decode(t, &got)
				if !got.Cancelled() || got.Error.CancelledBy != pw.CancelledByOperator || !strings.Contains(got.Error.Message, "support") {
					t.Fatalf("%s: the stopped intent: %+v %+v", role, got, got.Error)
				}
				if strings.Contains(string(e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Body), "ticket") {
					t.Fatalf("%s: the payer reads the staff's reason", role)
				}
				var read pw.Intent
				e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &read)
				if !read.Cancelled() || read.Error.CancelledBy != pw.CancelledByOperator {
					t.Fatalf("%s: the payer reads %+v %+v", role, read, read.Error)
				}
				// The key's answer says so too, replayed to the payer's retry.
				var replay struct {
					Code        string `json:"code"`
					CancelledBy string `json:"cancelled_by"`
				}
				r := e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, int64(i+1)*10_00), "Idempotency-Key", "stop-"+role).Want(t, 409, pw.EINTENTCANCELLED)
				r.Decode(t, &replay)
				if r.Header.Get("Idempotent-Replayed") != "true" || replay.CancelledBy != pw.CancelledByOperator {
					t.Fatalf("%s: the payer's retry under the key: %v %s", role, r.Header, r.Body)
				}
				// Again, by the operator or the payer: the same intent, no new record.
				var again pw.Intent
				e.Do(t, "POST", cancel, key, stopBody("again")).Want(t, 200, "").Decode(t, &again)
				e.Do(t, "POST", cancel, ann.Token, "").Want(t, 200, "")
				if !again.UpdatedAt.Equal(got.UpdatedAt) || again.Error.CancelledBy != pw.CancelledByOperator {
					t.Fatalf("%s: stopped twice: %+v, want %+v", role, again, got)
				}
				recs := auditOf(t, e, auth.ActionIntentCancel)
				if len(recs) != i+1 {
					t.Fatalf("%s: %d intent.cancel records after %d stops: %+v", role, len(recs), i+1, recs)
				}
				rec := recs[i]
				want := map[string]string{"payer": "user:" + ann.ID, "reason": reason, "amount": strconv.FormatInt(int64(i+1)*10_00, 10),
					"currency": "EUR", "from": ann.Wallet.ID, "to": bob.Wallet.ID, "cancelled_by": pw.CancelledByOperator, "idempotency_key": "stop-" + role}
				if rec.Actor != op || rec.Target != in.ID || len(rec.Detail) != len(want) {
					t.Fatalf("%s: the record %+v, want actor %s, target %s", role, rec, op, in.ID)
				}
				for k, v := range want {
					if rec.Detail[k] != v {
						t.Fatalf("%s: the record's %s is %q, want %q (%+v)", role, k, rec.Detail[k], v, rec.Detail)
					}
				}
			}
			// The operator's own queued payment: the payer's cancel, audited.
			in := queueWhileBusyAs(t, e, ctrl, operatorKey, ann.Wallet.ID, bob.Wallet.ID, 1_00, "own")
			var own pw.Intent
			e.Do(t, "POST", "/v1/intents/"+in.ID+"/cancel", operatorKey, "").Want(t, 200, "").Decode(t, &own)
			if own.Error == nil || own.Error.CancelledBy != pw.CancelledByPayer {
				t.Fatalf("the operator's own payment cancelled: %+v", own)
			}
			if recs := auditOf(t, e, auth.ActionIntentCancel); len(recs) != 4 || recs[3].Target != in.ID || recs[3].Detail["payer"] != recs[3].Actor {
				t.Fatalf("the records after the operator's own cancel: %+v", recs)
			}
			if n, err := e.Server.SettleIntents(context.Background()); n != 0 || err != nil {
				t.Fatalf("SettleIntents = %d, %v after the stops", n, err)
			}
			if a, b := e.Balance(t, ann.Wallet.ID), e.Balance(t, bob.Wallet.ID); a.Posted != 100_00 || b.Posted != 0 {
				t.Fatalf("balances %d and %d after stopped payments, want 10000 and 0", a.Posted, b.Posted)
			}
			mustVerify(t, e.DB)
		})
	}
}

// TestAnOperatorMustSayWhyItStopsAPayment: an operator's cancellation of
// someone else's payment without a reason (no body, none, blank), with one
// too long or not one line of text, or with another member is 400 invalid_request
// naming reason (a body over the bound is 413); the intent stays pending,
// no record is written, and its key is not spent: the payment is made
// when the server has room. Someone else than the payer or an operator
// still does not find it (404). The payer's own cancel takes a reason or
// none, and is not audited.
func TestAnOperatorMustSayWhyItStopsAPayment(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e, ctrl := secSurgeEnvOn(t, store, 1)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			bob := e.MustPerson(t, "bob@example.com", 0)
			_, support := mustOperator(t, e, pw.RoleSupport)
			in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "bad")
			cancel := "/v1/intents/" + in.ID + "/cancel"
			for _, body := range []string{"", `{}`, `{"reason":""}`, `{"reason":"  \n\t "}`,
				stopBody(strings.Repeat("é", pw.IntentCancelReasonMax/2) + "x"), `{"reason":"a\u0000b"}`,
				// One line of text: a line break would print as an audit record of
				// its own, an escape would drive the terminal that prints it, and a
				// bidirectional control would reorder what the console shows.
				stopBody("fraud\n2026-11-28T10:00:00Z admin intent.cancel approved"), stopBody("a\tb"),
				stopBody("\x1b[2Jcleared"), stopBody("ok \u202eexe.txt"), stopBody("c1 \u0085 next line"),
				// Unicode's own line and paragraph separators break a line
				// where text is laid out (the console's page) as a line feed does.
				stopBody("fraud\u2028admin intent.cancel approved"), stopBody("fraud\u2029approved")} {
				if p := e.Do(t, "POST", cancel, support, body).Want(t, 400, pw.EINVALID).Problem(t); p.Field != "reason" {
					t.Fatalf("body %.40q: the problem names %q, want reason", body, p.Field)
				}
			}
			e.Do(t, "POST", cancel, support, `{"reason":"x","why":"y"}`).Want(t, 400, pw.EINVALID)
			e.Do(t, "POST", cancel, support, `{"reason":`).Want(t, 400, pw.EINVALID)
			e.Do(t, "POST", cancel, support, `{"reason":42}`).Want(t, 400, pw.EINVALID)
			e.Do(t, "POST", cancel, support, stopBody(strings.Repeat("x", pwhttp.AuthBodyBytesMax))).Want(t, 413, pw.ETOOLARGE)
			e.Do(t, "POST", cancel, bob.Token, stopBody("not mine")).Want(t, 404, pw.ENOTFOUND)
			e.Do(t, "POST", cancel, ann.Token, stopBody(strings.Repeat("x", pw.IntentCancelReasonMax+1))).Want(t, 400, pw.EINVALID)
			e.Do(t, "POST", cancel, ann.Token, stopBody("paid\nby card")).Want(t, 400, pw.EINVALID)
			if recs := auditOf(t, e, auth.ActionIntentCancel); len(recs) != 0 {
				t.Fatalf("records of refused cancellations: %+v", recs)
			}
			if n, err := e.Server.SettleIntents(context.Background()); n != 1 || err != nil {
				t.Fatalf("SettleIntents = %d, %v", n, err)
			}
			var got pw.Intent
			e.Do(t, "GET", "/v1/intents/"+in.ID, ann.Token, "").Want(t, 200, "").Decode(t, &got)
			if got.Status != pw.IntentPosted {
				t.Fatalf("the intent after refused cancellations: %+v", got)
			}
			// A reason at the bound is taken; the payer may give one too.
			at := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 1_00, "bound")
			e.Do(t, "POST", "/v1/intents/"+at.ID+"/cancel", support, stopBody(strings.Repeat("é", pw.IntentCancelReasonMax/2))).Want(t, 200, "")
			mine := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 2_00, "mine")
			e.Do(t, "POST", "/v1/intents/"+mine.ID+"/cancel", ann.Token, stopBody("paid by card")).Want(t, 200, "").Decode(t, &got)
			if !got.Cancelled() || got.Error.CancelledBy != pw.CancelledByPayer {
				t.Fatalf("the payer's cancel with a reason: %+v", got)
			}
			if recs := auditOf(t, e, auth.ActionIntentCancel); len(recs) != 1 || recs[0].Target != at.ID {
				t.Fatalf("records: %+v, want only the operator's stop of %s", recs, at.ID)
			}
			if b := e.Balance(t, bob.Wallet.ID); b.Posted != 10_00 {
				t.Fatalf("bob has %d, want 1000: the one payment not stopped", b.Posted)
			}
		})
	}
}

// TestAnOperatorCannotStopAPaymentAlreadyMade: a payment the settler made,
// or the client's retry under its key made first, is 409
// intent_not_pending with the intent (posted) when an operator would stop
// it, and the audit log records no stop: nothing was stopped.
func TestAnOperatorCannotStopAPaymentAlreadyMade(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e, ctrl := secSurgeEnvOn(t, store, 1)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			bob := e.MustPerson(t, "bob@example.com", 0)
			_, risk := mustOperator(t, e, pw.RoleRisk)
			settled := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "settled")
			retried := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 20_00, "retried")
			e.Do(t, "POST", "/v1/transfers", ann.Token, paymentBody(ann.Wallet.ID, bob.Wallet.ID, 20_00), "Idempotency-Key", "retried").Want(t, 201, "")
			var refusal struct {
				Intent pw.Intent `json:"intent"`
			}
			e.Do(t, "POST", "/v1/intents/"+retried.ID+"/cancel", risk, stopBody("fraud")).Want(t, 409, pw.EINTENTNOTPENDING).Decode(t, &refusal)
			if refusal.Intent.Status != pw.IntentPosted {
				t.Fatalf("the refusal's intent: %+v", refusal.Intent)
			}
			if n, err := e.Server.SettleIntents(context.Background()); n != 1 || err != nil {
				t.Fatalf("SettleIntents = %d, %v", n, err)
			}
			e.Do(t, "POST", "/v1/intents/"+settled.ID+"/cancel", risk, stopBody("fraud")).Want(t, 409, pw.EINTENTNOTPENDING)
			if recs := auditOf(t, e, auth.ActionIntentCancel); len(recs) != 0 {
				t.Fatalf("records of stops that stopped nothing: %+v", recs)
			}
			if b := e.Balance(t, bob.Wallet.ID); b.Posted != 30_00 {
				t.Fatalf("bob has %d, want 3000", b.Posted)
			}
		})
	}
}

// queueWhileBusyAs is queueWhileBusy with any bearer token.
func queueWhileBusyAs(t *testing.T, e *SecEnv, ctrl *admission.Controller, token, from, to string, amount int64, key string) pw.Intent {
	t.Helper()
	release := holdPaymentSlot(t, ctrl)
	defer release()
	var in pw.Intent
	asyncPayAs(e, t, token, from, to, amount, key).Want(t, 202, "").Decode(t, &in)
	return in
}

// TestTheClientStopsAPaymentWithAReason: the Go client's StopIntent sends
// the reason an operator must give; its CancelIntent, which sends none, is
// refused for an operator with the problem's code and field.
func TestTheClientStopsAPaymentWithAReason(t *testing.T) {
	e, ctrl := secSurgeEnvOn(t, "sqlite", 1)
	ann := e.MustPerson(t, "ann@example.com", 100_00)
	bob := e.MustPerson(t, "bob@example.com", 0)
	_, key := mustOperator(t, e, pw.RoleSupport)
	in := queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "client")
	c := pwhttp.NewClient(e.HTTP.URL, key, e.HTTP.Client())
	_, err := c.CancelIntent(context.Background(), in.ID)
	var pe *pw.Error
	if !errors.As(err, &pe) || pe.Code != pw.EINVALID || pe.Field != "reason" {
		t.Fatalf("CancelIntent as an operator, without a reason: %v", err)
	}
	got, err := c.StopIntent(context.Background(), in.ID, "duplicate payment, ticket 17")
	if err != nil || !got.Cancelled() || got.Error.CancelledBy != pw.CancelledByOperator {
		t.Fatalf("StopIntent: %+v, %v", got, err)
	}
	if recs := auditOf(t, e, auth.ActionIntentCancel); len(recs) != 1 || recs[0].Detail["reason"] != "duplicate payment, ticket 17" {
		t.Fatalf("records: %+v", recs)
	}
}
