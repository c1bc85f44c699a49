package http_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestClientRetriesWithTheSameKey: the client retries busy, rate-limited
// and dropped attempts of a payment with one Idempotency-Key, and gives
// up after its bounded attempts.
func TestClientRetriesWithTheSameKey(t *testing.T) {
	hs, seen := headerServer(t, "Idempotency-Key", func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			pwhttp.Error(w, r, &pw.Error{Code: pw.EBUSY, Message: "busy"})
		case 2:
			pwhttp.Error(w, r, &pw.Error{Code: pw.ERATELIMITED, Message: "slow down"})
		case 3:
			panic(http.ErrAbortHandler) // the connection drops: no answer
		default:
			posted(w)
		}
	})
	c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 5, BackoffFirst: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	// Retry-After is 1 s on the refusals: within the call's deadline, it is honoured.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
	if err != nil || tr.ID != "tr_x" {
		t.Fatalf("CreateTransfer: %v %v", tr, err)
	}
	if keys := seen(); len(keys) != 4 || keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] || keys[3] != keys[0] {
		t.Fatalf("attempts carried keys %q; want 4 attempts with one key", keys)
	}
}

// TestClientGivesUpWhenRetryAfterExceedsDeadline: a refusal asking for
// longer than the call has left is returned at once, as it is.
func TestClientGivesUpWhenRetryAfterExceedsDeadline(t *testing.T) {
	calls := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		pwhttp.Error(w, r, &pw.Error{Code: pw.EMAINTENANCE, Message: "later", Retry: time.Hour})
	}))
	defer hs.Close()
	c := pwhttp.NewClient(hs.URL, "t", hs.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Account(ctx, "acc_x")
	var pe *pw.Error
	if pw.ErrorCode(err) != pw.EMAINTENANCE || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if e, ok := err.(*pw.Error); ok {
		pe = e
	}
	if pe == nil || pe.Retry != time.Hour {
		t.Fatalf("the refusal's Retry-After is not kept: %+v", pe)
	}
}

// TestClientTellsTheServerItsDeadline: every attempt carries Prefer:
// wait=N, the time the call has left less a margin for the answer, so
// that the server refuses what it cannot finish while the client still
// listens; a call without time left for any work sends none.
func TestClientTellsTheServerItsDeadline(t *testing.T) {
	hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, r *http.Request, _ int) {
		pwhttp.Error(w, r, &pw.Error{Code: pw.EBUSY, Message: "busy"})
	})
	c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 2, BackoffFirst: 200 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.Account(ctx, "acc_1"); pw.ErrorCode(err) != pw.EBUSY {
		t.Fatalf("Account: %v, want busy", err)
	}
	prefers := seen()
	if len(prefers) != 2 {
		t.Fatalf("%d attempts, want 2", len(prefers))
	}
	var waits []float64
	for _, p := range prefers {
		var w float64
		if _, err := fmt.Sscanf(p, "wait=%g", &w); err != nil {
			t.Fatalf("Prefer %q: %v", p, err)
		}
		waits = append(waits, w)
	}
	// 2 s less a 200 ms margin, less the moments the test takes to start.
	if waits[0] > 1.8 || waits[0] < 1.5 {
		t.Errorf("first attempt asked wait=%g, want about 1.8 (2 s less the margin)", waits[0])
	}
	if waits[1] >= waits[0] {
		t.Errorf("the retry asked wait=%g, no less than the first attempt's %g", waits[1], waits[0])
	}

	for _, tc := range []struct {
		left time.Duration
		want string
	}{{5 * time.Millisecond, ""}, {-time.Second, ""}} {
		if got := pwhttp.PreferWait(time.Now().Add(tc.left), true); got != tc.want {
			t.Errorf("PreferWait(now+%v) = %q, want %q", tc.left, got, tc.want)
		}
	}
	if got := pwhttp.PreferWait(time.Time{}, false); got != "" {
		t.Errorf("PreferWait without a deadline = %q, want none", got)
	}
	if got := pwhttp.PreferWait(time.Now().Add(10*time.Second), true); got != "wait=9.750" && got != "wait=9.749" {
		t.Errorf("PreferWait(now+10s) = %q, want wait=9.750 (the margin is at most 250 ms)", got)
	}
}

