package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestReadinessFailsWhileTheWriterIsStalled holds the writer in a write
// transaction that does not end (as a hung disk would hold it in an
// fsync) while other writes wait for it: readiness fails once no write
// has ended for WriteStallMax, each check answering at once, and comes
// back once the writer moves again.
func TestReadinessFailsWhileTheWriterIsStalled(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "stall.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	release := make(chan struct{})
	var once sync.Once
	resume := func() { once.Do(func() { close(release) }) }
	t.Cleanup(resume) // should the test fail during the stall
	done := make(chan error, 2)
	go func() {
		done <- s.Update(ctx, func(context.Context, pw.Tx) error { <-release; return nil })
	}()
	go func() { // a write queued behind the stalled one
		time.Sleep(100 * time.Millisecond)
		done <- s.Update(ctx, func(context.Context, pw.Tx) error { return nil })
	}()
	start := time.Now()
	err = waitPing(t, s, func(err error) bool { return err != nil }, sqlite.WriteStallMax+30*time.Second)
	t.Logf("unready %v into the stall: %v", time.Since(start).Round(time.Millisecond), err)
	if pw.ErrorCode(err) != pw.EUNAVAILABLE || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("readiness during a stall: %v; want unavailable, the writer is stalled", err)
	}
	if elapsed := time.Since(start); elapsed < sqlite.WriteStallMax {
		t.Fatalf("unready %v into the stall, before WriteStallMax (%v)", elapsed, sqlite.WriteStallMax)
	}
	resume()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("a write once the stall ended: %v", err)
		}
	}
	waitPing(t, s, func(err error) bool { return err == nil }, 30*time.Second)
}

// TestAQueueForTheWriterIsNotAStall keeps 32 writers queued for the one
// write connection, each holding it for 50 ms, so that a write waits
// longer than WriteStallMax for its turn: readiness stays green all along,
// since writes keep ending (overload is admission control's business; a
// store that a load balancer takes out of service in a surge would turn
// the surge into an outage).
func TestAQueueForTheWriterIsNotAStall(t *testing.T) {
	const stallMax = 500 * time.Millisecond
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "queue.db"), sqlite.Options{WriteStallMax: stallMax})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, stop := context.WithTimeout(context.Background(), 3*time.Second)
	defer stop()
	waits := make(chan time.Duration, 32)
	for range 32 {
		go func() {
			var longest time.Duration
			defer func() { waits <- longest }()
			for ctx.Err() == nil {
				asked := time.Now()
				err := s.Update(context.Background(), func(context.Context, pw.Tx) error {
					longest = max(longest, time.Since(asked))
					time.Sleep(50 * time.Millisecond)
					return nil
				})
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	probes := 0
	for ; ctx.Err() == nil; probes++ {
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("readiness with writers queued, probe %d: %v", probes, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var longest time.Duration
	for range 32 {
		longest = max(longest, <-waits)
	}
	t.Logf("%d probes ready; the longest wait for the writer was %v", probes, longest.Round(time.Millisecond))
	if longest <= stallMax {
		t.Fatalf("no write waited longer than WriteStallMax (%v): the test did not queue enough", stallMax)
	}
}

// TestAHealthyReadinessCheckDoesNotWrite probes a store that writes fine
// many times: no probe commits anything (another connection's
// data_version, which moves with every commit but its own, stays put).
func TestAHealthyReadinessCheckDoesNotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "probe.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.Update(ctx, func(context.Context, pw.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	version := func() (v int64) {
		t.Helper()
		if err := db.QueryRow("PRAGMA data_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for range 100 {
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := version(); after != before {
		t.Fatalf("data_version went from %d to %d over 100 readiness checks: a check wrote", before, after)
	}
}

// waitPing calls s.Ping until its answer satisfies ok, at most for d, and
// returns that answer; each call must answer within http.ReadinessTimeout
// (2 s).
func waitPing(t *testing.T, s *sqlite.Store, ok func(error) bool, d time.Duration) error {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		asked := time.Now()
		err := s.Ping(context.Background())
		if took := time.Since(asked); took > 2*time.Second {
			t.Fatalf("a readiness check took %v", took)
		}
		if ok(err) {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness still %v after %v", err, d)
		}
	}
}
