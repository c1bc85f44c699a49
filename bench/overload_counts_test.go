package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
