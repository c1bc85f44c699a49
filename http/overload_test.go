package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// MustOpenAdmittedEnv is MustOpenEnv with overload control, a maintenance
// schedule and the surge queue.
func MustOpenAdmittedEnv(tb testing.TB, cfg admission.Config) (*Env, *admission.Controller, *admission.Schedule) {
	tb.Helper()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	env, ctrl, sched := mustOpenAdmittedEnvOn(tb, store, store, cfg)
	env.Store = store
	return env, ctrl, sched
}

// mustOpenAdmittedEnvOn serves store (which must also implement
// IntentStore) with admission; the env closes it. opts change the
// server's configuration before it is made.
func mustOpenAdmittedEnvOn(tb testing.TB, store pw.Store, intents pw.IntentStore, cfg admission.Config, opts ...func(*pwhttp.Config)) (*Env, *admission.Controller, *admission.Schedule) {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(store, ledger.Options{Logger: log})
	ctrl := admission.New(cfg)
	sched, err := admission.NewSchedule(filepath.Join(tb.TempDir(), "maintenance.json"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	scfg := pwhttp.Config{
		Ledger: l,
		Authenticator: pwhttp.Authenticators{
			pwhttp.NewOperatorAuthenticator(operatorKey),
			staticAuth{otherToken: {Kind: pw.PrincipalMerchant, ID: "m1"}},
		},
		Readiness: store.Ping, Logger: log, Registry: prometheus.NewRegistry(),
		Admission: ctrl, Maintenance: sched, Intents: intents,
	}
	for _, o := range opts {
		o(&scfg)
	}
	srv := pwhttp.NewServer(scfg)
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		hs.Close()
		l.Close()
		store.Close()
	})
	return &Env{Server: srv, HTTP: hs, Client: pwhttp.NewClient(hs.URL, operatorKey, hs.Client()), Ledger: l}, ctrl, sched
}

