package auth

import "fmt"

// HandleTargetPrefix begins the audit target of a handle that is no
// user's (handleTarget).
const HandleTargetPrefix = "handle:"

// handleTarget is the audit target of records about a handle that is no
// user's (a failed login, a reset request, a support look-up): its keyed
// hash (keyedHash, as the failures table keeps it), not the text. The
// audit log can never be edited or erased, and until 2026-11-29 it kept
// the typed handle, so a credential-stuffing run wrote the addresses and
// phone numbers of people who are not customers into it for good. A
// user's records name the user's ID, as before. handle is normalised
// (ParseHandle): every spelling of it has one target.
func (s *Service) handleTarget(handle string) string {
	return HandleTargetPrefix + s.keyedHash(handle)
}

// HandleTarget is the audit target that a Service with Options.SecretKey
// secretKey writes for handle (any spelling, parsed as ParseHandle does)
// when it is no user's: for an investigator asking whether a handle was
// tried or looked up (peakwallet audit --handle). Without the secret key
// there is no answer, and it says so rather than giving a hash no record
// holds. Errors: invalid_request (the handle), and a plain error for a
// secret key that is not SecretKeyBytes long.
func HandleTarget(secretKey []byte, handle string) (string, error) {
	if len(secretKey) != SecretKeyBytes {
		return "", fmt.Errorf("auth: a handle's audit target needs the %d-byte secret key (PEAKWALLET_SECRET_KEY)", SecretKeyBytes)
	}
	h, err := ParseHandle(handle)
	if err != nil {
		return "", err
	}
	return HandleTargetPrefix + keyedHashOf(handleKeyOf(secretKey), h), nil
}
