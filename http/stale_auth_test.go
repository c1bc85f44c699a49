package http_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
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
	mu           sync.Mutex
	away         bool
	authReads    int
	intentWrites int
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

func (s *awayStore) CreateIntent(ctx context.Context, in *pw.Intent) (*pw.Intent, error) {
	s.mu.Lock()
	s.intentWrites++
	away := s.away
	s.mu.Unlock()
	if away {
		return nil, errAway()
	}
	return s.Store.CreateIntent(ctx, in)
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

// awayEnv is a server on an awayStore whose authentication may answer
// stale principals while its breaker is open (as serve wires it), with
// a bank and a user account, and two admin operators' keys, both cached.
type awayEnv struct {
	*SecEnv
	store          *awayStore
	l              *ledger.Ledger
	ctrl           *admission.Controller
	clock          *Clock
	svc            *auth.Service // this process's
	other          *auth.Service // another process on the same file
	admin          context.Context
	bank, user     *pw.Account
	revoked, valid *auth.NewOperator
}

func openAwayEnv(t *testing.T) *awayEnv {
	t.Helper()
	return openAwayEnvWith(t, admission.Config{}, nil)
}

// openAwayEnvWith is openAwayEnv with an admission controller of cfg and
// the server's configuration edited by edit (when not nil).
func openAwayEnvWith(t *testing.T, cfg admission.Config, edit func(*pwhttp.Config)) *awayEnv {
	t.Helper()
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &awayStore{Store: inner}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	l := ledger.New(store, ledger.Options{Logger: log})
	ctrl := admission.New(cfg)
	svc := auth.New(store, l, auth.Options{Now: clock.Now, Logger: log,
		StoreDown: func() bool { return !ctrl.BreakerClosed() }})
	other := auth.New(inner, nil, auth.Options{Now: clock.Now, Logger: log}) // another process
	conf := pwhttp.Config{Ledger: l, Security: svc, Logger: log, Registry: prometheus.NewRegistry(),
		Authenticator: pwhttp.Authenticators{pwhttp.NewOperatorAuthenticator(operatorKey), svc}, Admission: ctrl, Intents: store}
	if edit != nil {
		edit(&conf)
	}
	srv := pwhttp.NewServer(conf)
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
	return &awayEnv{SecEnv: e, store: store, l: l, ctrl: ctrl, clock: clock, svc: svc, other: other, admin: admin,
		bank: bank, user: user, revoked: revoked, valid: valid}
}

// openBreaker makes the store away and pays until the breaker opens.
func (e *awayEnv) openBreaker(t *testing.T) {
	t.Helper()
	e.store.setAway(true)
	for i := 0; e.ctrl.BreakerClosed(); i++ {
		if i > 3*admission.BreakerFailuresMax {
			t.Fatal("the breaker did not open")
		}
		r := e.Do(t, "POST", "/v1/transfers", e.valid.Key, paymentBody(e.bank.ID, e.user.ID, 5), "Idempotency-Key", "away-"+itoa(i))
		if r.Status != 503 {
			t.Fatalf("with the store away: %d %s", r.Status, r.Body)
		}
	}
}

// TestAStalePrincipalIsAuthenticatedAgainOnceAdmitted: while the breaker
// is open (the store away), a request whose principal's cached time has
// passed is refused by the breaker at once, without a store read (until
// 2026-11-29 each read the store first, and on a stalled PostgreSQL those
// reads held service back for seconds after the stall ended); once the
// store is back, such a request admitted as the breaker's probe is
// authenticated again against the store first: a key revoked meanwhile by
// another process moves nothing (401) and, the store having answered,
// closes the breaker; a valid one pays.
func TestAStalePrincipalIsAuthenticatedAgainOnceAdmitted(t *testing.T) {
	e := openAwayEnv(t)
	store, l, ctrl, clock, other, admin, bank, user, revoked, valid := e.store, e.l, e.ctrl, e.clock, e.other, e.admin, e.bank, e.user, e.revoked, e.valid
	ctx := context.Background()
	pay := func(key, idem string) *Response {
		return e.Do(t, "POST", "/v1/transfers", key, paymentBody(bank.ID, user.ID, 5), "Idempotency-Key", idem)
	}
	for i, key := range []string{revoked.Key, valid.Key} { // both cached
		pay(key, "before-"+itoa(i)).Want(t, 201, "")
	}

	e.openBreaker(t)                 // the store goes away: payments fail until the breaker opens
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
	if !ctrl.BreakerClosed() {
		t.Fatal("the store answered the probe's authentication (401), but the breaker is not closed")
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

// TestAnAsyncPaymentInAnOutageAsksNothingOfTheStore: while the breaker
// keeps requests from the store, a payment that allows respond-async is
// answered with the breaker's 503 and Retry-After, counted store_down,
// and the surge queue neither authenticates it against the store nor
// tries to write its intent (until 2026-11-29 each read the store for its
// checks and tried the write); once the store is back it is accepted.
func TestAnAsyncPaymentInAnOutageAsksNothingOfTheStore(t *testing.T) {
	e := openAwayEnv(t)
	pay := func(idem string) *Response {
		return e.Do(t, "POST", "/v1/transfers", e.valid.Key, paymentBody(e.bank.ID, e.user.ID, 5),
			"Idempotency-Key", idem, "Prefer", "respond-async")
	}
	pay("before").Want(t, 201, "") // cached
	e.openBreaker(t)
	e.clock.Advance(auth.AuthCacheTTL)
	reads, writes := e.store.reads(), func() int { e.store.mu.Lock(); defer e.store.mu.Unlock(); return e.store.intentWrites }
	w0 := writes()
	for i := range 10 {
		r := pay("outage-" + itoa(i))
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("an async payment with the breaker open: %d %s", r.Status, r.Body)
		}
	}
	if n, w := e.store.reads()-reads, writes()-w0; n != 0 || w != 0 {
		t.Fatalf("10 async payments refused by the open breaker: %d authentication reads, %d intent writes; want none", n, w)
	}
	body := e.Do(t, "GET", "/metrics", operatorKey, "").Body
	if !strings.Contains(string(body), `peakwallet_surge_queue_offers_total{result="store_down"} 10`) {
		t.Fatalf("store_down not counted 10 times:\n%s", grepLines(string(body), "surge_queue_offers_total"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestTheConsolesSummaryIsServedInAnOutage: 5 s into an outage an
// operator's pwo_ key is past its cached time, and until 2026-11-29 the
// console's summary then authenticated it against the store, was refused
// with the store's error, and the console's figures froze where the
// outage began. The summary reads nothing the public /metrics does not
// publish, so it is served to the principal taken stale from the cache,
// with no store read, and shows the breaker open; a key this process
// revoked is not served (a revocation empties the cache, and the store,
// away, cannot authenticate it).
func TestTheConsolesSummaryIsServedInAnOutage(t *testing.T) {
	e := openAwayEnv(t)
	summary := func(key string) *Response { return e.Do(t, "GET", "/v1/ops/summary", key, "") }
	summary(e.valid.Key).Want(t, 200, "")
	summary(e.revoked.Key).Want(t, 200, "")
	if err := e.svc.RevokeOperator(e.admin, e.revoked.Operator.ID); err != nil {
		t.Fatal(err)
	}
	summary(e.valid.Key).Want(t, 200, "") // cached again: a revocation empties the cache

	e.openBreaker(t)
	e.clock.Advance(auth.AuthCacheTTL)
	reads := e.store.reads()
	var sum pwhttp.OpsSummary
	r := summary(e.valid.Key)
	r.Want(t, 200, "").Decode(t, &sum)
	if sum.Operator.ID != e.valid.Operator.ID {
		t.Fatalf("the summary names operator %q, want %q", sum.Operator.ID, e.valid.Operator.ID)
	}
	if sum.Admission == nil || sum.Admission.Breaker != "open" {
		t.Fatalf("the summary in an outage does not show the breaker open: %+v", sum.Admission)
	}
	if n := e.store.reads() - reads; n != 0 {
		t.Fatalf("the summary for a principal taken stale read the store %d times to authenticate it", n)
	}
	// Not in the cache, it is authenticated against the store, which is away.
	if r := summary(e.revoked.Key); r.Status != 503 {
		t.Fatalf("a key this process revoked, in an outage: %d %s, want 503 (the store could not say)", r.Status, r.Body)
	}
}

// TestAStaleKeyRevokedElsewhereChangesNoMaintenance: in an outage (the
// store away, the breaker open), an admin key revoked by another process
// is still in this process's cache, taken stale. It reads the maintenance
// windows, as anyone reads them at /v1/status, but its changes are
// refused at once with the breaker's 503 and Retry-After, without a store
// read (until 2026-11-29 each read the store, away, first). Once the store
// is back, its change, the breaker's probe, is authenticated against the
// store: 401, nothing scheduled, and, the store having answered, the
// breaker closes (before, the read went round admission and the breaker
// stayed open). The valid key schedules its window.
func TestAStaleKeyRevokedElsewhereChangesNoMaintenance(t *testing.T) {
	sched, err := admission.NewSchedule(filepath.Join(t.TempDir(), "maintenance.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := openAwayEnvWith(t, admission.Config{}, func(c *pwhttp.Config) { c.Maintenance = sched })
	for _, key := range []string{e.revoked.Key, e.valid.Key} { // both cached
		e.Do(t, "GET", "/v1/maintenance", key, "").Want(t, 200, "")
	}
	if err := e.other.RevokeOperator(e.admin, e.revoked.Operator.ID); err != nil {
		t.Fatal(err)
	}

	e.openBreaker(t)
	e.clock.Advance(auth.AuthCacheTTL)
	reads := e.store.reads()
	e.Do(t, "GET", "/v1/maintenance", e.revoked.Key, "").Want(t, 200, "")
	r := e.Do(t, "POST", "/v1/maintenance", e.revoked.Key, maintenanceBody("revoked, in the outage"))
	r.Want(t, 503, pw.EBUSY)
	retryAfter(t, r)
	if n := e.store.reads() - reads; n != 0 {
		t.Fatalf("a stale key's maintenance change with the breaker open read the store %d times", n)
	}

	e.store.setAway(false)
	time.Sleep(admission.BreakerCooldown + 50*time.Millisecond) // the next request is the probe
	e.Do(t, "POST", "/v1/maintenance", e.revoked.Key, maintenanceBody("revoked, as the probe")).Want(t, 401, "")
	if !e.ctrl.BreakerClosed() {
		t.Fatal("the store answered the probe's authentication (401), but the breaker is not closed")
	}
	if n := len(sched.Windows()); n != 0 {
		t.Fatalf("%d windows scheduled, want none: the only key that asked was revoked", n)
	}
	e.Do(t, "POST", "/v1/maintenance", e.valid.Key, maintenanceBody("valid")).Want(t, 201, "")
}
