package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// twoUsers is a population of two users, enough for the uniform picker;
// nothing is opened (the fake servers of these tests accept any account).
func twoUsers() *Population {
	return &Population{Currency: "EUR", Users: []*pw.Account{{ID: "acc_a"}, {ID: "acc_b"}}}
}

// writeProblem answers a problem with code under status, and Retry-After
// if retryAfter is not "".
func writeProblem(w http.ResponseWriter, status int, code string, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":"x","status":%d,"code":%q}`, status, code)
}

// TestGoodputIsPerSecondOfTheSurge: goodput is the payments paid per
// second of the surge. Until 2026-11-27 it was divided by the time until
// the slowest answer came back, so the wait after the last arrival for a
// request queued at the end and refused at its deadline (up to 2 s, when
// nothing is paid) read as lost goodput. Here the server pays every
// payment at once in a 1 s surge, but for one near its end that it refuses
// after 1.8 s.
func TestGoodputIsPerSecondOfTheSurge(t *testing.T) {
	var begin atomic.Int64
	var held atomic.Bool
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Since(time.Unix(0, begin.Load())) > 900*time.Millisecond && held.CompareAndSwap(false, true) {
			time.Sleep(1800 * time.Millisecond)
			writeProblem(w, http.StatusServiceUnavailable, pw.EBUSY, "1")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"tr_%d"}`, n.Add(1))
	}))
	defer srv.Close()
	c, err := NewFastClient(srv.URL, []string{"k"}, 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	const surge = time.Second
	begin.Store(time.Now().UnixNano())
	res, err := RunOverload(context.Background(), c, twoUsers(), OverloadConfig{Scenario: ScenarioOverload, Rate: 300, Duration: surge, Deadline: 2 * time.Second, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Classes["payment"]
	if p.OK == 0 || p.Refused != 1 {
		t.Fatalf("payments %+v, want all paid but one refused", p)
	}
	if want := float64(p.OK) / surge.Seconds(); res.GoodputRPS != want || res.Seconds != surge.Seconds() {
		t.Errorf("goodput %.1f/s over %.2f s, want %d paid over the %s surge, %.1f/s", res.GoodputRPS, res.Seconds, p.OK, surge, want)
	}
	// The wait for the refusal is reported, apart: it began at about
	// 0.9 s and took 1.8 s.
	if res.DrainSeconds < 1.2 || res.DrainSeconds > 2.5 {
		t.Errorf("drain %.2f s, want about 1.7 s (the held refusal)", res.DrainSeconds)
	}
}

// TestARefusalIsA503Or429: the target is "every refusal a 503 or 429 with
// Retry-After, no other 5xx". Until 2026-11-27 the bench classified an
// answer by its problem code only, so a 500 whose body said "busy" (with
// Retry-After) counted as an honest refusal and other_errors stayed 0. Now
// the status must be a refusal's too; a refusal's code under another status
// is an other error, named for both ("busy_as_500").
func TestARefusalIsA503Or429(t *testing.T) {
	for _, c := range []struct {
		status           int
		code, retryAfter string
		refused, noRA    bool
		wantCode         string
	}{
		{http.StatusInternalServerError, pw.EBUSY, "1", false, false, "busy_as_500"},
		{http.StatusBadGateway, pw.EMAINTENANCE, "1", false, false, "maintenance_as_502"},
		{http.StatusServiceUnavailable, pw.EBUSY, "1", true, false, pw.EBUSY},
		{http.StatusServiceUnavailable, pw.EBUSY, "", true, true, pw.EBUSY},
		{http.StatusTooManyRequests, pw.ERATELIMITED, "1", true, false, pw.ERATELIMITED},
		{http.StatusInternalServerError, pw.EINTERNAL, "", false, false, pw.EINTERNAL},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, c.status, c.code, c.retryAfter)
		}))
		fc, err := NewFastClient(srv.URL, []string{"k"}, 16, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunOverload(context.Background(), fc, twoUsers(), OverloadConfig{Scenario: ScenarioOverload, Rate: 100, Duration: 200 * time.Millisecond, Seed: 1})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := res.Classes["payment"]
		var refused, noRA, other int64 // of every payment offered
		switch {
		case c.refused && c.noRA:
			refused, noRA = p.Offered, p.Offered
		case c.refused:
			refused = p.Offered
		default:
			other = p.Offered
		}
		if p.Offered == 0 || p.Refused != refused || p.WithoutRA != noRA || p.Other != other || p.Codes[c.wantCode] != p.Offered {
			t.Errorf("every answer a %d %s (Retry-After %q): offered %d, refused %d (without Retry-After %d), other %d, codes %v; want refused %d (without %d), other %d, all %s",
				c.status, c.code, c.retryAfter, p.Offered, p.Refused, p.WithoutRA, p.Other, p.Codes, refused, noRA, other, c.wantCode)
		}
	}
}

// TestNoPaymentPaidHasNoP99Ratio: the target is "p99 of paid payments ≤ 4×
// the unloaded p99". A surge that paid nothing has no p99 (percentile
// gives 0 for no samples), and until 2026-11-27 its ratio read 0, as if
// the target were met at its best; now there is none (null in the
// report), which no reading can take for met.
func TestNoPaymentPaidHasNoP99Ratio(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusServiceUnavailable, pw.EBUSY, "1")
	}))
	defer srv.Close()
	c, err := NewFastClient(srv.URL, []string{"k"}, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunOverload(context.Background(), c, twoUsers(), OverloadConfig{Scenario: ScenarioOverload, Rate: 100, Duration: 200 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Classes["payment"]
	if p.OK != 0 || p.Refused == 0 {
		t.Fatalf("payments %+v, want every one refused", p)
	}
	if r := P99Over(p, 10); r != nil {
		t.Errorf("no payment paid: p99 %.1f ms, %g× the unloaded p99; want no ratio", p.P99ms, *r)
	}
	if r := P99Over(&ClassResult{OK: 1, P99ms: 30}, 10); r == nil || *r != 3 {
		t.Errorf("one paid in 30 ms against an unloaded 10 ms: %v, want 3", r)
	}
	if r := P99Over(&ClassResult{OK: 1, P99ms: 30}, 0); r != nil {
		t.Errorf("against no unloaded p99: %g, want no ratio", *r)
	}
}

// spinningPayer pays every payment after spinning the CPU for spin: with
// one core, more offered than that core can spin makes the generator
// fall behind its schedule.
type spinningPayer struct {
	pw.LedgerService
	spin time.Duration
}

func (s spinningPayer) CreateTransfer(ctx context.Context, req pw.TransferCreate) (*pw.Transfer, error) {
	for t0 := time.Now(); time.Since(t0) < s.spin; {
	}
	return &pw.Transfer{ID: "tr"}, nil
}

// TestTheGeneratorsLagIsReported: latencies are measured from when a
// request starts, not from its scheduled arrival, and stay so (the
// published p99 series must stay comparable); but a generator that falls
// behind its schedule then hides that lag from every figure. Since
// 2026-11-27 the report gives it (send_lag). Here one core is asked for
// twice the work it can do in the surge: the requests start ever later,
// and the report says by how much. (Until 2026-11-29 the test also wanted
// the lag above the payments' p99; on one core the spinning payments
// share it by time slices, so their own latencies reach the lag's, and the
// test failed about one run in three on a quiet machine.)
func TestTheGeneratorsLagIsReported(t *testing.T) {
	if got := sendLagOf([]time.Duration{4 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}); got != (SendLag{P50ms: 2, P99ms: 4, Maxms: 4}) {
		t.Errorf("the lags 1..4 ms summarize as %+v, want p50 2, p99 4, max 4", got)
	}
	if got := sendLagOf(nil); got != (SendLag{}) {
		t.Errorf("no lags summarize as %+v", got)
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	res, err := RunOverload(context.Background(), spinningPayer{spin: 2 * time.Millisecond}, twoUsers(),
		OverloadConfig{Scenario: ScenarioOverload, Rate: 1000, Duration: 300 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, lag := res.Classes["payment"], res.SendLag
	t.Logf("%d paid, p99 %.1f ms; send lag p50 %.1f ms, p99 %.1f ms, max %.1f ms", p.OK, p.P99ms, lag.P50ms, lag.P99ms, lag.Maxms)
	// About 300 payments of 2 ms each on one core in 0.3 s: the last
	// start about 0.3 s late.
	if lag.Maxms < 100 || lag.P50ms > lag.P99ms || lag.P99ms > lag.Maxms {
		t.Errorf("send lag %+v: want the generator's lag (100 ms or more) reported, in order", lag)
	}
}