func transferBody(w Wallet, amount int64) string {
	return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%d,"currency":"EUR"}`, w.User.ID, w.Merchant.ID, amount)
}

func mustVerify(tb testing.TB, s pw.Store) *ledger.Report {
	tb.Helper()
	rep, err := ledger.Verify(context.Background(), s)
	if err != nil || !rep.OK() {
		tb.Fatalf("verify: %v %+v", err, rep)
	}
	return rep
}

func retryAfter(tb testing.TB, r *Response) int {
	tb.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		tb.Fatalf("status %d without a valid Retry-After (%q): %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	return n
}

// mustScheduleWindow schedules a window through the API, as an operator.
func mustScheduleWindow(t *testing.T, env *Env, start, end time.Time, readOnly bool) pw.MaintenanceWindow {
	t.Helper()
	r := env.Do(t, "POST", "/v1/maintenance", fmt.Sprintf(`{"start":%q,"end":%q,"read_only":%v,"reason":"test"}`,
		start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), readOnly), nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("schedule: %d %s", r.Status, r.Body)
	}
	var mw pw.MaintenanceWindow
	mustUnmarshal(t, r.Body, &mw)
	return mw
}

// Two read-only windows back to back refuse writes until the second ends,
// and Retry-After says so: it said the end of the first, and a client that
// came back then was refused again (found in review).
func TestRetryAfterCoversAbuttingReadOnlyWindows(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{})
	w := env.MustWallet(t, 100)
	now := time.Now().UTC().Truncate(time.Second)
	mustScheduleWindow(t, env, now, now.Add(time.Hour), true)
	mustScheduleWindow(t, env, now.Add(time.Hour), now.Add(2*time.Hour), true)
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "ab-1"})
	if r.Status != 503 {
		t.Fatalf("a write in a read-only window: %d %s", r.Status, r.Body)
	}
	if ra := retryAfter(t, r); ra < 7100 || ra > 7200 {
		t.Fatalf("Retry-After = %d s; writes are refused until the second window ends (~7200 s)", ra)
	}
}

// A window in year 9999 was accepted (found in review); a start past
// pw.MaintenanceHorizonMax is bad input, answered 400 on its start.
func TestAFarFutureMaintenanceWindowIsRefused(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{})
	r := env.Do(t, "POST", "/v1/maintenance", `{"start":"9999-12-31T00:00:00Z","end":"9999-12-31T01:00:00Z","read_only":true}`, nil)
	if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != "start" {
		t.Fatalf("a window in year 9999: %d %s", r.Status, r.Body)
	}
}

// A window whose start has passed was accepted (found in the review of
// 2026-11-29): it was in force before /v1/status announced it. Now a start
// more than pw.MaintenanceStartSkewMax ago is 400 invalid_request on
// "start", and nothing is scheduled; a start within it is "now", recorded
// as the moment the window was scheduled.
func TestAMaintenanceWindowStartingInThePastIsRefused(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{})
	w := env.MustWallet(t, 100)
	now := time.Now().UTC()
	r := env.Do(t, "POST", "/v1/maintenance", fmt.Sprintf(`{"start":%q,"end":%q,"read_only":true}`,
		now.Add(-10*time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), nil)
	if p := r.Problem(t); r.Status != 400 || p.Code != pw.EINVALID || p.Field != "start" {
		t.Fatalf("a window that began 10 minutes ago: %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "GET", "/v1/maintenance", "", nil); r.Status != 200 || strings.Contains(string(r.Body), "mw_") {
		t.Fatalf("a refused window is listed: %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "past-1"}); r.Status != 201 {
		t.Fatalf("a write after a refused window: %d %s", r.Status, r.Body)
	}
	mw := mustScheduleWindow(t, env, now.Add(-5*time.Second), now.Add(time.Hour), true)
	if !mw.Start.Equal(mw.CreatedAt) || mw.Start.Before(now) {
		t.Fatalf("a window starting now starts at %s, scheduled at %s (asked at %s)", mw.Start, mw.CreatedAt, now)
	}
}

// Malformed or impossible windows are bad input: 400, never 500 (checked
// in review; it held already).
func TestBadMaintenanceWindowsAreRefused400(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{})
	now := time.Now().UTC()
	f := func(t time.Time) string { return t.Format(time.RFC3339) }
	for _, body := range []string{
		`{"start":"tomorrow","end":"2030-01-01T00:00:00Z"}`,
		`{"start":"2030-01-01 00:00:00","end":"2030-01-01T01:00:00Z"}`,
		`{"start":"2030-13-01T00:00:00Z","end":"2030-01-01T01:00:00Z"}`,
		`{"start":123,"end":456}`,
		`{"start":null,"end":"2030-01-01T01:00:00Z"}`,
		`{"end":"2030-01-01T01:00:00Z"}`,
		fmt.Sprintf(`{"start":%q,"end":%q}`, f(now.Add(2*time.Hour)), f(now.Add(time.Hour))),     // ends before it starts
		fmt.Sprintf(`{"start":%q,"end":%q}`, f(now.Add(time.Hour)), f(now.Add(time.Hour))),       // empty
		fmt.Sprintf(`{"start":%q,"end":%q}`, f(now.Add(-3*time.Hour)), f(now.Add(-2*time.Hour))), // over
		fmt.Sprintf(`{"start":%q,"end":%q}`, f(now.Add(time.Hour)), f(now.Add(26*time.Hour))),    // too long
		`{"start":"2030-01-01T00:00:00+14:00","end":"2030-01-01T00:00:00-12:00"}`,                // 26 h, across zones
	} {
		if r := env.Do(t, "POST", "/v1/maintenance", body, nil); r.Status != 400 {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
}

func TestMaintenanceWindowRefusesWritesWithRetryAfter(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{})
	w := env.MustWallet(t, 100)
	start := time.Now().UTC().Format(time.RFC3339)
	end := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	r := env.Do(t, "POST", "/v1/maintenance", fmt.Sprintf(`{"start":%q,"end":%q,"read_only":true,"reason":"upgrade"}`, start, end), nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("schedule: %d %s", r.Status, r.Body)
	}
	var mw pw.MaintenanceWindow
	_ = json.Unmarshal(r.Body, &mw)

	r = env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "m-1"})
	if p := r.Problem(t); r.Status != 503 || p.Code != pw.EMAINTENANCE {
		t.Fatalf("write in a read-only window: %d %s", r.Status, r.Body)
	}
	if ra := retryAfter(t, r); ra < 3500 || ra > 3600 {
		t.Fatalf("Retry-After = %d, want the window's end (~3600)", ra)
	}
	if _, err := env.Client.Account(context.Background(), w.User.ID); err != nil {
		t.Fatalf("reads go on during maintenance: %v", err)
	}
	st, err := env.Client.Status(context.Background())
	if err != nil || st.State != pwhttp.StateMaintenance || len(st.Maintenance) != 1 || st.Maintenance[0].ID != mw.ID {
		t.Fatalf("status: %+v %v", st, err)
	}
	if r := env.Do(t, "DELETE", "/v1/maintenance/"+mw.ID, "", nil); r.Status != 200 {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "m-1"}); r.Status != 201 {
		t.Fatalf("after the window: %d %s", r.Status, r.Body)
	}
	// Only operators manage windows.
	r = env.Do(t, "POST", "/v1/maintenance", fmt.Sprintf(`{"start":%q,"end":%q}`, start, end), map[string]string{"Authorization": "Bearer " + otherToken})
	if r.Status != 403 {
		t.Fatalf("merchant scheduling maintenance: %d", r.Status)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{Rate: 0.001, Burst: 2,
		RateExempt: func(p string) bool { return p == "operator:root" }})
	merchant := map[string]string{"Authorization": "Bearer " + otherToken}
	for i := range 2 {
		r := env.Do(t, "GET", "/v1/accounts?limit=1", "", merchant)
		if r.Status != 200 || r.Header.Get("RateLimit") != fmt.Sprintf(`"default";r=%d;t=%d`, 1-i, 1000*(i+1)) ||
			r.Header.Get("RateLimit-Policy") != `"default";q=2;w=2000` {
			t.Fatalf("request %d: %d RateLimit %q Policy %q", i, r.Status, r.Header.Get("RateLimit"), r.Header.Get("RateLimit-Policy"))
		}
	}
	r := env.Do(t, "GET", "/v1/accounts?limit=1", "", merchant)
	if p := r.Problem(t); r.Status != 429 || p.Code != pw.ERATELIMITED {
		t.Fatalf("third request: %d %s", r.Status, r.Body)
	}
	if ra := retryAfter(t, r); ra != 1000 {
		t.Fatalf("Retry-After %d, want 1000 (one token at 0.001/s)", ra)
	}
	if r := env.Do(t, "GET", "/v1/accounts?limit=1", "", nil); r.Status != 200 {
		t.Fatalf("the exempt operator: %d", r.Status)
	}
}

// TestRateLimitPolicyStatesTheRate: at 3 a second with a bucket of 10,
// RateLimit-Policy said q=10;w=4, 2.5 a second (found in the review of
// 2026-11-29): w was the bucket's refill time (3.33 s) rounded up, q the
// bucket. It says 12 per 4 s: the rate exactly, over a whole window at
// least as long as the refill.
func TestRateLimitPolicyStatesTheRate(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{Rate: 3, Burst: 10,
		RateExempt: func(p string) bool { return p == "operator:root" }})
	r := env.Do(t, "GET", "/v1/accounts?limit=1", "", map[string]string{"Authorization": "Bearer " + otherToken})
	if r.Status != 200 || r.Header.Get("RateLimit-Policy") != `"default";q=12;w=4` || r.Header.Get("RateLimit") != `"default";r=9;t=1` {
		t.Fatalf("%d RateLimit-Policy %q RateLimit %q; want q=12;w=4 (3 a second) and r=9;t=1", r.Status, r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit"))
	}
}

// TestOverloadNoCollapse offers far more concurrent payments than a tiny
// limit admits: every answer is 201, or 503/429 with Retry-After; no
// other 5xx; some payments succeed; the ledger verifies.
func TestOverloadNoCollapse(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 2, LimitMin: 2, LimitMax: 2, QueueMax: 8})
	w := env.MustWallet(t, 1_000_000)
	counts := offer(t, env, 64, 10, func(i int) (string, string, string) {
		return "POST", "/v1/transfers", transferBody(w, 1)
	})
	if counts[201] == 0 {
		t.Fatalf("no payment succeeded: %v", counts)
	}
	for status, n := range counts {
		if status != 201 && status != 503 {
			t.Fatalf("%d answers with status %d: %v", n, status, counts)
		}
	}
	t.Logf("answers %v, admission %+v", counts, ctrl.Stats())
	mustVerify(t, env.Store)
}

// offer sends callers×each requests concurrently and counts the statuses;
// every 429/503 must carry Retry-After.
func offer(t *testing.T, env *Env, callers, each int, req func(i int) (method, path, body string)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m, p, b := req(c*each + i)
				r := env.Do(t, m, p, b, map[string]string{"Idempotency-Key": fmt.Sprintf("o-%d-%d", c, i)})
				if r.Status == 429 || r.Status == 503 {
					retryAfter(t, r)
				}
				mu.Lock()
				counts[r.Status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return counts
}

// mustOpenOneSlotEnv serves a wallet (funded with 1000) through admission
// with one slot, a queue of queueMax, deadlines of 30 s and no wait
// allowance to speak of, so that queueing is decided by the queue's size;
// the one slot is held by the ticket returned.
func mustOpenOneSlotEnv(t *testing.T, queueMax int) (*Env, *admission.Controller, Wallet, *admission.Ticket) {
	t.Helper()
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1, QueueMax: queueMax,
		QueueDelayMin: time.Hour, Deadlines: [4]time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}})
	w := env.MustWallet(t, 1000)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	return env, ctrl, w, held
}

// TestPaymentsBeforeReports holds every slot, queues reports, then
// payments: payments displace reports and are all served.
func TestPaymentsBeforeReports(t *testing.T) {
	env, ctrl, w, held := mustOpenOneSlotEnv(t, 8)
	results := make(chan int, 32)
	for range 8 {
		go func() { results <- env.Do(t, "GET", "/v1/transfers", "", nil).Status }()
	}
	waitFor(t, func() bool { s := ctrl.Stats(); return s.Enqueued+s.Refused[3] >= 8 })
	pays := make(chan int, 8)
	for i := range 8 {
		go func() {
			pays <- env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": fmt.Sprint("p-", i)}).Status
		}()
	}
	waitFor(t, func() bool { return ctrl.Stats().Queued[admission.ClassPayment] == 8 })
	held.Done(nil)
	for range 8 {
		if s := <-pays; s != 201 {
			t.Fatalf("a payment got %d while reports were waiting", s)
		}
	}
	shed := 0
	for range 8 {
		if <-results == 503 {
			shed++
		}
	}
	if shed < 6 {
		t.Fatalf("%d of 8 reports shed; want the reports to make room for the payments", shed)
	}
}

// TestAdmissionRefusalsAreMetrics: each refusal shows in
// peakwallet_admission_refusals_total under its class and the rule that
// made it, and in the console's summary; the gauges show the state.
func TestAdmissionRefusalsAreMetrics(t *testing.T) {
	env, ctrl, w, held := mustOpenOneSlotEnv(t, 4)
	report := make(chan int, 1)
	go func() { report <- env.Do(t, "GET", "/v1/transfers", "", nil).Status }()
	waitFor(t, func() bool { return ctrl.Stats().Queued[admission.ClassReport] == 1 })
	// A report may fill a quarter of the queue of 4: the second is refused.
	if got := env.Do(t, "GET", "/v1/transfers", "", nil).Status; got != 503 {
		t.Fatalf("a second report got %d, want 503 (its share of the queue is full)", got)
	}
	// Four payments: three fill the queue, the fourth displaces the report.
	pays := make(chan int, 4)
	for i := range 4 {
		go func() {
			pays <- env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": fmt.Sprint("m-", i)}).Status
		}()
	}
	if got := <-report; got != 503 {
		t.Fatalf("the queued report got %d, want 503 (shed for a payment)", got)
	}
	held.Done(nil)
	for range 4 {
		if got := <-pays; got != 201 {
			t.Fatalf("a payment got %d", got)
		}
	}
	s := ctrl.Stats()
	m := string(env.Do(t, "GET", "/metrics", "", nil).Body)
	for _, want := range []string{
		`peakwallet_admission_refusals_total{class="report",reason="queue_full"} 1` + "\n",
		`peakwallet_admission_refusals_total{class="report",reason="shed"} 1` + "\n",
		`peakwallet_admission_refusals_total{class="payment",reason="queue_wait"} 0` + "\n",
		fmt.Sprintf("peakwallet_admission_admitted_total{class=\"payment\"} %d\n", s.AdmittedBy[admission.ClassPayment]),
		`peakwallet_admission_queued{class="payment"} 0` + "\n",
		`peakwallet_admission_limit 1` + "\n",
		`peakwallet_admission_breaker{state="closed"} 1` + "\n",
		`peakwallet_admission_breaker{state="open"} 0` + "\n",
		`peakwallet_admission_rate_limited_total 0` + "\n",
		fmt.Sprintf("peakwallet_admission_rate_buckets %d\n", s.RateBuckets),
		`peakwallet_admission_rate_sweeps_total 0` + "\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if s.AdmittedBy[admission.ClassPayment] < 5 {
		t.Errorf("payments admitted %d, want at least the 5 of this test", s.AdmittedBy[admission.ClassPayment])
	}
	var sum pwhttp.OpsSummary
	if r := env.Do(t, "GET", "/v1/ops/summary", "", nil); r.Status != 200 || json.Unmarshal(r.Body, &sum) != nil || sum.Admission == nil {
		t.Fatalf("ops summary: %d %s", r.Status, r.Body)
	}
	if got := sum.Admission.Refusals["report"]; got["queue_full"] != 1 || got["shed"] != 1 || got["gave_up"] != 0 {
		t.Fatalf("the summary's report refusals: %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSurgeQueueSettlesOnce: a busy payment with Prefer: respond-async is
// accepted (202), its events stream shows it pending then posted, a
// synchronous retry with the same key returns the same transfer, and the
// money moved once.
func TestSurgeQueueSettlesOnce(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	async := map[string]string{"Idempotency-Key": "surge-1", "Prefer": "respond-async, wait=0.5"}
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), async)
	if r.Status != http.StatusAccepted || !strings.HasPrefix(r.Header.Get("Location"), "/v1/intents/int_") {
		t.Fatalf("busy with respond-async: %d %v %s", r.Status, r.Header, r.Body)
	}
	var in pw.Intent
	_ = json.Unmarshal(r.Body, &in)
	if again := env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), async); again.Status != 202 || !strings.Contains(string(again.Body), in.ID) {
		t.Fatalf("the same request again: %d %s", again.Status, again.Body)
	}
	if other := env.Do(t, "POST", "/v1/transfers", transferBody(w, 41), async); other.Status != 422 {
		t.Fatalf("the same key, another body: %d %s", other.Status, other.Body)
	}

	events := streamEvents(t, env, in.ID)
	if first := <-events; first.Status != pw.IntentPending {
		t.Fatalf("first event %+v", first)
	}
	held.Done(nil)
	if other := env.Do(t, "GET", "/v1/intents/"+in.ID, "", map[string]string{"Authorization": "Bearer " + otherToken}); other.Status != 404 {
		t.Fatalf("another principal reads the intent: %d", other.Status)
	}
	if n, err := env.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	final := <-events
	if final.Status != pw.IntentPosted || final.TransferID == "" {
		t.Fatalf("final event %+v", final)
	}
	if _, ok := <-events; ok {
		t.Fatal("the stream did not end at the final state")
	}
	// A second pass finds nothing; a synchronous retry replays the transfer.
	if n, _ := env.Server.SettleIntents(context.Background()); n != 0 {
		t.Fatalf("settled again: %d", n)
	}
	r = env.Do(t, "POST", "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "surge-1"})
	var tr pw.Transfer
	_ = json.Unmarshal(r.Body, &tr)
	if r.Status != 201 || tr.ID != final.TransferID || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("sync retry: %d %s", r.Status, r.Body)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 60 {
		t.Fatalf("user balance %d, want 60: the intent moved money other than once", b.Posted)
	}
	mustVerify(t, env.Store)
}

// TestSurgeQueueAfterSyncRetry: the client retried synchronously before
// the intent settled; the intent resolves to that same transfer.
func TestSurgeQueueAfterSyncRetry(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w := env.MustWallet(t, 100)
	held, _ := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 30), map[string]string{"Idempotency-Key": "k", "Prefer": "respond-async, wait=0.5"})
	if r.Status != 202 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var in pw.Intent
	_ = json.Unmarshal(r.Body, &in)
	held.Done(nil)
	r = env.Do(t, "POST", "/v1/transfers", transferBody(w, 30), map[string]string{"Idempotency-Key": "k"})
	var tr pw.Transfer
	_ = json.Unmarshal(r.Body, &tr)
	if r.Status != 201 {
		t.Fatalf("sync retry: %d %s", r.Status, r.Body)
	}
	if _, err := env.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = env.Do(t, "GET", "/v1/intents/"+in.ID, "", nil)
	var got pw.Intent
	_ = json.Unmarshal(r.Body, &got)
	if got.Status != pw.IntentPosted || got.TransferID != tr.ID {
		t.Fatalf("intent %+v, want posted as %s", got, tr.ID)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 70 {
		t.Fatalf("balance %d, want 70", b.Posted)
	}
	mustVerify(t, env.Store)
}

// streamEvents reads the intent's server-sent events.
func streamEvents(t *testing.T, env *Env, id string) <-chan pw.Intent {
	t.Helper()
	return streamEventsAs(t, env.HTTP.URL, operatorKey, id)
}

// streamEventsAs is streamEvents from the server at url, with token.
func streamEventsAs(t *testing.T, url, token, id string) <-chan pw.Intent {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/intents/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan pw.Intent, 4)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		// Read as a browser's EventSource would: an event counts only once
		// its blank line has come.
		_ = pwhttp.ReadEvents(resp.Body, func(ev pwhttp.Event) bool {
			var in pw.Intent
			if ev.Type == "intent" && json.Unmarshal([]byte(ev.Data), &in) == nil {
				ch <- in
			}
			return true
		})
	}()
	return ch
}

func mustUnmarshal(tb testing.TB, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
}

// slowIntents holds every CreateIntent until released (or its context
// ends), and hands the test the context each write was given.
type slowIntents struct {
	pw.IntentStore
	entered chan context.Context
	release chan struct{}
	// holdPastDeadline keeps a write until release even once its
	// context has ended, so that every writer holds its slot however
	// slowly the machine starts them.
	holdPastDeadline bool
}

func (s *slowIntents) CreateIntent(ctx context.Context, in *pw.Intent) (*pw.Intent, error) {
	s.entered <- ctx
	if s.holdPastDeadline {
		<-s.release
		return s.IntentStore.CreateIntent(context.WithoutCancel(ctx), in)
	}
	select {
	case <-s.release:
		return s.IntentStore.CreateIntent(ctx, in)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mustOpenSlowIntentsEnv serves one slot, held, and a full queue over a
// surge queue whose writes wait for the test.
func mustOpenSlowIntentsEnv(t *testing.T) (*Env, Wallet, *slowIntents) {
	t.Helper()
	var slow *slowIntents
	env, w, _ := mustOpenFullEnv(t, func(store pw.IntentStore) pw.IntentStore {
		slow = &slowIntents{IntentStore: store, entered: make(chan context.Context, 2*pwhttp.IntentWritersMax), release: make(chan struct{})}
		return slow
	})
	return env, w, slow
}

// mustOpenFullEnv serves one slot, held, and a queue of one, filled by a
// payment waiting for that slot: every request after it is refused at
// arrival (a payment goes to the surge queue when it allows
// respond-async). intents wraps the store's surge queue.
func mustOpenFullEnv(t *testing.T, intents func(pw.IntentStore) pw.IntentStore) (*Env, Wallet, *admission.Controller) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, intents(store), admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1, QueueMax: 1})
	env.Store = store
	w := env.MustWallet(t, 1000)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	filler := make(chan error, 1)
	go func() {
		tk, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "filler")
		if err == nil {
			tk.Done(nil)
		}
		filler <- err
	}()
	waitFor(t, func() bool { return ctrl.Stats().Queued[admission.ClassPayment] == 1 })
	t.Cleanup(func() {
		held.Done(nil)
		if err := <-filler; err != nil {
			t.Errorf("the payment filling the queue: %v", err)
		}
	})
	return env, w, ctrl
}

// TestTheSurgeQueueTakesOnlyWhatItCanWrite: the surge queue takes two
// full group commits of intents at once, one being written and the next
// forming (at 256 for batches of up to 1,024, one batch took every slot
// and the queue refused as many payments as it took in mixed surges); a
// payment that allowed respond-async beyond IntentWritersMax hears the
// original 503 busy with Retry-After at once, instead of waiting for the
// store beside thousands of others (which once starved the ledger of its
// write connection for a whole surge).
func TestTheSurgeQueueTakesOnlyWhatItCanWrite(t *testing.T) {
	env, w, slow := mustOpenSlowIntentsEnv(t)
	// Each write is bounded by IntentAcceptTimeout (2 s); under CI's
	// -race, starting 512 requests once took longer, the first writes
	// ended, their slots came free, and "one more" was written
	// (2026-11-29): the writers hold their slots here until released.
	slow.holdPastDeadline = true
	if pwhttp.IntentWritersMax < 2*pw.IntentBatchWritesMax {
		t.Fatalf("IntentWritersMax %d: a batch of %d being written leaves no room for the next", pwhttp.IntentWritersMax, pw.IntentBatchWritesMax)
	}
	statuses := make(chan int, pwhttp.IntentWritersMax)
	for i := range pwhttp.IntentWritersMax {
		go func() {
			statuses <- env.Do(t, "POST", "/v1/transfers", transferBody(w, 1),
				map[string]string{"Idempotency-Key": fmt.Sprint("w-", i), "Prefer": "respond-async, wait=30"}).Status
		}()
	}
	for range pwhttp.IntentWritersMax {
		<-slow.entered
	}
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "one-more", "Prefer": "respond-async, wait=30"})
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("a payment past the surge queue's writers got %d: %s", r.Status, r.Body)
	}
	retryAfter(t, r)
	if n := len(slow.entered); n != 0 {
		t.Fatalf("%d more intents went to the store while %d were being written", n, pwhttp.IntentWritersMax)
	}
	close(slow.release)
	for range pwhttp.IntentWritersMax {
		if st := <-statuses; st != http.StatusAccepted {
			t.Fatalf("a payment the surge queue was writing got %d, want 202", st)
		}
	}
	// A retry of an accepted payment finds its intent; a payment with bad
	// input is refused for itself. The operator sees each outcome counted.
	if r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "w-0", "Prefer": "respond-async, wait=30"}); r.Status != http.StatusAccepted {
		t.Fatalf("a retry of an accepted payment: %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/transfers", `{"amount":-1}`, map[string]string{"Idempotency-Key": "bad", "Prefer": "respond-async, wait=30"}); r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest {
		t.Fatalf("a payment with bad input: %d %s", r.Status, r.Body)
	}
	want := map[string]int{pwhttp.SurgeAccepted: pwhttp.IntentWritersMax, pwhttp.SurgeWritersBusy: 1, pwhttp.SurgeFound: 1, pwhttp.SurgeRejected: 1}
	if got := surgeQueueOffers(t, env.Do(t, "GET", "/v1/ops/summary", "", nil)); !maps.Equal(got, want) {
		t.Fatalf("the surge queue's offers in the ops summary: %v, want %v", got, want)
	}
}

// surgeQueueOffers reads the surge queue counts of an ops summary's
// answer (r), leaving out the zeros.
func surgeQueueOffers(t *testing.T, r *Response) map[string]int {
	t.Helper()
	var sum pwhttp.OpsSummary
	if r.Status != 200 || json.Unmarshal(r.Body, &sum) != nil || sum.SurgeQueue == nil {
		t.Fatalf("ops summary: %d %s", r.Status, r.Body)
	}
	maps.DeleteFunc(sum.SurgeQueue, func(_ string, n int) bool { return n == 0 })
	return sum.SurgeQueue
}

// TestAnIntentIsWrittenWithinTheRequestsDeadline: the write of an intent
// is bounded by the request's own deadline (Prefer: wait), not only by
// IntentAcceptTimeout, so that a client hears busy while it still listens.
func TestAnIntentIsWrittenWithinTheRequestsDeadline(t *testing.T) {
	env, w, slow := mustOpenSlowIntentsEnv(t)
	start := time.Now()
	r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": "short", "Prefer": "respond-async, wait=0.2"})
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("an intent that could not be written in time: %d %s", r.Status, r.Body)
	}
	retryAfter(t, r)
	// The server's 200 ms start a little after start; the write's bound
	// without the request's deadline would be IntentAcceptTimeout (2 s).
	ctx := <-slow.entered
	if d, ok := ctx.Deadline(); !ok || d.After(start.Add(200*time.Millisecond+100*time.Millisecond)) {
		t.Fatalf("the intent's write had until %v (ok %v): past the request's deadline, about %v", d, ok, start.Add(200*time.Millisecond))
	}
	if got, want := surgeQueueOffers(t, env.Do(t, "GET", "/v1/ops/summary", "", nil)), map[string]int{pwhttp.SurgeWriteFailed: 1}; !maps.Equal(got, want) {
		t.Fatalf("the surge queue's offers in the ops summary: %v, want %v", got, want)
	}
}

// countingIntents counts the settler's passes (its reads of pending intents).
type countingIntents struct {
	pw.IntentStore
	passes atomic.Int64
}

func (c *countingIntents) PendingIntents(ctx context.Context, after string, limit int) ([]*pw.Intent, error) {
	c.passes.Add(1)
	return c.IntentStore.PendingIntents(ctx, after, limit)
}

// TestTheSettlerWaitsForCapacityNotForIntents: while the store has no
// room, the settler's pass stops at the first intent it cannot settle, and
// it looks again at its next poll, not at each intent accepted meanwhile
// (in a surge, thousands a second).
func TestTheSettlerWaitsForCapacityNotForIntents(t *testing.T) {
	var counting *countingIntents
	env, w, ctrl := mustOpenFullEnv(t, func(store pw.IntentStore) pw.IntentStore {
		counting = &countingIntents{IntentStore: store}
		return counting
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go env.Server.RunIntents(ctx)
	waitFor(t, func() bool { return counting.passes.Load() >= 1 })
	accept := func(i int) {
		r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1), map[string]string{"Idempotency-Key": fmt.Sprint("c-", i), "Prefer": "respond-async, wait=1"})
		if r.Status != http.StatusAccepted {
			t.Fatalf("intent %d: %d %s", i, r.Status, r.Body)
		}
	}
	accept(0)
	// The first accepted intent wakes the settler; its pass is refused at
	// arrival (queue_full, or queue_wait or deadline once a drain rate is
	// measured: which one depends on how fast the set-up ran).
	waitFor(t, func() bool { return ctrl.Stats().Refused[admission.ClassTopup] >= 1 })
	start, before := time.Now(), counting.passes.Load()
	for i := 1; i <= 20; i++ {
		accept(i)
	}
	// Twenty intents later it has looked once a poll interval (and maybe
	// once more at either end of the window), not once an intent.
	polls := int64(time.Since(start) / pwhttp.IntentPollInterval)
	if passes := counting.passes.Load() - before; passes > polls+2 {
		t.Fatalf("the settler made %d passes in %d poll intervals, while 20 intents were accepted and it had no room", passes, polls)
	}
}

// TestPreferWaitIsReadAsRFC7240Says: a client's deadline (Prefer: wait)
// holds when it is 0 (an answer at once, not the class's default as if
// nothing were asked) and when a later instance asks more (only the first
// instance of a preference counts, RFC 7240 section 2). Here the one slot
// is held and the class's deadline is 30 s: a deadline kept is a 503 at
// once. Before 2026-11-27 both forms got the 30 s.
func TestPreferWaitIsReadAsRFC7240Says(t *testing.T) {
	env, _, w, held := mustOpenOneSlotEnv(t, 8)
	defer held.Done(nil)
	for i, prefer := range []string{"wait=0.005", "wait=0", "wait=0.000", "wait=0.005, wait=30", "wait=0.005;x=1"} {
		got := make(chan int, 1)
		go func() {
			got <- env.Do(t, "POST", "/v1/transfers", transferBody(w, 1),
				map[string]string{"Idempotency-Key": fmt.Sprint("prefer-", i), "Prefer": prefer}).Status
		}()
		select {
		case st := <-got:
			if st != http.StatusServiceUnavailable {
				t.Errorf("Prefer: %s: %d, want 503 busy", prefer, st)
			}
		case <-time.After(time.Second):
			t.Fatalf("Prefer: %s: no answer after 1 s: the client's deadline was not kept", prefer)
		}
	}
}

// TestEventStreamsCountAgainstTheRateLimit: opening an intent's event
// stream is a request like any other for the principal's rate limit (each
// open stream reads the store every second); before 2026-11-27 streams
// were not counted, and one client could open any number.
func TestEventStreamsCountAgainstTheRateLimit(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{Rate: 0.001, Burst: 2,
		RateExempt: func(p string) bool { return p == "operator:root" }})
	merchant := map[string]string{"Authorization": "Bearer " + otherToken}
	for i := range 2 {
		if r := env.Do(t, "GET", "/v1/intents/int_01m8fds6c6s9p4tesh2bkgag4n/events", "", merchant); r.Status != 404 {
			t.Fatalf("stream %d of an unknown intent: %d %s, want 404", i, r.Status, r.Body)
		}
	}
	r := env.Do(t, "GET", "/v1/intents/int_01m8fds6c6s9p4tesh2bkgag4n/events", "", merchant)
	if r.Status != 429 || r.Problem(t).Code != pw.ERATELIMITED || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream past a burst of 2: %d %s (Retry-After %q), want 429 rate_limited", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
}
