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
	"github.com/peakwallet/peakwallet/internal/faultproxy"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/postgres"
)

// stallServer is a server on PostgreSQL behind a fault proxy (a pool of
// four connections) for the stall tests: its admission counts stalls
// (admission.StallSilencePostgres), its auth service's clock is the
// test's (it never moves unless the test moves it), and it has a
// maintenance schedule. Its requests with a streamTag header carry the
// tag (tagStreams).
type stallServer struct {
	proxy *faultproxy.Proxy
	pg    *postgres.Store
	l     *ledger.Ledger
	ctrl  *admission.Controller
	sched *admission.Schedule
	svc   *auth.Service
	clock *Clock
	e     *SecEnv
}

// stallStores is what a stallServer reads operators (auth) and intents
// through, each the PostgreSQL store itself unless set: a test's wrapper
// of it that counts reads.
type stallStores struct {
	operators auth.Store
	intents   pw.IntentStore
}

// openStallServer opens a stallServer, its stores those stores gives for
// its PostgreSQL store (nil: the store itself), and closes it all when
// the test ends.
func openStallServer(t *testing.T, stores func(pg *postgres.Store) stallStores) *stallServer {
	t.Helper()
	proxy, pg := mustOpenPostgresBehindProxy(t, 4)
	var use stallStores
	if stores != nil {
		use = stores(pg)
	}
	if use.operators == nil {
		use.operators = pg
	}
	if use.intents == nil {
		use.intents = pg
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := &Clock{now: time.Now().UTC().Truncate(time.Second)}
	l := ledger.New(pg, ledger.Options{Logger: log})
	ctrl := admission.New(admission.Config{StallSilence: admission.StallSilencePostgres})
	sched, err := admission.NewSchedule(filepath.Join(t.TempDir(), "maintenance.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.New(use.operators, l, auth.Options{Now: clock.Now, Logger: log,
		StoreDown: func() bool { return !ctrl.BreakerClosed() }})
	srv := pwhttp.NewServer(pwhttp.Config{Ledger: l, Security: svc, Logger: log, Registry: prometheus.NewRegistry(),
		Authenticator: pwhttp.Authenticators{pwhttp.NewOperatorAuthenticator(operatorKey), svc},
		Admission:     ctrl, Maintenance: sched, Intents: use.intents})
	hs := httptest.NewServer(tagStreams(srv.Handler()))
	t.Cleanup(func() {
		proxy.Restore()
		hs.CloseClientConnections()
		hs.Close()
		l.Close()
		pg.Close()
	})
	return &stallServer{proxy: proxy, pg: pg, l: l, ctrl: ctrl, sched: sched, svc: svc, clock: clock, e: &SecEnv{HTTP: hs}}
}

// mustBankAndUser opens a system and a user account in EUR, for a payment
// from the one to the other.
func (ss *stallServer) mustBankAndUser(t *testing.T) (bank, user *pw.Account) {
	t.Helper()
	ctx := context.Background()
	bank, err := ss.l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	user, err = ss.l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	return bank, user
}

// mustPendingIntent writes a pending intent of the operator opID, under
// the key "queued", to pay body, and returns its ID.
func (ss *stallServer) mustPendingIntent(t *testing.T, opID, body string) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	id := pw.NewID(pw.PrefixIntent, now)
	if in, err := ss.pg.CreateIntent(context.Background(), &pw.Intent{ID: id, Principal: "operator:" + opID,
		IdempotencyKey: "queued", Fingerprint: "f", Body: []byte(body), Status: pw.IntentPending,
		CreatedAt: now, UpdatedAt: now, Authorized: true, Credential: opID}); err != nil || in != nil {
		t.Fatalf("CreateIntent: %v, %v", in, err)
	}
	return id
}

// openBreaker stalls PostgreSQL and opens the breaker as a stall does
// (writes of body, by two principals, the operator and the holder of key,
// out of time), then takes the breaker's probe and holds it, so that
// until release the breaker keeps every request from the store, however
// long what follows takes.
func (ss *stallServer) openBreaker(t *testing.T, key, body string) (release func()) {
	t.Helper()
	ss.proxy.Stall()
	var wg sync.WaitGroup
	for i := range admission.BreakerFailuresMax + 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := key
			if i%2 == 0 {
				key = operatorKey
			}
			if r := ss.e.Do(t, "POST", "/v1/transfers", key, body, "Idempotency-Key", "stall-"+itoa(i), "Prefer", "wait=1.2"); r.Status != 503 {
				t.Errorf("a write during the stall: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if ss.ctrl.BreakerClosed() {
		t.Fatalf("the breaker is closed after writes ran out of time on a stalled database: %+v", ss.ctrl.Stats())
	}
	var probe *admission.Ticket
	waitFor(t, func() bool {
		var err error
		probe, err = ss.ctrl.Acquire(context.Background(), admission.ClassPayment, "test-probe")
		return err == nil
	})
	return probe.Abandon
}
