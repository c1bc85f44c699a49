package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestFastClientTellsUnsentFromUnanswered: with every connection of the
// generator busy, a request that cannot be sent by its deadline is
// client_unsent (the server never saw it), not client_timeout, which
// stays the name of a request sent and not answered in time.
func TestFastClientTellsUnsentFromUnanswered(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"tr_x"}`))
	}))
	defer srv.Close()
	defer close(release)
	c, err := NewFastClient(srv.URL, []string{"k"}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	pay := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(pw.NewContextWithIdempotencyKey(context.Background(), "k-1"), d)
		defer cancel()
		_, err := c.CreateTransfer(ctx, pw.TransferCreate{FromAccount: "a", ToAccount: "b", Amount: 1, Currency: "EUR"})
		return err
	}
	first := make(chan error, 1)
	go func() { first <- pay(5 * time.Second) }()
	<-arrived // the one connection is taken

	err = pay(100 * time.Millisecond)
	if !errors.Is(err, ErrUnsent) || !errors.Is(err, context.DeadlineExceeded) || outcomeCode(err) != CodeUnsent {
		t.Fatalf("a request with no connection free: %v (%s), want client_unsent", err, outcomeCode(err))
	}
	select {
	case <-arrived:
		t.Fatal("the unsent request reached the server")
	default:
	}
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatalf("the first request: %v", err)
	}

	err = pay(100 * time.Millisecond) // sent, and held past its deadline
	if errors.Is(err, ErrUnsent) || outcomeCode(err) != "client_timeout" {
		t.Fatalf("a request sent and not answered in time: %v (%s), want client_timeout", err, outcomeCode(err))
	}
	<-arrived
}
