package auth

import (
	"context"
	"runtime"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Password hashes are argon2id: by design each takes tens of milliseconds
// of a core and Argon2Params.Memory of memory (19 MiB by default). Sign-up,
// login and password changes are public or nearly so, and throttled per
// address, but not in all: a login surge from many addresses (everyone
// signing in for a sale, or a credential-stuffing botnet) ran one hash per
// request at once, taking every core from the payments and 19 MiB each
// (a thousand at once, 19 GiB). So a process runs at most
// PasswordHashesMax hashes at once; the others wait for a slot within
// their request's deadline, and past it are answered busy with a
// Retry-After. The default leaves half the cores (at least one) to
// everything else: payments go first.

// PasswordHashRetry is the Retry-After of a sign-in refused for want of a
// hashing slot.
const PasswordHashRetry = time.Second

// DefaultPasswordHashesMax is the default bound: half the cores Go uses,
// at least one.
func DefaultPasswordHashesMax() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// hashSlot waits for a password-hashing slot until ctx ends, and returns
// its release.
func (s *Service) hashSlot(ctx context.Context) (func(), error) {
	// A free slot first: with ctx already done, the select below could
	// pick the refusal though a slot is free.
	select {
	case s.hashes <- struct{}{}:
		return func() { <-s.hashes }, nil
	default:
	}
	select {
	case s.hashes <- struct{}{}:
		return func() { <-s.hashes }, nil
	case <-ctx.Done():
		return nil, &pw.Error{Code: pw.EBUSY, Op: "auth.hashSlot", Retry: PasswordHashRetry,
			Message: "too many sign-ins at once; try again in a moment"}
	}
}

// checkPassword is CheckPassword in a hashing slot.
func (s *Service) checkPassword(ctx context.Context, encoded, password string) (bool, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return CheckPassword(encoded, password)
}

// hashPassword is HashPassword with the service's parameters, in a
// hashing slot.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return HashPassword(password, s.argon2)
}
