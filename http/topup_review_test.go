package http_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/admission"
)

// rawTransfer sends POST /v1/transfers as the operator on a connection of
// its own: the headers and first of the body at once, the rest after
// pause. extra are more header lines ("Name: value\r\n").
func rawTransfer(t *testing.T, env *Env, body, extra string, first int, pause time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", env.HTTP.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/transfers HTTP/1.1\r\nHost: peakwallet\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", operatorKey, extra, len(body), body[:first])
	if first < len(body) {
		go func() {
			time.Sleep(pause)
			io.WriteString(conn, body[first:])
		}()
	}
	return conn
}

func readRawResponse(t *testing.T, conn net.Conn, within time.Duration) *Response {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	defer resp.Body.Close()
	r := &Response{Status: resp.StatusCode, Header: resp.Header}
	if r.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAnAsyncPaymentWhoseBodyCameSlowlyKeepsItsReserve: a payment that
// allows an asynchronous answer waits for a slot only until its deadline
// less IntentReserveShare, so that its intent can be written and its 202
// sent in time. Its body is now read before admission and its deadline
// counts from before that read; the wait for a slot must end at the same
// point of the deadline, not IntentReserveShare after the body arrived
// (then, with a body that took longer than the reserve, it waited to the
// deadline itself and had no time left to write the intent: 503).
func TestAnAsyncPaymentWhoseBodyCameSlowlyKeepsItsReserve(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, queueingConfig)
	w := env.MustWallet(t, 100)
	holdPaymentSlot(t, ctrl)
	const wait = time.Second
	body := transferBody(w, 40)
	conn := rawTransfer(t, env, body, "Idempotency-Key: slow-async\r\nPrefer: respond-async, wait=1\r\n",
		len(body)/2, wait/2) // the body takes half the deadline, more than the reserve
	waitQueued(t, ctrl, admission.ClassPayment, 1)
	r := readRawResponse(t, conn, 5*time.Second)
	if r.Status != http.StatusAccepted {
		t.Fatalf("an async payment whose body took %v of its %v deadline: %d %s, want 202", wait/2, wait, r.Status, r.Body)
	}
}
