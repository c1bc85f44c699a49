package http_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// refusing fails the round trips refuse picks (by their number, from 1)
// as refused connections (the request never left) and sends the rest.
type refusing struct {
	next   http.RoundTripper
	refuse func(n int32) bool
	calls  atomic.Int32
}

func (r *refusing) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.refuse(r.calls.Add(1)) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return r.next.RoundTrip(req)
}

// TestClientDoesNotCallAPaymentRefusedAfterAnAttemptItCannotSee: a
// payment's first attempt may have been applied (its connection dropped
// after it was sent, or the server said outcome_unknown), and every later
// attempt was refused busy before the server looked at the key (admission
// refuses first). The call does not end "busy", which promises that
// nothing moved and invites a second payment under a new key: it ends
// outcome_unknown, and a retry with the same key learns what happened. A
// read, a first attempt that never left (a refused connection), and an
// authoritative answer after the unknown one keep their own errors; a
// 401, 403 or mfa_required after it is no such answer (the server gives
// them before it looks at the key, or without waiting for the attempt
// that holds it: until 2026-11-29 they were taken for one). No
// answer at all (dropped connections, or a gateway's 5xx instead of the
// API's answer) ends outcome_unknown too, not "internal"; a gateway's
// answer is retried like a dropped connection.
func TestClientDoesNotCallAPaymentRefusedAfterAnAttemptItCannotSee(t *testing.T) {
	busy := func(w http.ResponseWriter, r *http.Request) {
		pwhttp.Error(w, r, &pw.Error{Code: pw.EBUSY, Message: "busy", Retry: time.Millisecond})
	}
	drop := func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }
	unknown := func(w http.ResponseWriter, r *http.Request) {
		pwhttp.Error(w, r, &pw.Error{Code: pw.EOUTCOMEUNKNOWN, Message: "cut", Err: pw.ErrCommitUnknown})
	}
	poor := func(w http.ResponseWriter, r *http.Request) {
		pwhttp.Error(w, r, &pw.Error{Code: pw.EINSUFFICIENT, Message: "insufficient funds"})
	}
	refusal := func(code string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) { pwhttp.Error(w, r, &pw.Error{Code: code, Message: code}) }
	}
	gateway := func(w http.ResponseWriter, _ *http.Request) { // a proxy in front of the API, not the API
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	}
	paid := func(w http.ResponseWriter, _ *http.Request) { posted(w) }
	for _, tt := range []struct {
		name        string
		first, rest func(http.ResponseWriter, *http.Request)
		read        bool             // a read instead of a payment
		refuse      func(int32) bool // which attempts' connections are refused
		want        string
	}{
		{name: "dropped, then busy", first: drop, rest: busy, want: pw.EOUTCOMEUNKNOWN},
		{name: "outcome unknown, then busy", first: unknown, rest: busy, want: pw.EOUTCOMEUNKNOWN},
		{name: "busy throughout", first: busy, rest: busy, want: pw.EBUSY},
		{name: "never sent, then busy", refuse: func(n int32) bool { return n == 1 }, rest: busy, want: pw.EBUSY},
		{name: "dropped, then never sent", first: drop, refuse: func(n int32) bool { return n > 1 }, rest: busy, want: pw.EOUTCOMEUNKNOWN},
		{name: "dropped, then a final answer", first: drop, rest: poor, want: pw.EINSUFFICIENT},
		{name: "dropped, then unauthorized", first: drop, rest: refusal(pw.EUNAUTHORIZED), want: pw.EOUTCOMEUNKNOWN},
		{name: "dropped, then forbidden", first: drop, rest: refusal(pw.EFORBIDDEN), want: pw.EOUTCOMEUNKNOWN},
		{name: "dropped, then mfa_required", first: drop, rest: refusal(pw.EMFAREQUIRED), want: pw.EOUTCOMEUNKNOWN},
		{name: "unauthorized throughout", first: refusal(pw.EUNAUTHORIZED), rest: busy, want: pw.EUNAUTHORIZED},
		{name: "a read dropped, then unauthorized", first: drop, rest: refusal(pw.EUNAUTHORIZED), read: true, want: pw.EUNAUTHORIZED},
		{name: "a read dropped, then busy", first: drop, rest: busy, read: true, want: pw.EBUSY},
		{name: "dropped throughout", first: drop, rest: drop, want: pw.EOUTCOMEUNKNOWN},
		{name: "a gateway's 502, then paid", first: gateway, rest: paid, want: ""},
		{name: "a gateway's 502 throughout", first: gateway, rest: gateway, want: pw.EOUTCOMEUNKNOWN},
		{name: "a read given a gateway's 502, then answered", first: gateway, rest: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"acc_x"}`)
		}, read: true, want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs, _ := headerServer(t, "Idempotency-Key", func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 && tt.first != nil {
					tt.first(w, r)
					return
				}
				tt.rest(w, r)
			})
			hc := hs.Client()
			if tt.refuse != nil {
				hc.Transport = &refusing{next: hc.Transport, refuse: tt.refuse}
			}
			c := pwhttp.NewClient(hs.URL, "t", hc).WithRetry(pwhttp.RetryPolicy{
				Attempts: 3, BackoffFirst: time.Millisecond, BackoffMax: 5 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var err error
			if tt.read {
				_, err = c.Account(ctx, "acc_x")
			} else {
				_, err = c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
			}
			if got := pw.ErrorCode(err); got != tt.want {
				t.Fatalf("the call ended %s (%v), want %s", got, err, tt.want)
			}
			if unknown := errors.Is(err, pw.ErrCommitUnknown); unknown != (tt.want == pw.EOUTCOMEUNKNOWN) {
				t.Fatalf("errors.Is(%v, ErrCommitUnknown) = %v", err, unknown)
			}
		})
	}
}

// loseFirstAnswer serves h, but serves the first request matching method
// and path into a recorder and drops its answer: the server did the work
// and the connection broke before the client heard of it, as a network cut
// or a proxy's timeout does.
func loseFirstAnswer(t *testing.T, h http.Handler, method, path string) *httptest.Server {
	var dropped atomic.Bool
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method && r.URL.Path == path && dropped.CompareAndSwap(false, true) {
			h.ServeHTTP(httptest.NewRecorder(), r) // applied ...
			panic(http.ErrAbortHandler)            // ... but its answer never arrives
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs
}

// TestClientDoesNotResendAPOSTWithoutAKeyAfterALostAnswer: a POST that
// carries no Idempotency-Key (ScheduleMaintenance, CreateOperator) is not
// sent again after an attempt that may have been applied: a second arrival
// would be applied again. Until 2026-11-27 it went through the same retries
// as a payment, and one ScheduleMaintenance call whose answer was lost made
// two read-only windows (the operator holds the ID of one; cancelling it
// leaves the other in force). It ends outcome_unknown instead. Errors that
// prove the server did not act — a refused connection, a 503 busy — are
// still retried.
func TestClientDoesNotResendAPOSTWithoutAKeyAfterALostAnswer(t *testing.T) {
	t.Run("ScheduleMaintenance", func(t *testing.T) {
		env, _, sched := MustOpenAdmittedEnv(t, admission.Config{})
		hs := loseFirstAnswer(t, env.Server.Handler(), http.MethodPost, "/v1/maintenance")
		c := pwhttp.NewClient(hs.URL, operatorKey, hs.Client())
		now := time.Now().UTC()
		_, err := c.ScheduleMaintenance(context.Background(), pw.MaintenanceCreate{
			Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), ReadOnly: true, Reason: "upgrade"})
		if n := len(sched.Windows()); n != 1 {
			t.Fatalf("one ScheduleMaintenance call made %d windows", n)
		}
		if pw.ErrorCode(err) != pw.EOUTCOMEUNKNOWN || !errors.Is(err, pw.ErrCommitUnknown) {
			t.Fatalf("the call ended %v, want outcome_unknown wrapping ErrCommitUnknown", err)
		}
	})

	busy := func(w http.ResponseWriter, r *http.Request) {
		pwhttp.Error(w, r, &pw.Error{Code: pw.EBUSY, Message: "busy", Retry: time.Millisecond})
	}
	drop := func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }
	gateway := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	}
	created := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"op_x"}`)
	}
	for _, tt := range []struct {
		name   string
		first  func(http.ResponseWriter, *http.Request)
		refuse bool // the first attempt's connection is refused instead
		posts  int  // the POSTs the server receives
		want   string
	}{
		{name: "answer lost", first: drop, posts: 1, want: pw.EOUTCOMEUNKNOWN},
		{name: "a gateway's 502", first: gateway, posts: 1, want: pw.EOUTCOMEUNKNOWN},
		{name: "busy, then created", first: busy, posts: 2, want: ""},
		{name: "connection refused, then created", refuse: true, posts: 1, want: ""},
	} {
		t.Run("CreateOperator/"+tt.name, func(t *testing.T) {
			hs, seen := headerServer(t, "Authorization", func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 && tt.first != nil {
					tt.first(w, r)
					return
				}
				created(w, r)
			})
			hc := hs.Client()
			if tt.refuse {
				hc.Transport = &refusing{next: hc.Transport, refuse: func(n int32) bool { return n == 1 }}
			}
			c := pwhttp.NewClient(hs.URL, operatorKey, hc).WithRetry(pwhttp.RetryPolicy{
				Attempts: 3, BackoffFirst: time.Millisecond, BackoffMax: time.Millisecond})
			_, err := c.CreateOperator(context.Background(), auth.OperatorCreate{Name: "ops", Role: "support"})
			if n := len(seen()); n != tt.posts {
				t.Fatalf("the server received %d POSTs, want %d (err %v)", n, tt.posts, err)
			}
			if got := pw.ErrorCode(err); got != tt.want {
				t.Fatalf("the call ended %q (%v), want %q", got, err, tt.want)
			}
			if unknown := errors.Is(err, pw.ErrCommitUnknown); unknown != (tt.want == pw.EOUTCOMEUNKNOWN) {
				t.Fatalf("errors.Is(%v, ErrCommitUnknown) = %v", err, unknown)
			}
		})
	}
}

