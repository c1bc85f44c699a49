package auth

import (
	"context"
	"time"
)

// A user's known addresses, those a successful login came from, are
// exempt from the user's lock (Limits.LockAfter): the owner at home is
// not locked out by a stranger's guesses. They are kept in the store, for
// every process: in each process's memory an address was known only to
// the process that saw the login, and after a lock the others refused the
// owner at home. Read while a handle is locked, and at a successful
// login, which writes only when the address's mark is a day old
// (markKnown).

// knownAddressTTL is how long a successful login makes its address
// "known" to the user, exempt from the per-handle lock.
const knownAddressTTL = 30 * 24 * time.Hour

// knownAddressesSweepMax is how many forgotten keys each mark deletes at
// most: a mark adds one key at most, so the table holds about the keys
// of the successful logins of the last knownAddressTTL, each of which
// took a user's right password.
const knownAddressesSweepMax = 100

// knownKey is the key of addr (throttleAddress) known to id (a user's; a
// locked unknown handle's ghostKey, which no login marks): a keyed hash,
// as ghostKey's, so that the table keeps no list of where users log in
// from. Neither holds a NUL.
func (s *Service) knownKey(id, addr string) string {
	return "known:" + s.keyedHash(id+"\x00"+addr)
}

// isKnown reports whether a login to id came from addr in the last
// knownAddressTTL, in any process.
func (s *Service) isKnown(ctx context.Context, id, addr string, now time.Time) (bool, error) {
	return s.store.KnownAddress(ctx, s.knownKey(id, addr), now.Add(-knownAddressTTL))
}

// knownAddressRefresh is how old a known address's mark may be before a
// successful login from it marks it again: a user logging in from home
// several times a day costs one write a day, not one each time (on
// SQLite, behind the single writer the payments use), and the address
// stays known at least knownAddressTTL - knownAddressRefresh after the
// last login.
const knownAddressRefresh = 24 * time.Hour

// markKnown makes addr known to the user id, for every process: a read,
// and a write only when the mark is older than knownAddressRefresh.
func (s *Service) markKnown(ctx context.Context, id, addr string, now time.Time) error {
	key := s.knownKey(id, addr)
	if fresh, err := s.store.KnownAddress(ctx, key, now.Add(-knownAddressRefresh)); err != nil || fresh {
		return err
	}
	return s.store.MarkKnownAddress(ctx, key, now, now.Add(-knownAddressTTL), knownAddressesSweepMax)
}