// TestClientRetriesAnUnknownOutcomeWithTheSameKey: a payment whose commit
// was cut (504 outcome_unknown, "outcome": "unknown") is sent again with the same key,
// which settles it at most once; an ordinary 500 is not retried.
func TestClientRetriesAnUnknownOutcomeWithTheSameKey(t *testing.T) {
	hs, seen := headerServer(t, "Idempotency-Key", func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/v1/accounts/acc_1":
			pwhttp.Error(w, r, &pw.Error{Code: pw.EINTERNAL, Err: errors.New("a bug")})
		case n == 1:
			pwhttp.Error(w, r, &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Err: errors.Join(pw.ErrCommitUnknown, errors.New("connection reset"))})
		default:
			posted(w)
		}
	})
	c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 3, BackoffFirst: time.Millisecond, BackoffMax: time.Millisecond})
	tr, err := c.CreateTransfer(context.Background(), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
	if err != nil || tr.ID != "tr_x" {
		t.Fatalf("CreateTransfer: %v %v", tr, err)
	}
	if keys := seen(); len(keys) != 2 || keys[0] == "" || keys[1] != keys[0] {
		t.Fatalf("attempts carried keys %q; want 2 attempts with one key", keys)
	}
	if _, err := c.Account(context.Background(), "acc_1"); pw.ErrorCode(err) != pw.EINTERNAL || errors.Is(err, pw.ErrCommitUnknown) {
		t.Fatalf("Account: %v, want a plain internal error", err)
	}
	if n := len(seen()); n != 3 {
		t.Fatalf("an ordinary 500 was sent %d times, want once", n-2)
	}
}

// headerServer is a test server that keeps one header of every request
// and answers the n-th (from 1) with answer; seen returns the headers kept.
func headerServer(t *testing.T, header string, answer func(w http.ResponseWriter, r *http.Request, n int)) (hs *httptest.Server, seen func() []string) {
	var mu sync.Mutex
	var got []string
	hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get(header))
		n := len(got)
		mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(hs.Close)
	return hs, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// posted answers a transfer as posted.
func posted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	w.Write([]byte(`{"id":"tr_x","status":"posted"}`))
}