// TestClientKeyInUseAfterALostAnswerIsAnUnknownOutcome: a payment's first
// attempt got no answer, and every later one heard 409
// idempotency_key_in_use — an attempt with its key, most likely that
// first one, is still running and may yet commit. When the attempts run
// out the call ends outcome_unknown (wrapping ErrCommitUnknown), not with
// the 409, which reads as a final refusal of a payment that may be paid.
// A 409 without an unseen attempt before it (another caller holds the key)
// is returned as it is.
func TestClientKeyInUseAfterALostAnswerIsAnUnknownOutcome(t *testing.T) {
	for _, tt := range []struct {
		name      string
		firstLost bool
		want      string
	}{
		{name: "after a lost answer", firstLost: true, want: pw.EOUTCOMEUNKNOWN},
		{name: "throughout", want: pw.EIDEMINUSE},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hs, _ := headerServer(t, "Idempotency-Key", func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 && tt.firstLost {
					panic(http.ErrAbortHandler)
				}
				pwhttp.Error(w, r, &pw.Error{Code: pw.EIDEMINUSE, Message: "a request with this key is in progress"})
			})
			c := pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{Attempts: 3,
				BackoffFirst: time.Millisecond, BackoffMax: time.Millisecond, CallTimeout: 5 * time.Second})
			_, err := c.CreateTransfer(context.Background(), pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
			if got := pw.ErrorCode(err); got != tt.want {
				t.Fatalf("the call ended %q (%v), want %q", got, err, tt.want)
			}
			if unknown := errors.Is(err, pw.ErrCommitUnknown); unknown != (tt.want == pw.EOUTCOMEUNKNOWN) {
				t.Fatalf("errors.Is(%v, ErrCommitUnknown) = %v", err, unknown)
			}
		})
	}
}

