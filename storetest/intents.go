package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// RunIntents runs the conformance tests of peakwallet.IntentStore, the
// durable surge queue, against stores made by open (which must implement it).
func RunIntents(t *testing.T, open Opener) {
	t.Run("IntentsCreateOnce", func(t *testing.T) { testIntentsCreateOnce(t, open) })
	t.Run("IntentsPendingInOrder", func(t *testing.T) { testIntentsPendingInOrder(t, open) })
	t.Run("IntentsAll", func(t *testing.T) { testIntentsAll(t, open) })
	t.Run("IntentsFirstOutcomeStands", func(t *testing.T) { testIntentsFirstOutcomeStands(t, open) })
	t.Run("IntentsConcurrent", func(t *testing.T) { testIntentsConcurrent(t, open) })
	t.Run("IntentsBatch", func(t *testing.T) { testIntentsBatch(t, open) })
	t.Run("IntentsOfFinishedKeys", func(t *testing.T) { testIntentsOfFinishedKeys(t, open) })
	t.Run("IntentsCancel", func(t *testing.T) { testIntentsCancel(t, open) })
	t.Run("PendingIntentIDs", func(t *testing.T) { testPendingIntentIDs(t, open) })
	t.Run("IntentsKeepTheirKeys", func(t *testing.T) { testIntentsKeepTheirKeys(t, open) })
}

