package ledger_test

import (
	"context"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestCloseAnswersACarriedCommand: with MaxBatch 2, a batch of two
// transfers queued behind a payment does not fit the batch gathered with
// that payment, and is carried over, out of the queue. Close answers it
// unavailable, as every command still queued (found in review: until
// 2026-11-27 only the queue was drained, and the carried command's caller,
// without a deadline, waited for ever).
func TestCloseAnswersACarriedCommand(t *testing.T) {
	s, l, bank, user := hookedLedger(t, ledger.Options{MaxBatch: 2})
	held1, gate1 := make(chan struct{}), make(chan struct{})
	held2, gate2 := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.hooks = []func(context.Context){
		func(context.Context) { close(held1); <-gate1 },
		func(context.Context) { close(held2); <-gate2 },
	}
	s.mu.Unlock()
	pay := func() error {
		_, err := l.CreateTransfer(context.Background(), pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"})
		return err
	}
	first := make(chan error, 1)
	go func() { first <- pay() }()
	<-held1
	queued := make(chan error, 2)
	go func() { queued <- pay() }()
	time.Sleep(50 * time.Millisecond) // the payment first, then the batch
	go func() {
		tr := pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"}
		_, err := l.CreateBatch(context.Background(), pw.BatchCreate{Transfers: []pw.TransferCreate{tr, tr}})
		queued <- err
	}()
	time.Sleep(100 * time.Millisecond) // both wait in the queue behind the held batch
	close(gate1)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-held2 // the second batch holds one of them; the other is carried
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	time.Sleep(100 * time.Millisecond) // the loop sees quit while its slot is busy
	close(gate2)
	<-closed
	for i := 0; i < 2; i++ {
		select {
		case err := <-queued:
			if err != nil && pw.ErrorCode(err) != pw.EUNAVAILABLE {
				t.Fatalf("a queued command at Close: %v, want done or unavailable", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("after Close returned, %d of the 2 queued payments were never answered (the carried command)", 2-i)
		}
	}
}
