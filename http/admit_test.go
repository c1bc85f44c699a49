package http_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

// A payment whose body trickles in holds an admission slot while the
// handler reads it. Until the review of 2026-11-29 nothing bounded that
// read but the server's ReadTimeout (30 s; none at all under httptest), so
// a client that sent its headers and half a body held the slot long past
// the request's deadline. The body is now due by the deadline: one that
// does not arrive in time is invalid_request (400), and the slot is free.
func TestASlowBodyDoesNotHoldASlotPastItsDeadline(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{})
	conn, err := net.Dial("tcp", env.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const deadline = 200 * time.Millisecond
	body := `{"from_account":"`
	fmt.Fprintf(conn, "POST /v1/transfers HTTP/1.1\r\nHost: peakwallet\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nIdempotency-Key: slow-body\r\nPrefer: wait=%g\r\n"+
		"Content-Length: %d\r\n\r\n%s", operatorKey, deadline.Seconds(), 10*len(body), body)
	waitFor(t, func() bool { return ctrl.InFlight() == 1 })

	// The rest of the body never comes: the answer must, soon after the deadline.
	conn.SetReadDeadline(time.Now().Add(deadline + 3*time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer by %v after a %v deadline (in flight: %d): %v", deadline+3*time.Second, deadline, ctrl.InFlight(), err)
	}
	defer resp.Body.Close()
	r := &Response{Status: resp.StatusCode, Header: resp.Header}
	if r.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if p := r.Problem(t); r.Status != http.StatusBadRequest || p.Code != pw.EINVALID || !strings.Contains(p.Detail, "deadline") {
		t.Fatalf("a body that did not arrive in time: %d %s, want 400 %s", r.Status, r.Body, pw.EINVALID)
	}
	waitFor(t, func() bool { return ctrl.InFlight() == 0 })
}
