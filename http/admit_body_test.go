package http_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/traffic"
)

// trickle sends a POST to path as the operator on a connection of its
// own: the headers and the first byte of the body at once, then the rest
// in pieces spread over the time given, as a slow client would.
func trickle(t *testing.T, env *Env, path, body, extra string, over time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", env.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: peakwallet\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", path, operatorKey, extra, len(body), body[:1])
	go func() {
		const pieces = 10
		rest := body[1:]
		for i := range pieces {
			time.Sleep(over / pieces)
			end := len(rest) * (i + 1) / pieces
			if _, err := io.WriteString(conn, rest[len(rest)*i/pieces:end]); err != nil {
				return
			}
		}
	}()
	return conn
}

// TestATrickledBodyDoesNotHoldASlot: a request's body is read once it has
// its slot, and until the review of 2026-11-29 the request held the slot
// for as long as its body took to come: a client trickling its bodies held
// the store's slots without using the store, and, with a limit of one
// here, another client's payment waited behind it or was refused busy.
// Now a body not all there within BodyGrace gives its slot back unused,
// is read without one, and queues again once it has come: the other
// payment is paid at once, and the slow request succeeds in its time.
// For every route with a body: a payment, a hold, an account (class topup).
func TestATrickledBodyDoesNotHoldASlot(t *testing.T) {
	const over = time.Second
	for _, c := range []struct {
		path, body string
	}{
		{"/v1/transfers", ""},
		{"/v1/holds", `{"from_account":%q,"to_account":%q,"amount":10,"currency":"EUR","expires_in_seconds":60}`},
		{"/v1/accounts", `{"kind":"user","currency":"EUR"}`},
	} {
		t.Run(c.path, func(t *testing.T) {
			env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1})
			w := env.MustWallet(t, 1000)
			body := transferBody(w, 10)
			if c.body != "" {
				body = c.body
				if c.path == "/v1/holds" {
					body = fmt.Sprintf(c.body, w.User.ID, w.Merchant.ID)
				}
			}
			began := time.Now()
			slow := trickle(t, env, c.path, body, "Idempotency-Key: slow\r\n", over)
			time.Sleep(10 * pwhttp.BodyGrace)
			if n := ctrl.InFlight(); n != 0 {
				t.Errorf("%v into a body that takes %v, %d request(s) hold a slot, want none", time.Since(began), over, n)
			}

			paid := time.Now()
			r := env.Do(t, "POST", "/v1/transfers", transferBody(w, 1),
				map[string]string{"Idempotency-Key": "prompt", "Authorization": "Bearer " + otherToken})
			took := time.Since(paid)
			if r.Status != http.StatusCreated {
				t.Fatalf("another client's payment while a body trickles in: %d %s, want 201", r.Status, r.Body)
			}
			if took > over/4 {
				t.Fatalf("another client's payment took %v while a body trickled in for %v", took, over)
			}

			got := readRawResponse(t, slow, 5*time.Second)
			if got.Status != http.StatusCreated {
				t.Fatalf("the request whose body took %v: %d %s, want 201", over, got.Status, got.Body)
			}
			t.Logf("the other payment took %v; the slow request was answered %v after it began", took, time.Since(began))
			mustVerify(t, env.Store)
		})
	}
}