// TestClientSendsNothingWithoutTimeForTheServerToAnswer: an attempt is
// sent only with time left beyond the margin for the answer's way back,
// and so always with a Prefer: wait. With less, PreferWait has no wait to
// ask, and until 2026-11-27 the attempt went out without one: the server
// gave it its class's whole deadline (2 s for a payment) and could post it
// long after the client had hung up. A first attempt is then not sent (the
// error wraps context.DeadlineExceeded); a retry is not sent, and the call
// ends with the last attempt's error.
func TestClientSendsNothingWithoutTimeForTheServerToAnswer(t *testing.T) {
	t.Run("first attempt", func(t *testing.T) {
		hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, _ *http.Request, _ int) { posted(w) })
		c := pwhttp.NewClient(hs.URL, "t", hs.Client())
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Millisecond)
		defer cancel()
		_, err := c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
		if got := seen(); len(got) != 0 {
			t.Fatalf("a payment with 8 ms left was sent, with Prefer %q", got)
		}
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pw.ErrCommitUnknown) {
			t.Fatalf("the call ended %v; want a deadline error that is no unknown outcome (nothing was sent)", err)
		}
	})
	t.Run("retry", func(t *testing.T) {
		const callTime = 100 * time.Millisecond
		hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, r *http.Request, _ int) {
			// Answered busy with no time left to try again: the retry
			// after the backoff (at most 1 ms, Retry-After 0) would have
			// less than the margin left.
			time.Sleep(callTime - 7*time.Millisecond)
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"type":"about:blank","title":"busy","status":503,"code":"busy"}`))
		})
		c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{
			Attempts: 3, BackoffFirst: time.Millisecond, BackoffMax: time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), callTime)
		defer cancel()
		_, err := c.Account(ctx, "acc_x")
		got := seen()
		if len(got) != 1 {
			t.Fatalf("%d attempts, with Prefer %q (call ended %v); want 1: the retry had no time for an answer", len(got), got, err)
		}
		if got[0] == "" {
			t.Fatalf("the attempt carried no Prefer: wait")
		}
	})
}

// TestPreferWaitNeverRoundsToZero: 10 to 10.5 ms before the deadline the
// wait left after the 10 ms margin is under half a millisecond; written
// to three decimals it read "wait=0.000", which the server takes as no
// preference and gives the request its class's whole deadline. The wait
// is rounded up to the millisecond instead.
func TestPreferWaitNeverRoundsToZero(t *testing.T) {
	for _, left := range []time.Duration{10010 * time.Microsecond, 10300 * time.Microsecond,
		10490 * time.Microsecond, 10900 * time.Microsecond, 11 * time.Millisecond} {
		got := pwhttp.PreferWait(time.Now().Add(left), true)
		if got == "" {
			continue // the moments since Now ate the wait: no preference, and no attempt
		}
		var w float64
		if _, err := fmt.Sscanf(got, "wait=%g", &w); err != nil || w <= 0 {
			t.Errorf("PreferWait %v before the deadline = %q; want a positive wait or none", left, got)
		}
	}
}

// TestClientHonoursAGatewaysRetryAfter: a 503 from a gateway in front of
// the API (no problem body) is retried as no answer, no sooner than its
// Retry-After, and returned at once when that does not fit in the time the
// call has left; the error keeps it (RetryAfter). Until 2026-11-27 it was
// read only from the API's problems: a proxy's 503 with Retry-After: 2 was
// sent six requests within 1.5 s, on the client's own 50 ms backoff.
func TestClientHonoursAGatewaysRetryAfter(t *testing.T) {
	gateway := func(w http.ResponseWriter, retryAfter string) {
		w.Header().Set("Retry-After", retryAfter)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("<html>503 Service Temporarily Unavailable</html>"))
	}
	t.Run("longer than the time left", func(t *testing.T) {
		hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, _ *http.Request, _ int) { gateway(w, "2") })
		c := pwhttp.NewClient(hs.URL, "t", hs.Client())
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := c.Account(ctx, "acc_x")
		if n := len(seen()); n != 1 {
			t.Fatalf("the gateway asked for 2 s, and the client sent %d requests within 1.5 s (%v)", n, err)
		}
		if took := time.Since(began); took > 500*time.Millisecond {
			t.Errorf("the call took %v to give up a wait it could not afford", took)
		}
		if !errors.Is(err, pwhttp.ErrNoAPIAnswer) || pwhttp.RetryAfter(err) != 2*time.Second {
			t.Fatalf("the call ended %v, Retry-After %v; want the gateway's answer with its 2 s", err, pwhttp.RetryAfter(err))
		}
	})
	t.Run("within the time left", func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		hs, _ := headerServer(t, "Prefer", func(w http.ResponseWriter, _ *http.Request, n int) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			if n == 1 {
				gateway(w, "1")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"acc_x"}`))
		})
		c := pwhttp.NewClient(hs.URL, "t", hs.Client())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Account(ctx, "acc_x"); err != nil {
			t.Fatalf("Account: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(at) != 2 || at[1].Sub(at[0]) < time.Second {
			t.Fatalf("attempts at %v; want 2, the second at least the gateway's 1 s after the first", at)
		}
	})
}

