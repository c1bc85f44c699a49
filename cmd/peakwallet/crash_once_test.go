package main_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/pgtest"
)

// crashOnceTest: payers pay through the Go client, each payment retried
// with its own key until it is paid — across a kill -9 of the server and
// its restart on the same store, as a client that must not lose a payment
// would. The crash catches payments in every state: not yet sent, claimed,
// in a batch, committed but unanswered. Afterwards each payer has paid
// exactly what it was told it paid, with one transfer per payment, and
// verify is clean.
func crashOnceTest(t *testing.T, storeArgs ...string) {
	s := startServer(t, storeArgs...)
	from, to := setup(t, s.client)
	starting := make(map[string]int64, len(from))
	for _, a := range from {
		acc, err := s.client.Account(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		starting[a.ID] = acc.Balance.Posted
	}
	var client atomic.Pointer[pwhttp.Client]
	client.Store(s.client)

	stop := make(chan struct{})
	paid := make([]int64, len(from))
	counts := make([]int, len(from))
	var retried atomic.Int64
	wait := payers(len(from), stop, func(w, i int) bool {
		key := fmt.Sprintf("payer-%d-%d", w, i)
		amount := int64(1 + i%7)
		req := pw.TransferCreate{FromAccount: from[w].ID, ToAccount: to[i%len(to)].ID, Amount: amount, Currency: "EUR"}
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(pw.NewContextWithIdempotencyKey(context.Background(), key), 3*time.Second)
			tr, err := client.Load().CreateTransfer(ctx, req)
			cancel()
			if err == nil && tr.Amount == amount {
				break
			}
			if code := pw.ErrorCode(err); err != nil && (code == pw.EINSUFFICIENT || code == pw.EIDEMREUSED || code == pw.EINVALID) {
				t.Errorf("payer %d, %s: %v", w, key, err)
				return false
			}
			retried.Add(1)
			if attempt > 200 {
				t.Errorf("payer %d, %s: not paid after %d attempts: %v", w, key, attempt, err)
				return false
			}
			time.Sleep(50 * time.Millisecond)
		}
		paid[w] += amount
		counts[w]++
		return true
	})
	time.Sleep(1500 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	s2 := startServer(t, storeArgs...)
	client.Store(s2.client)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total < 100 || retried.Load() == 0 {
		t.Fatalf("%d payments, %d retried: the load or the crash did not happen", total, retried.Load())
	}
	for w, a := range from {
		acc, err := s2.client.Account(context.Background(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := starting[a.ID] - paid[w]; acc.Balance.Posted != want {
			t.Errorf("payer %d: balance %d, want %d (paid %d in %d payments): money moved other than once",
				w, acc.Balance.Posted, want, paid[w], counts[w])
		}
		n := 0
		for cursor := ""; ; {
			trs, next, err := s2.client.Transfers(context.Background(), a.ID, pw.Page{Limit: 500, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range trs {
				if tr.FromAccount == a.ID {
					n++
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if n != counts[w] {
			t.Errorf("payer %d: %d transfers out for %d payments", w, n, counts[w])
		}
	}
	t.Logf("%d payments, each paid once across kill -9; %d calls retried by the payers", total, retried.Load())
	stopServer(t, s2)
	mustVerifyStore(t, storeArgs...)
}

func TestCrashPaysOnceSQLite(t *testing.T) {
	crashOnceTest(t, "--data", t.TempDir())
}

func TestCrashPaysOncePostgres(t *testing.T) {
	crashOnceTest(t, "--postgres", pgtest.NewDatabase(t), "--data", t.TempDir())
}
