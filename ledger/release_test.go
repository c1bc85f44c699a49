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
}

func (s *releaseStore) ReleaseIdempotency(ctx context.Context, key pw.IdempotencyKey, token string) error {
	s.mu.Lock()
	refuse := s.away || s.failing[key.Key]
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
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "release.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	s := &releaseStore{Store: inner}
	var mu sync.Mutex
	now := time.Now()
	tick := func() time.Time { // each claim a millisecond after the last
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	l := ledger.New(s, ledger.Options{Now: tick})
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	key := func(i int) pw.IdempotencyKey {
		return pw.IdempotencyKey{Principal: "p1", Key: fmt.Sprintf("key-%d", i)}
	}
	const n = 6
	claims := make([]*pw.IdempotencyRecord, n)
	for i := range claims {
		claim, _, err := l.BeginIdempotent(ctx, key(i), "fp")
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
	s.away, s.failing = false, map[string]bool{key(0).Key: true}
	s.mu.Unlock()
	if left := l.ReleaseRound(); left != 1 {
		t.Fatalf("after a round with the store back, %d releases pending, want 1 (the one that fails)", left)
	}
	for i := range claims {
		_, _, err := l.BeginIdempotent(ctx, key(i), "fp")
		switch {
		case i == 0 && pw.ErrorCode(err) != pw.EIDEMINUSE:
			t.Fatalf("the key whose release fails: %v, want still in use", err)
		case i > 0 && err != nil:
			t.Fatalf("key %d, whose release the store makes: %v, want released", i, err)
		}
	}
}