// TestParseRetryAfterIsBounded: a Retry-After is read as at most
// RetryAfterMax. Ten billion seconds overflowed a time.Duration and came
// out negative, a wait of nothing.
func TestParseRetryAfterIsBounded(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"-5", 0},
		{"nonsense", 0},
		{"10000000000", pwhttp.RetryAfterMax},
		{"99999999999999999999999", pwhttp.RetryAfterMax},
		{"Fri, 31 Dec 9999 23:59:59 GMT", pwhttp.RetryAfterMax},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0},
	} {
		if got := pwhttp.ParseRetryAfter(tt.v); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

// TestClientRetriesAGatewaysRateLimit: a 429 from a gateway in front of
// the API (no problem body: a proxy's or an API gateway's rate limit) is
// a refusal, as the API's own 429 is: the request did not get past it.
// It is retried no sooner than its Retry-After, with the same key (a POST
// without one too: nothing was applied), and returned at once when that
// does not fit in the time the call has left, with its Retry-After and
// no unknown outcome. Until 2026-11-29 it was a final "internal" error,
// after one attempt.
func TestClientRetriesAGatewaysRateLimit(t *testing.T) {
	gateway := func(w http.ResponseWriter, retryAfter string) {
		w.Header().Set("Retry-After", retryAfter)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte("Too Many Requests"))
	}
	t.Run("within the time left", func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		hs, seen := headerServer(t, "Idempotency-Key", func(w http.ResponseWriter, _ *http.Request, n int) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			if n == 1 {
				gateway(w, "1")
				return
			}
			posted(w)
		})
		c := pwhttp.NewClient(hs.URL, "t", hs.Client())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr, err := c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
		if err != nil || tr.ID != "tr_x" {
			t.Fatalf("CreateTransfer after a gateway's 429: %v, %v; want tr_x", tr, err)
		}
		if keys := seen(); len(keys) != 2 || keys[0] == "" || keys[1] != keys[0] {
			t.Fatalf("attempts carried keys %q; want 2 attempts with one key", keys)
		}
		mu.Lock()
		defer mu.Unlock()
		if at[1].Sub(at[0]) < time.Second {
			t.Fatalf("the retry came %v after the gateway asked for 1 s", at[1].Sub(at[0]))
		}
	})
	t.Run("a POST without a key", func(t *testing.T) {
		hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				gateway(w, "0")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"mw_x"}`))
		})
		c := pwhttp.NewClient(hs.URL, "t", hs.Client())
		mw, err := c.ScheduleMaintenance(context.Background(), pw.MaintenanceCreate{Reason: "x"})
		if err != nil || mw.ID != "mw_x" || len(seen()) != 2 {
			t.Fatalf("ScheduleMaintenance after a gateway's 429: %+v, %v, after %d attempts; want mw_x after 2", mw, err, len(seen()))
		}
	})
	t.Run("longer than the time left", func(t *testing.T) {
		hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, _ *http.Request, _ int) { gateway(w, "2") })
		c := pwhttp.NewClient(hs.URL, "t", hs.Client())
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		_, err := c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
		if n := len(seen()); n != 1 {
			t.Fatalf("the gateway asked for 2 s, and the client sent %d requests within 1.5 s (%v)", n, err)
		}
		if err == nil || pwhttp.RetryAfter(err) != 2*time.Second || errors.Is(err, pw.ErrCommitUnknown) {
			t.Fatalf("the call ended %v, Retry-After %v; want the gateway's refusal with its 2 s, no unknown outcome", err, pwhttp.RetryAfter(err))
		}
	})
}

// TestClientRetryPolicyWithoutABackoffBacksOffAsTheDefault: a RetryPolicy
// that sets its attempts and leaves out the backoff, or its ceiling,
// backs off as DefaultRetryPolicy does for what it left out. Until
// 2026-11-29 a missing BackoffFirst made every wait zero, and a missing
// BackoffMax every wait after the first: eight attempts on a busy server
// within a few milliseconds, the hammering that backoff is there to
// prevent. (Full jitter makes one wait as short as it likes; seven of
// them all together under 100 ms, drawn from the default backoff, are not
// seen in a lifetime of runs.)
func TestClientRetryPolicyWithoutABackoffBacksOffAsTheDefault(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy pwhttp.RetryPolicy
	}{
		{"no backoff", pwhttp.RetryPolicy{Attempts: pwhttp.ClientAttemptsMax}},
		{"no ceiling", pwhttp.RetryPolicy{Attempts: pwhttp.ClientAttemptsMax, BackoffFirst: 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var at []time.Time
			hs, _ := headerServer(t, "Prefer", func(w http.ResponseWriter, _ *http.Request, _ int) {
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
				// busy, with no Retry-After: the client's backoff alone spaces the attempts
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"type":"about:blank","title":"busy","status":503,"code":"busy"}`))
			})
			c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(tc.policy)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.Account(ctx, "acc_x"); pw.ErrorCode(err) != pw.EBUSY {
				t.Fatalf("Account: %v, want busy", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(at) != pwhttp.ClientAttemptsMax {
				t.Fatalf("%d attempts, want %d", len(at), pwhttp.ClientAttemptsMax)
			}
			if span := at[len(at)-1].Sub(at[0]); span < 100*time.Millisecond {
				t.Fatalf("%d attempts within %v: no backoff between them", len(at), span)
			}
		})
	}
}

