package ledger

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/faillog"
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
		// The claim may have been stored all the same (its commit was cut,
		// or its answer lost): give it back, now or once the store answers,
		// so that the client's retry is not refused in_use for the lease.
		l.releaseLater(rec)
		return nil, nil, err
	case existing == nil:
		return rec, nil, nil
	case existing.Fingerprint != fingerprint && existing.State != pw.IdempotencyDone &&
		!existing.LockedAt.Before(now.Add(-pw.IdempotencyLease)):
		// In flight within its lease. A stale lease is a request that died
		// before committing, which only the same body may take over: it
		// holds the key until the key is forgotten, and is not waited for
		// (TestTheSettlerDoesNotWaitForADeadRequestWithAnotherBodyUnderTheKey).
		return nil, nil, &pw.Error{Code: pw.EIDEMREUSED, Message: "this Idempotency-Key was used for a different request",
			Err: pw.ErrKeyInFlight}
	case existing.Fingerprint != fingerprint:
		return nil, nil, pw.KeyReusedError()
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
// A release the store refuses (it cannot be reached: the same outage that
// failed the request) is tried again in the background until it succeeds
// or the lease has ended anyway; without that, every request cut by an
// outage left its key in_use for IdempotencyLease after the database was
// back, and the client's retry was refused for a minute.
//
// The caller answers its client after the release, so the release waits
// for the store only until the caller's deadline (at least ReleaseWaitMin,
// however late the caller is; at most releaseTimeout), and is then left to
// the background retries. It goes on when the caller's context is
// cancelled: a client that left still frees its key. Until 2026-11-29 it
// kept no deadline at all, and on a stalled database every failed
// request's answer waited for as long as the stall lasted
// (TestAReleaseOnAStalledStoreHoldsNoAnswer).
func (l *Ledger) ReleaseIdempotent(ctx context.Context, claim *pw.IdempotencyRecord) {
	wait := releaseTimeout
	if d, ok := ctx.Deadline(); ok {
		wait = min(releaseTimeout, max(ReleaseWaitMin, time.Until(d)))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	if err := l.store.ReleaseIdempotency(rctx, claim.IdempotencyKey, claim.Token); err != nil {
		l.releaseLater(claim)
	}
}

// Releases retried in the background.
const (
	// ReleaseRetryInterval is how often pending releases are tried again.
	ReleaseRetryInterval = 250 * time.Millisecond
	// ReleasesPendingMax bounds the releases kept for retrying; past it a
	// key frees itself when its lease ends, as it would without retries.
	ReleasesPendingMax = 100_000
	// ReleaseWaitMin is what a release is given when its caller's
	// deadline has passed (it failed at it): a healthy store frees a key
	// in a millisecond or two, and the answer is not held longer.
	ReleaseWaitMin = 100 * time.Millisecond
	releaseTimeout = time.Second
)

type releaseKey struct {
	key   pw.IdempotencyKey
	token string
}

// releases are the claims whose release the store refused.
type releases struct {
	mu      sync.Mutex
	pending map[releaseKey]pendingRelease
	round   uint64 // rounds begun (releaseRound)
	running bool   // a retrying goroutine is running
}

// pendingRelease is when a claim's lease ends, and the last round whose
// try of its release failed (0: none yet).
type pendingRelease struct {
	leaseEnd    time.Time
	failedRound uint64
}

// releaseLater keeps rec's release for the background retrier.
func (l *Ledger) releaseLater(rec *pw.IdempotencyRecord) {
	l.rel.mu.Lock()
	defer l.rel.mu.Unlock()
	if len(l.rel.pending) >= ReleasesPendingMax {
		return
	}
	select {
	case <-l.quit:
		return // closing: the lease ends by itself
	default:
	}
	if l.rel.pending == nil {
		l.rel.pending = map[releaseKey]pendingRelease{}
	}
	l.rel.pending[releaseKey{rec.IdempotencyKey, rec.Token}] = pendingRelease{leaseEnd: rec.LockedAt.Add(pw.IdempotencyLease)}
	l.metrics.releasesPending.Set(float64(len(l.rel.pending)))
	if !l.rel.running {
		l.rel.running = true
		l.background.Add(1)
		go l.retryReleases()
	}
}

// retryReleases tries the pending releases every ReleaseRetryInterval,
// until none is left or the ledger closes.
func (l *Ledger) retryReleases() {
	defer l.background.Done()
	fails := faillog.New(l.log, "releasing idempotency keys")
	t := time.NewTicker(ReleaseRetryInterval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		now := l.clock()
		left, err := l.releaseRound(now)
		fails.Observe(now, err)
		if left == 0 {
			return
		}
	}
}

// releaseRoundFailsMax is how many releases may fail in one round
// before it stops: the store is away, or those releases wait for their
// claims' batch, each up to releaseTimeout; the rest wait for the next
// round. It bounds a round's time spent on failures to about
// releaseRoundFailsMax*releaseTimeout.
const releaseRoundFailsMax = 3

// releaseRound tries the pending releases once and returns how many are
// left and the last error. Those that have not failed yet, or failed in
// the earliest round, go first, and the claims whose leases end first
// first among them. A release whose lease has ended is dropped untried:
// its key is free for the next claim anyway.
//
// A claim whose caller left its group commit waits for that batch (up to
// its timeout), and the callers of a batch that does not end all leave
// together: their claims fail together, and are next to each other in
// lease order. Until 2026-11-29 a round stopped at its first failure; for
// a few hours after, at its third in a row; either way, such a batch's
// releases, tried first in every round, held back the releases after them
// that the store would have made, for as long as the batch lasted
// (TestAFailingReleaseHoldsBackNoOther, TestAStuckClaimBatchHoldsBackNoOtherRelease).
// Tried after the others, they hold back none; and tried in turn, the
// least recently failed first, none is kept from its try for more than a
// few rounds by others that keep failing. A round stops at its
// releaseRoundFailsMax-th failure, wherever those are in its order
// (counting them only in a row, a round went on past failures between
// successes, a second each: TestAReleaseRoundIsBounded). When none is
// left, the retrier stops (running is cleared under the lock, so that the
// next releaseLater starts another).
func (l *Ledger) releaseRound(now time.Time) (left int, err error) {
	type pending struct {
		k releaseKey
		pendingRelease
	}
	l.rel.mu.Lock()
	l.rel.round++
	thisRound := l.rel.round
	round := make([]pending, 0, len(l.rel.pending))
	for k, p := range l.rel.pending {
		round = append(round, pending{k, p})
	}
	l.rel.mu.Unlock()
	slices.SortFunc(round, func(a, b pending) int {
		if c := cmp.Compare(a.failedRound, b.failedRound); c != 0 {
			return c
		}
		return a.leaseEnd.Compare(b.leaseEnd)
	})
	var done, failed []releaseKey
	for _, p := range round {
		if now.Before(p.leaseEnd) {
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			rerr := l.store.ReleaseIdempotency(ctx, p.k.key, p.k.token)
			cancel()
			if rerr != nil {
				err = rerr
				if failed = append(failed, p.k); len(failed) >= releaseRoundFailsMax {
					break // still away, or still waiting: the rest at the next round
				}
				continue
			}
		}
		done = append(done, p.k)
	}
	l.rel.mu.Lock()
	defer l.rel.mu.Unlock()
	for _, k := range done {
		delete(l.rel.pending, k)
	}
	for _, k := range failed {
		if p, ok := l.rel.pending[k]; ok {
			p.failedRound = thisRound
			l.rel.pending[k] = p
		}
	}
	l.metrics.releasesPending.Set(float64(len(l.rel.pending)))
	left = len(l.rel.pending)
	if left == 0 {
		l.rel.running = false
	}
	return left, err
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
