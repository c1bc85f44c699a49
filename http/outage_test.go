package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/faultproxy"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/postgres"
)

// TestPostgresOutageAndRecovery cuts the connection to PostgreSQL with a
// proxy: while it is down, writes answer 503 busy with Retry-After (no
// 500, no hang), /readyz fails and the breaker opens; once it is back,
// service returns by itself, and every acknowledged transfer is there.
func TestPostgresOutageAndRecovery(t *testing.T) {
	proxy, store := mustOpenPostgresBehindProxy(t, 4)
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{})
	w := env.MustWallet(t, 1_000_000)
	var acked []string
	pay := func(key string) *Response {
		r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": key})
		if r.Status == 201 {
			var tr pw.Transfer
			mustUnmarshal(t, r.Body, &tr)
			acked = append(acked, tr.ID)
		}
		return r
	}
	for i := range 5 {
		if r := pay("before-" + itoa(i)); r.Status != 201 {
			t.Fatalf("before the outage: %d %s", r.Status, r.Body)
		}
	}

	proxy.Cut()
	for i := range 20 {
		r := pay("during-" + itoa(i))
		if r.Status != 503 {
			t.Fatalf("during the outage: %d %s", r.Status, r.Body)
		}
		retryAfter(t, r)
		if p := r.Problem(t); p.Code != pw.EBUSY {
			t.Fatalf("during the outage: code %s", p.Code)
		}
	}
	if r := env.Do(t, "GET", "/readyz", "", nil); r.Status != 503 {
		t.Fatalf("/readyz during the outage: %d", r.Status)
	}
	if s := ctrl.Stats(); s.Breaker == "closed" || s.BreakerRefused == 0 {
		t.Fatalf("the breaker did not open: %+v", s)
	}
	st, err := env.Client.WithRetry(pwhttp.RetryPolicy{Attempts: 1}).Status(context.Background())
	if err != nil || st.State != pwhttp.StateDegraded {
		t.Fatalf("status during the outage: %+v %v", st, err)
	}

	proxy.Restore()
	back := time.Now()
	for i := 0; ; i++ {
		r := pay("after-" + itoa(i))
		if r.Status == 201 {
			break
		}
		if r.Status != 503 {
			t.Fatalf("while recovering: %d %s", r.Status, r.Body)
		}
		if time.Since(back) > 30*time.Second {
			t.Fatal("service did not return after the database did")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("service back %v after the database", time.Since(back).Round(time.Millisecond))
	if r := env.Do(t, "GET", "/readyz", "", nil); r.Status != 200 {
		t.Fatalf("/readyz after recovery: %d", r.Status)
	}
	for _, id := range acked {
		if _, err := store.Transfer(context.Background(), id); err != nil {
			t.Fatalf("acknowledged transfer %s: %v", id, err)
		}
	}
	rep, err := ledger.Verify(context.Background(), store)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestPostgresStall stalls the connection to PostgreSQL (bytes stop, the
// sockets stay open): writes still answer 503 busy with Retry-After soon
// after their deadline, not after the ledger's 30 s commit bound, and never
// 500 for a batch that had not sent its COMMIT; service returns after.
func TestPostgresStall(t *testing.T) {
	proxy, store := mustOpenPostgresBehindProxy(t, 4)
	env, _, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{})
	w := env.MustWallet(t, 1_000_000)

	proxy.Stall()
	const wait = time.Second
	for i := range 3 {
		start := time.Now()
		r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{
			"Idempotency-Key": "stall-" + itoa(i), "Prefer": "wait=1"})
		took := time.Since(start)
		if r.Status != 503 {
			t.Fatalf("during the stall: %d %s", r.Status, r.Body)
		}
		retryAfter(t, r)
		// Generous against a busy machine, far below the 30 s commit bound.
		if took > wait+5*time.Second {
			t.Fatalf("a stalled write answered after %v", took)
		}
	}
	proxy.Restore()
	payUntilServed(t, env, w, "after-stall-")
	rep, err := ledger.Verify(context.Background(), store)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestAnIntentCutAtCOMMITIsNotRefusedBusy: a respond-async payment whose
// intent's COMMIT is cut, with the database away past the request's
// deadline, may be in the surge queue, and would then be paid: it is
// answered 504 outcome_unknown with "outcome": "unknown" and Retry-After,
// never 503 busy (which promises nothing moved). The retry with its key gets the intent if it
// was stored, or a new one if not; either way the payment is paid once.
func TestAnIntentCutAtCOMMITIsNotRefusedBusy(t *testing.T) {
	for _, delivered := range []bool{true, false} {
		t.Run(map[bool]string{true: "delivered", false: "dropped"}[delivered], func(t *testing.T) {
			proxy, store := mustOpenPostgresBehindProxy(t, 4)
			env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
			w := env.MustWallet(t, 100)
			held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
			if err != nil {
				t.Fatal(err)
			}
			async := map[string]string{"Idempotency-Key": "queued", "Prefer": "respond-async, wait=0.5"}

			fired := proxy.CutAt([]byte("commit\x00"), delivered)
			r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 30), async)
			<-fired
			if p := r.Problem(t); r.Status != 504 || p.Code != pw.EOUTCOMEUNKNOWN || !strings.Contains(string(r.Body), `"outcome":"unknown"`) || r.Header.Get("Retry-After") == "" {
				t.Fatalf("an intent cut at its COMMIT: %d %s", r.Status, r.Body)
			}
			proxy.Restore()
			var again *Response
			for range 100 { // the pool reconnects
				if again = env.Do(t, "POST", "/v1/transfers", transferBody(w, 30), async); again.Status != 503 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if again.Status != 202 {
				t.Fatalf("the retry: %d %s", again.Status, again.Body)
			}
			held.Done(nil)
			if _, err := env.Server.SettleIntents(context.Background()); err != nil {
				t.Fatal(err)
			}
			if b := env.MustBalance(t, w.User); b.Posted != 70 {
				t.Fatalf("balance %d, want 70: paid other than once", b.Posted)
			}
			if rest, err := store.PendingIntents(context.Background(), "", 10); err != nil || len(rest) != 0 {
				t.Fatalf("intents still pending: %v %v", rest, err)
			}
			mustVerify(t, store)
		})
	}
}

// PostgreSQL down, breaker open: after the cool-down, the probe happened to
// be a request refused before it reached the store (a malformed account
// ID, 404), and it closed the breaker while the database was still down
// (found in review). Only a success closes it now.
func TestABadRequestDoesNotCloseTheBreakerWhileTheDatabaseIsDown(t *testing.T) {
	proxy, store := mustOpenPostgresBehindProxy(t, 4)
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, store, admission.Config{})
	w := env.MustWallet(t, 1_000_000)
	proxy.Cut()
	for i := range 2 * admission.BreakerFailuresMax {
		env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "down-" + itoa(i)})
	}
	if s := ctrl.Stats(); s.Breaker != "open" {
		t.Fatalf("breaker %s with the database down", s.Breaker)
	}
	time.Sleep(admission.BreakerCooldownMax + 100*time.Millisecond)
	if r := env.Do(t, "GET", "/v1/accounts/not-an-id", "", nil); r.Status != 404 {
		t.Fatalf("the probe: %d %s", r.Status, r.Body)
	}
	if s := ctrl.Stats(); s.Breaker == "closed" {
		t.Fatal("breaker closed by a request that never reached the store, with the database down")
	}
}

// mustOpenPostgresBehindProxy opens a PostgreSQL store on a new database,
// reached through a fault proxy that the test can cut, stall or drop.
func mustOpenPostgresBehindProxy(t *testing.T, maxConns int32) (*faultproxy.Proxy, *postgres.Store) {
	t.Helper()
	proxy, dsn := faultproxy.ForPostgres(t, pgtest.NewDatabase(t))
	store, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	return proxy, store
}

// payUntilServed pays 1 from w with keys prefix0, prefix1, … until one is
// paid, each refused one being a 503 (a stall has ended: the breaker's
// probe, then service), and returns how long service took to return.
func payUntilServed(t *testing.T, env *Env, w Wallet, prefix string) time.Duration {
	t.Helper()
	back := time.Now()
	for i := 0; ; i++ {
		r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": prefix + itoa(i)})
		if r.Status == 201 {
			break
		}
		if r.Status != 503 {
			t.Fatalf("after the stall: %d %s", r.Status, r.Body)
		}
		if time.Since(back) > 30*time.Second {
			t.Fatal("service did not return after the stall ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(back)
}
