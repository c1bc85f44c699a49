package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// claimCtx claims key and returns a context carrying the claim, or the replay.
func (e *env) claimCtx(principal, key, fingerprint string) (context.Context, *pw.IdempotencyRecord, *pw.IdempotencyRecord, error) {
	claim, replay, err := e.l.BeginIdempotent(e.ctx, pw.IdempotencyKey{Principal: principal, Key: key}, fingerprint)
	if err != nil || replay != nil {
		return nil, nil, replay, err
	}
	return pw.NewContextWithClaim(e.ctx, &pw.Claim{Record: claim, Render: render}), claim, nil, nil
}

func testIdempotency(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 700, Currency: "EUR"}

	ctx, _, _, err := e.claimCtx("operator:root", "k1", "fp1")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := e.l.CreateTransfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	_, _, replay, err := e.claimCtx("operator:root", "k1", "fp1")
	if err != nil || replay == nil || replay.Status != 201 || replay.State != pw.IdempotencyDone {
		t.Fatalf("replay = %+v, %v", replay, err)
	}
	wantStatus, wantBody := render(tr, nil)
	if replay.Status != wantStatus || string(replay.Body) != string(wantBody) {
		t.Fatalf("replayed body %s, want %s", replay.Body, wantBody)
	}
	_, _, _, err = e.claimCtx("operator:root", "k1", "fp-other")
	MustCode(t, err, pw.EIDEMREUSED)
	// Keys are scoped to the principal.
	if _, claim, _, err := e.claimCtx("merchant:m1", "k1", "fp1"); err != nil || claim == nil {
		t.Fatalf("same key, other principal: %v", err)
	}
	// An in-flight key answers "in use".
	_, claim, _, err := e.claimCtx("operator:root", "k2", "fp2")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = e.claimCtx("operator:root", "k2", "fp2")
	MustCode(t, err, pw.EIDEMINUSE)
	// Released after a failure that committed nothing, it can run again.
	e.l.ReleaseIdempotent(e.ctx, claim)
	if _, c, _, err := e.claimCtx("operator:root", "k2", "fp2"); err != nil || c == nil {
		t.Fatalf("claim after release: %v", err)
	}
	// A business failure is remembered too, and replayed.
	ctx, _, _, err = e.claimCtx("operator:root", "k3", "fp3")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: a.ID, ToAccount: bank.ID, Amount: 701, Currency: "EUR"})
	MustCode(t, err, pw.EINSUFFICIENT)
	_, _, replay, _ = e.claimCtx("operator:root", "k3", "fp3")
	if replay == nil || replay.Status != 400 {
		t.Fatalf("failure not remembered: %+v", replay)
	}
	e.MustBalance(a, 700, 0, 0)

	// Retention: after 24 h the keys are forgotten.
	e.clock.Advance(pw.IdempotencyRetention + time.Minute)
	n, err := e.l.CleanupIdempotency(e.ctx)
	if err != nil || n != 4 {
		t.Fatalf("CleanupIdempotency = %d, %v; want 4", n, err)
	}
	if _, c, _, err := e.claimCtx("operator:root", "k1", "fp-new"); err != nil || c == nil {
		t.Fatalf("claim after retention: %v", err)
	}
	e.MustVerify()
}

// testIdempotencyStaleLease: a request that died before committing frees
// its key when its lease ends; the late original cannot then post.
func testIdempotencyStaleLease(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 5, Currency: "EUR"}
	oldCtx, _, _, err := e.claimCtx("p", "k", "fp")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(pw.IdempotencyLease - time.Second)
	_, _, _, err = e.claimCtx("p", "k", "fp")
	MustCode(t, err, pw.EIDEMINUSE)
	_, _, _, err = e.claimCtx("p", "k", "fp-different")
	MustCode(t, err, pw.EIDEMREUSED)
	e.clock.Advance(2 * time.Second)
	_, _, _, err = e.claimCtx("p", "k", "fp-different")
	MustCode(t, err, pw.EIDEMREUSED) // a stale lease is taken over only by the same request
	newCtx, _, _, err := e.claimCtx("p", "k", "fp")
	if err != nil {
		t.Fatalf("takeover of a stale lease: %v", err)
	}
	_, err = e.l.CreateTransfer(oldCtx, req)
	MustCode(t, err, pw.EIDEMINUSE)
	if _, err := e.l.CreateTransfer(newCtx, req); err != nil {
		t.Fatal(err)
	}
	e.MustBalance(a, 5, 0, 0)
	e.MustVerify()
}

// testIdempotencyRace sends the same key from many goroutines at once, as a
// client retrying over a bad network would: the money moves exactly once.
func testIdempotencyRace(t *testing.T, open Opener) {
	e := newEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	const keys, senders = 20, 16
	var posted, replayed, inUse atomic.Int64
	var wg sync.WaitGroup
	for k := range keys {
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("key-%d", k)
				ctx, _, replay, err := e.claimCtx("p", key, "fp")
				switch {
				case pw.ErrorCode(err) == pw.EIDEMINUSE:
					inUse.Add(1)
					return
				case err != nil:
					t.Errorf("claim: %v", err)
					return
				case replay != nil:
					replayed.Add(1)
					return
				}
				if _, err := e.l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 1, Currency: "EUR"}); err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
				posted.Add(1)
			}()
		}
	}
	wg.Wait()
	if posted.Load() != keys || posted.Load()+replayed.Load()+inUse.Load() != keys*senders {
		t.Fatalf("posted %d, replayed %d, in use %d; want %d posted of %d", posted.Load(), replayed.Load(), inUse.Load(), keys, keys*senders)
	}
	e.MustBalance(a, keys, 0, 0)
	e.MustVerify()
}
