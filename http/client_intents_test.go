package http_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

func TestReadEvents(t *testing.T) {
	for _, tc := range []struct {
		name, stream string
		want         []pwhttp.Event
	}{
		{"one event, LF", "id: 1\nevent: intent\ndata: {}\n\n",
			[]pwhttp.Event{{ID: "1", Type: "intent", Data: "{}"}}},
		{"CR LF and lone CR", "event: a\r\ndata: x\r\n\r\nevent: b\rdata: y\r\r",
			[]pwhttp.Event{{Type: "a", Data: "x"}, {Type: "b", Data: "y"}}},
		{"data lines joined, type defaults to message", "data: a\ndata:b\ndata:  c\n\n",
			[]pwhttp.Event{{Type: "message", Data: "a\nb\n c"}}},
		{"comments and unknown fields skipped; no data, no event", ": hello\nretry: 10\nevent: x\n\nfoo: bar\ndata: z\n\n",
			[]pwhttp.Event{{Type: "message", Data: "z"}}},
		{"the id persists; the type does not", "\uFEFFid: 7\nevent: t\ndata: 1\n\ndata: 2\n\n",
			[]pwhttp.Event{{ID: "7", Type: "t", Data: "1"}, {ID: "7", Type: "message", Data: "2"}}},
		{"an event cut off by the end is not dispatched", "data: whole\n\ndata: cut\n", []pwhttp.Event{{Type: "message", Data: "whole"}}},
		{"nor one without its blank line", "data: cut", nil},
		{"an empty data line is data", "data\n\n", []pwhttp.Event{{Type: "message", Data: ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []pwhttp.Event
			if err := pwhttp.ReadEvents(strings.NewReader(tc.stream), func(ev pwhttp.Event) bool {
				got = append(got, ev)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	n := 0
	_ = pwhttp.ReadEvents(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(pwhttp.Event) bool { n++; return false })
	if n != 1 {
		t.Fatalf("fn returned false and was called %d times", n)
	}
}

// surgeEnv serves one payment slot, held by the test until it calls
// release, so that payments find the store busy.
func surgeEnv(t *testing.T) (env *Env, w Wallet, release func()) {
	t.Helper()
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
	w = env.MustWallet(t, 100)
	held, err := ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	return env, w, func() { held.Done(nil) }
}

func within(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // ends with the deadline
	return ctx
}

// TestClientQueuesAPaymentAtASurge: CreateTransferOrQueue gets an intent
// (202) when the store is busy, the same key gets the same intent, and
// AwaitIntent follows the events to the transfer it settled as, which moved
// the money once; when the store is free it is paid at once (201).
func TestClientQueuesAPaymentAtASurge(t *testing.T) {
	env, w, release := surgeEnv(t)
	req := pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 40, Currency: "EUR"}
	ctx := pw.NewContextWithIdempotencyKey(within(500*time.Millisecond), "queued-1")
	tr, in, err := env.Client.CreateTransferOrQueue(ctx, req)
	if err != nil || tr != nil || in == nil || in.Status != pw.IntentPending || in.IdempotencyKey != "queued-1" {
		t.Fatalf("at a surge: %+v %+v %v", tr, in, err)
	}
	_, again, err := env.Client.CreateTransferOrQueue(pw.NewContextWithIdempotencyKey(within(500*time.Millisecond), "queued-1"), req)
	if err != nil || again == nil || again.ID != in.ID {
		t.Fatalf("the same key again: %+v %v", again, err)
	}

	type outcome struct {
		tr  *pw.Transfer
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		tr, err := env.Client.AwaitIntent(within(10*time.Second), in.ID)
		done <- outcome{tr, err}
	}()
	select {
	case o := <-done:
		t.Fatalf("AwaitIntent returned before the intent settled: %+v %v", o.tr, o.err)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	if n, err := env.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	o := <-done
	if o.err != nil || o.tr == nil || o.tr.Amount != 40 {
		t.Fatalf("AwaitIntent: %+v %v", o.tr, o.err)
	}
	if got, err := env.Client.Intent(context.Background(), in.ID); err != nil || got.TransferID != o.tr.ID {
		t.Fatalf("the intent settled as %+v (%v), AwaitIntent returned %s", got, err, o.tr.ID)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 60 {
		t.Fatalf("user balance %d, want 60", b.Posted)
	}

	// Free now: paid at once.
	tr, in, err = env.Client.CreateTransferOrQueue(pw.NewContextWithIdempotencyKey(context.Background(), "paid-at-once"), req)
	if err != nil || tr == nil || in != nil || tr.Amount != 40 {
		t.Fatalf("not busy: %+v %+v %v", tr, in, err)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 20 {
		t.Fatalf("user balance %d, want 20", b.Posted)
	}
	mustVerify(t, env.Store)
}

// TestAwaitIntentReturnsTheFailure: an intent whose payment cannot be
// made (insufficient funds, found only when it settles) fails, and
// AwaitIntent returns that code; an unknown intent is not found at once;
// a deadline before the outcome says the intent is still pending.
func TestAwaitIntentReturnsTheFailure(t *testing.T) {
	env, w, release := surgeEnv(t)
	req := pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 1_000, Currency: "EUR"}
	_, in, err := env.Client.CreateTransferOrQueue(within(500*time.Millisecond), req)
	if err != nil || in == nil {
		t.Fatalf("at a surge: %+v %v", in, err)
	}
	_, err = env.Client.AwaitIntent(within(300*time.Millisecond), in.ID)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("AwaitIntent past its deadline: %v", err)
	}
	release()
	if n, err := env.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v", n, err)
	}
	if _, err := env.Client.AwaitIntent(within(5*time.Second), in.ID); code(err) != pw.EINSUFFICIENT {
		t.Fatalf("AwaitIntent of a failed intent: %v", err)
	}
	began := time.Now()
	if _, err := env.Client.AwaitIntent(within(5*time.Second), "int_01JZZZZZZZZZZZZZZZZZZZZZZZ"); code(err) != pw.ENOTFOUND || time.Since(began) > time.Second {
		t.Fatalf("AwaitIntent of an unknown intent: %v after %v", err, time.Since(began))
	}
	if b := env.MustBalance(t, w.User); b.Posted != 100 {
		t.Fatalf("user balance %d, want 100", b.Posted)
	}
	mustVerify(t, env.Store)
}

// TestIntentEventsAreFramedAsTheStandardSays: each event is its fields and
// one blank line, nothing more.
func TestIntentEventsAreFramedAsTheStandardSays(t *testing.T) {
	env, w, release := surgeEnv(t)
	_, in, err := env.Client.CreateTransferOrQueue(within(500*time.Millisecond),
		pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 5, Currency: "EUR"})
	if err != nil || in == nil {
		t.Fatalf("at a surge: %+v %v", in, err)
	}
	release()
	if _, err := env.Server.SettleIntents(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", env.HTTP.URL+"/v1/intents/"+in.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	resp, err := env.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !regexp.MustCompile(`^id: [0-9TZ:.-]+\nevent: intent\ndata: \{[^\n]*"status":"posted"[^\n]*\}\n\n$`).Match(body) {
		t.Fatalf("the stream of a settled intent: %q", body)
	}
}

// TestEventStreamsEndWhenTheServerDrains: an intent's event stream held
// open for a pending intent ends when the server starts to drain, so that
// a handover is not held up by it (a stream lasts up to 50 s, the drain
// 30 s); its client reconnects, to the process taking over.
func TestEventStreamsEndWhenTheServerDrains(t *testing.T) {
	env, w, release := surgeEnv(t)
	defer release()
	_, in, err := env.Client.CreateTransferOrQueue(within(500*time.Millisecond),
		pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 5, Currency: "EUR"})
	if err != nil || in == nil {
		t.Fatalf("at a surge: %+v %v", in, err)
	}
	events := streamEvents(t, env, in.ID)
	if first := <-events; first.Status != pw.IntentPending {
		t.Fatalf("first event %+v", first)
	}
	env.Server.SetDraining(true)
	select {
	case ev, open := <-events:
		if open {
			t.Fatalf("an event instead of the end: %+v", ev)
		}
	case <-time.After(5 * time.Second): // IntentEventsTimeout is 50 s
		t.Fatal("the stream stayed open while the server drained")
	}
}

// TestTheSurgeQueueRefusesBadInput: at a surge, a respond-async payment
// that is malformed, lacks its key or asks for a negative amount is refused
// with a problem and a stable code, as without respond-async, and no intent
// is kept; an unknown or malformed intent ID is not found, its events too.
func TestTheSurgeQueueRefusesBadInput(t *testing.T) {
	env, w, release := surgeEnv(t)
	async := map[string]string{"Idempotency-Key": "bad", "Prefer": "respond-async, wait=0.5"}
	for _, tc := range []struct {
		name, body string
		headers    map[string]string
		status     int
		code       string
	}{
		{"no key", transferBody(w, 5), map[string]string{"Prefer": "respond-async, wait=0.5"}, 400, pw.EIDEMREQUIRED},
		{"not JSON", `{"from_account":`, async, 400, pw.EINVALID},
		{"a float amount", strings.Replace(transferBody(w, 5), `"amount":5`, `"amount":5.5`, 1), async, 400, pw.EINVALID},
		{"a negative amount", transferBody(w, -5), async, 400, pw.EINVALID},
	} {
		r := env.Do(t, "POST", "/v1/transfers", tc.body, tc.headers)
		if p := r.Problem(t); r.Status != tc.status || p.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	release() // the reads below need a slot
	for _, path := range []string{"/v1/intents/int_01JZZZZZZZZZZZZZZZZZZZZZZZ", "/v1/intents/acc_1", "/v1/intents/%00",
		"/v1/intents/int_01JZZZZZZZZZZZZZZZZZZZZZZZ/events"} {
		if r := env.Do(t, "GET", path, "", nil); r.Status != 404 || r.Problem(t).Code != pw.ENOTFOUND {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	if settled, err := env.Server.SettleIntents(context.Background()); err != nil || settled != 0 {
		t.Fatalf("intents settled after bad input: %d, %v", settled, err)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 100 {
		t.Fatalf("balance %d, want 100", b.Posted)
	}
}

// TestClientCancelsAQueuedPayment: PendingIntents lists what waits,
// IntentByKey finds an intent by its key,
// CancelIntent cancels a pending intent,
// and after a lost answer its retry finds it cancelled and returns it (the
// call is idempotent); AwaitIntent then returns intent_cancelled, the
// settler pays nothing, and a payment already made is intent_not_pending.
func TestClientCancelsAQueuedPayment(t *testing.T) {
	env, w, release := surgeEnv(t)
	req := pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 40, Currency: "EUR"}
	_, in, err := env.Client.CreateTransferOrQueue(pw.NewContextWithIdempotencyKey(within(500*time.Millisecond), "to-cancel"), req)
	if err != nil || in == nil {
		t.Fatalf("at a surge: %+v %v", in, err)
	}
	_, paid, err := env.Client.CreateTransferOrQueue(pw.NewContextWithIdempotencyKey(within(500*time.Millisecond), "to-pay"), req)
	if err != nil || paid == nil {
		t.Fatalf("at a surge: %+v %v", paid, err)
	}
	release()
	listed, next, err := env.Client.PendingIntents(context.Background(), pw.Page{Limit: 1})
	if err != nil || len(listed) != 1 || listed[0].ID != in.ID || next != in.ID {
		t.Fatalf("PendingIntents' first page: %+v, %q, %v; want the first intent and a cursor", listed, next, err)
	}
	if found, err := env.Client.IntentByKey(context.Background(), "to-cancel"); err != nil || found.ID != in.ID {
		t.Fatalf("IntentByKey: %+v, %v; want the intent queued under the key", found, err)
	}
	if _, err := env.Client.IntentByKey(context.Background(), "never-used"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("IntentByKey of a key never used: %v, want not_found", err)
	}
	hs := loseFirstAnswer(t, env.Server.Handler(), http.MethodPost, "/v1/intents/"+in.ID+"/cancel")
	c := pwhttp.NewClient(hs.URL, operatorKey, hs.Client())
	got, err := c.CancelIntent(within(5*time.Second), in.ID)
	if err != nil || got.ID != in.ID || got.Status != pw.IntentFailed || got.Error == nil || got.Error.Code != pw.EINTENTCANCELLED {
		t.Fatalf("CancelIntent after a lost answer: %+v, %v", got, err)
	}
	if _, err := env.Client.AwaitIntent(within(5*time.Second), in.ID); pw.ErrorCode(err) != pw.EINTENTCANCELLED {
		t.Fatalf("AwaitIntent of a cancelled intent: %v", err)
	}
	if listed, next, err = env.Client.PendingIntents(context.Background(), pw.Page{}); err != nil || len(listed) != 1 || listed[0].ID != paid.ID || next != "" {
		t.Fatalf("PendingIntents after the cancellation: %+v, %q, %v; want the other intent alone", listed, next, err)
	}
	if n, err := env.Server.SettleIntents(context.Background()); n != 1 || err != nil {
		t.Fatalf("SettleIntents = %d, %v; want the other intent paid", n, err)
	}
	if _, err := env.Client.CancelIntent(within(5*time.Second), paid.ID); pw.ErrorCode(err) != pw.EINTENTNOTPENDING {
		t.Fatalf("CancelIntent of a paid intent: %v, want %s", err, pw.EINTENTNOTPENDING)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 60 {
		t.Fatalf("user balance %d, want 60: the one intent not cancelled", b.Posted)
	}
	mustVerify(t, env.Store)
}

// TestClientCancelRefusedAfterAnAttemptItCannotSeeIsUnknown: a
// cancellation's first attempt was applied but its answer lost, and every
// later attempt was refused busy (admission refuses before anything is
// looked at). The call does not end "busy", which says the cancellation
// did not happen while it did: as for a payment (API.md, 503), it ends
// outcome_unknown, which tells the caller to ask again, without a word of
// an Idempotency-Key the call does not have.
func TestClientCancelRefusedAfterAnAttemptItCannotSeeIsUnknown(t *testing.T) {
	env, w, release := surgeEnv(t)
	req := pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 40, Currency: "EUR"}
	_, in, err := env.Client.CreateTransferOrQueue(pw.NewContextWithIdempotencyKey(within(500*time.Millisecond), "to-cancel"), req)
	if err != nil || in == nil {
		t.Fatalf("at a surge: %+v %v", in, err)
	}
	release()
	var n atomic.Int32
	h := env.Server.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			h.ServeHTTP(httptest.NewRecorder(), r) // applied ...
			panic(http.ErrAbortHandler)            // ... but its answer never arrives
		}
		pwhttp.Error(w, r, &pw.Error{Code: pw.EBUSY, Message: "busy", Retry: time.Millisecond}) // a surge
	}))
	t.Cleanup(hs.Close)
	c := pwhttp.NewClient(hs.URL, operatorKey, hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 3, BackoffFirst: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	_, err = c.CancelIntent(within(5*time.Second), in.ID)
	if pw.ErrorCode(err) != pw.EOUTCOMEUNKNOWN || !errors.Is(err, pw.ErrCommitUnknown) {
		t.Fatalf("CancelIntent after a lost answer, then busy: %v; want %s", err, pw.EOUTCOMEUNKNOWN)
	}
	var pe *pw.Error
	if errors.As(err, &pe) && strings.Contains(pe.Message, "Idempotency-Key") {
		t.Fatalf("the cancellation's unknown outcome speaks of an Idempotency-Key it has not: %q", pe.Message)
	}
	got, err := env.Client.Intent(within(5*time.Second), in.ID)
	if err != nil || got.Status != pw.IntentFailed || got.Error.Code != pw.EINTENTCANCELLED {
		t.Fatalf("the intent: %+v, %v; want it cancelled, by the attempt whose answer was lost", got, err)
	}
}

// intentServer is a stand-in for the API's intent reads: the n-th (from
// 1) connection to GET /v1/intents/int_x/events and the n-th GET
// /v1/transfers/tr_x are answered by events and transfer.
func intentServer(t *testing.T, events, transfer func(w http.ResponseWriter, n int32)) *pwhttp.Client {
	t.Helper()
	var streams, reads atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/intents/int_x/events":
			events(w, streams.Add(1))
		case "/v1/transfers/tr_x":
			transfer(w, reads.Add(1))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	// No retries, as the bench's client: AwaitIntent waits however the
	// policy limits attempts.
	return pwhttp.NewClient(hs.URL, "t", hs.Client()).WithRetry(pwhttp.RetryPolicy{
		Attempts: 1, BackoffFirst: time.Millisecond, BackoffMax: 5 * time.Millisecond})
}

// intentEvent writes one event stream with the intent in status.
func intentEvent(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprintf(w, "event: intent\ndata: {\"id\":\"int_x\",\"status\":%q,\"transfer_id\":%q}\n\n",
		status, map[bool]string{true: "tr_x"}[status == pw.IntentPosted])
}

// refuseBusy answers 503 busy, as admission does at a surge, with no
// Retry-After unless the caller set one, so that the client comes back
// on its own backoff.
func refuseBusy(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"type":"about:blank","title":"busy","status":503,"code":"busy"}`))
}

// TestAwaitIntentReadsAPaidTransferAgain: the intent was paid, and the
// read of its transfer was refused busy (the surge that queued it is not
// over). AwaitIntent reads it again, as it reconnects to the events,
// however its RetryPolicy limits attempts, and returns the transfer.
// Until 2026-11-29 it returned the refusal of the one read: "busy" of a
// payment that was paid, which invites paying again.
func TestAwaitIntentReadsAPaidTransferAgain(t *testing.T) {
	c := intentServer(t,
		func(w http.ResponseWriter, _ int32) { intentEvent(w, pw.IntentPosted) },
		func(w http.ResponseWriter, n int32) {
			if n <= 3 {
				refuseBusy(w)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"tr_x","status":"posted","amount":40}`))
		})
	tr, err := c.AwaitIntent(within(5*time.Second), "int_x")
	if err != nil || tr == nil || tr.ID != "tr_x" {
		t.Fatalf("AwaitIntent of a paid intent whose transfer was refused busy three times: %+v, %v; want tr_x", tr, err)
	}

	// Refused until the deadline: the error says the intent is paid, and
	// as which transfer, and is no refusal.
	c = intentServer(t,
		func(w http.ResponseWriter, _ int32) { intentEvent(w, pw.IntentPosted) },
		func(w http.ResponseWriter, _ int32) { refuseBusy(w) })
	_, err = c.AwaitIntent(within(200*time.Millisecond), "int_x")
	if !errors.Is(err, context.DeadlineExceeded) || pw.ErrorCode(err) == pw.EBUSY || !strings.Contains(err.Error(), "paid, as transfer tr_x") {
		t.Fatalf("AwaitIntent of a paid intent whose transfer was refused until the deadline: %v; want a deadline error that says it is paid", err)
	}
}