// TestClientCancelAfterALostAnswerIsDone: a cancel of a maintenance window
// whose answer is lost is sent again (a DELETE is idempotent), and the
// retry's 404 means the first attempt cancelled it: the call succeeds.
// Until 2026-11-27 it returned not_found, and told an operator whose
// cancel had worked that the window did not exist. A cancel of a window
// that never existed is still not_found.
func TestClientCancelAfterALostAnswerIsDone(t *testing.T) {
	env, _, sched := MustOpenAdmittedEnv(t, admission.Config{})
	now := time.Now().UTC()
	w, err := sched.Add(pw.MaintenanceCreate{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour), ReadOnly: true, Reason: "upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	hs := loseFirstAnswer(t, env.Server.Handler(), http.MethodDelete, "/v1/maintenance/"+w.ID)
	c := pwhttp.NewClient(hs.URL, operatorKey, hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 3, BackoffFirst: time.Millisecond, BackoffMax: time.Millisecond})
	if err := c.CancelMaintenance(context.Background(), w.ID); err != nil {
		t.Fatalf("a cancel whose answer was lost: %v, want done", err)
	}
	if n := len(sched.Windows()); n != 0 {
		t.Fatalf("%d windows left, want none", n)
	}
	if err := c.CancelMaintenance(context.Background(), "mw_never"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("a cancel of a window that never was: %v, want not_found", err)
	}
}

