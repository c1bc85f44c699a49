package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestAWriteThatPanicsIsNotPendingForever: a write through trackWrite
// that panics (a bug; the HTTP server recovers a handler's panic and goes
// on serving) must still be counted as ended. Until the review of
// 2026-11-28 it stayed pending for good, and once no other write had
// ended for WriteStallMax (the first quiet moment) readiness failed "the
// writer is stalled", for as long as the process lived.
func TestAWriteThatPanicsIsNotPendingForever(t *testing.T) {
	const stallMax = 200 * time.Millisecond
	s, err := Open(filepath.Join(t.TempDir(), "panic.db"), Options{WriteStallMax: stallMax})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the write did not panic")
			}
		}()
		s.trackWrite(func() error { panic("a bug in a write") })
	}()
	time.Sleep(3 * stallMax)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("readiness %v after a write panicked, with nothing else written: %v", 3*stallMax, err)
	}
	if n := s.writes.pending.Load(); n != 0 {
		t.Fatalf("%d writes pending", n)
	}
}
