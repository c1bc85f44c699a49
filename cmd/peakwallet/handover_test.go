package main_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// TestHandoverZeroFailedRequests replaces the binary under load: a new
// process listens on the same address (SO_REUSEPORT), the old one gets
// SIGTERM and drains. A client using the Go client package (retries,
// idempotency keys) sees no failed request, and every acknowledged
// transfer is in the store afterwards.
func TestHandoverZeroFailedRequests(t *testing.T) {
	handoverTest(t, false)
}

// TestHandoverWithTheSurgeQueue: the same with one admission slot, one
// place in its queue (the synchronous payers retry the busy answers) and
// half the payers allowing the surge queue (CreateTransferOrQueue, then
// AwaitIntent: each async payer's first payment, among eight payers at
// once, finds the server busy and is accepted as an intent). Intents the old process accepted are settled by the new
// one, their event streams end as the old one drains and are followed
// again on the new one, and every payment is made exactly once.
func TestHandoverWithTheSurgeQueue(t *testing.T) {
	handoverTest(t, true, "--limit-min", "1", "--limit-max", "1", "--queue-max", "1")
}

func handoverTest(t *testing.T, async bool, serverArgs ...string) {
	data := t.TempDir()
	old := startServer(t, append([]string{"--data", data}, serverArgs...)...)
	from, to := setup(t, old.client)
	u, err := url.Parse(old.url)
	if err != nil {
		t.Fatal(err)
	}
	starting := make([]int64, len(from))
	for i, a := range from {
		acc, err := old.client.Account(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		starting[i] = acc.Balance.Posted
	}

	var failed, queued atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var acked []string
	paid := make([]int64, len(from))
	stop := make(chan struct{})
	wait := payers(8, stop, func(w, i int) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ctx = pw.NewContextWithIdempotencyKey(ctx, fmt.Sprintf("h%d-%d", w, i))
		req := pw.TransferCreate{FromAccount: from[w].ID, ToAccount: to[i%len(to)].ID, Amount: 1, Currency: "EUR"}
		var tr *pw.Transfer
		var err error
		if async && w%2 == 1 {
			var in *pw.Intent
			tr, in, err = old.client.CreateTransferOrQueue(ctx, req)
			if err == nil && in != nil {
				queued.Add(1)
				tr, err = old.client.AwaitIntent(ctx, in.ID)
			}
		} else {
			tr, err = old.client.CreateTransfer(ctx, req)
		}
		cancel()
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return true
		}
		mu.Lock()
		acked = append(acked, tr.ID)
		paid[w] += tr.Amount
		mu.Unlock()
		return true
	})
	time.Sleep(300 * time.Millisecond)
	next := startServer(t, append([]string{"--data", data, "--addr", u.Host}, serverArgs...)...)
	stopServer(t, old)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wait()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during the handover; first: %v", n, firstErr.Load())
	}
	if len(acked) < 20 {
		t.Fatalf("only %d transfers acknowledged: the load did not run", len(acked))
	}
	if async && queued.Load() == 0 {
		t.Fatal("no payment went through the surge queue: the test proved nothing about it")
	}
	c := pwhttp.NewClient(next.url, testOperatorKey, nil)
	for _, id := range acked {
		if _, err := c.Transfer(context.Background(), id); err != nil {
			t.Fatalf("acknowledged transfer %s missing after the handover: %v", id, err)
		}
	}
	for w, a := range from {
		acc, err := c.Account(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if acc.Balance.Posted != starting[w]-paid[w] {
			t.Fatalf("payer %d: balance %d, want %d: money moved other than once", w, acc.Balance.Posted, starting[w]-paid[w])
		}
	}
	t.Logf("%d transfers (%d through the surge queue), zero failed, each paid once, across the handover", len(acked), queued.Load())
	stopServer(t, next)
}
