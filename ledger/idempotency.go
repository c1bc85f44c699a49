package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	pw "github.com/peakwallet/peakwallet"
)

// BeginIdempotent claims key for a request whose method, path and body hash
// to fingerprint. On success exactly one of claim and replay is set: claim
// when this request must run (put it in a pw.Claim in ctx), replay when an
// earlier request with this key finished (answer with its status and body).
// Errors: idempotency_key_reused (the key was used for another request),
// idempotency_key_in_use (the first request is still running).
func (l *Ledger) BeginIdempotent(ctx context.Context, key pw.IdempotencyKey, fingerprint string) (claim, replay *pw.IdempotencyRecord, err error) {
	if err := pw.ValidateIdempotencyKey(key.Key); err != nil {
		return nil, nil, err
	}
	now := l.clock()
	rec := &pw.IdempotencyRecord{
		IdempotencyKey: key, Fingerprint: fingerprint, Token: newToken(),
		State: pw.IdempotencyInFlight, CreatedAt: now, LockedAt: now,
	}
	existing, err := l.store.ClaimIdempotency(ctx, rec, now.Add(-pw.IdempotencyLease))
	switch {
	case err != nil:
		return nil, nil, err
	case existing == nil:
		return rec, nil, nil
	case existing.Fingerprint != fingerprint:
		return nil, nil, pw.Errorf(pw.EIDEMREUSED, "this Idempotency-Key was used for a different request")
	case existing.State == pw.IdempotencyDone:
		return nil, existing, nil
	default:
		return nil, nil, pw.Errorf(pw.EIDEMINUSE, "a request with this Idempotency-Key is still in flight; retry later")
	}
}

// ReleaseIdempotent frees a claim whose request certainly committed
// nothing, so that a retry can run at once. It is safe even if the request
// did commit: the store only deletes a record still in flight under the
// claim's token, and a commit marks it done under the account locks first.
func (l *Ledger) ReleaseIdempotent(ctx context.Context, claim *pw.IdempotencyRecord) {
	if err := l.store.ReleaseIdempotency(context.WithoutCancel(ctx), claim.IdempotencyKey, claim.Token); err != nil {
		l.log.Warn("releasing idempotency key failed; it frees itself when its lease ends", "err", err)
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
