package http_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
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
	// out here (one principal's alone open no breaker).
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
