package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

func newRecord(key, token string, now time.Time) *pw.IdempotencyRecord {
	return &pw.IdempotencyRecord{IdempotencyKey: pw.IdempotencyKey{Principal: "merchant:m1", Key: key},
		Fingerprint: "fp", Token: token, State: pw.IdempotencyInFlight, CreatedAt: now, LockedAt: now}
}

func TestIdempotency_ClaimTakeoverRelease(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	first := newRecord("k1", "tok1", at(0))
	if got, err := s.ClaimIdempotency(ctx, first, at(-60)); err != nil || got != nil {
		t.Fatalf("first claim = %+v, %v; want nil, nil", got, err)
	}
	// A fresh lease is not taken over: the existing record comes back.
	second := newRecord("k1", "tok2", at(1))
	got, err := s.ClaimIdempotency(ctx, second, at(-59))
	if err != nil || got == nil || got.Token != "tok1" || got.Fingerprint != "fp" ||
		got.State != pw.IdempotencyInFlight || !got.CreatedAt.Equal(at(0)) || !got.LockedAt.Equal(at(0)) ||
		got.CreatedAt.Location() != time.UTC {
		t.Fatalf("second claim = %+v, %v; want the first record", got, err)
	}
	// A stale one is, by the same request (fingerprint) only: the owner
	// died before committing.
	other := newRecord("k1", "tok-other", at(120))
	other.Fingerprint = "fp-other-body"
	got, err = s.ClaimIdempotency(ctx, other, at(60))
	if err != nil || got == nil || got.Token != "tok1" || got.Fingerprint != "fp" {
		t.Fatalf("takeover by another request = %+v, %v; want the first record", got, err)
	}
	third := newRecord("k1", "tok3", at(120))
	if got, err := s.ClaimIdempotency(ctx, third, at(60)); err != nil || got != nil {
		t.Fatalf("takeover = %+v, %v; want nil, nil", got, err)
	}
	got, err = s.ClaimIdempotency(ctx, newRecord("k1", "tok4", at(121)), at(61))
	if err != nil || got == nil || got.Token != "tok3" ||
		!got.CreatedAt.Equal(at(0)) || !got.LockedAt.Equal(at(120)) {
		t.Fatalf("after takeover = %+v, %v; want tok3 created at t0", got, err)
	}
	// Only the current owner can release.
	if err := s.ReleaseIdempotency(ctx, first.IdempotencyKey, "tok1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimIdempotency(ctx, newRecord("k1", "tok5", at(122)), at(62)); got == nil || got.Token != "tok3" {
		t.Fatalf("a release by a former owner removed the lease: %+v", got)
	}
	if err := s.ReleaseIdempotency(ctx, first.IdempotencyKey, "tok3"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimIdempotency(ctx, newRecord("k1", "tok6", at(123)), at(63)); err != nil || got != nil {
		t.Fatalf("claim after release = %+v, %v; want nil, nil", got, err)
	}
}

// TestIdempotency_ClaimBatch: one group commit of claims inserts each new
// key once, for the first of its claims in the batch; a key that exists
// already is not claimed by it (ClaimIdempotency then reads or takes it
// over one key at a time), and keeps its owner.
func TestIdempotency_ClaimBatch(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	if got, err := s.ClaimIdempotency(ctx, newRecord("old", "tok-old", at(0)), at(-60)); err != nil || got != nil {
		t.Fatalf("claim of the existing key = %+v, %v", got, err)
	}
	batch := []*pw.IdempotencyRecord{newRecord("new", "tok-a", at(1)), newRecord("new", "tok-b", at(1)),
		newRecord("old", "tok-c", at(1)), newRecord("other", "tok-d", at(1))}
	rs, err := s.WriteClaimBatch(ctx, batch)
	if err != nil || len(rs) != 4 {
		t.Fatalf("the batch: %v, %v", rs, err)
	}
	for i, want := range []bool{true, false, false, true} {
		if rs[i].Value != want || rs[i].Err != nil {
			t.Errorf("claim %d (%s, %s): %+v, want inserted=%v", i, batch[i].Key, batch[i].Token, rs[i], want)
		}
	}
	for key, token := range map[string]string{"new": "tok-a", "old": "tok-old", "other": "tok-d"} {
		got, err := s.ClaimIdempotency(ctx, newRecord(key, "tok-later", at(2)), at(-58))
		if err != nil || got == nil || got.Token != token {
			t.Errorf("key %s afterwards: %+v, %v; want held by %s", key, got, err, token)
		}
	}
}

// TestIdempotency_Done marks keys done through Tx.Write, as the ledger does
// in the transaction that moves the money.
func TestIdempotency_Done(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	r1, r2, r3 := newRecord("a", "t1", at(0)), newRecord("b", "t2", at(0)), newRecord("c", "t3", at(0))
	for _, r := range []*pw.IdempotencyRecord{r1, r2, r3} {
		if got, err := s.ClaimIdempotency(ctx, r, at(-60)); err != nil || got != nil {
			t.Fatalf("claim %s = %+v, %v", r.Key, got, err)
		}
	}
	r1.Status, r1.Body = 201, []byte(`{"id":"tr_1"}`)
	r2.Status = 204 // no body
	err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		tokens, err := tx.LockIdempotency(ctx, []pw.IdempotencyKey{r2.IdempotencyKey, r1.IdempotencyKey,
			{Principal: "merchant:m1", Key: "missing"}})
		if err != nil {
			return err
		}
		if len(tokens) != 2 || tokens[r1.IdempotencyKey].Token != "t1" || tokens[r2.IdempotencyKey].Token != "t2" ||
			tokens[r1.IdempotencyKey].State != pw.IdempotencyInFlight {
			return fmt.Errorf("LockIdempotency = %v", tokens)
		}
		return tx.Write(ctx, &pw.Changes{Idempotency: []*pw.IdempotencyRecord{r1, r2}})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimIdempotency(ctx, newRecord("a", "other", at(500)), at(400))
	if err != nil || got == nil || got.State != pw.IdempotencyDone || got.Status != 201 || string(got.Body) != `{"id":"tr_1"}` {
		t.Fatalf("done record = %+v, %v", got, err)
	}
	// A done key is never taken over, however old, nor released.
	if err := s.ReleaseIdempotency(ctx, r1.IdempotencyKey, "t1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimIdempotency(ctx, newRecord("a", "other", at(500)), at(400)); got == nil || got.State != pw.IdempotencyDone {
		t.Fatalf("done record after release = %+v", got)
	}
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		tokens, err := tx.LockIdempotency(ctx, []pw.IdempotencyKey{r1.IdempotencyKey, r3.IdempotencyKey})
		if err != nil || len(tokens) != 2 || tokens[r3.IdempotencyKey].Token != "t3" || tokens[r3.IdempotencyKey].State != pw.IdempotencyInFlight ||
			tokens[r1.IdempotencyKey].State != pw.IdempotencyDone || string(tokens[r1.IdempotencyKey].Body) != `{"id":"tr_1"}` {
			return fmt.Errorf("LockIdempotency after done = %v, %v", tokens, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Marking a key done with a token that lost its lease fails the batch.
	a := newAccount(pw.AccountUser, at(0))
	lost := newRecord("c", "not-t3", at(0))
	lost.Status = 201
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		return tx.Write(ctx, &pw.Changes{NewAccounts: []*pw.Account{a}, Idempotency: []*pw.IdempotencyRecord{lost}})
	})
	WantCode(t, err, pw.EIDEMINUSE)
	if _, err := s.Account(ctx, a.ID); pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
		t.Fatalf("the failed batch committed: %v", err)
	}
}

