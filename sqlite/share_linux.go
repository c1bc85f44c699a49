package sqlite

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockShared takes a read lock on the whole of f, waiting for a writer's
// lock to go (none is ever taken on the presence file: lockedByOther only
// asks).
func lockShared(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
}

// lockedByOther reports whether another open file description holds a
// lock on f: whether a write lock would conflict with one.
func lockedByOther(f *os.File) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}

// tryLock takes (or turns this file's lock into) a write lock on the whole
// of f if exclusive, else a read lock, without waiting: false if another
// open file description's lock stands in the way.
func tryLock(f *os.File, exclusive bool) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_RDLCK}
	if exclusive {
		lk.Type = unix.F_WRLCK
	}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}
