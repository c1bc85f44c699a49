package http_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/sqlite"
)

// A payment whose body trickles in held an admission slot while the
// handler read it. Until the review of 2026-11-29 nothing bounded that
// read but the server's ReadTimeout (30 s; none at all under httptest), so
// a client that sent its headers and half a body held the slot long past
// the request's deadline. The body is now due by the deadline: one that
// does not arrive in time is invalid_request (400), at its deadline. Since
// the same review, the slot goes back unused once BodyGrace has passed
// (TestATrickledBodyDoesNotHoldASlot): the request is not counted
// admitted, and its wait teaches the limit nothing; until then it was,
// and the limit learnt the whole deadline as a payment's latency.
func TestASlowBodyDoesNotHoldASlotPastItsDeadline(t *testing.T) {
	for _, path := range []string{"/v1/holds", "/v1/transfers"} {
		t.Run(path, func(t *testing.T) {
			env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{})
			conn, err := net.Dial("tcp", env.HTTP.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			const deadline = 200 * time.Millisecond
			admitted := ctrl.Stats().AdmittedBy[admission.ClassPayment]
			body := `{"from_account":"`
			began := time.Now()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: peakwallet\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: application/json\r\nIdempotency-Key: slow-body\r\nPrefer: wait=%g\r\n"+
				"Content-Length: %d\r\n\r\n%s", path, operatorKey, deadline.Seconds(), 10*len(body), body)
			time.Sleep(deadline / 2)
			if n := ctrl.InFlight(); n != 0 {
				t.Errorf("%v into a body due in %v, %d request(s) hold a slot, want none", time.Since(began), deadline, n)
			}

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
			if took := time.Since(began); took < deadline {
				t.Errorf("a body that did not arrive was answered after %v, before its deadline (%v)", took, deadline)
			}
			waitFor(t, func() bool { return ctrl.InFlight() == 0 })
			if n := ctrl.Stats().AdmittedBy[admission.ClassPayment] - admitted; n != 0 {
				t.Errorf("a request whose body never came was counted admitted %d time(s), want none: its slot went back unused", n)
			}
		})
	}
}

// faultyAccounts is a SQLite store whose account reads can be made to
// fail as a store that cannot be reached, or to panic.
type faultyAccounts struct {
	*sqlite.Store
	mode atomic.Int32 // accountsServe, accountsDown or accountsPanic
}

const (
	accountsServe = iota
	accountsDown
	accountsPanic
)

func (s *faultyAccounts) Account(ctx context.Context, id string) (*pw.Account, error) {
	switch s.mode.Load() {
	case accountsDown:
		return nil, &pw.Error{Code: pw.EUNAVAILABLE, Message: "the database cannot be reached"}
	case accountsPanic:
		panic("an account read panicked")
	}
	return s.Store.Account(ctx, id)
}

// The admission middleware gave a ticket back with the outcome the error
// writer recorded, and a handler that panicked recorded none: its panic
// was counted a success, and when it was the half-open breaker's probe it
// closed the breaker with the store still down. A panic is now a failure
// (internal, which says nothing of the store): the breaker stays open and
// the next request probes.
func TestAPanickingProbeDoesNotCloseTheBreaker(t *testing.T) {
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &faultyAccounts{Store: sq}
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, sq, admission.Config{})
	w := env.MustWallet(t, 100)
	store.mode.Store(accountsDown)
	for range admission.BreakerFailuresMax {
		env.Do(t, "GET", "/v1/accounts/"+w.User.ID, "", nil)
	}
	if s := ctrl.Stats(); s.Breaker != "open" {
		t.Fatalf("breaker %s after %d store failures", s.Breaker, admission.BreakerFailuresMax)
	}
	time.Sleep(admission.BreakerCooldown + 50*time.Millisecond)
	store.mode.Store(accountsPanic)
	r := env.Do(t, "GET", "/v1/accounts/"+w.User.ID, "", nil)
	if p := r.Problem(t); r.Status != http.StatusInternalServerError || p.Code != pw.EINTERNAL {
		t.Fatalf("the probe that panicked: %d %s", r.Status, r.Body)
	}
	if s := ctrl.Stats(); s.Breaker == "closed" {
		t.Fatal("breaker closed by a probe that panicked")
	}
	store.mode.Store(accountsServe) // the next request probes, and its success closes the breaker
	if r := env.Do(t, "GET", "/v1/accounts/"+w.User.ID, "", nil); r.Status != http.StatusOK {
		t.Fatalf("the next probe: %d %s", r.Status, r.Body)
	}
	if s := ctrl.Stats(); s.Breaker != "closed" {
		t.Fatalf("breaker %s after a probe that succeeded", s.Breaker)
	}
}

// TestAPanicBeforeTheHandlerGivesTheSlotBack: the admission middleware
// gave a panic's slot back only once the handler ran (its deferred
// recover); a panic after the slot was taken and before that (here in the
// read of a transfer's account kinds, which decides its class; as well in
// authenticating a stale principal again) left the slot taken for good:
// in flight never came back to 0, and a half-open breaker's probe that
// panicked so kept the breaker half-open, every request refused, for as
// long as the process lived.
func TestAPanicBeforeTheHandlerGivesTheSlotBack(t *testing.T) {
	sq, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := &faultyAccounts{Store: sq}
	env, ctrl, _ := mustOpenAdmittedEnvOn(t, store, sq, admission.Config{})
	w := env.MustWallet(t, 100)
	unseen := env.MustCreateAccount(t, pw.AccountSystem, "EUR") // its kind not yet read
	store.mode.Store(accountsPanic)
	r := env.Do(t, "POST", "/v1/transfers", moveBody(unseen, w.User, 1), map[string]string{"Idempotency-Key": "panics"})
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("a transfer whose account read panicked: %d %s, want 500", r.Status, r.Body)
	}
	store.mode.Store(accountsServe)
	deadline := time.Now().Add(2 * time.Second)
	for ctrl.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d slot(s) still taken 2 s after a request that panicked was answered", ctrl.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