// TestAnUnknownOutcomeNamesItsIdempotencyKey: a payment made without a key
// of the caller's (the client makes one) whose answer is lost ends
// outcome_unknown, "retry with the same Idempotency-Key to learn the
// outcome". The error names that key (IdempotencyKey), and the payment
// sent again under it is the first one's replay: paid once. Until
// 2026-11-29 the key the client had made was in no error, and a caller
// without a key of its own could not learn the outcome by it, only pay
// again under a new key (found in the review of 2026-11-29).
func TestAnUnknownOutcomeNamesItsIdempotencyKey(t *testing.T) {
	env, _, _ := MustOpenAdmittedEnv(t, admission.Config{})
	w := env.MustWallet(t, 100)
	hs := loseFirstAnswer(t, env.Server.Handler(), http.MethodPost, "/v1/transfers")
	c := pwhttp.NewClient(hs.URL, operatorKey, hs.Client()).WithRetry(pwhttp.RetryPolicy{Attempts: 1})
	req := pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 40, Currency: "EUR"}
	_, err := c.CreateTransfer(within(5*time.Second), req)
	if pw.ErrorCode(err) != pw.EOUTCOMEUNKNOWN {
		t.Fatalf("a payment whose answer was lost ended %v; want outcome_unknown", err)
	}
	key := pwhttp.IdempotencyKey(err)
	if key == "" {
		t.Fatalf("the unknown outcome %q names no Idempotency-Key to learn it by", err)
	}
	tr, err := c.CreateTransfer(pw.NewContextWithIdempotencyKey(within(5*time.Second), key), req)
	if err != nil || tr.Amount != 40 {
		t.Fatalf("the payment sent again under %q: %+v, %v", key, tr, err)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 60 {
		t.Fatalf("user balance %d after one payment of 40 from 100, its answer lost; want 60 (paid once)", b.Posted)
	}
	if got := pwhttp.IdempotencyKey(fmt.Errorf("no call: %w", pw.ErrCommitUnknown)); got != "" {
		t.Fatalf("IdempotencyKey of an error no call made = %q, want none", got)
	}
}
