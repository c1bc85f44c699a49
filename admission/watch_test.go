package admission_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

// WatchStore runs on real time (its ticker); the controller's clock stays
// where it is, so that only a check answered can let a probe through.

// TestWatchStoreChecksOnlyWhileTheBreakerIsNotClosed: WatchStore pings
// the store only while the breaker is open (one check at a time), and a
// ping answered lets the next request probe at once (the controller's
// clock does not move here: only the check can let it through).
func TestWatchStoreChecksOnlyWhileTheBreakerIsNotClosed(t *testing.T) {
	clk := newClock()
	c := newController(clk, 10, admission.Config{})
	var pings atomic.Int64
	answers := make(chan error)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.WatchStore(ctx, func(ctx context.Context) error {
			pings.Add(1)
			select {
			case err := <-answers:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	defer func() { cancel(); <-done }()
	time.Sleep(5 * admission.StoreWatchInterval)
	if n := pings.Load(); n != 0 {
		t.Fatalf("%d checks with the breaker closed", n)
	}
	down := &pw.Error{Code: pw.EUNAVAILABLE, Message: "the database cannot be reached"}
	for range admission.BreakerFailuresMax {
		mustAcquire(t, c, admission.ClassPayment, "a").Done(down)
	}
	answers <- down // a check, still down
	answers <- nil  // the next: back
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		tk, err := c.Acquire(context.Background(), admission.ClassPayment, "a")
		if err == nil {
			tk.Done(nil)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe let through 5 s after the store answered a check: %v", err)
		}
	}
	if s := c.Stats(); s.Breaker != "closed" {
		t.Fatalf("breaker %s after the probe", s.Breaker)
	}
}
