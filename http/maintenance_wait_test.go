package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

// queueingConfig is a one-slot controller whose queue allowance is long
// enough that a request queued behind the held slot waits for it rather
// than being refused at once or giving up before the test releases it.
var queueingConfig = admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1, QueueDelayMin: time.Hour}

// waitQueued waits until n requests of class are waiting for a slot.
func waitQueued(t *testing.T, ctrl *admission.Controller, class admission.Class, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ctrl.Stats().Queued[class] < n; {
		if time.Now().After(deadline) {
			t.Fatalf("no %s request queued: %+v", class, ctrl.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// post sends a payment as the operator from a goroutine other than the
// test's (so it cannot fail the test itself) and delivers the answer.
func post(env *Env, path, body string, headers map[string]string) <-chan *Response {
	answer := make(chan *Response, 1)
	go func() {
		req, err := http.NewRequest("POST", env.HTTP.URL+path, strings.NewReader(body))
		if err != nil {
			answer <- &Response{Status: -1, Body: []byte(err.Error())}
			return
		}
		req.Header.Set("Authorization", "Bearer "+operatorKey)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := env.HTTP.Client().Do(req)
		if err != nil {
			answer <- &Response{Status: -1, Body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}()
	return answer
}

// TestAPaymentQueuedBeforeAReadOnlyWindowIsRefusedWhenItsTurnComesInIt: a
// payment admitted into the queue before a read-only window began, that
// gets its slot only once the window has started, answers 503 maintenance
// with Retry-After at the window's end, and moves nothing. Until the
// review of 2026-11-29 the window was looked at only on arrival, and such
// a payment moved money in the read-only window.
func TestAPaymentQueuedBeforeAReadOnlyWindowIsRefusedWhenItsTurnComesInIt(t *testing.T) {
	env, ctrl, sched := MustOpenAdmittedEnv(t, queueingConfig)
	w := env.MustWallet(t, 100)
	release := holdPaymentSlot(t, ctrl)
	answer := post(env, "/v1/transfers", transferBody(w, 40), map[string]string{"Idempotency-Key": "queued-1"})
	waitQueued(t, ctrl, admission.ClassPayment, 1)

	now := time.Now().UTC()
	if _, err := sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	release()
	r := <-answer
	if r.Status != 503 || r.Problem(t).Code != pw.EMAINTENANCE {
		t.Fatalf("a payment queued before a read-only window and given its slot in it: %d %s, want 503 maintenance", r.Status, r.Body)
	}
	if ra := retryAfter(t, r); ra < 3500 || ra > 3600 {
		t.Fatalf("Retry-After = %d s, want the window's end (~3600)", ra)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 100 {
		t.Fatalf("the user's balance is %d after the read-only window refused the payment, want 100 untouched", b.Posted)
	}
	if s := ctrl.Stats(); s.InFlight != 0 {
		t.Fatalf("the refused payment kept its slot: %d in flight", s.InFlight)
	}
}