// TestClientRetryPolicyWithoutACallTimeoutKeepsTheDefault: a RetryPolicy
// that leaves CallTimeout out gives a call without a deadline the default
// one (ClientCallTimeout), so that a refusal whose Retry-After is longer
// is returned at once. Until 2026-11-29 such a call had no deadline at
// all, and slept out whatever Retry-After came, up to RetryAfterMax (7
// days), before its next attempt.
func TestClientRetryPolicyWithoutACallTimeoutKeepsTheDefault(t *testing.T) {
	hs, seen := headerServer(t, "Prefer", func(w http.ResponseWriter, r *http.Request, _ int) {
		pwhttp.Error(w, r, &pw.Error{Code: pw.EMAINTENANCE, Message: "later", Retry: time.Hour})
	})
	c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{Attempts: 2})
	done := make(chan error, 1)
	go func() {
		_, err := c.Account(context.Background(), "acc_x")
		done <- err
	}()
	select {
	case err := <-done:
		if pw.ErrorCode(err) != pw.EMAINTENANCE || len(seen()) != 1 {
			t.Fatalf("Account: %v after %d attempts; want maintenance after 1", err, len(seen()))
		}
		if p := seen()[0]; p == "" {
			t.Fatalf("the attempt carried no Prefer: wait: it had no deadline")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a call without a deadline, refused for an hour, was still waiting after 3 s")
	}
}

