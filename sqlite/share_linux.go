package sqlite

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockShared takes a read lock on the whole of f, waiting for a writer's
// lock to go (none is ever taken: the test of lockedByOther only asks).
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
