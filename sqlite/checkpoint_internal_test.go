package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// TestCheckpointRestartsTheWAL reproduces how a surge starved PASSIVE
// checkpoints (the WAL reached 1.4 GB in a 30 s overload run): a reader
// is inside a snapshot while the writer appends, so a passive checkpoint
// cannot copy everything back and the next write keeps appending. With
// restarts, the checkpoint waits the moment it takes the reader to
// finish, and the next write starts the WAL from its beginning.
func TestCheckpointRestartsTheWAL(t *testing.T) {
	for _, tc := range []struct {
		name      string
		framesMax int
		restarts  bool
	}{{"restart", 16, true}, {"passive only", 1 << 30, false}} {
		t.Run(tc.name, func(t *testing.T) {
			frames, c := walAfterReaderDuringWrites(t, tc.framesMax, true)
			// One transfer's commit writes a handful of pages; sixty
			// commits write hundreds.
			if tc.restarts && frames > 16 {
				t.Fatalf("%d frames in the WAL after a restart and one commit", frames)
			}
			if !tc.restarts && frames <= 16 {
				t.Fatalf("%d frames: the WAL restarted without a RESTART checkpoint, so this test shows nothing", frames)
			}
			want := int64(0)
			if tc.restarts {
				want = 1
			}
			if done, failed := c.restarts.Load(), c.restartsFailed.Load(); done != want || failed != 0 {
				t.Fatalf("counted %d restarts and %d failed, want %d and 0", done, failed, want)
			}
			t.Logf("%d frames in the WAL after one more commit", frames)
		})
	}
}

// TestARestartThatCannotGetInIsCounted: a reader that stays in its snapshot
// for longer than the checkpoint waits keeps the WAL from restarting; the
// checkpointer counts the failure (peakwallet_sqlite_wal_restarts_total
// {result="failed"}) and the WAL goes on growing.
func TestARestartThatCannotGetInIsCounted(t *testing.T) {
	frames, c := walAfterReaderDuringWrites(t, 16, false)
	if done, failed := c.restarts.Load(), c.restartsFailed.Load(); done != 0 || failed != 1 {
		t.Fatalf("counted %d restarts and %d failed, want 0 and 1", done, failed)
	}
	if frames <= 16 {
		t.Fatalf("%d frames: the WAL restarted although a reader stayed", frames)
	}
}

// walAfterReaderDuringWrites writes, holds a reader in its snapshot while
// more is written, checkpoints as the checkpointer does while the reader
// finishes (or, unless readerLeaves, after the checkpoint), commits once
// more, and returns the WAL's length in frames and the checkpointer.
func walAfterReaderDuringWrites(t *testing.T, framesMax int, readerLeaves bool) (int, *checkpointer) {
	s, l := openLedger(t, filepath.Join(t.TempDir(), "wal.db"), Options{CheckpointEveryCommits: 1 << 30})
	ctx := context.Background()
	bank, user := bankAndUser(t, l)
	pay := func(n int) {
		for range n {
			if _, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 1, Currency: "EUR"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pay(30)
	reader, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM transfers").Scan(&n); err != nil {
		t.Fatal(err)
	}
	pay(30) // past the reader's snapshot
	ckdb, err := openDB(s.path, roleCheckpointer)
	if err != nil {
		t.Fatal(err)
	}
	defer ckdb.Close()
	ckdb.SetMaxOpenConns(1)
	wait := 1000
	if !readerLeaves {
		wait = restartWaitMillis
	}
	if _, err := ckdb.Exec(fmt.Sprintf("PRAGMA busy_timeout = %d", wait)); err != nil {
		t.Fatal(err)
	}
	c := &checkpointer{db: ckdb, framesMax: framesMax}
	if readerLeaves {
		go func() { // the reader finishes while the checkpoint runs
			time.Sleep(20 * time.Millisecond)
			reader.Rollback()
		}()
		c.checkpoint()
	} else {
		c.checkpoint()
		reader.Rollback()
	}
	pay(1)
	var busy, frames, copied int
	if err := ckdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	return frames, c
}

// TestOwnCheckpointsAreNotAnotherWriter: the writer takes a change of its
// data_version for another process's commit (share.go), and then empties
// its account cache. The store's own checkpoints, which restart the WAL
// from another connection, must not count as one, or a surge would refill
// its cache after every restart.
func TestOwnCheckpointsAreNotAnotherWriter(t *testing.T) {
	s, l := openLedger(t, filepath.Join(t.TempDir(), "own.db"), Options{WALFramesMax: 8, CheckpointEveryCommits: 1})
	ctx := context.Background()
	bank, user := bankAndUser(t, l)
	deadline := time.Now().Add(10 * time.Second)
	for done, _ := s.WALRestarts(); done < 3; done, _ = s.WALRestarts() {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL restarted %d times in 10 s; the test needs 3", done)
		}
		if _, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 1, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.share.foreign.Load(); n != 0 {
		t.Fatalf("the writer noticed %d commits of another process; there was none", n)
	}
	if !s.share.alone.Load() {
		t.Fatal("the store believes another process has its file open")
	}
}

// bankAndUser opens a bank's account and a user's in EUR.
func bankAndUser(t *testing.T, l *ledger.Ledger) (bank, user *pw.Account) {
	t.Helper()
	ctx := context.Background()
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if user, err = l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	return bank, user
}

// openLedger opens the store at path and a ledger on it, both closed when
// the test ends.
func openLedger(t *testing.T, path string, opts Options) (*Store, *ledger.Ledger) {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(s, ledger.Options{})
	t.Cleanup(func() { l.Close(); s.Close() })
	return s, l
}
