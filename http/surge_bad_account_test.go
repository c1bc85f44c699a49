package http_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestAnAccountIDNoStoreCanHoldIsNotFound: a payment naming an account by
// an ID with a NUL byte (no account has one, and PostgreSQL's text cannot
// hold one) is answered 404 account_not_found with its field on both
// stores, paid at once or offered at a surge, and is never queued: queued,
// its settlement failed internal on PostgreSQL, which the settler takes for
// "not now", so it stayed pending and stopped every settling pass at it,
// and the payments queued after it were never paid. Found in review
// (2026-11-29): on PostgreSQL the payment was a 500 when paid at once, and
// from_account a 500 at a surge too; a NUL to_account was accepted (202)
// and held the surge queue up for everyone.
func TestAnAccountIDNoStoreCanHoldIsNotFound(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			e, ctrl := secSurgeEnvOn(t, store, 1)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			bob := e.MustPerson(t, "bob@example.com", 100_00)
			bad := []struct{ field, body string }{
				{"from_account", fmt.Sprintf(`{"from_account":"acc_\u0000","to_account":%q,"amount":5,"currency":"EUR"}`, bob.Wallet.ID)},
				{"to_account", fmt.Sprintf(`{"from_account":%q,"to_account":"acc_\u0000","amount":5,"currency":"EUR"}`, ann.Wallet.ID)},
			}
			for _, async := range []bool{false, true} {
				release := func() {}
				h := []string{"Idempotency-Key", ""}
				if async {
					release = holdPaymentSlot(t, ctrl)
					h = append(h, "Prefer", "respond-async, wait=0.5")
				}
				for i, b := range bad {
					h[1] = fmt.Sprintf("nul-%d-%v", i, async)
					r := e.Do(t, "POST", "/v1/transfers", ann.Token, b.body, h...)
					if r.Status != 404 {
						t.Errorf("async=%v, a NUL in %s: %d %s; want 404 account_not_found, field %s", async, b.field, r.Status, r.Body, b.field)
					} else if p := r.Problem(t); p.Code != pw.EACCOUNTNOTFOUND || p.Field != b.field {
						t.Errorf("async=%v, a NUL in %s: %d %s; want 404 account_not_found, field %s", async, b.field, r.Status, r.Body, b.field)
					}
				}
				release()
			}
			// One queued before the fix (written here as the surge queue
			// wrote it) fails account_not_found when it settles; the
			// payments queued after it are paid: ann's, from its account,
			// and bob's.
			now := time.Now().UTC().Truncate(time.Microsecond)
			body := []byte(bad[1].body)
			old := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "user:" + ann.ID, IdempotencyKey: "nul-before",
				Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body, Status: pw.IntentPending,
				CreatedAt: now, UpdatedAt: now, Authorized: true, Credential: ann.Session}
			if _, err := e.DB.(pw.IntentStore).CreateIntent(context.Background(), old); err != nil {
				t.Fatal(err)
			}
			after := []pw.Intent{
				queueWhileBusy(t, e, ctrl, ann, ann.Wallet.ID, bob.Wallet.ID, 10_00, "after-ann"),
				queueWhileBusy(t, e, ctrl, bob, bob.Wallet.ID, ann.Wallet.ID, 10_00, "after-bob"),
			}
			for range 3 {
				if _, err := e.Server.SettleIntents(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			for i, p := range []*Person{ann, bob} {
				var got pw.Intent
				e.Do(t, "GET", "/v1/intents/"+after[i].ID, p.Token, "").Want(t, 200, "").Decode(t, &got)
				if got.Status != pw.IntentPosted {
					t.Errorf("%s's payment queued after the bad ones: %s %+v; want posted", p.Handle, got.Status, got.Error)
				}
			}
			if got, err := e.DB.(pw.IntentStore).Intent(context.Background(), old.ID); err != nil || got.Error == nil || got.Error.Code != pw.EACCOUNTNOTFOUND {
				t.Errorf("the intent queued before: %+v, %v; want failed account_not_found", got, err)
			}
			if pending, err := e.DB.(pw.IntentStore).PendingIntents(context.Background(), "", 10); err != nil || len(pending) != 0 {
				t.Fatalf("after three settling passes, %d intents pending (%v); want none", len(pending), err)
			}
		})
	}
}
