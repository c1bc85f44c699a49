package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
// in the batch (tx.LockIdempotency).
//
// Reads served from the cache (Account) must know before the writer looks,
// and exactly: a balance read from one process just after a payment made
// through the other must show the payment. Two lock files beside the
// database settle it, with open file description locks (F_OFD_SETLK):
// unlike classic POSIX locks they belong to the store's own open file, so
// two stores in one process (the tests) see each other too, and closing
// another descriptor of the file releases nothing. They go when the
// process does, however it ends.
//
//   - path.lock: every store holds a read lock on it for as long as it is
//     open (its presence), and asks every ShareCheckInterval whether
//     another store holds one too.
//   - path.cache-lock (the cache's token): a store serves reads from its
//     cache only while it holds the write lock on it, which it takes only
//     while no other store is present. Every store holds at least the read
//     lock from before its first write (migrations included) to its close.
//     So a store that opens beside one serving from its cache waits in
//     Open until that one has seen it, stopped using its cache and let go
//     of the write lock (at most ShareCheckInterval, ShareWaitMax at
//     worst): nothing can be written that a cache serving reads does not
//     show. A store alone again takes the write lock back, and runs an
//     empty write transaction (which empties its cache if another process
//     committed meanwhile) before its reads use the cache again.
//
// Until 2026-11-27 (afternoon) there was one lock file, and a process could
// serve a cached balance for up to ShareCheckInterval after another had
// opened the file, and, worse, after the other had gone, until its own
// writer next ran (TestACachedBalanceIsNotServedAfterTheOtherPaid,
// TestACacheIsCheckedBeforeItServesAgain). A store of that version holds
// its read lock on the whole of path.lock and knows nothing of the token:
// beside it, a store of this version sees company and never takes the
// token's write lock, and it sees this one as company too.

// ShareCheckInterval is how often a store asks whether another process has
// its database open.
const ShareCheckInterval = 100 * time.Millisecond

// ShareWaitMax bounds how long Open waits for a store serving reads from
// its cache to give way (Options.ShareWait). Past it the other process is
// stuck, or is not peakwallet, and Open fails with EUNAVAILABLE.
const ShareWaitMax = 10 * time.Second

// shareValidateTimeout bounds the empty transaction that checks the cache
// before a store alone again serves reads from it.
const shareValidateTimeout = 2 * time.Second

// sharing is a store's view of the other processes that use its file.
type sharing struct {
	lock  *os.File    // its read lock says this store is here (share_linux.go; elsewhere no lock)
	token *os.File    // the cache's token: written-locked while alone, read-locked otherwise
	alone atomic.Bool // this store holds the token's write lock and has checked its cache: the cache may serve reads
	// exclusive says the token's lock is the write lock (changed by Open,
	// then by the watcher only).
	exclusive atomic.Bool
	// validate runs an empty write transaction, which empties the cache
	// if another process committed since the writer last looked.
	validate func() error
	// foreign counts the commits of other connections that the writer
	// noticed; a lease taken before the latest one is checked in the table.
	foreign atomic.Int64
	version int64 // the writer's data_version at its last look (writer only)
	stop    chan struct{}
	stopped chan struct{}
}

// errCacheHeld says another store kept the cache's token past the wait.
var errCacheHeld = errors.New("another process with the database open serves reads from its cache and did not give way")

// openSharing takes this store's locks on path's lock files: it returns
// once it holds the cache's token, for writing if no other store is here,
// else for reading. Call watch to start asking, and close at the end.
func openSharing(path string, wait time.Duration) (*sharing, error) {
	sh := &sharing{stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := sh.open(path, wait); err != nil {
		return nil, errors.Join(err, sh.closeFiles())
	}
	return sh, nil
}

func (sh *sharing) open(path string, wait time.Duration) (err error) {
	if sh.lock, err = os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return err
	}
	if err := lockShared(sh.lock); err != nil {
		return err
	}
	if sh.token, err = os.OpenFile(path+".cache-lock", os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return err
	}
	alone, err := sh.takeToken()
	if err != nil {
		return err
	}
	if alone { // nothing is cached yet: no check is needed
		sh.alone.Store(true)
		return nil
	}
	// Wait for the read lock (at once if this store holds it already,
	// having given way to one here).
	for deadline := time.Now().Add(wait); ; {
		got, err := tryLock(sh.token, false)
		if err != nil {
			return err
		}
		if got {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %v", errCacheHeld, wait)
		}
		time.Sleep(ShareCheckInterval / 20)
	}
}

// watch starts asking, every ShareCheckInterval, whether another store is
// here; validate is run before the cache serves reads again.
func (sh *sharing) watch(validate func() error) {
	sh.validate = validate
	go sh.run()
}

// check gives the cache's token up when another store has come, and takes
// it back when none is left.
func (sh *sharing) check() {
	other, err := lockedByOther(sh.lock)
	company := err != nil || other // when it cannot tell, it assumes company
	switch {
	case company:
		sh.alone.Store(false) // first: no read uses the cache from here on
		if sh.exclusive.Load() {
			_ = sh.giveWay() // on an error, tried again at the next check
		}
	case !sh.alone.Load():
		sh.claim()
	}
}

// giveWay turns the token's write lock into a read lock: a store waiting
// in Open may go on. The change is atomic, so no third store can take the
// write lock in between.
func (sh *sharing) giveWay() error {
	got, err := tryLock(sh.token, false)
	if err == nil && !got {
		err = errors.New("the cache's token could not be turned into a read lock")
	}
	if err == nil {
		sh.exclusive.Store(false)
	}
	return err
}

// takeToken takes the token's write lock, unless this store holds it
// already, and keeps it if no other store is here: true then. Otherwise
// this store holds the read lock (it gave way) or none.
func (sh *sharing) takeToken() (bool, error) {
	if !sh.exclusive.Load() {
		got, err := tryLock(sh.token, true)
		if err != nil || !got {
			return false, err
		}
		sh.exclusive.Store(true)
	}
	if other, err := lockedByOther(sh.lock); err != nil || other {
		return false, sh.giveWay() // another is here (or came since the last look), or it cannot tell
	}
	return true, nil
}

// claim takes the token's write lock when no other store is here, checks
// the cache, and lets reads use it.
func (sh *sharing) claim() {
	if alone, err := sh.takeToken(); err != nil || !alone {
		return
	}
	if err := sh.validate(); err != nil {
		return // tried again at the next check; a store waiting in Open waits until then
	}
	sh.alone.Store(true)
}

func (sh *sharing) run() {
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

// close stops the watcher, if it was started, and lets go of both locks.
func (sh *sharing) close() error {
	if sh.validate != nil {
		close(sh.stop)
		<-sh.stopped
	}
	return sh.closeFiles()
}

func (sh *sharing) closeFiles() error {
	var err error
	for _, f := range []*os.File{sh.token, sh.lock} {
		if f != nil {
			err = errors.Join(err, f.Close()) // releases its lock
		}
	}
	return err
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