// TestAwaitIntentPendingAtItsDeadlineIsNoRefusal: the intent is pending,
// and its event stream, reconnected, is refused busy until AwaitIntent's
// deadline. The error says the intent is still pending and wraps
// context.DeadlineExceeded; it is no refusal. Until 2026-11-29 it wrapped
// the last reconnection's refusal instead (whenever the deadline came
// while AwaitIntent waited out its Retry-After): its code read "busy",
// which says the payment moved nothing and invites a second one under a
// new key, while the queued one will still be paid.
func TestAwaitIntentPendingAtItsDeadlineIsNoRefusal(t *testing.T) {
	c := intentServer(t,
		func(w http.ResponseWriter, n int32) {
			if n == 1 {
				intentEvent(w, pw.IntentPending)
				return
			}
			w.Header().Set("Retry-After", "1") // past the deadline
			refuseBusy(w)
		},
		func(w http.ResponseWriter, _ int32) { t.Error("a pending intent's transfer was read") })
	_, err := c.AwaitIntent(within(300*time.Millisecond), "int_x")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("AwaitIntent past its deadline: %v; want a deadline error that says the intent is still pending", err)
	}
	if code := pw.ErrorCode(err); code == pw.EBUSY || pwhttp.RetryAfter(err) != 0 {
		t.Fatalf("AwaitIntent past its deadline: %v, code %s; want no refusal", err, code)
	}
}

