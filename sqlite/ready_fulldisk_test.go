package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/traffic"
)

// fullStore opens a store on a small filesystem, fills the filesystem and
// makes a payment fail on it; it returns the store and a payment that
// fails while the disk stays full.
func fullStore(t *testing.T) (*sqlite.Store, func() error) {
	t.Helper()
	dir, s, _, pay := payingStore(t)
	fillDisk(t, filepath.Join(dir, "filler"))
	var full error
	for i := 0; i < 10_000 && full == nil; i++ {
		full = pay()
	}
	if pw.ErrorCode(full) != pw.EUNAVAILABLE || !strings.Contains(pw.ErrorMessage(full), "disk is full") {
		t.Fatalf("a payment on a full disk: %v; want unavailable, the disk is full", full)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("ready just after a payment failed on a full disk")
	}
	return s, pay
}

// TestAWriteThatChangesNothingDoesNotMakeAFullDiskReady: on a full disk,
// a write that commits without writing a page (the idempotency or traffic
// clean-up finding nothing to delete, the empty transaction a store runs
// to check its cache when a handover ends) proves nothing about the disk.
// Until the review of 2026-11-28 any such commit cleared the storage
// failure, and /readyz answered 200 while every payment failed "the disk
// is full" (the clean-up loops run on their own, traffic or not).
func TestAWriteThatChangesNothingDoesNotMakeAFullDiskReady(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(s *sqlite.Store) error
	}{
		{"the idempotency clean-up finding nothing", func(s *sqlite.Store) error {
			_, err := s.DeleteIdempotencyBefore(context.Background(), time.Unix(0, 0))
			return err
		}},
		{"the traffic clean-up finding nothing", func(s *sqlite.Store) error {
			_, err := s.DeleteTrafficBefore(context.Background(), traffic.Minute, time.Unix(0, 0))
			return err
		}},
		{"an empty write transaction", func(s *sqlite.Store) error {
			return s.Update(context.Background(), func(context.Context, pw.Tx) error { return nil })
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, pay := fullStore(t)
			if err := tt.write(s); err != nil {
				t.Fatalf("%s on a full disk: %v", tt.name, err)
			}
			err := s.Ping(context.Background())
			if pw.ErrorCode(err) != pw.EUNAVAILABLE || !strings.Contains(err.Error(), "disk is full") {
				t.Errorf("readiness after %s: %v; want unavailable, the disk is full", tt.name, err)
			}
			if err := pay(); err == nil {
				t.Fatal("a payment went through: the disk was not full")
			}
		})
	}
}

// TestACommitMadeBeforeAFailureDoesNotClearIt: a write notes its outcome
// for readiness only once it has let go of the writer, and another write
// may have failed on the writer in between. A ledger write W1 commits;
// W2, waiting for the writer, takes it, and fails on the disk filled
// meanwhile; W1, whose statements are prepared once the writer is free
// (stmtCache.prepareWanted), notes its success after W2's failure. Until
// the review of 2026-11-28 that success cleared W2's failure, and /readyz
// was green on a full disk.
func TestACommitMadeBeforeAFailureDoesNotClearIt(t *testing.T) {
	dir := MustSmallFS(t, "2m")
	s, err := sqlite.Open(filepath.Join(dir, "order.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	accounts := func(n int) *pw.Changes {
		c := &pw.Changes{}
		for range n {
			now := time.Now().UTC().Truncate(time.Microsecond)
			c.NewAccounts = append(c.NewAccounts, &pw.Account{ID: pw.NewID(pw.PrefixAccount, now), Kind: pw.AccountUser, Currency: "EUR",
				Metadata: map[string]string{"note": strings.Repeat("m", 2000)}, CreatedAt: now})
		}
		return c
	}
	w1In, w1Go := make(chan struct{}), make(chan struct{})
	w2In, filled := make(chan struct{}), make(chan struct{})
	w1, w2 := make(chan error, 1), make(chan error, 1)
	go func() {
		w1 <- s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			close(w1In)
			<-w1Go
			return tx.Write(ctx, accounts(3)) // chunks of 2 and 1 rows: prepared after the transaction
		})
	}()
	<-w1In
	go func() {
		w2 <- s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
			close(w2In)
			<-filled
			return tx.Write(ctx, accounts(64))
		})
	}()
	time.Sleep(300 * time.Millisecond) // W2 waits for the writer
	close(w1Go)
	<-w2In // W1 has committed, and W2 has the writer
	fillDisk(t, filepath.Join(dir, "filler"))
	close(filled)
	if err := <-w2; pw.ErrorCode(err) != pw.EUNAVAILABLE || !strings.Contains(pw.ErrorMessage(err), "disk is full") {
		t.Fatalf("W2 on a full disk: %v; want unavailable, the disk is full", err)
	}
	if err := <-w1; err != nil {
		t.Fatalf("W1, before the disk filled: %v", err)
	}
	err = s.Ping(ctx)
	if pw.ErrorCode(err) != pw.EUNAVAILABLE || !strings.Contains(err.Error(), "disk is full") {
		t.Errorf("readiness after W2 failed on a full disk: %v; want unavailable, the disk is full", err)
	}
}

// TestAWriteOnAFullDiskSaysTheStoreCanBeReadButNotWritten: the error of a
// write that met a full disk wraps peakwallet.ErrWritesFailing, as a
// read-only PostgreSQL's does, so that admission's breaker does not take a
// store that answers every read for one that is down
// (http TestAReadOnlyDatabaseDoesNotOpenTheBreakerOnReads). Until the
// review of 2026-11-28 only the readiness error wrapped it.
func TestAWriteOnAFullDiskSaysTheStoreCanBeReadButNotWritten(t *testing.T) {
	_, pay := fullStore(t)
	if err := pay(); !errors.Is(err, pw.ErrWritesFailing) {
		t.Fatalf("a payment on a full disk: %v; want it to wrap ErrWritesFailing", err)
	}
}

// TestAReadinessCheckIsBoundedBehindAnotherProcesssWriteLock: while a
// storage failure stands, the check tries a write of its own, and BEGIN
// IMMEDIATE waits for the database's write lock in SQLite's busy handler,
// which a context does not interrupt. Behind another process's write
// transaction (a handover) the check so took as long as that transaction,
// up to the busy timeout (10 s), although WriteRecheckTimeout is 1 s: until
// the review of 2026-11-28 /readyz, whose check is bounded at 2 s
// (http.ReadinessTimeout), and /v1/status, whose live look is bounded at
// 1 s, hung for as long. The check now answers within
// WriteRecheckTimeout, and its write goes on without it.
func TestAReadinessCheckIsBoundedBehindAnotherProcesssWriteLock(t *testing.T) {
	s, _ := fullStore(t)
	ctx := context.Background()
	other, err := sqlite.Open(s.Path(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	const holdFor = 8 * time.Second
	locked := make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- other.Update(ctx, func(context.Context, pw.Tx) error { close(locked); time.Sleep(holdFor); return nil })
	}()
	<-locked
	time.Sleep(sqlite.WriteRecheckInterval + 100*time.Millisecond) // the next check writes
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Ping(pctx)
	took := time.Since(start)
	t.Logf("the check took %v: %v", took.Round(time.Millisecond), err)
	if err == nil {
		t.Error("ready on a full disk")
	}
	if took > 4*time.Second {
		t.Errorf("the check took %v behind another process's write lock; want it within WriteRecheckTimeout (%v), well under %v",
			took.Round(time.Millisecond), sqlite.WriteRecheckTimeout, holdFor)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