func TestIdempotency_DeleteBefore(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	for i := range 5 {
		if _, err := s.ClaimIdempotency(ctx, newRecord(fmt.Sprint("k", i), "t", at(i*10)), at(-60)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteIdempotencyBefore(ctx, at(25))
	if err != nil || n != 3 {
		t.Fatalf("DeleteIdempotencyBefore = %d, %v; want 3", n, err)
	}
	if got, _ := s.ClaimIdempotency(ctx, newRecord("k0", "new", at(100)), at(40)); got != nil {
		t.Fatalf("a deleted key came back: %+v", got)
	}
	if got, _ := s.ClaimIdempotency(ctx, newRecord("k3", "new", at(100)), at(0)); got == nil || got.Token != "t" {
		t.Fatalf("a kept key was lost: %+v", got)
	}
}

// TestIdempotency_Races has many claimants race for one new key and then
// for one stale lease: exactly one wins each time.
func TestIdempotency_Races(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	const claimants = 12
	race := func(staleBefore time.Time, now time.Time) (winners int, winner string) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range claimants {
			wg.Go(func() {
				token := fmt.Sprint("tok-", now.Unix(), "-", i)
				got, err := s.ClaimIdempotency(ctx, newRecord("hot", token, now), staleBefore)
				if err != nil {
					t.Error(err)
					return
				}
				if got == nil {
					mu.Lock()
					winners++
					winner = token
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return winners, winner
	}
	if n, _ := race(at(-60), at(0)); n != 1 {
		t.Fatalf("%d claimants won a new key, want 1", n)
	}
	n, winner := race(at(60), at(120))
	if n != 1 {
		t.Fatalf("%d claimants took over a stale lease, want 1", n)
	}
	got, _ := s.ClaimIdempotency(ctx, newRecord("hot", "late", at(121)), at(61))
	if got == nil || got.Token != winner {
		t.Fatalf("record after the race = %+v, want token %s", got, winner)
	}
}
