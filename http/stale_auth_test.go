package http_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// awayStore is a SQLite store this process cannot reach while away: the
// ledger's writes and authentication's reads fail unavailable (another
// process still reaches the file). It counts authentication's reads.
type awayStore struct {
	*sqlite.Store
	mu        sync.Mutex
	away      bool
	authReads int
}

func (s *awayStore) isAway() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.away }

func (s *awayStore) setAway(a bool) { s.mu.Lock(); s.away = a; s.mu.Unlock() }

func (s *awayStore) reads() int { s.mu.Lock(); defer s.mu.Unlock(); return s.authReads }

func errAway() error { return &pw.Error{Code: pw.EUNAVAILABLE, Message: "the test's store is away"} }

func (s *awayStore) Update(ctx context.Context, fn func(ctx context.Context, tx pw.Tx) error) error {
	if s.isAway() {
		return errAway()
	}
	return s.Store.Update(ctx, fn)
}

func (s *awayStore) OperatorByHash(ctx context.Context, hash string) (*auth.Operator, error) {
	s.mu.Lock()
	s.authReads++
	away := s.away
	s.mu.Unlock()
	if away {
		return nil, errAway()
	}
	return s.Store.OperatorByHash(ctx, hash)
}

// TestAStalePrincipalIsAuthenticatedAgainOnceAdmitted: while the breaker
// is open (the store away), a request whose principal's cached time has
// passed is refused by the breaker at once, without a store read (until
// 2026-11-29 each read the store first, and on a stalled PostgreSQL those
// reads held service back for seconds after the stall ended); once the
// store is back, such a request admitted as the breaker's probe is
// authenticated again against the store first: a key revoked meanwhile by
// another process moves nothing (401), a valid one pays and closes the
// breaker.
func TestAStalePrincipalIsAuthenticatedAgainOnceAdmitted(t *testing.T) {
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &awayStore{Store: inner}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	l := ledger.New(store, ledger.Options{Logger: log})
	ctrl := admission.New(admission.Config{})
	svc := auth.New(store, l, auth.Options{Now: clock.Now, Logger: log,
		StoreDown: func() bool { return !ctrl.BreakerClosed() }})
	other := auth.New(inner, nil, auth.Options{Now: clock.Now, Logger: log}) // another process
	srv := pwhttp.NewServer(pwhttp.Config{Ledger: l, Security: svc, Logger: log, Registry: prometheus.NewRegistry(),
		Authenticator: pwhttp.Authenticators{pwhttp.NewOperatorAuthenticator(operatorKey), svc}, Admission: ctrl})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); l.Close(); inner.Close() })
	e := &SecEnv{HTTP: hs}

	ctx := context.Background()
	admin := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: pw.RoleAdmin})
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := svc.CreateOperator(admin, auth.OperatorCreate{Name: "revoked", Role: pw.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	valid, err := svc.CreateOperator(admin, auth.OperatorCreate{Name: "valid", Role: pw.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(key, idem string) *Response {
		return e.Do(t, "POST", "/v1/transfers", key, paymentBody(bank.ID, user.ID, 5), "Idempotency-Key", idem)
	}
	for i, key := range []string{revoked.Key, valid.Key} { // both cached
		pay(key, "before-"+itoa(i)).Want(t, 201, "")
	}

	// The store goes away: payments fail until the breaker opens.
	store.setAway(true)
	for i := 0; ctrl.BreakerClosed(); i++ {
		if i > 3*admission.BreakerFailuresMax {
			t.Fatal("the breaker did not open")
		}
		if r := pay(valid.Key, "away-"+itoa(i)); r.Status != 503 {
			t.Fatalf("with the store away: %d %s", r.Status, r.Body)
		}
	}
	clock.Advance(auth.AuthCacheTTL) // every cached principal's time passes
	readsBefore := store.reads()
	for i := range 20 {
		r := pay(valid.Key, "open-"+itoa(i))
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("with the breaker open: %d %s", r.Status, r.Body)
		}
	}
	if n := store.reads() - readsBefore; n != 0 {
		t.Fatalf("20 requests refused by the open breaker read the store %d times to authenticate", n)
	}

	// Revoked meanwhile by another process; the store comes back.
	if err := other.RevokeOperator(admin, revoked.Operator.ID); err != nil {
		t.Fatal(err)
	}
	store.setAway(false)
	time.Sleep(admission.BreakerCooldown + 50*time.Millisecond) // the next request is the probe
	if r := pay(revoked.Key, "revoked-probe"); r.Status != 401 {
		t.Fatalf("a key revoked elsewhere, answered stale and admitted as the probe: %d %s, want 401", r.Status, r.Body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		r := pay(valid.Key, "back-"+itoa(i))
		if r.Status == 201 {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("a valid key once the store is back: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ctrl.BreakerClosed() {
		t.Fatal("the breaker is not closed after a payment was made")
	}
	acc, err := l.Account(ctx, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acc.Balance.Posted != 3*5 {
		t.Fatalf("the user holds %d, want 15: two payments before, one after; none by the revoked key", acc.Balance.Posted)
	}
}