// TestATopUpIsRecordedAsATopUp: a transfer from or to a system account is
// admitted as a top-up (account_kinds.go), but until the review of
// 2026-11-29 the traffic record, which the status page's forecast learns
// from, counted it under its route's class, payment.
func TestATopUpIsRecordedAsATopUp(t *testing.T) {
	var now atomic.Pointer[time.Time]
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	now.Store(&at)
	rec := traffic.NewRecorder(func() time.Time { return *now.Load() })
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, _, _ := mustOpenAdmittedEnvOn(t, sq, sq, admission.Config{}, func(c *pwhttp.Config) { c.Traffic = rec })
	w := env.MustWallet(t, 1000) // a top-up, recorded in the minute at 10:00

	later := at.Add(time.Minute)
	now.Store(&later)
	for i, body := range []string{moveBody(w.System, w.User, 5), moveBody(w.User, w.System, 5), moveBody(w.User, w.Merchant, 5)} {
		if r := env.Do(t, "POST", "/v1/transfers", body, map[string]string{"Idempotency-Key": fmt.Sprint("k", i)}); r.Status != http.StatusCreated {
			t.Fatalf("transfer %d: %d %s", i, r.Status, r.Body)
		}
	}
	end := later.Add(time.Minute)
	now.Store(&end)
	_, perClass := rec.Live(1) // the minute at 10:01
	if got := perClass[string(pwhttp.ClassTopup)].Requests; got != 2 {
		t.Errorf("a top-up and a withdrawal: %d recorded as top-ups, want 2", got)
	}
	if got := perClass[string(pwhttp.ClassPayment)].Requests; got != 1 {
		t.Errorf("one payment (a top-up and a withdrawal besides): %d recorded as payments, want 1", got)
	}
}

// TestATrickledPaymentWhoseBodyEndsInAReadOnlyWindowIsRefused: a payment
// whose body trickles in gives its slot back after BodyGrace and queues
// again once its body has come. A read-only window that began meanwhile
// refuses it as it refuses any write given its slot in a window (503
// maintenance, nothing moved): it no longer had a slot when the window
// began. Until the review of 2026-11-29 it kept its slot while its body
// came, and was paid in the window.
func TestATrickledPaymentWhoseBodyEndsInAReadOnlyWindowIsRefused(t *testing.T) {
	env, ctrl, sched := MustOpenAdmittedEnv(t, admission.Config{})
	w := env.MustWallet(t, 100)
	slow := trickle(t, env, "/v1/transfers", transferBody(w, 40), "Idempotency-Key: slow-in-window\r\n", 400*time.Millisecond)
	time.Sleep(10 * pwhttp.BodyGrace)
	now := time.Now().UTC()
	if _, err := sched.Add(pw.MaintenanceCreate{Start: now, End: now.Add(time.Hour), ReadOnly: true, Reason: "upgrade"}); err != nil {
		t.Fatal(err)
	}
	r := readRawResponse(t, slow, 5*time.Second)
	if r.Status != http.StatusServiceUnavailable || r.Problem(t).Code != pw.EMAINTENANCE {
		t.Fatalf("a payment whose body ended in a read-only window: %d %s, want 503 maintenance", r.Status, r.Body)
	}
	if b := env.MustBalance(t, w.User); b.Posted != 100 {
		t.Fatalf("the user's balance is %d after the read-only window refused the payment, want 100 untouched", b.Posted)
	}
	if n := ctrl.InFlight(); n != 0 {
		t.Fatalf("the refused payment kept its slot: %d in flight", n)
	}
}

// TestATrickledAsyncPaymentIsAcceptedWhenNoSlotIsFree: a payment that
// allows an asynchronous answer and whose body trickles in gives its slot
// back after BodyGrace; if no slot is free once its body has come, it is
// accepted into the surge queue (202) as a busy async payment is, its wait
// bounded by its reserve counted from its arrival.
func TestATrickledAsyncPaymentIsAcceptedWhenNoSlotIsFree(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, queueingConfig)
	w := env.MustWallet(t, 100)
	began := time.Now()
	slow := trickle(t, env, "/v1/transfers", transferBody(w, 40), "Idempotency-Key: slow-async\r\nPrefer: respond-async, wait=1\r\n", 200*time.Millisecond)
	time.Sleep(10 * pwhttp.BodyGrace)
	holdPaymentSlot(t, ctrl) // the one slot, free since the grace passed
	r := readRawResponse(t, slow, 5*time.Second)
	if r.Status != http.StatusAccepted {
		t.Fatalf("an async payment whose body trickled in, no slot free: %d %s, want 202", r.Status, r.Body)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("the 202 came %v after the request, past its 1 s deadline", took)
	}
}