// TestAwaitIntentAtItsDeadlineIsAnUnknownOutcome: AwaitIntent's deadline
// came while the intent was pending (it will still be paid), or paid and
// its transfer not read. The error's code is outcome_unknown (wrapping
// peakwallet.ErrCommitUnknown and the context's error), as for a payment
// whose answer was lost. Until 2026-11-29 it was a plain error, whose code
// read "internal", which API.md says moved nothing: an invitation to pay
// again under a new key, for a payment queued or paid (found in the review
// of 2026-11-29).
func TestAwaitIntentAtItsDeadlineIsAnUnknownOutcome(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status string
	}{{"pending", pw.IntentPending}, {"paid, its transfer unread", pw.IntentPosted}} {
		t.Run(tt.name, func(t *testing.T) {
			c := intentServer(t,
				func(w http.ResponseWriter, _ int32) { intentEvent(w, tt.status) },
				func(w http.ResponseWriter, _ int32) { refuseBusy(w) })
			_, err := c.AwaitIntent(within(200*time.Millisecond), "int_x")
			if pw.ErrorCode(err) != pw.EOUTCOMEUNKNOWN || !errors.Is(err, pw.ErrCommitUnknown) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("AwaitIntent of a %s intent at its deadline: %v, code %q; want outcome_unknown, wrapping ErrCommitUnknown and the deadline",
					tt.status, err, pw.ErrorCode(err))
			}
		})
	}
}

