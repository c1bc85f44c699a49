package http_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/sqlite"
)

// gatedStore holds store transactions at a gate while it is shut.
type gatedStore struct {
	*sqlite.Store
	shut    atomic.Pointer[chan struct{}] // set: Update waits for it to close
	entered chan struct{}
}

func (g *gatedStore) Update(ctx context.Context, fn func(context.Context, pw.Tx) error) error {
	if shut := g.shut.Load(); shut != nil {
		g.entered <- struct{}{}
		<-*shut
	}
	return g.Store.Update(ctx, fn)
}

// TestAPaymentRefusedAtItsDeadlineFreesItsKey: a payment still queued in
// the ledger when its deadline passes is answered 503 busy and never runs;
// its key is free at once, so the client's retry with the same key is
// paid, not refused idempotency_key_in_use for the lease's minute.
func TestAPaymentRefusedAtItsDeadlineFreesItsKey(t *testing.T) {
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &gatedStore{Store: inner, entered: make(chan struct{}, 1)}
	env, _, _ := mustOpenAdmittedEnvOn(t, store, inner, admission.Config{})
	w := env.MustWallet(t, 100)

	shut := make(chan struct{})
	store.shut.Store(&shut)
	first := make(chan *Response, 1)
	go func() {
		first <- env.Do(t, "POST", "/v1/transfers", transferBody(w, 10), map[string]string{"Idempotency-Key": "first"})
	}()
	<-store.entered // the first payment's batch holds the ledger
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 20), map[string]string{"Idempotency-Key": "second", "Prefer": "wait=0.3"})
	if r.Status != 503 || r.Problem(t).Code != pw.EBUSY {
		t.Fatalf("a payment queued past its deadline: %d %s", r.Status, r.Body)
	}
	store.shut.Store(nil)
	close(shut)
	if r := <-first; r.Status != 201 {
		t.Fatalf("the first payment: %d %s", r.Status, r.Body)
	}
	r = env.Do(t, "POST", "/v1/transfers", transferBody(w, 20), map[string]string{"Idempotency-Key": "second"})
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the retry with the same key: %d %s", r.Status, r.Body)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 70 {
		t.Fatalf("balance %d, want 70: the refused payment moved money, or its retry did not", b.Posted)
	}
	mustVerify(t, inner)
}
