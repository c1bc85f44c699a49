package http_test

import (
	"context"
	"fmt"
	"strings"
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

// TestABatchItemNamingNoTextAccountFailsAlone: a batch item naming an
// account by an ID with a NUL byte fails on its own, account_not_found
// with its field, and the batch's other items post (or, atomic, none
// does), on both stores. Found in review (2026-11-29): the ledger read
// every account its store transaction named before it checked the batch's
// items, and on PostgreSQL that read failed: the batch was a 500, and the
// store transaction, with every command grouped into it (other clients'
// payments), was given up and its commands retried one by one
// (peakwallet_ledger_batches_failed_total{reason="refused"}).
func TestABatchItemNamingNoTextAccountFailsAlone(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			e, _ := secSurgeEnvOn(t, store, 64)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			bob := e.MustPerson(t, "bob@example.com", 100_00)
			good := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":7,"currency":"EUR"}`, ann.Wallet.ID, bob.Wallet.ID)
			bad := fmt.Sprintf(`{"from_account":%q,"to_account":"acc_\u0000","amount":5,"currency":"EUR"}`, ann.Wallet.ID)
			for _, atomic := range []bool{false, true} {
				var res pwhttp.BatchResponse
				e.Do(t, "POST", "/v1/transfers/batch", operatorKey, fmt.Sprintf(`{"atomic":%v,"transfers":[%s,%s]}`, atomic, good, bad),
					"Idempotency-Key", fmt.Sprintf("nul-batch-%v", atomic)).Want(t, 200, "").Decode(t, &res)
				if len(res.Results) != 2 {
					t.Fatalf("atomic=%v: %d results, want 2", atomic, len(res.Results))
				}
				if p := res.Results[1].Error; res.Results[1].Status != "failed" || p == nil || p.Code != pw.EACCOUNTNOTFOUND || p.Field != "to_account" {
					t.Errorf("atomic=%v, the NUL item: %s %+v; want failed account_not_found, field to_account", atomic, res.Results[1].Status, p)
				}
				want := "posted"
				if atomic {
					want = "failed"
				}
				if res.Results[0].Status != want {
					t.Errorf("atomic=%v, the good item: %s %+v; want %s", atomic, res.Results[0].Status, res.Results[0].Error, want)
				}
			}
			var acc pw.Account
			e.Do(t, "GET", "/v1/accounts/"+bob.Wallet.ID, operatorKey, "").Want(t, 200, "").Decode(t, &acc)
			if acc.Balance.Posted != 100_00+7 {
				t.Errorf("bob holds %d, want %d: the one good item of the batch that was not atomic", acc.Balance.Posted, 100_00+7)
			}
			metrics := string(e.Do(t, "GET", "/metrics", operatorKey, "").Body)
			if strings.Contains(metrics, `peakwallet_ledger_batches_failed_total{reason="refused"}`) &&
				!strings.Contains(metrics, `peakwallet_ledger_batches_failed_total{reason="refused"} 0`) {
				t.Errorf("a store transaction was refused:\n%s", grepLines(metrics, "batches_failed_total"))
			}
		})
	}
}