// TestIntentByKeyTakesNoOtherKeysIntent: a server that ignores the
// idempotency_key filter and lists other payments' intents is not
// believed: IntentByKey ends with an error that is not not_found (which
// would invite paying again), and returns no intent of another key
// (which the caller could follow, or cancel, as its own).
func TestIntentByKeyTakesNoOtherKeysIntent(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[{"id":"int_other","idempotency_key":"someone-else","status":"pending"}]}`)
	}))
	defer hs.Close()
	c := pwhttp.NewClient(hs.URL, "t", hs.Client())
	in, err := c.IntentByKey(context.Background(), "mine")
	if in != nil || err == nil || pw.ErrorCode(err) == pw.ENOTFOUND {
		t.Fatalf("IntentByKey against a server that ignores the filter: %+v, %v; want no intent and an error other than not_found", in, err)
	}
}

// TestAwaitIntentHearsTheIntentCouldNotBeRead: the server could not read
// the pending intent (its store stalled) and said so on the open stream
// with an "unavailable" event, then nothing more before AwaitIntent's
// deadline. The error is still outcome_unknown (the intent is pending and
// will be settled, not refused), and says why nothing new was seen.
// Until 2026-11-29 the server sent no such event (its stream waited on
// the stalled store), and the client knew of none.
func TestAwaitIntentHearsTheIntentCouldNotBeRead(t *testing.T) {
	c := intentServer(t,
		func(w http.ResponseWriter, _ int32) {
			intentEvent(w, pw.IntentPending)
			fmt.Fprintf(w, "event: %s\ndata: {\"type\":\"about:blank\",\"title\":\"Busy\",\"status\":503,\"code\":\"busy\",\"detail\":\"the intent's state cannot be read now\"}\n\n",
				pwhttp.EventUnavailable)
			w.(http.Flusher).Flush()
			time.Sleep(time.Second) // past the deadline
		},
		func(w http.ResponseWriter, _ int32) { t.Error("a pending intent's transfer was read") })
	_, err := c.AwaitIntent(within(300*time.Millisecond), "int_x")
	if pw.ErrorCode(err) != pw.EOUTCOMEUNKNOWN || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("AwaitIntent past its deadline: %v; want outcome_unknown, the intent still pending", err)
	}
	if !strings.Contains(err.Error(), "cannot be read now") {
		t.Fatalf("AwaitIntent past its deadline after an unavailable event: %v; want it to say the intent could not be read", err)
	}
}
