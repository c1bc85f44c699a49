package sqlite

import (
	"context"
	"database/sql"
	"os"
	"sync/atomic"
	"time"
)

// Sharing the file with another process. One process serves a SQLite
// store, except during a binary handover: the new process serves new
// connections while the old one drains its own (docs/overload.md,
// "Maintenance without downtime"), and for those seconds both write. Two
// things of a process's memory are then no longer the truth, and until
// 2026-11-27 neither was checked:
//
//   - the accounts cached for the writer (accountCache): a batch of one
//     process locked an account at the balance of its own last commit, not
//     the other's, and every payment from that account then failed on the
//     entries' sequence numbers (TestTwoProcessesKeepBalancesExact);
//   - the idempotency leases (idempotency.go): a request and its retry sent
//     to the two processes could both be claimed and both commit
//     (TestTwoProcessesRunAKeyOnce).
//
// So the writer asks SQLite, at the start of every transaction, whether
// another connection has committed since its last look (PRAGMA
// data_version, read from the connection's own state: no I/O). When one
// has, the account cache is emptied and refills from the table under the
// write lock, and the claims taken before are checked against the table
// in the batch (tx.LockIdempotency). Reads served from the cache (Account)
// need to know before the writer looks: each process holds a POSIX read
// lock on a small file beside the database for as long as the store is
// open, and asks every ShareCheckInterval whether another process holds
// one too. While
// one does, reads go to the database and every batch checks its keys in
// the table. The locks are open file description locks (F_OFD_SETLK):
// unlike classic POSIX locks they are held by the store's own open file,
// so two stores in one process (the tests) see each other too, and
// closing another descriptor of the file releases nothing.

// ShareCheckInterval is how often a store asks whether another process has
// its database open. A new process opens the store, then starts its server
// and answers /readyz: it is not given requests within this time of opening.
const ShareCheckInterval = 100 * time.Millisecond

// sharing is a store's view of the other processes that use its file.
type sharing struct {
	lock  *os.File    // holds this store's read lock (share_linux.go; elsewhere no lock)
	alone atomic.Bool // no other process holds the lock: the cache may serve reads
	// foreign counts the commits of other connections that the writer
	// noticed; a lease taken before the latest one is checked in the table.
	foreign atomic.Int64
	version int64 // the writer's data_version at its last look (writer only)
	stop    chan struct{}
	stopped chan struct{}
}

// openSharing takes this store's lock on path's lock file and starts
// asking whether it is alone.
func openSharing(path string) (*sharing, error) {
	sh := &sharing{stop: make(chan struct{}), stopped: make(chan struct{})}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockShared(f); err != nil {
		f.Close()
		return nil, err
	}
	sh.lock = f
	sh.check()
	go sh.watch()
	return sh, nil
}

// check asks whether another store holds a lock on the file.
func (sh *sharing) check() {
	other, err := lockedByOther(sh.lock)
	sh.alone.Store(err == nil && !other) // when it cannot tell, it assumes company
}

func (sh *sharing) watch() {
	defer close(sh.stopped)
	t := time.NewTicker(ShareCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-sh.stop:
			return
		case <-t.C:
			sh.check()
		}
	}
}

func (sh *sharing) close() error {
	close(sh.stop)
	<-sh.stopped
	return sh.lock.Close() // releases the lock
}

// notice reads the writer's data_version inside write transaction tx and
// reports whether another connection has committed since the writer last
// looked. It counts such a commit in foreign.
func (sh *sharing) notice(ctx context.Context, tx *sql.Tx) (bool, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return false, err
	}
	changed := sh.version != 0 && v != sh.version
	sh.version = v
	if changed {
		sh.foreign.Add(1)
	}
	return changed, nil
}