// testPendingIntentIDs: PendingIntentIDs returns the IDs of the first
// pending intents of every principal, in ID order (the settler's), up to
// its limit; a settled or cancelled intent is no longer among them.
// IntentsAhead then counts an intent's place in that list.
func testPendingIntentIDs(t *testing.T, open Opener) {
	s, ctx, clk := openIntents(t, open), context.Background(), NewClock()
	var ids []string
	for i := range 6 {
		clk.Advance(time.Millisecond)
		in := newIntent(fmt.Sprint("user:u", i%2), fmt.Sprint("k", i), clk.Now())
		if _, err := s.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	queue := func(limit int) []string {
		t.Helper()
		got, err := s.PendingIntentIDs(ctx, limit)
		if err != nil {
			t.Fatalf("PendingIntentIDs(%d): %v", limit, err)
		}
		return got
	}
	want := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
	want("six pending", queue(100), ids...)
	want("the first four", queue(4), ids[:4]...)
	// The first settles, the second is cancelled (failed): neither waits.
	if err := s.FinishIntent(ctx, ids[0], pw.IntentPosted, "tr_x", nil, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishIntent(ctx, ids[1], pw.IntentFailed, "", &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "cancelled"}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	q := queue(3)
	want("after two left the queue, the first three", q, ids[2:5]...)
	for _, c := range []struct {
		id      string
		ahead   int
		atLeast bool
	}{
		{ids[2], 0, false}, {ids[4], 2, false},
		{ids[5], 3, true},  // past the list's cut: at least 3
		{ids[0], 0, false}, // settled, before every one waiting
	} {
		if n, atLeast := pw.IntentsAhead(q, c.id, 3); n != c.ahead || atLeast != c.atLeast {
			t.Errorf("IntentsAhead(%s) = %d, %v; want %d, %v", c.id, n, atLeast, c.ahead, c.atLeast)
		}
	}
	if n, atLeast := pw.IntentsAhead(queue(100), ids[5], 100); n != 3 || atLeast {
		t.Errorf("the last of four waiting, the list whole: %d ahead (at least: %v), want 3", n, atLeast)
	}
}

// testIntentsCancel: CancelIntent fails a pending intent and marks its
// key's claim done with the cancellation's answer in the same transaction:
// a later claim of the key replays it (a claim held elsewhere at the same
// time, possible on SQLite during a handover, is
// sqlite.TestACancelInOneProcessStopsThePaymentInTheOther). It changes
// nothing when the key was paid first (done is that payment's record),
// when the intent is not pending, or when the claim's lease was lost; an
// unknown intent is not_found. Who cancelled is kept with the error. A
// commit record given with the cancellation (an operator's audit record)
// is written in its transaction only when the cancellation takes effect,
// and a writer that fails fails the cancellation: the intent stays
// pending, its key unanswered, and the record absent.
func testIntentsCancel(t *testing.T, open Opener) {
	e, is := openIntentsEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	req := pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 700, Currency: "EUR"}
	now := NewClock().Now()
	cancelled := &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "cancelled", CancelledBy: pw.CancelledByPayer}
	answer := func(claim *pw.IdempotencyRecord) *pw.IdempotencyRecord {
		rec := *claim
		rec.Status, rec.Body = 409, []byte(`{"code":"intent_cancelled"}`)
		return &rec
	}
	mustCreate := func(key string) *pw.Intent {
		t.Helper()
		in := newIntent("user:u1", key, now)
		if _, err := is.CreateIntent(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		return in
	}

	// A pending intent, cancelled under its key's claim.
	in := mustCreate("c1")
	_, claim, _, err := e.claimCtx(in.Principal, in.IdempotencyKey, in.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	got, done, err := is.CancelIntent(e.ctx, in.ID, answer(claim), cancelled, now.Add(time.Second), nil)
	if err != nil || done != nil || got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EINTENTCANCELLED {
		t.Fatalf("CancelIntent: %+v, %+v, %v", got, done, err)
	}
	e.l.ReleaseIdempotent(e.ctx, claim)
	if stored, err := is.Intent(e.ctx, in.ID); err != nil || stored.Status != pw.IntentFailed || stored.Error.Code != pw.EINTENTCANCELLED ||
		stored.Error.CancelledBy != pw.CancelledByPayer || !stored.UpdatedAt.Equal(now.Add(time.Second)) {
		t.Fatalf("the cancelled intent as stored: %+v, %v", stored, err)
	}
	if _, _, replay, err := e.claimCtx(in.Principal, in.IdempotencyKey, in.Fingerprint); err != nil || replay == nil || replay.Status != 409 ||
		!strings.Contains(string(replay.Body), pw.EINTENTCANCELLED) {
		t.Fatalf("the cancelled key claimed again: %+v, %v; want the cancellation replayed", replay, err)
	}
	if pending, err := is.PendingIntents(e.ctx, "", 10); err != nil || len(pending) != 0 {
		t.Fatalf("pending after the cancellation: %v, %v", pending, err)
	}
	// Cancelled again: not pending, nothing changes.
	if again, done, err := is.CancelIntent(e.ctx, in.ID, answer(claim), cancelled, now.Add(2*time.Second), nil); err != nil || done != nil ||
		again.Status != pw.IntentFailed || !again.UpdatedAt.Equal(now.Add(time.Second)) {
		t.Fatalf("cancelled twice: %+v, %+v, %v", again, done, err)
	}

	// The key paid first: done is the payment's record, the intent is left.
	paid := mustCreate("c2")
	pctx, pclaim, _, err := e.claimCtx(paid.Principal, paid.IdempotencyKey, paid.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := e.l.CreateTransfer(pctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, done, err = is.CancelIntent(e.ctx, paid.ID, answer(pclaim), cancelled, now.Add(time.Second), nil)
	if err != nil || done == nil || done.Status != 201 || !strings.Contains(string(done.Body), tr.ID) || got.Status != pw.IntentPending {
		t.Fatalf("cancelling an intent whose key was paid: %+v, %+v, %v; want it pending with the payment's record", got, done, err)
	}

	// A claim whose lease was lost cancels nothing.
	lost := mustCreate("c3")
	_, lclaim, _, err := e.claimCtx(lost.Principal, lost.IdempotencyKey, lost.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	e.l.ReleaseIdempotent(e.ctx, lclaim)
	if _, _, err := is.CancelIntent(e.ctx, lost.ID, answer(lclaim), cancelled, now.Add(time.Second), nil); pw.ErrorCode(err) != pw.EIDEMINUSE {
		t.Fatalf("cancelling under a released claim: %v, want idempotency_key_in_use", err)
	}
	if stored, err := is.Intent(e.ctx, lost.ID); err != nil || stored.Status != pw.IntentPending {
		t.Fatalf("the intent after a refused cancellation: %+v, %v", stored, err)
	}

	// A finished intent is returned as it is. (Failed, not posted: a
	// posted intent names a transfer paid under its key, whose record
	// the key would then have; and Verify, below, checks that it does.)
	if err := is.FinishIntent(e.ctx, lost.ID, pw.IntentFailed, "", &pw.IntentError{Code: pw.EINSUFFICIENT, Message: "no"}, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, fclaim, _, err := e.claimCtx(lost.Principal, lost.IdempotencyKey, lost.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if got, done, err := is.CancelIntent(e.ctx, lost.ID, answer(fclaim), cancelled, now.Add(2*time.Second), nil); err != nil || done != nil ||
		got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EINSUFFICIENT {
		t.Fatalf("cancelling a failed intent: %+v, %+v, %v", got, done, err)
	}
	e.l.ReleaseIdempotent(e.ctx, fclaim)
	if _, _, replay, err := e.claimCtx(lost.Principal, lost.IdempotencyKey, lost.Fingerprint); err != nil || replay != nil {
		t.Fatalf("a failed intent's cancellation left a record: %+v, %v", replay, err)
	}

	if _, _, err := is.CancelIntent(e.ctx, pw.NewID(pw.PrefixIntent, now), answer(fclaim), cancelled, now, nil); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("cancelling an unknown intent: %v, want not_found", err)
	}
	e.MustBalance(a, 700, 0, 0) // the one payment of c2

	testIntentsCancelRecord(t, e, is, answer, mustCreate, now)
}

// testIntentsCancelRecord is testIntentsCancel's part about the record
// written with a cancellation (IntentStore.CancelIntent's rec).
func testIntentsCancelRecord(t *testing.T, e *env, is pw.IntentStore, answer func(*pw.IdempotencyRecord) *pw.IdempotencyRecord,
	mustCreate func(string) *pw.Intent, now time.Time) {
	t.Helper()
	w := &accountWriter{}
	exists := func(id string) bool {
		_, err := e.store.Account(e.ctx, id)
		if err != nil && pw.ErrorCode(err) != pw.EACCOUNTNOTFOUND {
			t.Fatal(err)
		}
		return err == nil
	}
	record := func() (*pw.CommitRecord, string) {
		id := pw.NewID(pw.PrefixAccount, time.Now())
		return &pw.CommitRecord{Writer: w, Record: id}, id
	}
	stopped := &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "stopped by support", CancelledBy: pw.CancelledByOperator}

	// The writer fails: nothing of the cancellation is there.
	in := mustCreate("r1")
	_, claim, _, err := e.claimCtx(in.Principal, in.IdempotencyKey, in.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	w.fail = true
	rec, id := record()
	if _, _, err := is.CancelIntent(e.ctx, in.ID, answer(claim), stopped, now.Add(time.Second), rec); err == nil || exists(id) {
		t.Fatalf("a cancellation whose record failed: %v; its record there: %v", err, exists(id))
	}
	w.fail = false
	if stored, err := is.Intent(e.ctx, in.ID); err != nil || stored.Status != pw.IntentPending {
		t.Fatalf("the intent after a cancellation whose record failed: %+v, %v", stored, err)
	}
	// Under the same claim, it is cancelled with its record.
	rec, id = record()
	got, done, err := is.CancelIntent(e.ctx, in.ID, answer(claim), stopped, now.Add(time.Second), rec)
	if err != nil || done != nil || !got.Cancelled() || !exists(id) {
		t.Fatalf("a cancellation with a record: %+v, %+v, %v; its record there: %v", got, done, err, exists(id))
	}
	e.l.ReleaseIdempotent(e.ctx, claim)
	if stored, err := is.Intent(e.ctx, in.ID); err != nil || !stored.Cancelled() || stored.Error.CancelledBy != pw.CancelledByOperator {
		t.Fatalf("the intent stopped by an operator, as stored: %+v, %v", stored, err)
	}
	// Not pending any more, or its key paid first: no record.
	rec, id = record()
	if again, _, err := is.CancelIntent(e.ctx, in.ID, answer(claim), stopped, now.Add(2*time.Second), rec); err != nil || !again.Cancelled() || exists(id) {
		t.Fatalf("cancelled twice with a record: %+v, %v; a record there: %v", again, err, exists(id))
	}
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	paid := mustCreate("r2")
	pctx, pclaim, _, err := e.claimCtx(paid.Principal, paid.IdempotencyKey, paid.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.CreateTransfer(pctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 1, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	rec, id = record()
	if _, done, err := is.CancelIntent(e.ctx, paid.ID, answer(pclaim), stopped, now.Add(time.Second), rec); err != nil || done == nil || exists(id) {
		t.Fatalf("cancelling a paid key with a record: %+v, %v; a record there: %v", done, err, exists(id))
	}
	e.MustVerify()
}

// openIntentsEnv is openIntents with a ledger on the store.
func openIntentsEnv(t *testing.T, open Opener) (*env, pw.IntentStore) {
	t.Helper()
	is := openIntents(t, open)
	return newEnvOn(t, is.(pw.Store), NewClock()), is
}

// testIntentsOfFinishedKeys: an intent whose key a finished request has
// used (a payment made at once) is not stored: with the same content it
// is answered with that request's record (*Replayed), with other content
// idempotency_key_reused; a key whose request is still in flight, or
// another principal's same key, is stored as usual, in a batch or alone.
func testIntentsOfFinishedKeys(t *testing.T, open Opener) {
	e, is := openIntentsEnv(t, open)
	bw, ok := e.store.(intentBatchWriter)
	if !ok {
		t.Fatalf("%T has no WriteIntentBatch test hook", e.store)
	}
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	ctx, _, _, err := e.claimCtx("user:u1", "paid", "fp-paid")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := e.l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 700, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"flying", "held"} { // claimed, not finished
		if _, _, _, err := e.claimCtx("user:u1", k, "fp-"+k); err != nil {
			t.Fatal(err)
		}
	}
	now := NewClock().Now()
	batch := []*pw.Intent{
		newIntent("user:u1", "paid", now),   // the same payment again
		newIntent("user:u1", "paid", now),   // another payment under its key
		newIntent("user:u1", "flying", now), // in flight: queued
		newIntent("user:u2", "paid", now),   // another principal's key
		newIntent("user:u1", "held", now),   // in flight, other content: reused
	}
	batch[1].Fingerprint = "fp-other"
	batch[4].Fingerprint = "fp-other"
	res, err := bw.WriteIntentBatch(e.ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	var replayed *pw.Replayed
	if !errors.As(res[0].Err, &replayed) || replayed.Record.Status != 201 || !strings.Contains(string(replayed.Record.Body), tr.ID) || res[0].Value != nil {
		t.Errorf("the paid key's same payment: %+v, %v; want its record replayed", res[0].Value, res[0].Err)
	}
	if pw.ErrorCode(res[1].Err) != pw.EIDEMREUSED {
		t.Errorf("the paid key with other content: %v, want idempotency_key_reused", res[1].Err)
	}
	for i := 2; i < 4; i++ {
		if res[i].Err != nil || res[i].Value != nil {
			t.Errorf("batch[%d]: %+v, %v; want stored as new", i, res[i].Value, res[i].Err)
		}
	}
	if pw.ErrorCode(res[4].Err) != pw.EIDEMREUSED {
		t.Errorf("a key in flight with other content: %+v, %v; want idempotency_key_reused", res[4].Value, res[4].Err)
	}
	pending, err := is.PendingIntents(e.ctx, "", 10)
	if err != nil || len(pending) != 2 || pending[0].ID != batch[2].ID || pending[1].ID != batch[3].ID {
		t.Fatalf("pending intents %v, %v; want batch[2] and batch[3]", pending, err)
	}
	// Alone, through CreateIntent: the same answers.
	if _, err := is.CreateIntent(e.ctx, newIntent("user:u1", "paid", now)); !errors.As(err, &replayed) {
		t.Errorf("CreateIntent of the paid key: %v, want *Replayed", err)
	}
	other := newIntent("user:u1", "paid", now)
	other.Fingerprint = "fp-other"
	if _, err := is.CreateIntent(e.ctx, other); pw.ErrorCode(err) != pw.EIDEMREUSED {
		t.Errorf("CreateIntent of the paid key with other content: %v", err)
	}
	// A failed intent yields to a finished request of its key: its failure
	// released the key (its credential was ended), and its owner paid it
	// since. The key's answer is that payment, not the failed intent.
	gone := newIntent("user:u1", "gone", now)
	if _, err := is.CreateIntent(e.ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := is.FinishIntent(e.ctx, gone.ID, pw.IntentFailed, "", &pw.IntentError{Code: pw.EUNAUTHORIZED, Message: "ended"}, now); err != nil {
		t.Fatal(err)
	}
	if ex, err := is.CreateIntent(e.ctx, newIntent("user:u1", "gone", now)); err != nil || ex == nil || ex.ID != gone.ID {
		t.Errorf("CreateIntent of a failed intent's free key: %+v, %v; want the failed intent", ex, err)
	}
	ctx, _, _, err = e.claimCtx("user:u1", "gone", "fp-gone")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 300, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if ex, err := is.CreateIntent(e.ctx, newIntent("user:u1", "gone", now)); !errors.As(err, &replayed) || !strings.Contains(string(replayed.Record.Body), again.ID) {
		t.Errorf("CreateIntent of a failed intent's key paid since: %+v, %v; want that payment replayed", ex, err)
	}
}

// intentBatchWriter is a store's test hook (its export_test.go) that
// writes one group commit of intents at once.
type intentBatchWriter interface {
	WriteIntentBatch(ctx context.Context, batch []*pw.Intent) ([]groupcommit.Result[*pw.Intent], error)
}

// testIntentsBatch: one group commit answers an intent whose key is
// stored with the stored intent, a key sent twice in the batch with the
// batch's first, another principal's same key as a new intent, and
// writes each new key once, as sent.
func testIntentsBatch(t *testing.T, open Opener) {
	s, ctx, now := openIntents(t, open), context.Background(), NewClock().Now()
	bw, ok := s.(intentBatchWriter)
	if !ok {
		t.Fatalf("%T has no WriteIntentBatch test hook", s)
	}
	stored := newIntent("alice", "k1", now)
	if ex, err := s.CreateIntent(ctx, stored); err != nil || ex != nil {
		t.Fatalf("the first intent: %v, %v", ex, err)
	}
	batch := []*pw.Intent{
		newIntent("alice", "k1", now),             // stored already
		newIntent("alice", "k2", now),             // new
		credentialed(newIntent("bob", "k1", now)), // new: another principal's k1
		newIntent("alice", "k2", now),             // its twin earlier in the batch
	}
	res, err := bw.WriteIntentBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{stored.ID, "", "", batch[1].ID} // the intent each was answered with; "" new
	for i, r := range res {
		got := ""
		if r.Value != nil {
			got = r.Value.ID
		}
		if r.Err != nil || got != want[i] {
			t.Errorf("batch[%d]: got %q, %v; want %q", i, got, r.Err, want[i])
		}
	}
	pending, err := s.PendingIntents(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range pending {
		ids = append(ids, in.ID)
	}
	if want := []string{stored.ID, batch[1].ID, batch[2].ID}; !slices.Equal(ids, want) {
		t.Fatalf("pending intents %v, want %v", ids, want)
	}
	in, err := s.Intent(ctx, batch[2].ID)
	if err != nil || in.Principal != "bob" || in.IdempotencyKey != "k1" || in.Fingerprint != batch[2].Fingerprint ||
		string(in.Body) != string(batch[2].Body) || in.Authorized != batch[2].Authorized || in.Credential != batch[2].Credential || !in.CreatedAt.Equal(batch[2].CreatedAt) || in.Status != pw.IntentPending {
		t.Fatalf("bob's k1 as stored: %+v, %v; sent %+v", in, err, batch[2])
	}
}

// testIntentsConcurrent: 64 callers at once, each key sent by two of them
// (a client's retry racing its first try): every key gets exactly one
// intent, the other caller is given that one, and every intent is pending.
func testIntentsConcurrent(t *testing.T, open Opener) {
	s, ctx, now := openIntents(t, open), context.Background(), NewClock().Now()
	const callers, each = 64, 8
	type outcome struct {
		key, id  string
		existing *pw.Intent
		err      error
	}
	out := make(chan outcome, callers*each)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("k-%d-%d", c/2, i) // callers 2n and 2n+1 send the same keys
				in := newIntent("merchant:m1", key, now)
				ex, err := s.CreateIntent(ctx, in)
				out <- outcome{key, in.ID, ex, err}
			}
		}()
	}
	wg.Wait()
	close(out)
	created, given := map[string]string{}, map[string]string{}
	for o := range out {
		switch {
		case o.err != nil:
			t.Fatalf("CreateIntent %s: %v", o.key, o.err)
		case o.existing == nil:
			if first, dup := created[o.key]; dup {
				t.Fatalf("key %s created twice: %s and %s", o.key, first, o.id)
			}
			created[o.key] = o.id
		default:
			given[o.key] = o.existing.ID
		}
	}
	if len(created) != callers/2*each || len(given) != callers/2*each {
		t.Fatalf("%d keys created and %d answered with the existing intent, want %d each", len(created), len(given), callers/2*each)
	}
	for key, id := range given {
		if created[key] != id {
			t.Fatalf("key %s: the second caller was given %s, the first created %s", key, id, created[key])
		}
	}
	pending, err := s.PendingIntents(ctx, "", 2*callers*each)
	if err != nil || len(pending) != callers/2*each {
		t.Fatalf("pending: %d, %v; want %d", len(pending), err, callers/2*each)
	}
}

func openIntents(t *testing.T, open Opener) pw.IntentStore {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	is, ok := s.(pw.IntentStore)
	if !ok {
		t.Fatalf("%T does not implement peakwallet.IntentStore", s)
	}
	return is
}

// testIntentsKeepTheirKeys: the idempotency records past their retention
// are forgotten (DeleteIdempotencyBefore), except the record of a key whose
// intent is still pending. The settler pays an intent under its key and
// then marks it posted, in two writes: a process that stopped between them
// and came back after the retention found the record forgotten, and paid
// the intent again (found in review, 2026-11-29). Once the intent is
// finished its key goes as any other.
func testIntentsKeepTheirKeys(t *testing.T, open Opener) {
	e, is := openIntentsEnv(t, open)
	bank := e.MustAccount(pw.AccountSystem, "EUR", 0)
	a := e.MustAccount(pw.AccountUser, "EUR", 0)
	in := newIntent("user:u1", "queued", e.clock.Now())
	if _, err := is.CreateIntent(e.ctx, in); err != nil {
		t.Fatal(err)
	}
	var transfers []*pw.Transfer
	for _, k := range []struct{ principal, key string }{{"user:u1", "queued"}, {"user:u1", "alone"}, {"user:u2", "queued"}} {
		ctx, _, _, err := e.claimCtx(k.principal, k.key, "fp-"+k.key)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := e.l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 700, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		transfers = append(transfers, tr)
	}
	replayed := func(principal, key string) bool {
		t.Helper()
		claim, replay, err := e.l.BeginIdempotent(e.ctx, pw.IdempotencyKey{Principal: principal, Key: key}, "fp-"+key)
		if err != nil {
			t.Fatal(err)
		}
		if claim != nil {
			e.l.ReleaseIdempotent(e.ctx, claim)
		}
		return replay != nil
	}
	future := e.clock.Now().Add(pw.IdempotencyRetention + time.Hour)
	if _, err := e.store.DeleteIdempotencyBefore(e.ctx, future); err != nil {
		t.Fatal(err)
	}
	if !replayed("user:u1", "queued") {
		t.Fatal("the record of a pending intent's key was forgotten: its settler would pay it again")
	}
	if replayed("user:u1", "alone") || replayed("user:u2", "queued") {
		t.Fatal("a record past its retention with no pending intent (another key, another principal's same key) was kept")
	}
	if err := is.FinishIntent(e.ctx, in.ID, pw.IntentPosted, transfers[0].ID, nil, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeleteIdempotencyBefore(e.ctx, future); err != nil {
		t.Fatal(err)
	}
	if replayed("user:u1", "queued") {
		t.Fatal("the record of a finished intent's key was kept past its retention")
	}
}

func newIntent(principal, key string, at time.Time) *pw.Intent {
	return &pw.Intent{ID: pw.NewID(pw.PrefixIntent, at), Principal: principal, IdempotencyKey: key,
		Fingerprint: "fp-" + key, Body: []byte(`{"amount":1}`), Status: pw.IntentPending, CreatedAt: at, UpdatedAt: at}
}

// credentialed marks in as accepted, by the session ses_bob.
func credentialed(in *pw.Intent) *pw.Intent {
	in.Authorized, in.Credential = true, "ses_bob"
	return in
}

func testIntentsCreateOnce(t *testing.T, open Opener) {
	s, ctx, now := openIntents(t, open), context.Background(), NewClock().Now()
	in := newIntent("merchant:m1", "k1", now)
	in.Authorized, in.Credential = true, "key_m1"
	if ex, err := s.CreateIntent(ctx, in); err != nil || ex != nil {
		t.Fatalf("CreateIntent: %v, %v", ex, err)
	}
	again := newIntent("merchant:m1", "k1", now.Add(time.Second))
	ex, err := s.CreateIntent(ctx, again)
	if err != nil || ex == nil || ex.ID != in.ID {
		t.Fatalf("same key: got %+v, %v; want the first intent", ex, err)
	}
	if _, err := s.Intent(ctx, again.ID); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("the second intent was stored: %v", err)
	}
	// The key is scoped to its principal.
	unchecked := newIntent("merchant:m2", "k1", now)
	if ex, err := s.CreateIntent(ctx, unchecked); err != nil || ex != nil {
		t.Fatalf("other principal: %v, %v", ex, err)
	}
	if got, err := s.Intent(ctx, unchecked.ID); err != nil || got.Authorized || got.Credential != "" {
		t.Fatalf("an intent stored unauthorized reads back %+v, %v", got, err)
	}
	got, err := s.Intent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != pw.IntentPending || got.Principal != in.Principal || got.IdempotencyKey != "k1" ||
		got.Fingerprint != in.Fingerprint || string(got.Body) != string(in.Body) || !got.CreatedAt.Equal(now) || !got.Authorized || got.Credential != "key_m1" {
		t.Fatalf("read back %+v", got)
	}
	if _, err := s.Intent(ctx, pw.NewID(pw.PrefixIntent, now)); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("missing intent: %v", err)
	}
	// By key, scoped to the principal too.
	if got, err := s.IntentByKey(ctx, "merchant:m1", "k1"); err != nil || got.ID != in.ID {
		t.Fatalf("by key: %+v, %v; want %s", got, err, in.ID)
	}
	if got, err := s.IntentByKey(ctx, "merchant:m2", "k1"); err != nil || got.ID != unchecked.ID {
		t.Fatalf("the other principal's by key: %+v, %v; want %s", got, err, unchecked.ID)
	}
	if _, err := s.IntentByKey(ctx, "merchant:m3", "k1"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("a key without an intent: %v", err)
	}
}

func testIntentsPendingInOrder(t *testing.T, open Opener) {
	s, ctx, clk := openIntents(t, open), context.Background(), NewClock()
	var ids []string
	for i := range 5 {
		clk.Advance(time.Millisecond)
		in := newIntent("user:u", fmt.Sprint("k", i), clk.Now())
		if _, err := s.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	if err := s.FinishIntent(ctx, ids[1], pw.IntentFailed, "", &pw.IntentError{Code: pw.EINSUFFICIENT, Message: "no"}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	page, err := s.PendingIntents(ctx, "", 2)
	if err != nil || len(page) != 2 || page[0].ID != ids[0] || page[1].ID != ids[2] {
		t.Fatalf("first page: %v %v", page, err)
	}
	page, err = s.PendingIntents(ctx, page[1].ID, 10)
	if err != nil || len(page) != 2 || page[0].ID != ids[3] || page[1].ID != ids[4] {
		t.Fatalf("second page: %v %v", page, err)
	}
	// One principal's: another's intents, between them, are not listed.
	for i := range 3 {
		clk.Advance(time.Millisecond)
		if _, err := s.CreateIntent(ctx, newIntent("user:other", fmt.Sprint("o", i), clk.Now())); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Millisecond)
		in := newIntent("user:u", fmt.Sprint("later", i), clk.Now())
		if _, err := s.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	var got []string
	for after := ""; ; {
		page, err := s.PendingIntentsOf(ctx, "user:u", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page {
			if in.Principal != "user:u" {
				t.Fatalf("another principal's intent listed: %+v", in)
			}
			got = append(got, in.ID)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	want := append([]string{ids[0]}, ids[2:]...)
	if !slices.Equal(got, want) {
		t.Fatalf("user:u's pending intents, by pages of 3: %v, want %v", got, want)
	}
	if page, err := s.PendingIntentsOf(ctx, "user:nobody", "", 10); err != nil || len(page) != 0 {
		t.Fatalf("a principal without intents: %v %v", page, err)
	}
}

// testIntentsAll: Intents lists every intent, pending, posted and failed
// (cancelled too), with ID > after, in ID order, a page at
// a time, each as Intent reads it.
func testIntentsAll(t *testing.T, open Opener) {
	s, ctx, clk := openIntents(t, open), context.Background(), NewClock()
	var ids []string
	for i := range 5 {
		clk.Advance(time.Millisecond)
		in := newIntent(fmt.Sprint("user:u", i%2), fmt.Sprint("k", i), clk.Now())
		if _, err := s.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	if err := s.FinishIntent(ctx, ids[0], pw.IntentPosted, "tr_x", nil, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishIntent(ctx, ids[2], pw.IntentFailed, "", &pw.IntentError{Code: pw.EINSUFFICIENT, Message: "no"}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishIntent(ctx, ids[3], pw.IntentFailed, "", &pw.IntentError{Code: pw.EINTENTCANCELLED, Message: "cancelled"}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	var got []*pw.Intent
	for after := ""; ; {
		page, err := s.Intents(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(got) != len(ids) {
		t.Fatalf("Intents by pages of 2: %d intents, want %d", len(got), len(ids))
	}
	for i, in := range got {
		want, err := s.Intent(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if in.ID != want.ID || in.Status != want.Status || in.TransferID != want.TransferID || in.Principal != want.Principal ||
			in.IdempotencyKey != want.IdempotencyKey || string(in.Body) != string(want.Body) || !in.CreatedAt.Equal(want.CreatedAt) ||
			!in.UpdatedAt.Equal(want.UpdatedAt) || (in.Error == nil) != (want.Error == nil) || (in.Error != nil && *in.Error != *want.Error) {
			t.Fatalf("Intents' %d-th: %+v, want %+v as Intent reads it", i, in, want)
		}
	}
	if got[0].Status != pw.IntentPosted || got[0].TransferID != "tr_x" || got[1].Status != pw.IntentPending ||
		got[2].Error == nil || got[2].Error.Code != pw.EINSUFFICIENT || !got[3].Cancelled() {
		t.Fatalf("Intents: %+v %+v %+v %+v", got[0], got[1], got[2], got[3])
	}
	if page, err := s.Intents(ctx, ids[4], 10); err != nil || len(page) != 0 {
		t.Fatalf("after the last: %v %v", page, err)
	}
}

func testIntentsFirstOutcomeStands(t *testing.T, open Opener) {
	s, ctx, now := openIntents(t, open), context.Background(), NewClock().Now()
	in := newIntent("user:u", "k", now)
	if _, err := s.CreateIntent(ctx, in); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Second)
	if err := s.FinishIntent(ctx, in.ID, pw.IntentPosted, "tr_x", nil, later); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishIntent(ctx, in.ID, pw.IntentFailed, "", &pw.IntentError{Code: pw.EBUSY, Message: "late"}, later.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Intent(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != pw.IntentPosted || got.TransferID != "tr_x" || got.Error != nil || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after two outcomes: %+v", got)
	}
}
