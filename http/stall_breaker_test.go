package http_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/faultproxy"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestTheBreakerOpensOnAPostgresStall: when PostgreSQL stalls (bytes stop,
// sockets stay open), a run of writes that hear nothing from it before
// their deadlines opens the breaker, as a run of refused connections does:
// the writes after are refused at once with Retry-After instead of each
// holding a slot and a connection to the stalled database for its whole
// deadline. Once the database answers again, the breaker's probe closes it
// and service returns within seconds.
func TestTheBreakerOpensOnAPostgresStall(t *testing.T) {
	proxy, store := mustOpenPostgresBehindProxy(t, 4)
	// A stall holds every client's requests: two operators' writes time
	// out here, and open the breaker at once (one principal's alone only
	// after admission.StallAloneAfter: the test below).
	const second = "test-second-operator"
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{StallSilence: admission.StallSilencePostgres},
		func(c *pwhttp.Config) {
			c.Authenticator = append(c.Authenticator.(pwhttp.Authenticators),
				staticAuth{second: {Kind: pw.PrincipalOperator, ID: "second", Role: "admin"}})
		})
	w := env.MustWallet(t, 1_000_000)
	if r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "before"}); r.Status != 201 {
		t.Fatalf("before the stall: %d %s", r.Status, r.Body)
	}

	proxy.Stall()
	var wg sync.WaitGroup
	for i := range admission.BreakerFailuresMax + 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			headers := map[string]string{"Idempotency-Key": "stall-" + itoa(i), "Prefer": "wait=1.2"}
			if i%2 == 1 {
				headers["Authorization"] = "Bearer " + second
			}
			r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), headers)
			if r.Status != 503 {
				t.Errorf("during the stall: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if s := ctrl.Stats(); s.Breaker == "closed" {
		t.Fatalf("after %d writes ran out of time on a stalled database the breaker is still closed: %+v", admission.BreakerFailuresMax+3, s)
	}
	refusedAtOnceThenServed(t, env, proxy, store, w)
}

// TestOneClientsPostgresStallOpensTheBreaker: a deployment with a single
// client (one merchant's backend) has no second principal, and until
// 2026-11-29 a stall of any length never opened its breaker: every write
// held a slot and a connection to the stalled database for its whole
// deadline. One principal's writes that hear nothing open it once the
// store has answered nobody for admission.StallAloneAfter.
func TestOneClientsPostgresStallOpensTheBreaker(t *testing.T) {
	proxy, store := mustOpenPostgresBehindProxy(t, 4)
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{StallSilence: admission.StallSilencePostgres})
	w := env.MustWallet(t, 1_000_000)
	if r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "before"}); r.Status != 201 {
		t.Fatalf("before the stall: %d %s", r.Status, r.Body)
	}

	proxy.Stall()
	stalled := time.Now()
	rounds := 0
	for ctrl.Stats().Breaker == "closed" {
		// Rounds of four writes of 1.2 s each: StallAloneAfter (5 s)
		// passes in the fifth; twelve are more than enough.
		if rounds == 12 {
			t.Fatalf("after %d rounds of writes out of time on a stalled database (%v) the breaker is still closed: %+v", rounds, time.Since(stalled), ctrl.Stats())
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "stall-" + itoa(rounds) + "-" + itoa(i), "Prefer": "wait=1.2"})
				if r.Status != 503 {
					t.Errorf("during the stall: %d %s", r.Status, r.Body)
				}
			}()
		}
		wg.Wait()
		rounds++
	}
	// Every write began after the stall did: the breaker cannot have
	// opened before the store answered nobody for StallAloneAfter.
	if took := time.Since(stalled); took < admission.StallAloneAfter {
		t.Fatalf("the breaker opened %v into the stall, before StallAloneAfter (%v)", took, admission.StallAloneAfter)
	}
	t.Logf("the breaker opened after %d rounds, %v into the stall", rounds, time.Since(stalled))
	refusedAtOnceThenServed(t, env, proxy, store, w)
}

// refusedAtOnceThenServed: with the breaker open on a stalled database, a
// write is refused at once (503 busy with Retry-After); once the database
// answers again, service returns, and the ledger verifies.
func refusedAtOnceThenServed(t *testing.T, env *Env, proxy *faultproxy.Proxy, store pw.Store, w Wallet) {
	t.Helper()
	start := time.Now()
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "stall-after", "Prefer": "wait=1"})
	took := time.Since(start)
	if r.Status != 503 {
		t.Fatalf("with the breaker open: %d %s", r.Status, r.Body)
	}
	retryAfter(t, r)
	if p := r.Problem(t); p.Code != pw.EBUSY {
		t.Fatalf("with the breaker open: code %s", p.Code)
	}
	if took > 500*time.Millisecond { // its deadline is 1 s: an open breaker refuses at once
		t.Fatalf("with the breaker open a write was answered after %v", took)
	}

	proxy.Restore()
	t.Logf("service back %v after the stall", payUntilServed(t, env, w, "after-"))
	rep, err := ledger.Verify(context.Background(), store)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
