package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
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

// refusingLedger answers every payment with err; the rest is the real ledger's.
type refusingLedger struct {
	pwhttp.Ledger
	err error
}

func (f refusingLedger) CreateTransfer(context.Context, pw.TransferCreate) (*pw.Transfer, error) {
	return nil, f.err
}

// TestTheSettlerFailsAnIntentOnlyOnAFinalAnswer: an intent is failed only
// when its payment's answer is final. An answer that says "not now" or
// "not known" leaves it pending for the next pass: busy, unavailable,
// maintenance, an internal error, a commit whose outcome is unknown, and
// another request with the key in flight (the settler's lease was lost to
// a client's synchronous retry, which may yet pay: until 2026-11-27 the
// intent was failed idempotency_key_in_use, as it was outcome_unknown).
func TestTheSettlerFailsAnIntentOnlyOnAFinalAnswer(t *testing.T) {
	for _, tt := range []struct {
		code  string
		final bool
	}{
		{pw.EBUSY, false}, {pw.EUNAVAILABLE, false}, {pw.EMAINTENANCE, false}, {pw.EINTERNAL, false},
		{pw.EOUTCOMEUNKNOWN, false}, {pw.EIDEMINUSE, false},
		{pw.EINSUFFICIENT, true}, {pw.EACCOUNTNOTFOUND, true}, {pw.ELIMIT, true}, {pw.EFORBIDDEN, true},
	} {
		t.Run(tt.code, func(t *testing.T) {
			store, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			l := ledger.New(store, ledger.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			t.Cleanup(func() { l.Close(); store.Close() })
			cause := &pw.Error{Code: tt.code, Message: "injected"}
			if tt.code == pw.EOUTCOMEUNKNOWN {
				cause.Err = pw.ErrCommitUnknown
			}
			srv := pwhttp.NewServer(pwhttp.Config{Ledger: refusingLedger{Ledger: l, err: cause},
				Authenticator: pwhttp.NewOperatorAuthenticator(operatorKey), Intents: store,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
			body := []byte(`{"from_account":"acc_a","to_account":"acc_b","amount":5,"currency":"EUR"}`)
			now := time.Now().UTC().Truncate(time.Microsecond)
			in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "operator:ops", IdempotencyKey: "k-" + tt.code,
				Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body, Status: pw.IntentPending,
				CreatedAt: now, UpdatedAt: now, Authorized: true}
			if _, err := store.CreateIntent(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.SettleIntents(context.Background()); err != nil {
				t.Fatalf("settle: %v", err)
			}
			got, err := store.Intent(context.Background(), in.ID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.final && (got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != tt.code):
				t.Fatalf("after a final %s the intent is %s %+v, want failed with that code", tt.code, got.Status, got.Error)
			case !tt.final && got.Status != pw.IntentPending:
				t.Fatalf("after %s, which is not final, the intent is %s %+v, want still pending", tt.code, got.Status, got.Error)
			}
		})
	}
}

// poisonLedger fails every payment of amount poison with an internal
// error (a defect in the ledger, for that payment alone), and counts
// them; the rest is the real ledger's.
type poisonLedger struct {
	pwhttp.Ledger
	poison int64
	failed *atomic.Int32
}

func (f poisonLedger) CreateTransfer(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, error) {
	if req.Amount == f.poison {
		f.failed.Add(1)
		return nil, &pw.Error{Code: pw.EINTERNAL, Message: "injected defect"}
	}
	return f.Ledger.CreateTransfer(ctx, req)
}

// TestAnIntentTheLedgerKeepsFailingIsFailedAndHoldsNobodyUp: the oldest
// intent's payment fails internal at every try (a defect). The other
// accounts' intents behind it are paid in the same pass (until 2026-11-29
// the failure stopped the pass, and they waited for the next), its own
// account's later intent waits; the next tries come a lease apart (the
// failure keeps its key), and at the IntentInternalFailuresMax-th the
// intent is failed internal, nothing paid (until 2026-11-29 it stayed
// pending for good, and its account's later intent with it), and that
// later intent is paid.
func TestAnIntentTheLedgerKeepsFailingIsFailedAndHoldsNobodyUp(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(store, ledger.Options{Logger: log, Now: clock.Now})
	t.Cleanup(func() { l.Close(); store.Close() })
	var failed atomic.Int32
	srv := pwhttp.NewServer(pwhttp.Config{Ledger: poisonLedger{Ledger: l, poison: 13, failed: &failed},
		Authenticator: pwhttp.NewOperatorAuthenticator(operatorKey), Intents: store,
		Logger: log, Registry: prometheus.NewRegistry(), Now: clock.Now})
	ctx := context.Background()
	account := func(kind pw.AccountKind) string {
		a, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: kind, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	payee := account(pw.AccountUser)
	var queued []*pw.Intent
	queue := func(from string, amount int64) *pw.Intent {
		body := []byte(fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%d,"currency":"EUR"}`, from, payee, amount))
		now := clock.Now().Add(time.Duration(len(queued)) * time.Microsecond) // in this order
		in := &pw.Intent{ID: pw.NewID(pw.PrefixIntent, now), Principal: "operator:ops", IdempotencyKey: fmt.Sprintf("k-%d", len(queued)),
			Fingerprint: pwhttp.Fingerprint("POST", "/v1/transfers", body), Body: body, Status: pw.IntentPending,
			CreatedAt: now, UpdatedAt: now, Authorized: true}
		if _, err := store.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		queued = append(queued, in)
		return in
	}
	sick := account(pw.AccountSystem)
	poisoned := queue(sick, 13)
	var others []*pw.Intent
	for range 40 {
		others = append(others, queue(account(pw.AccountSystem), 5))
	}
	behind := queue(sick, 7)
	status := func(in *pw.Intent) *pw.Intent {
		got, err := store.Intent(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	if _, err := srv.SettleIntents(ctx); err != nil {
		t.Fatal(err)
	}
	for _, in := range others {
		if got := status(in); got.Status != pw.IntentPosted {
			t.Fatalf("after the first pass another account's intent is %s %+v, want posted: the failure held the pass up", got.Status, got.Error)
		}
	}
	for tries := 1; tries < pwhttp.IntentInternalFailuresMax; tries++ {
		if got, b := status(poisoned), status(behind); got.Status != pw.IntentPending || b.Status != pw.IntentPending {
			t.Fatalf("after %d failures: the failing intent %s, the one behind it %s; want both pending", tries, got.Status, b.Status)
		}
		if _, err := srv.SettleIntents(ctx); err != nil { // within the lease: its key is held
			t.Fatal(err)
		}
		if n := failed.Load(); n != int32(tries) {
			t.Fatalf("the ledger was asked %d times within the failure's lease, want %d", n, tries)
		}
		clock.Advance(pw.IdempotencyLease + time.Second)
		if _, err := srv.SettleIntents(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := status(poisoned); got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EINTERNAL {
		t.Fatalf("after %d failures the failing intent is %s %+v, want failed internal", failed.Load(), got.Status, got.Error)
	}
	if got := status(behind); got.Status != pw.IntentPosted {
		t.Fatalf("the intent behind the failed one is %s %+v, want posted", got.Status, got.Error)
	}
	if n := failed.Load(); n != pwhttp.IntentInternalFailuresMax {
		t.Fatalf("the ledger was asked %d times, want %d", n, pwhttp.IntentInternalFailuresMax)
	}
	acc, err := l.Account(ctx, payee)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance.Posted != 40*5+7 {
		t.Fatalf("the payee holds %d, want %d: nothing of the failed intent", acc.Balance.Posted, 40*5+7)
	}
}
