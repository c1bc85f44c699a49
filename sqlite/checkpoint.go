package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"
)

// Checkpointing. SQLite's automatic checkpoint runs inside the commit that
// crosses its threshold, so every thousand pages one unlucky batch also
// copies the WAL into the database and fsyncs twice. The writer turns it
// off and a checkpointer goroutine, on a connection of its own, runs
// PASSIVE checkpoints beside it: they never block the writer.
//
// PASSIVE alone is not enough. The WAL starts again from its beginning
// only when a write transaction begins while every frame has been copied
// back and no reader uses the WAL, and under a sustained surge the writer
// appends the next batch before the checkpoint catches up: the WAL grew to
// 1.4 GB in a 30 s overload run, and every read and commit slowed with it.
// So when a passive checkpoint leaves more than WALFramesMax frames, the
// checkpointer runs a RESTART checkpoint: the frames are already copied
// back, so it only waits for the readers and holds the writer for the
// moment it takes to mark the WAL as restartable; the next commit then
// writes from the WAL's beginning, and journal_size_limit trims the file.
//
// Under a sustained surge most restarts fail: a RESTART needs SQLite's
// write lock, and the ledger's committer is hardly ever between
// transactions, so the checkpoint's busy handler (sleeps of 1, 2, 5, 10 ms…)
// finds the lock free about one time in three before restartWaitMillis runs
// out. In 30 s overload runs the WAL so peaked at 68,000–94,000 frames
// (270–370 MiB), two to three times WALFramesMax, and came back down at the
// next restart that got in. Making the committer and the restart take turns
// through a mutex made every restart succeed, but mixed surges then paid
// fewer payments (58.9–92.4 % against 86.0–98.1 %, four interleaved pairs),
// so it was not adopted (docs/overload-journal.md, "Afternoon"). Store.WALRestarts and the
// metric peakwallet_sqlite_wal_restarts_total count both outcomes.
const (
	// CheckpointInterval is how often the checkpointer runs when idle.
	CheckpointInterval = 250 * time.Millisecond
	// CheckpointEveryCommits wakes the checkpointer early under load.
	CheckpointEveryCommits = 64
	// restartWaitMillis bounds how long a RESTART checkpoint waits for
	// readers (a report, `peakwallet verify`) to move to the newest
	// snapshot. It holds new writers while it waits, so the wait is short:
	// if readers stay, the WAL restarts at a later attempt.
	restartWaitMillis = 50
	// WALFramesMax is the WAL length (in pages) past which the checkpointer
	// restarts the WAL: 32,768 pages of 4 KiB, 128 MiB. Each restart holds
	// the writer while it waits for readers (restartWaitMillis at most; a
	// mixed surge measured 50-95 ms every other time), so every payment
	// in flight then takes that much longer. At 8,192 pages a surge
	// restarted the WAL every 1.5 s, often enough to put the stall in the
	// p99; a quarter as often keeps it out, and 128 MiB of WAL costs reads
	// nothing measurable (its index is 8 hash tables).
	WALFramesMax = 32768
	// walBytesKept is journal_size_limit: the WAL file is trimmed to this
	// size when it restarts.
	walBytesKept = 128 << 20
	// writerCacheKiB is the writer's page cache (the default is 2 MiB).
	writerCacheKiB = 64 << 10
	// busyTimeoutMillis bounds a wait for another connection's lock.
	busyTimeoutMillis = 10_000
)

// checkpointer runs PASSIVE checkpoints until stop is closed, and a
// RESTART one when the WAL has grown past framesMax.
type checkpointer struct {
	db        *sql.DB
	framesMax int
	every     int64 // commits between wake-ups
	kick      chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	commits   atomic.Int64

	// restarts counts RESTART checkpoints that restarted the WAL;
	// restartsFailed those that could not (the write lock or the readers
	// did not come free within restartWaitMillis, or an error).
	restarts, restartsFailed atomic.Int64
}

func newCheckpointer(db *sql.DB, framesMax, everyCommits int) *checkpointer {
	c := &checkpointer{db: db, framesMax: framesMax, every: int64(everyCommits), kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// committed is called after each commit; it wakes the checkpointer early
// when many commits have gone by.
func (c *checkpointer) committed() {
	if c.commits.Add(1)%c.every == 0 {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

func (c *checkpointer) run() {
	defer close(c.stopped)
	t := time.NewTicker(CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.kick:
		}
		// A failed checkpoint is harmless (the WAL only grows until the
		// next one succeeds); the error resurfaces at Close.
		c.checkpoint()
	}
}

// checkpoint runs a PASSIVE checkpoint, then a RESTART one if the WAL
// is longer than framesMax. Both run on the checkpointer's own connection
// (one connection: its busy timeout is restartWaitMillis).
func (c *checkpointer) checkpoint() {
	var busy, frames, copied int
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil || frames <= c.framesMax {
		return
	}
	err = c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	if err != nil || busy != 0 {
		c.restartsFailed.Add(1)
		return
	}
	c.restarts.Add(1)
}

// close stops the checkpointer and folds the whole WAL into the database,
// unless shared: another process has the file open (the end of a binary
// handover). Then it only copies what it can without waiting (PASSIVE),
// and leaves the WAL to the other process. A TRUNCATE checkpoint blocks
// every new writer while it waits for readers on an older snapshot, and
// the new process's payments waited for the old process's close: 2.9 s
// behind a read of 3 s, until 2026-11-27
// (TestClosingBesideAnotherProcessDoesNotBlockItsWrites).
func (c *checkpointer) close(shared bool) error {
	close(c.stop)
	<-c.stopped
	if shared {
		_, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		return err
	}
	// The last checkpoint may wait as long as any other lock.
	if _, err := c.db.ExecContext(context.Background(), fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeoutMillis)); err != nil {
		return err
	}
	_, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
