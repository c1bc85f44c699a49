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
