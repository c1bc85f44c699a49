package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// releaseStore refuses key releases: all of them while away, and those of
// the keys in failing always (a claim whose release waits for a batch
// that does not end, say).
type releaseStore struct {
	pw.Store
	mu      sync.Mutex
	away    bool
	failing map[string]bool
	refused int // releases refused, away or failing
}

func (s *releaseStore) ReleaseIdempotency(ctx context.Context, key pw.IdempotencyKey, token string) error {
	s.mu.Lock()
	refuse := s.away || s.failing[key.Key]
	if refuse {
		s.refused++
	}
	s.mu.Unlock()
	if refuse {
		return &pw.Error{Code: pw.EUNAVAILABLE, Op: "test.ReleaseIdempotency", Err: errors.New("refused by the test")}
	}
	return s.Store.ReleaseIdempotency(ctx, key, token)
}

// TestAFailingReleaseHoldsBackNoOther: releases refused while the store
// was away are retried; once it is back, one that still fails (the oldest
// claim, tried first) does not keep the others from being made in the
// same round. Until 2026-11-29 a round stopped at its first failure.
func TestAFailingReleaseHoldsBackNoOther(t *testing.T) {
	l, s, keys := mustPendReleases(t, 6)
	s.mu.Lock()
	s.failing = map[string]bool{keys[0].Key: true}
	s.mu.Unlock()
	if left := l.ReleaseRound(); left != 1 {
		t.Fatalf("after a round with the store back, %d releases pending, want 1 (the one that fails)", left)
	}
	for i, key := range keys {
		_, _, err := l.BeginIdempotent(context.Background(), key, "fp")
		switch {
		case i == 0 && pw.ErrorCode(err) != pw.EIDEMINUSE:
			t.Fatalf("the key whose release fails: %v, want still in use", err)
		case i > 0 && err != nil:
			t.Fatalf("key %d, whose release the store makes: %v, want released", i, err)
		}
	}
}

// mustPendReleases claims n keys on a ledger over s, and releases them
// while s is away, so that all n releases are pending; the background
// retrier is held, and each round is the test's. It returns the ledger
// and the keys, the claims' leases ending in their order.
func mustPendReleases(t *testing.T, n int) (*ledger.Ledger, *releaseStore, []pw.IdempotencyKey) {
	t.Helper()
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "release.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	s := &releaseStore{Store: inner}
	var mu sync.Mutex
	now := time.Now()
	tick := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	l := ledger.New(s, ledger.Options{Now: tick})
	t.Cleanup(func() { l.Close() })
	l.HoldReleaseRetrier()
	ctx := context.Background()
	keys := make([]pw.IdempotencyKey, n)
	claims := make([]*pw.IdempotencyRecord, n)
	for i := range claims {
		keys[i] = pw.IdempotencyKey{Principal: "p1", Key: fmt.Sprintf("key-%d", i)}
		claim, _, err := l.BeginIdempotent(ctx, keys[i], "fp")
		if err != nil || claim == nil {
			t.Fatalf("claim %d: %v, %v", i, claim, err)
		}
		claims[i] = claim
	}
	s.mu.Lock()
	s.away = true
	s.mu.Unlock()
	for _, c := range claims {
		l.ReleaseIdempotent(ctx, c)
	}
	s.mu.Lock()
	s.away, s.refused = false, 0
	s.mu.Unlock()
	return l, s, keys
}

// TestAStuckClaimBatchHoldsBackNoOtherRelease: the releases of a claim
// batch that does not end fail together, and their claims, made at the
// same moment, are next to each other in the round's order, the oldest
// first. Three or more of them ended every round before the releases
// after them were tried, for as long as the batch lasted: the releases
// the store would have made waited as they did before rounds went past
// a failure. A release that failed is now tried after those that have
// not, so the others are made in the next round.
func TestAStuckClaimBatchHoldsBackNoOtherRelease(t *testing.T) {
	l, s, keys := mustPendReleases(t, 8)
	s.mu.Lock()
	s.failing = map[string]bool{keys[0].Key: true, keys[1].Key: true, keys[2].Key: true, keys[3].Key: true}
	s.mu.Unlock()
	l.ReleaseRound()
	if left := l.ReleaseRound(); left != 4 {
		t.Fatalf("after two rounds with the store back, %d releases pending, want 4 (the stuck batch's)", left)
	}
	for i, k := range keys {
		_, _, err := l.BeginIdempotent(context.Background(), k, "fp")
		switch {
		case i < 4 && pw.ErrorCode(err) != pw.EIDEMINUSE:
			t.Fatalf("key %d, whose release fails: %v, want still in use", i, err)
		case i >= 4 && err != nil:
			t.Fatalf("key %d, whose release the store makes: %v, want released", i, err)
		}
	}
}

// TestAReleaseRoundIsBounded: each release that fails may take
// releaseTimeout (one waiting for its claim's batch does), so a round
// tries at most releaseRoundFailsMax (3) that fail, wherever they are in
// its order. Counting only failures in a row, a round went on past
// failures between successes: with k of them, k seconds, the releases
// after them and the ledger's Close waiting as long.
func TestAReleaseRoundIsBounded(t *testing.T) {
	const n = 12
	l, s, keys := mustPendReleases(t, n)
	s.mu.Lock()
	s.failing = map[string]bool{}
	for i := 1; i < n; i += 2 {
		s.failing[keys[i].Key] = true
	}
	s.mu.Unlock()
	for round := range 3 {
		l.ReleaseRound()
		s.mu.Lock()
		refused := s.refused
		s.refused = 0
		s.mu.Unlock()
		if refused > 3 {
			t.Fatalf("round %d: %d releases failed, want at most 3", round, refused)
		}
	}
}
