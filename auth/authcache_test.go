package auth_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/sqlite"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// TestAuthCacheRevocation: a principal is reused for AuthCacheTTL; a
// revocation through the service holds at once; one made by another
// process on the same store holds within AuthCacheTTL.
func TestAuthCacheRevocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peakwallet.db")
	store, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clk := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	here := auth.New(store, nil, auth.Options{Now: clk.now})
	other := auth.New(store, nil, auth.Options{Now: clk.now}) // another process
	admin := pw.NewContextWithPrincipal(context.Background(), pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: pw.RoleAdmin})
	a, err := here.CreateOperator(admin, auth.OperatorCreate{Name: "a", Role: pw.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	b, err := here.CreateOperator(admin, auth.OperatorCreate{Name: "b", Role: pw.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{a.Key, b.Key} {
		if p, err := here.Authenticate(ctx, key); err != nil || p.Kind != pw.PrincipalOperator {
			t.Fatalf("a new key: %+v, %v", p, err)
		}
	}

	// Revoked here: refused from the next request on.
	if err := here.RevokeOperator(admin, a.Operator.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, a.Key); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
		t.Fatalf("a key revoked by this process still authenticates: %v", err)
	}

	// Revoked by another process: accepted from the cache until the TTL
	// passes, refused after.
	if _, err := here.Authenticate(ctx, b.Key); err != nil { // cached again
		t.Fatal(err)
	}
	if err := other.RevokeOperator(admin, b.Operator.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, b.Key); err != nil {
		t.Fatalf("within the TTL the cached principal is reused: %v", err)
	}
	clk.add(auth.AuthCacheTTL)
	if _, err := here.Authenticate(ctx, b.Key); pw.ErrorCode(err) != pw.EUNAUTHORIZED {
		t.Fatalf("a key revoked elsewhere still authenticates after %v: %v", auth.AuthCacheTTL, err)
	}

	// Failures are not cached: a key created elsewhere works at once.
	if _, err := here.Authenticate(ctx, "pwo_notakeyatall"); err == nil {
		t.Fatal("a made-up key authenticated")
	}
	c, err := other.CreateOperator(admin, auth.OperatorCreate{Name: "c", Role: pw.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, c.Key); err != nil {
		t.Fatalf("a key created by another process: %v", err)
	}
}

// countingStore counts the principal reads behind authentication, and
// fails them while down.
type countingStore struct {
	auth.Store
	mu    sync.Mutex
	reads int
	down  bool
}

func (s *countingStore) read() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.down {
		return pw.Errorf(pw.EUNAVAILABLE, "the test's store is down")
	}
	return nil
}

func (s *countingStore) OperatorByHash(ctx context.Context, hash string) (*auth.Operator, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.Store.OperatorByHash(ctx, hash)
}

func (s *countingStore) SessionByHash(ctx context.Context, hash string) (*auth.Session, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.Store.SessionByHash(ctx, hash)
}

func (s *countingStore) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

// TestAStalePrincipalIsAnsweredOnlyWhileTheStoreIsDown: while the store
// is known down (Options.StoreDown), AuthenticateOrStale answers a
// principal whose cached time has passed from the cache, stale, without
// reading the store, for at most AuthStaleMax, never past a session's
// expiry and never after a revocation made here; Authenticate always
// reads the store once the cached time has passed. Until 2026-11-29 every
// request refused in an outage read the store first (docs/overload.md,
// "PostgreSQL stalled for 10 s under load").
func TestAStalePrincipalIsAnsweredOnlyWhileTheStoreIsDown(t *testing.T) {
	inner, err := sqlite.Open(filepath.Join(t.TempDir(), "peakwallet.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	store := &countingStore{Store: inner}
	clk := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	var downMu sync.Mutex
	down := false
	setDown := func(d bool) {
		downMu.Lock()
		down = d
		downMu.Unlock()
		store.mu.Lock()
		store.down = d
		store.mu.Unlock()
	}
	svc := auth.New(store, nil, auth.Options{Now: clk.now, SessionTTL: auth.AuthCacheTTL + 10*time.Second,
		Argon2:    auth.Argon2Params{Memory: 8, Time: 1, Threads: 1},
		StoreDown: func() bool { downMu.Lock(); defer downMu.Unlock(); return down }})
	admin := pw.NewContextWithPrincipal(context.Background(), pw.Principal{Kind: pw.PrincipalOperator, ID: "root", Role: pw.RoleAdmin})
	op, err := svc.CreateOperator(admin, auth.OperatorCreate{Name: "a", Role: pw.RoleSupport})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.SignUp(ctx, auth.SignUp{Handle: "ann@example.com", Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	ses, err := svc.Login(ctx, auth.Login{Handle: "ann@example.com", Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	mustFresh := func(what, token string) pw.Principal {
		t.Helper()
		p, stale, err := svc.AuthenticateOrStale(ctx, token)
		if err != nil || stale {
			t.Fatalf("%s: stale %v, %v", what, stale, err)
		}
		return p
	}
	want := mustFresh("the operator with the store up", op.Key)
	mustFresh("the session with the store up", ses.Token)

	clk.add(auth.AuthCacheTTL)
	setDown(true)
	before := store.count()
	p, stale, err := svc.AuthenticateOrStale(ctx, op.Key)
	if err != nil || !stale || p != want {
		t.Fatalf("past the TTL with the store down: %+v stale %v, %v; want %+v, stale", p, stale, err, want)
	}
	if _, stale, err := svc.AuthenticateOrStale(ctx, ses.Token); err != nil || !stale {
		t.Fatalf("the session past the TTL with the store down: stale %v, %v", stale, err)
	}
	if n := store.count() - before; n != 0 {
		t.Fatalf("stale answers read the store %d times", n)
	}
	if _, err := svc.Authenticate(ctx, op.Key); pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("Authenticate with the store down: %v, want the store's unavailable (it is never stale)", err)
	}

	// Past the session's expiry (10 s after the TTL) it is not answered
	// stale; the operator key, without an end of its own, still is.
	clk.add(10 * time.Second)
	if _, _, err := svc.AuthenticateOrStale(ctx, ses.Token); pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("an expired session with the store down: %v, want a store read (unavailable)", err)
	}
	mustStale := func(what string) {
		t.Helper()
		if _, stale, err := svc.AuthenticateOrStale(ctx, op.Key); err != nil || !stale {
			t.Fatalf("%s: stale %v, %v", what, stale, err)
		}
	}
	mustStale("the operator 10 s later")
	// An outage of minutes: still answered stale. With a window of 1 min
	// (until the late morning of 2026-11-29), a stall of 80 s sent every
	// request to the store for its principal from its 65th second on, and
	// none reached the breaker (docs/overload.md, "PostgreSQL stalled for
	// 10 s under load", its 80 s stall).
	clk.add(10 * time.Minute)
	mustStale("the operator 10 min later")

	// The store back: read again.
	setDown(false)
	mustFresh("the store back", op.Key)

	// Past AuthStaleMax it is read, whatever the store.
	setDown(true)
	clk.add(auth.AuthCacheTTL + auth.AuthStaleMax)
	if _, _, err := svc.AuthenticateOrStale(ctx, op.Key); pw.ErrorCode(err) != pw.EUNAVAILABLE {
		t.Fatalf("past AuthStaleMax with the store down: %v, want a store read (unavailable)", err)
	}

	// A revocation made here forgets it.
	setDown(false)
	mustFresh("cached again", op.Key)
	clk.add(auth.AuthCacheTTL)
	if err := svc.RevokeOperator(admin, op.Operator.ID); err != nil {
		t.Fatal(err)
	}
	setDown(true)
	if _, _, err := svc.AuthenticateOrStale(ctx, op.Key); err == nil {
		t.Fatal("a key revoked here answered stale")
	}
}
