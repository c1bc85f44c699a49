package peakwallet

import (
	"errors"
	"fmt"
	"time"
)

// Idempotency limits.
const (
	IdempotencyKeyBytesMax = 255
	// IdempotencyRetention is how long a finished key is remembered.
	IdempotencyRetention = 24 * time.Hour
	// IdempotencyLease is how long an unfinished request owns its key. A
	// request that crashed before committing frees its key after this; one
	// that committed has marked the key done in the same transaction.
	IdempotencyLease = 60 * time.Second
)

// Idempotency record states.
const (
	IdempotencyInFlight = "in_flight"
	IdempotencyDone     = "done"
)

// IdempotencyKey scopes a client's key to its principal.
type IdempotencyKey struct {
	Principal string
	Key       string
}

// IdempotencyRecord remembers a request and, once done, its response.
type IdempotencyRecord struct {
	IdempotencyKey
	Fingerprint string    // hash of method, path and body
	Token       string    // the lease owner's random token while in flight
	State       string    // IdempotencyInFlight or IdempotencyDone
	Status      int       // HTTP status of the original response, once done
	Body        []byte    // body of the original response, once done
	CreatedAt   time.Time // when the key was first seen
	LockedAt    time.Time // when the current owner claimed it
}

// KeyReusedError is the refusal of a request whose Idempotency-Key its
// principal used for a request with other content (idempotency_key_reused),
// wherever that is found: the claim, the ledger's batch, the surge queue.
func KeyReusedError() error {
	return Errorf(EIDEMREUSED, "this Idempotency-Key was used for a different request")
}

// ErrKeyInFlight is wrapped by the idempotency_key_reused of a claim whose
// key is held by a request with other content that has not finished, within
// its lease (a stale one died, and holds the key until it is forgotten): to
// its client the answer is the same, but that request may yet be refused
// and give the key back, so the key is not spent. A cancellation of the
// surge queue waits for it, as for a request with the same content
// (TestACancelWaitsForAnotherBodyInFlightUnderTheKey).
var ErrKeyInFlight = errors.New("the key is held by a request with other content that has not finished")

// ValidateIdempotencyKey checks a client-supplied key.
func ValidateIdempotencyKey(key string) error {
	if key == "" {
		return Errorf(EIDEMREQUIRED, "the Idempotency-Key header is required on requests that move money")
	}
	if len(key) > IdempotencyKeyBytesMax {
		return Errorf(EINVALID, "Idempotency-Key must be 1 to %d characters", IdempotencyKeyBytesMax)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return Errorf(EINVALID, "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

// Replayed is the outcome of a claimed request whose key the ledger found
// already finished when it came to run it: another request with the same
// key and the same content committed first, which the claim could not see
// (on SQLite, one that another process ran during a handover, ADR 0036; on
// PostgreSQL, one that took a stale lease over). The ledger looks for such
// keys under its locks (Tx.LockIdempotency). Nothing was done again;
// Record holds the remembered answer, which the caller gives as a replay.
type Replayed struct{ Record *IdempotencyRecord }

func (e *Replayed) Error() string {
	return fmt.Sprintf("idempotency key %q was already used by a finished request; its answer is replayed", e.Record.Key)
}