// TestClientRetryPolicyWithoutAttemptsRetriesAsTheDefault: a RetryPolicy
// that sets only a backoff (or only a deadline) leaves Attempts to the
// default, as it does its other fields: a payment refused busy twice is
// made at the third attempt. Until 2026-11-29 such a policy made one
// attempt and gave up at the first busy.
func TestClientRetryPolicyWithoutAttemptsRetriesAsTheDefault(t *testing.T) {
	hs, seen := headerServer(t, "Idempotency-Key", func(w http.ResponseWriter, _ *http.Request, n int) {
		if n <= 2 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"type":"about:blank","title":"busy","status":503,"code":"busy"}`))
			return
		}
		posted(w)
	})
	c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{BackoffFirst: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	tr, err := c.CreateTransfer(within(10*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
	if err != nil || tr == nil {
		t.Fatalf("a payment refused busy twice, with a policy that leaves Attempts out: %+v, %v; want it made", tr, err)
	}
	keys := seen()
	if len(keys) != 3 || keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Fatalf("attempts under keys %q; want three under one key", keys)
	}
}

// TestAGatewaysRefusalReadsAsWhatItIs: a call that ends with a gateway's
// answer (one without the API's problem body) read "internal" from
// peakwallet.ErrorCode, which API.md gives the server's own failure (500),
// not a refusal (found in the review of 2026-11-29). A gateway's 429 is a
// rate limit whoever sent it, and it refused the request before passing it
// on: rate_limited, with its Retry-After. A gateway's 5xx to a read is no
// answer from the API, which a read may ask for again: unavailable. A
// payment that ends with a gateway's 5xx, which may have passed it on,
// still ends outcome_unknown. ErrGatewayRefused and ErrNoAPIAnswer stay
// in the chain, so that a caller can tell a gateway's answer from the API's.
func TestAGatewaysRefusalReadsAsWhatItIs(t *testing.T) {
	gateway := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<html>from the gateway</html>"))
		}
	}
	pay := func(c *pwhttp.Client) error {
		_, err := c.CreateTransfer(within(5*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
		return err
	}
	read := func(c *pwhttp.Client) error {
		_, err := c.Account(within(5*time.Second), "acc_x")
		return err
	}
	for _, tc := range []struct {
		name     string
		status   int
		call     func(*pwhttp.Client) error
		code     string
		sentinel error
	}{
		{"a payment refused 429", http.StatusTooManyRequests, pay, pw.ERATELIMITED, pwhttp.ErrGatewayRefused},
		{"a read refused 429", http.StatusTooManyRequests, read, pw.ERATELIMITED, pwhttp.ErrGatewayRefused},
		{"a read answered 503", http.StatusServiceUnavailable, read, pw.EUNAVAILABLE, pwhttp.ErrNoAPIAnswer},
		{"a read answered 502", http.StatusBadGateway, read, pw.EUNAVAILABLE, pwhttp.ErrNoAPIAnswer},
		{"a payment answered 503", http.StatusServiceUnavailable, pay, pw.EOUTCOMEUNKNOWN, pwhttp.ErrNoAPIAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(gateway(tc.status))
			t.Cleanup(hs.Close)
			c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{Attempts: 2})
			err := tc.call(c)
			if pw.ErrorCode(err) != tc.code || !errors.Is(err, tc.sentinel) {
				t.Fatalf("the call ended %v, code %q; want %q, wrapping %v", err, pw.ErrorCode(err), tc.code, tc.sentinel)
			}
		})
	}
}

// TestClientSpreadsRetriesAfterARetryAfter: calls refused together with
// the same Retry-After (a shed queue, a breaker opening, a window's end)
// come back no sooner than it asks, and not together: the backoff's jitter
// is drawn on top of the Retry-After. Until 2026-11-29 the wait was the
// larger of the two, so a Retry-After longer than the backoff's ceiling
// (1 s against 50 ms, for the first five retries of the default policy)
// left no jitter at all, and every refused call came back at the same
// moment, as one storm (found in the review of 2026-11-29).
func TestClientSpreadsRetriesAfterARetryAfter(t *testing.T) {
	const calls = 12
	var mu sync.Mutex
	var retries []time.Time
	all := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(calls)
	var refused time.Time // before any refusal was written
	go func() { arrived.Wait(); refused = time.Now(); close(all) }()
	keys := map[string]bool{} // the keys of the attempts seen: a retry's was seen before
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		retry := keys[key]
		keys[key] = true
		if retry {
			retries = append(retries, time.Now())
		}
		mu.Unlock()
		if !retry {
			arrived.Done()
			<-all // every call's first attempt is refused at the same moment
			pwhttp.Error(w, r, &pw.Error{Code: pw.EBUSY, Message: "busy", Retry: time.Second})
			return
		}
		posted(w)
	}))
	t.Cleanup(hs.Close)
	c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 2, BackoffFirst: 400 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.CreateTransfer(within(10*time.Second), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"}); err != nil {
				t.Errorf("CreateTransfer: %v", err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(retries) != calls {
		t.Fatalf("%d retries, want %d", len(retries), calls)
	}
	slices.SortFunc(retries, time.Time.Compare)
	if early := retries[0].Sub(refused); early < time.Second {
		t.Fatalf("a call came back %v after its refusal, which asked for 1 s", early)
	}
	// Twelve draws from [0, 400 ms] all within 100 ms of each other: about
	// once in 300,000 runs.
	if spread := retries[calls-1].Sub(retries[0]); spread < 100*time.Millisecond {
		t.Fatalf("%d calls refused together with Retry-After: 1 came back within %v of each other: no jitter", calls, spread)
	}
}
