package http_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/postgres"
)

// countedOperators is a PostgreSQL store that counts authentication's
// reads of operators.
type countedOperators struct {
	*postgres.Store
	mu    sync.Mutex
	reads int
}

func (s *countedOperators) OperatorByHash(ctx context.Context, hash string) (*auth.Operator, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.Store.OperatorByHash(ctx, hash)
}

func (s *countedOperators) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

// maintenanceBody asks for a window an hour from now.
func maintenanceBody(reason string) string {
	start := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	return `{"start":"` + start.Format(time.RFC3339) + `","end":"` + start.Add(time.Hour).Format(time.RFC3339) + `","reason":"` + reason + `"}`
}

// TestAStalePrincipalOutsideAdmissionIsAnsweredAtOnceInAStall: with
// PostgreSQL stalled and the breaker keeping requests from it, an
// operator's key taken stale from the cache opens the routes that take no
// admission slot: the ops routes other than the console's summary
// (maintenance) and the intent's event stream. Until 2026-11-29 each
// authenticated the principal against the stalled store first, waited
// auth.AuthStoreTimeout (1 s) and answered 503 (measured here: each 1.0 s,
// 503 busy). Now the maintenance windows, which /v1/status publishes to
// anyone, are served from memory as they are (200), and what acts or reads
// the store (scheduling or cancelling a window, the event stream) is
// refused at once with the breaker's 503 busy and Retry-After, without a
// store read, and acts on nothing. A key this process revoked is not in
// its cache, is read from the store as before, and is served nothing.
// Once the database answers again, the stale key schedules a window: its
// re-authentication goes through admission as the breaker's probe.
func TestAStalePrincipalOutsideAdmissionIsAnsweredAtOnceInAStall(t *testing.T) {
	var store *countedOperators
	ss := openStallServer(t, func(pg *postgres.Store) stallStores {
		store = &countedOperators{Store: pg}
		return stallStores{operators: store}
	})
	proxy, clock, sched, svc, e := ss.proxy, ss.clock, ss.sched, ss.svc, ss.e

	ctx := context.Background()
	admin := pw.NewContextWithPrincipal(ctx, pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: pw.RoleAdmin})
	bank, user := ss.mustBankAndUser(t)
	valid, err := svc.CreateOperator(admin, auth.OperatorCreate{Name: "valid", Role: pw.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := svc.CreateOperator(admin, auth.OperatorCreate{Name: "revoked", Role: pw.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeOperator(admin, revoked.Operator.ID); err != nil {
		t.Fatal(err)
	}
	var window pw.MaintenanceWindow
	e.Do(t, "POST", "/v1/maintenance", valid.Key, maintenanceBody("before")).Want(t, 201, "").Decode(t, &window) // and cached
	intentID := ss.mustPendingIntent(t, valid.Operator.ID, paymentBody(bank.ID, user.ID, 5))

	// The stall opens the breaker: writes from two operators run out of
	// time. The breaker's probe goes out (the test's, held on the stalled
	// store): until it ends, the breaker keeps every request from the
	// store, whatever the time the requests below take.
	release := ss.openBreaker(t, valid.Key, paymentBody(bank.ID, user.ID, 1))
	clock.Advance(auth.AuthCacheTTL) // the valid key is stale from now on

	windows := len(sched.Windows())
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/maintenance", "", 200},
		{"GET", "/v1/maintenance/" + window.ID, "", 200},
		{"POST", "/v1/maintenance", maintenanceBody("in the stall"), 503},
		{"DELETE", "/v1/maintenance/" + window.ID, "", 503},
		{"GET", "/v1/intents/" + intentID + "/events", "", 503},
	} {
		reads, began := store.count(), time.Now()
		r := e.Do(t, c.method, c.path, valid.Key, c.body)
		took, n := time.Since(began), store.count()-reads
		t.Logf("%-6s %-40s %d after %v, %d store reads, Retry-After %q: %s", c.method, c.path, r.Status, took.Round(time.Millisecond), n,
			r.Header.Get("Retry-After"), strings.TrimSpace(string(r.Body)))
		if r.Status != c.status {
			t.Errorf("%s %s by a stale admin in a stall: %d, want %d: %s", c.method, c.path, r.Status, c.status, r.Body)
			continue
		}
		if n != 0 {
			t.Errorf("%s %s by a stale admin in a stall read the store %d times to authenticate it", c.method, c.path, n)
		}
		if took >= auth.AuthStoreTimeout {
			t.Errorf("%s %s by a stale admin in a stall was answered after %v, as long as a store read may take", c.method, c.path, took)
		}
		if c.status == 503 {
			retryAfter(t, r)
			if p := r.Problem(t); p.Code != pw.EBUSY {
				t.Errorf("%s %s: code %q, want busy", c.method, c.path, p.Code)
			}
		}
	}
	if got := len(sched.Windows()); got != windows {
		t.Errorf("%d maintenance windows after the stale admin's refused changes, want %d", got, windows)
	}
	// Not in the cache (this process revoked it): read from the store, as
	// before, and served nothing.
	if r := e.Do(t, "GET", "/v1/maintenance", revoked.Key, ""); r.Status != 503 {
		t.Errorf("a key this process revoked, in a stall: %d %s, want 503 (the store could not say)", r.Status, r.Body)
	}

	release()
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		r := e.Do(t, "POST", "/v1/maintenance", valid.Key, maintenanceBody("after"))
		if r.Status == 201 {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("the stale admin's window once the database is back: %d %s", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
