package http_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

func TestIdempotentReplay(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	body := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":700,"currency":"EUR"}`, w.User.ID, w.Merchant.ID)
	h := map[string]string{"Idempotency-Key": "pay-once"}

	first := e.Do(t, "POST", "/v1/transfers", body, h)
	if first.Status != 201 || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d replayed=%q %s", first.Status, first.Header.Get("Idempotent-Replayed"), first.Body)
	}
	for i := 0; i < 3; i++ {
		again := e.Do(t, "POST", "/v1/transfers", body, h)
		if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
			t.Fatalf("replay %d: %d %s, want %d %s", i, again.Status, again.Body, first.Status, first.Body)
		}
		if again.Header.Get("Idempotent-Replayed") != "true" || again.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("replay headers: %v", again.Header)
		}
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9_300 {
		t.Fatalf("user posted %d after replays, want 9300: money moved more than once", b.Posted)
	}

	t.Run("same key, different body", func(t *testing.T) {
		other := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":701,"currency":"EUR"}`, w.User.ID, w.Merchant.ID)
		r := e.Do(t, "POST", "/v1/transfers", other, h)
		if p := r.Problem(t); r.Status != 422 || p.Code != pw.EIDEMREUSED {
			t.Fatalf("%d %s, want 422 idempotency_key_reused", r.Status, r.Body)
		}
		// The same key on another route is another request too.
		hold := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":700,"currency":"EUR","expires_in_seconds":60}`,
			w.User.ID, w.Merchant.ID)
		r = e.Do(t, "POST", "/v1/holds", hold, h)
		if p := r.Problem(t); r.Status != 422 || p.Code != pw.EIDEMREUSED {
			t.Fatalf("%d %s, want 422 idempotency_key_reused", r.Status, r.Body)
		}
	})

	t.Run("keys are scoped to the principal", func(t *testing.T) {
		other := map[string]string{"Idempotency-Key": "pay-once", "Authorization": "Bearer " + otherToken}
		r := e.Do(t, "POST", "/v1/transfers", body, other)
		if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" || bytes.Equal(r.Body, first.Body) {
			t.Fatalf("another principal's first use of the key: %d %v %s", r.Status, r.Header, r.Body)
		}
		if b := e.MustBalance(t, w.User); b.Posted != 8_600 {
			t.Fatalf("user posted %d, want 8600", b.Posted)
		}
	})

	t.Run("client key from context", func(t *testing.T) {
		ctx := pw.NewContextWithIdempotencyKey(context.Background(), "client-key-1")
		req := pw.TransferCreate{FromAccount: w.User.ID, ToAccount: w.Merchant.ID, Amount: 50, Currency: "EUR"}
		t1, err := e.Client.CreateTransfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := e.Client.CreateTransfer(ctx, req)
		if err != nil || t2.ID != t1.ID {
			t.Fatalf("retry with the same key: %+v, %v; want transfer %s", t2, err, t1.ID)
		}
		if b := e.MustBalance(t, w.User); b.Posted != 8_550 {
			t.Fatalf("user posted %d, want 8550", b.Posted)
		}
	})
}

func TestIdempotentConcurrent(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	body := fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":1000,"currency":"EUR"}`, w.User.ID, w.Merchant.ID)
	const n = 16
	responses := make([]*Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			responses[i] = e.Do(t, "POST", "/v1/transfers", body, map[string]string{"Idempotency-Key": "race"})
		}()
	}
	close(start)
	wg.Wait()

	var created, inUse, replays int
	var createdBody []byte
	for _, r := range responses {
		switch {
		case r.Status == 201 && r.Header.Get("Idempotent-Replayed") == "true":
			replays++
		case r.Status == 201:
			created++
			createdBody = r.Body
		case r.Status == 409 && r.Problem(t).Code == pw.EIDEMINUSE:
			inUse++
		default:
			t.Fatalf("unexpected answer %d %s", r.Status, r.Body)
		}
	}
	if created != 1 || created+inUse+replays != n {
		t.Fatalf("created %d, in use %d, replays %d: want exactly one created", created, inUse, replays)
	}
	for _, r := range responses {
		if r.Status == 201 && !bytes.Equal(r.Body, createdBody) {
			t.Fatalf("replay body differs:\n%s\n%s", r.Body, createdBody)
		}
	}
	if b := e.MustBalance(t, w.User); b.Posted != 9_000 {
		t.Fatalf("user posted %d, want 9000: money moved %d times", b.Posted, (10_000-b.Posted)/1000)
	}
}

// TestEveryMoneyRouteNeedsKey checks the table: every route that moves
// money refuses a request without Idempotency-Key.
func TestEveryMoneyRouteNeedsKey(t *testing.T) {
	e := MustOpenEnv(t)
	for _, rt := range pwhttp.Routes() {
		if !rt.MovesMoney {
			continue
		}
		path := strings.ReplaceAll(rt.Path, "{id}", "x")
		r := e.Do(t, rt.Method, path, `{}`, map[string]string{"Idempotency-Key": ""})
		if r.Status != http.StatusBadRequest || r.Problem(t).Code != pw.EIDEMREQUIRED {
			t.Errorf("%s: %d %s, want 400 idempotency_key_required", rt.Pattern(), r.Status, r.Body)
		}
	}
}

// TestAnotherBodyWhileTheFirstIsInFlightIsReused pins the precedence of
// the two refusals of a key held by a request still in flight: with the
// same body the retry may succeed later (409 idempotency_key_in_use);
// with another body it never will (422 idempotency_key_reused), whether
// or not the first has finished.
func TestAnotherBodyWhileTheFirstIsInFlightIsReused(t *testing.T) {
	e := MustOpenEnv(t)
	w := e.MustWallet(t, 10_000)
	first := transferBody(w, 100)
	held, _, err := e.Ledger.BeginIdempotent(context.Background(), pw.IdempotencyKey{Principal: "operator:root", Key: "held"},
		pwhttp.Fingerprint("POST", "/v1/transfers", []byte(first)))
	if err != nil || held == nil {
		t.Fatalf("the first request's claim: %+v, %v", held, err)
	}
	e.Do(t, "POST", "/v1/transfers", transferBody(w, 200), idem("held")).Want(t, 422, pw.EIDEMREUSED)
	e.Do(t, "POST", "/v1/transfers", first, idem("held")).Want(t, 409, pw.EIDEMINUSE)
	e.Ledger.ReleaseIdempotent(context.Background(), held)
	e.Do(t, "POST", "/v1/transfers", first, idem("held")).Want(t, 201, "")
	e.Do(t, "POST", "/v1/transfers", transferBody(w, 200), idem("held")).Want(t, 422, pw.EIDEMREUSED)
	if b := e.MustBalance(t, w.User); b.Posted != 9_900 {
		t.Fatalf("user posted %d, want 9900", b.Posted)
	}
}
