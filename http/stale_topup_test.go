package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
)

// rawRequestHeld sends a POST of path with token and extra headers, and
// the first byte of body only: the server has the request and waits for
// the rest, which send sends.
func rawRequestHeld(t *testing.T, e *awayEnv, path, token, extra, body string) (conn net.Conn, send func()) {
	t.Helper()
	conn, err := net.Dial("tcp", e.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: peakwallet\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", path, token, extra, len(body), body[:1])
	return conn, func() {
		if _, err := io.WriteString(conn, body[1:]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAStaleTopUpQueuedAgainKeepsThePrincipalAuthenticatedAgain: the
// request path that dab99ea fixed, through the real wiring. A top-up from
// an operator taken stale from the cache (the breaker open) is admitted as
// the breaker's probe and authenticated again against the store (one
// read); its body comes after BodyGrace, so it gives its slot back, and
// meanwhile the breaker closes and the one slot is taken. Once its body has
// come it is classed a top-up and queued a second time, in class topup,
// where it is refused busy and offered to the surge queue, which accepts
// it (202). The surge queue authenticates a stale principal again before
// it writes the intent; the top-up's context for its second queueing,
// made from the request's, brought the stale principal and its mark back
// before dab99ea, and the surge queue read the store for it a second time
// (an outage's second store read for one request, and the principal the
// handler acts for was the cached one, not the store's). Now the one read
// is all, and the intent is the operator's.
func TestAStaleTopUpQueuedAgainKeepsThePrincipalAuthenticatedAgain(t *testing.T) {
	e := openAwayEnvWith(t, admission.Config{LimitInitial: 1, LimitMin: 1, LimitMax: 1}, nil)
	pay := func(idem string) *Response {
		return e.Do(t, "POST", "/v1/transfers", e.valid.Key, paymentBody(e.bank.ID, e.user.ID, 5), "Idempotency-Key", idem)
	}
	pay("before").Want(t, 201, "") // cached

	e.openBreaker(t)
	e.clock.Advance(auth.AuthCacheTTL) // the valid key is stale from now on
	e.store.setAway(false)
	time.Sleep(admission.BreakerCooldown + 50*time.Millisecond) // the next request is the probe
	reads := e.store.reads()

	conn, send := rawRequestHeld(t, e, "/v1/transfers", e.valid.Key,
		"Idempotency-Key: stale-topup\r\nPrefer: respond-async, wait=3\r\n", paymentBody(e.bank.ID, e.user.ID, 7))
	// Admitted as the probe, authenticated again (one read), then its slot
	// given back after BodyGrace while the body is still to come.
	waitFor(t, func() bool { return e.store.reads() == reads+1 && e.ctrl.InFlight() == 0 })
	if e.ctrl.BreakerClosed() {
		t.Fatal("the breaker closed before anything was paid")
	}

	pay("closes").Want(t, 201, "") // cached again by the read above: the probe, paid, closes the breaker
	if !e.ctrl.BreakerClosed() {
		t.Fatal("the breaker is not closed after a payment was made")
	}
	// The principal the store gave passes its cached time too: a second
	// authentication would have to read the store again.
	e.clock.Advance(auth.AuthCacheTTL)
	held, err := e.ctrl.Acquire(context.Background(), admission.ClassPayment, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Done(nil)

	send()
	r := readRawResponse(t, conn, 10*time.Second)
	if r.Status != http.StatusAccepted {
		t.Fatalf("the stale top-up, queued again with every slot taken: %d %s, want 202 (the surge queue)", r.Status, r.Body)
	}
	var in pw.Intent
	if err := json.Unmarshal(r.Body, &in); err != nil {
		t.Fatal(err)
	}
	if n := e.store.reads() - reads; n != 1 {
		t.Fatalf("the stale top-up was authenticated against the store %d times, want once (as the probe): "+
			"queued again, it brought the stale principal back, and the surge queue authenticated it again", n)
	}
	got, err := e.store.Intent(context.Background(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "operator:" + e.valid.Operator.ID; got.Principal != want || got.Credential != e.valid.Operator.ID || !got.Authorized {
		t.Fatalf("the intent is %s's with credential %q (authorized %v), want %s's with its key", got.Principal, got.Credential, got.Authorized, want)
	}
}
