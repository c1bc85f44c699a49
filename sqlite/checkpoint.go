package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// Checkpointing. SQLite's automatic checkpoint runs inside the commit that
// crosses its threshold, so every thousand pages one unlucky batch also
// copies the WAL into the database and fsyncs twice. The writer turns it
// off and a checkpointer goroutine, on a connection of its own, runs
// PASSIVE checkpoints beside it: they never block the writer, and the next
// write transaction after a complete one starts the WAL from its beginning.
const (
	// CheckpointInterval is how often the checkpointer runs when idle.
	CheckpointInterval = 250 * time.Millisecond
	// checkpointEveryCommits wakes the checkpointer early under load.
	checkpointEveryCommits = 64
	// writerCacheKiB is the writer's page cache (the default is 2 MiB).
	writerCacheKiB = 64 << 10
	// busyTimeoutMillis bounds a wait for another connection's lock.
	busyTimeoutMillis = 10_000
)

// checkpointer runs PASSIVE checkpoints until stop is closed.
type checkpointer struct {
	db      *sql.DB
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	commits atomic.Int64
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// committed is called after each commit; it wakes the checkpointer early
// when many commits have gone by.
func (c *checkpointer) committed() {
	if c.commits.Add(1)%checkpointEveryCommits == 0 {
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
		// A failed passive checkpoint is harmless (the WAL only grows
		// until the next one succeeds); the error resurfaces at Close.
		_, _ = c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// close stops the checkpointer and folds the whole WAL into the database.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.stopped
	_, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
