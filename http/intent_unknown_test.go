package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/sqlite"
)

// cutStore commits a store transaction and then, once armed, answers it
// as a commit whose answer was lost: outcome unknown, though it committed
// (a connection cut as COMMIT's answer was on its way).
type cutStore struct {
	*sqlite.Store
	armed atomic.Bool
}

func (c *cutStore) Update(ctx context.Context, fn func(context.Context, pw.Tx) error) error {
	err := c.Store.Update(ctx, fn)
	if err == nil && c.armed.CompareAndSwap(true, false) {
		return &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Op: "test.Update", Message: "the commit's outcome is unknown",
			Err: errors.Join(pw.ErrCommitUnknown, errors.New("connection cut after COMMIT"))}
	}
	return err
}

// TestAnIntentWhoseCommitIsUnknownIsNotFailed: the settler's payment
// committed, but the ledger could only say "outcome unknown". The intent
// is not final then: it stays pending, and the next pass learns the
// outcome from the key's remembered answer and posts it. Marked failed
// (as until 2026-11-27), it told its client the payment had failed while
// the money had moved.
func TestAnIntentWhoseCommitIsUnknownIsNotFailed(t *testing.T) {
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &cutStore{Store: inner}
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, inner, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "cut-1", "Prefer": "respond-async, wait=0.5"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("busy with respond-async: %d %s", r.Status, r.Body)
	}
	var in pw.Intent
	if err := json.Unmarshal(r.Body, &in); err != nil || in.ID == "" {
		t.Fatalf("the 202's intent: %v %s", err, r.Body)
	}
	held.Done(nil)

	store.armed.Store(true)
	if _, err := env.Server.SettleIntents(context.Background()); err != nil {
		t.Fatalf("the first pass: %v", err)
	}
	if store.armed.Load() {
		t.Fatal("the settler's payment never reached the store")
	}
	intent := func() pw.Intent {
		var got pw.Intent
		r := env.Do(t, "GET", "/v1/intents/"+in.ID, "", nil)
		if r.Status != 200 || json.Unmarshal(r.Body, &got) != nil {
			t.Fatalf("GET the intent: %d %s", r.Status, r.Body)
		}
		return got
	}
	if got := intent(); got.Status != pw.IntentPending {
		t.Fatalf("after a commit whose outcome was unknown the intent is %+v, want still pending", got)
	}
	if _, err := env.Server.SettleIntents(context.Background()); err != nil {
		t.Fatalf("the second pass: %v", err)
	}
	got := intent()
	if got.Status != pw.IntentPosted || got.TransferID == "" {
		t.Fatalf("after the second pass the intent is %+v, want posted", got)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 60 {
		t.Fatalf("user balance %d, want 60: the intent moved money other than once", b.Posted)
	}
	mustVerify(t, inner)
}
