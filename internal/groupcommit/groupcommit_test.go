package groupcommit_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// TestCallersShareBatches: while one batch is being written, the callers
// that arrive form the next one, in the order they were queued, and each
// gets its own item's result.
func TestCallersShareBatches(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	q := &groupcommit.Queue[int, int]{Max: 100, Timeout: time.Minute, Write: func(_ context.Context, batch []int) ([]groupcommit.Result[int], error) {
		mu.Lock()
		batches = append(batches, slices.Clone(batch))
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // the first batch is slow: the others queue behind it
		}
		out := make([]groupcommit.Result[int], len(batch))
		for i, v := range batch {
			out[i].Value = v * 10
		}
		return out, nil
	}}
	results := make(chan [2]int, 10)
	go func() { r, _ := q.Do(context.Background(), 0); results <- [2]int{0, r} }()
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 })
	var wg sync.WaitGroup
	for i := 1; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r, _ := q.Do(context.Background(), i); results <- [2]int{i, r} }()
	}
	time.Sleep(20 * time.Millisecond) // let the nine queue (their order is the scheduler's)
	close(release)
	wg.Wait()
	for range 10 {
		if r := <-results; r[1] != r[0]*10 {
			t.Fatalf("item %d got %d, want %d", r[0], r[1], r[0]*10)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(batches) < 2 || len(batches[0]) != 1 || len(batches[0])+len(batches[1]) < 2 {
		t.Fatalf("batches %v: want the first alone and the queued ones after it", batches)
	}
	total := 0
	for _, b := range batches {
		total += len(b)
	}
	if total != 10 {
		t.Fatalf("batches %v wrote %d items, want 10", batches, total)
	}
}

// TestAnAbandonedItemIsNotWritten: a caller whose context ends while its
// item still waits for a batch gets the context's error, and its item is
// never written; an error of the batch reaches every caller in it.
func TestAnAbandonedItemIsNotWritten(t *testing.T) {
	release := make(chan struct{})
	written := make(chan []string, 4)
	boom := errors.New("disk full")
	q := &groupcommit.Queue[string, struct{}]{Max: 10, Timeout: time.Minute, Write: func(_ context.Context, batch []string) ([]groupcommit.Result[struct{}], error) {
		written <- slices.Clone(batch)
		if batch[0] == "slow" {
			<-release
			return nil, nil
		}
		return nil, boom
	}}
	go q.Do(context.Background(), "slow")
	<-written
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() { _, err := q.Do(ctx, "left"); left <- err }()
	failed := make(chan error, 1)
	go func() { _, err := q.Do(context.Background(), "stays"); failed <- err }()
	time.Sleep(20 * time.Millisecond) // both queue behind "slow"
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("the abandoned caller got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-failed; !errors.Is(err, boom) {
		t.Fatalf("the caller in a failed batch got %v, want the batch's error", err)
	}
	if b := <-written; !slices.Equal(b, []string{"stays"}) {
		t.Fatalf("second batch %v, want only the item that stayed", b)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// pastDeadline is a context whose deadline has passed but whose Done has
// not closed yet, as a caller's is in the instant before its Do sees it.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestACallerPastItsDeadlineIsNotWritten: a batch does not take a caller
// whose deadline has passed, even if its Do has not yet seen its context
// end: that caller gets context.DeadlineExceeded and its item is not
// written (a batch taken then made it wait for the batch's outcome, past
// its deadline).
func TestACallerPastItsDeadlineIsNotWritten(t *testing.T) {
	release := make(chan struct{})
	written := make(chan []string, 4)
	q := &groupcommit.Queue[string, struct{}]{Max: 10, Timeout: time.Minute, Write: func(_ context.Context, batch []string) ([]groupcommit.Result[struct{}], error) {
		written <- slices.Clone(batch)
		if batch[0] == "slow" {
			<-release
		}
		return nil, nil
	}}
	go q.Do(context.Background(), "slow")
	<-written
	late := make(chan error, 1)
	go func() { _, err := q.Do(pastDeadline{context.Background()}, "late"); late <- err }()
	stays := make(chan error, 1)
	go func() { _, err := q.Do(context.Background(), "stays"); stays <- err }()
	time.Sleep(20 * time.Millisecond) // both queue behind "slow"
	close(release)
	if err := <-late; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the caller past its deadline got %v, want context.DeadlineExceeded", err)
	}
	if err := <-stays; err != nil {
		t.Fatal(err)
	}
	if b := <-written; !slices.Equal(b, []string{"stays"}) {
		t.Fatalf("second batch %v, want only the item whose deadline had not passed", b)
	}
}

// TestACallerMayLeaveAtItsDeadline: with LeaveAtDeadline, a caller whose
// deadline passes while its batch is being written returns ErrLeft then,
// not when the batch ends; without it, the caller waits for the batch.
func TestACallerMayLeaveAtItsDeadline(t *testing.T) {
	for _, leave := range []bool{true, false} {
		release := make(chan struct{})
		q := &groupcommit.Queue[string, struct{}]{Max: 10, Timeout: time.Minute, LeaveAtDeadline: leave,
			Write: func(_ context.Context, batch []string) ([]groupcommit.Result[struct{}], error) {
				<-release
				return nil, nil
			}}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() { _, err := q.Do(ctx, "item"); done <- err }()
		select {
		case err := <-done:
			if !leave {
				t.Fatalf("without LeaveAtDeadline the caller left its batch: %v", err)
			}
			if !errors.Is(err, groupcommit.ErrLeft) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the caller that left got %v, want ErrLeft", err)
			}
		case <-time.After(2 * time.Second):
			if leave {
				t.Fatal("with LeaveAtDeadline the caller still waited for its batch past its deadline")
			}
		}
		close(release)
		if !leave {
			if err := <-done; err != nil {
				t.Fatalf("without LeaveAtDeadline: %v, want the batch's outcome", err)
			}
		}
		cancel()
	}
}

// TestALeftCallersOutcomeIsTold: a caller that left its batch at its
// deadline (ErrLeft) does not know whether its item was written; Left is
// told, once the batch is, so that whoever undoes the item does it after
// the batch and not before (postgres: a claim given back while its batch
// was still open was then committed, in_flight for the lease).
func TestALeftCallersOutcomeIsTold(t *testing.T) {
	release := make(chan struct{})
	told := make(chan groupcommit.Result[int], 1)
	q := &groupcommit.Queue[string, int]{Max: 10, Timeout: time.Minute, LeaveAtDeadline: true,
		Write: func(_ context.Context, batch []string) ([]groupcommit.Result[int], error) {
			<-release
			return []groupcommit.Result[int]{{Value: 7}}, nil
		},
		Left: func(item string, res groupcommit.Result[int]) {
			if item != "a" {
				t.Errorf("Left told of %q", item)
			}
			told <- res
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.Do(ctx, "a"); !errors.Is(err, groupcommit.ErrLeft) {
		t.Fatalf("a caller whose batch outlived its deadline: %v, want ErrLeft", err)
	}
	select {
	case res := <-told:
		t.Fatalf("Left was told %+v before the batch was written", res)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case res := <-told:
		if res.Err != nil || res.Value != 7 {
			t.Fatalf("Left was told %+v, want the item's result", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Left was never told the outcome of the caller that left")
	}
}
