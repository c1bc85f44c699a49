package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// The failure counts below are kept in the store, not in the throttle's
// memory: with several processes behind a balancer, a count in each
// process's memory let an attacker who spread attempts over N processes
// make N times the guesses, and let an unknown handle (counted per
// process) tell itself apart from a user's (counted in the users table)
// by not locking. Every login reads its address's count (and its
// handle's, ghostKey), a failure writes them; a password change and an
// MFA check read theirs (a success with no failures before writes
// nothing). The rates (GCRA, throttle.go) stay in memory: a store write
// per attempt is too much for a rate limit.
//
// The keys: "addr:" and the throttle address (an IPv6 client's /64) for
// failed logins from an address (a handle's from that address among
// them: no success clears this count, so until 2026-11-29 a count per
// handle and address, which a success cleared, never bound); ghostKey for
// an unknown handle's failed logins (LockAfter free, as a user's);
// "password:" and the user's id for wrong current passwords at a password
// change; "mfa:" and the user's id for wrong MFA codes at login and at
// step-up (FailuresFree free, but for ghostKey); resetKey (users.go) for
// a handle's password reset requests in a clock hour, not failures but a
// count shared the same way (ResetMessagesPerHour are sent).

// FailuresForget is how long a shared failure count lasts after its last
// failure. It is far past the back-off's cap (BackoffMax), so a patient
// attacker at the capped rate keeps the cap; forgetting is what bounds
// the table, with failuresSweepMax.
const FailuresForget = 24 * time.Hour

// failuresSweepMax is how many forgotten keys each recorded failure
// deletes at most: a recorded failure adds one key at most, so forgotten
// keys do not pile up, and the table holds about the keys that failed in
// the last FailuresForget. A failed login records two at most (its
// address, an unknown handle) and costs a password hash (hashslots.go
// bounds them); the other keys belong to a user.
const failuresSweepMax = 100

// ghostKey is the failure key of an unknown handle's failed logins: a
// keyed hash of the (normalized) handle, so that the table does not
// collect the handles people tried. Keyed by a key derived from
// Options.SecretKey, the same in every process on the store (serve always
// has one); without it (tests) the hash is unkeyed.
func (s *Service) ghostKey(handle string) string {
	return "ghost:" + s.keyedHash(handle)
}

// keyedHash is the keyed hash (handleKey) of text that names a handle or
// a user: the store's keys that must not name them.
func (s *Service) keyedHash(text string) string {
	return keyedHashOf(s.handleKey, text)
}

// keyedHashOf is keyedHash under key (handleKeyOf's): HandleTarget's
// hash, outside a Service, is this one.
func keyedHashOf(key []byte, text string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(text))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// handleKeyOf derives keyedHash's key from the secret key: not the key
// itself, which seals TOTP secrets. (Its label names the first use; the
// known addresses' keys use it too, and changing it would forget every
// count and known address.)
func handleKeyOf(secret []byte) []byte {
	if secret == nil {
		return nil
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("peakwallet: the failure key of an unknown handle"))
	return mac.Sum(nil)
}

// failureWait returns key's shared failure count and how long it must
// still wait: none until free failures, then the doubling back-off from
// its last failure (Limits.backoff).
func (s *Service) failureWait(ctx context.Context, key string, free int, now time.Time) (int, time.Duration, error) {
	n, last, err := s.store.Failures(ctx, key, now.Add(-FailuresForget))
	if err != nil || n == 0 {
		return 0, 0, err
	}
	return n, max(last.Add(s.throttle.limits.backoff(n, free)).Sub(now), 0), nil
}

// recordFailure adds one failure of key, for every process.
func (s *Service) recordFailure(ctx context.Context, key string, now time.Time) error {
	_, err := s.store.RecordFailure(ctx, key, now, now.Add(-FailuresForget), failuresSweepMax)
	return err
}

// resetFailures forgets key's failures after a success; n is the count
// failureWait read, and none (the usual case) costs no write.
func (s *Service) resetFailures(ctx context.Context, key string, n int) error {
	if n == 0 {
		return nil
	}
	return s.store.ResetFailures(ctx, key)
}
