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
	data := t.TempDir()
	old := startServer(t, "--data", data)
	from, to := setup(t, old.client)
	u, err := url.Parse(old.url)
	if err != nil {
		t.Fatal(err)
	}

	var failed atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				ctx = pw.NewContextWithIdempotencyKey(ctx, fmt.Sprintf("h%d-%d", w, i))
				tr, err := old.client.CreateTransfer(ctx, pw.TransferCreate{
					FromAccount: from[w%len(from)].ID, ToAccount: to[i%len(to)].ID, Amount: 1, Currency: "EUR"})
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mu.Lock()
				acked = append(acked, tr.ID)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	next := startServer(t, "--data", data, "--addr", u.Host)
	stopServer(t, old)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during the handover; first: %v", n, firstErr.Load())
	}
	if len(acked) < 20 {
		t.Fatalf("only %d transfers acknowledged: the load did not run", len(acked))
	}
	c := pwhttp.NewClient(next.url, testOperatorKey, nil)
	for _, id := range acked {
		if _, err := c.Transfer(context.Background(), id); err != nil {
			t.Fatalf("acknowledged transfer %s missing after the handover: %v", id, err)
		}
	}
	t.Logf("%d transfers, zero failed, across the handover", len(acked))
	stopServer(t, next)
}
