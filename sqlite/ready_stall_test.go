package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestWritesRefusedByTheDatabaseAreNotAStall: a flood of sign-ups for a
// handle already taken (a script, a credential-stuffing run) keeps
// writes waiting for the writer, and every one of them ends at once,
// refused by the table's unique constraint. The writer is not stalled:
// readiness stays green. Until the review of 2026-11-28 a write outside
// the ledger that failed otherwise than on storage counted as no progress,
// and with writes always pending /readyz failed "the writer is stalled"
// WriteStallMax into the flood, although writes ended every few
// microseconds.
func TestWritesRefusedByTheDatabaseAreNotAStall(t *testing.T) {
	const stallMax = time.Second
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "flood.db"), sqlite.Options{WriteStallMax: stallMax})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.CreateUser(ctx, &auth.User{ID: "usr_1", Handle: "ann@example.com", PasswordHash: "x", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	flood, stop := context.WithTimeout(ctx, 3*stallMax)
	defer stop()
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; flood.Err() == nil; j++ {
				err := s.CreateUser(ctx, &auth.User{ID: fmt.Sprintf("usr_%d_%d", i, j), Handle: "ann@example.com", PasswordHash: "x", CreatedAt: time.Now()})
				if pw.ErrorCode(err) != pw.EHANDLETAKEN {
					t.Errorf("a sign-up for a taken handle: %v; want %s", err, pw.EHANDLETAKEN)
					return
				}
				refused.Add(1)
			}
		}()
	}
	probes := 0
	for ; flood.Err() == nil; probes++ {
		if err := s.Ping(ctx); err != nil {
			t.Errorf("readiness %d probes into a flood of refused sign-ups (%d refused so far): %v", probes, refused.Load(), err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d probes; %d sign-ups refused", probes, refused.Load())
}
