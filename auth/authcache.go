package auth

import (
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Authentication cache. A wallet at its peak answers most requests with
// "busy", and each of them is authenticated first (the class and the
// client's queue depend on who asks): one store read per request was 15 %
// of the server's CPU at three times capacity, spent mostly on requests
// refused a microsecond later. Principals read from the store are reused
// for AuthCacheTTL.
//
// Revocation: a revocation made through this Service (logout, ending
// sessions, a password change or reset, revoking a merchant key or an
// operator) empties the cache at once, so it holds in this process from
// the next request. A revocation made by another process sharing the
// store is honoured here within AuthCacheTTL. Failed authentications are
// never cached: random tokens cannot fill the cache, and a key created
// elsewhere works at once.
//
// While the store is known not to answer (Options.StoreDown), a
// principal is kept up to AuthStaleMax past its time, never past its
// credential's own end (a session's expiry), and AuthenticateOrStale
// answers from it (stale) instead of reading the store: its caller
// authenticates again before it acts (keys.go). A revocation in this
// process forgets it as it forgets the rest. The window is long (an
// hour) because nothing rests on it but refusals: a stale principal's
// request is authenticated against the store again before anything acts
// on it, so all it can get stale is a 503 or a 429. With 1 min (until
// the late morning of 2026-11-29) an outage longer than that sent every
// refused request to the store for its principal again, and on a stalled
// PostgreSQL none reached the breaker (docs/overload.md, "PostgreSQL
// stalled for 10 s under load", its 80 s stall).
const (
	AuthCacheTTL = 5 * time.Second
	AuthStaleMax = time.Hour
	authCacheMax = 100_000 // principals; when full the cache starts over
)

type authCache struct {
	mu      sync.Mutex
	byHash  map[string]authEntry
	version uint64 // bumped by every revocation
}

type authEntry struct {
	p     pw.Principal
	until time.Time
	stale time.Time // until when it may be answered stale (getStale)
}

// get returns the principal cached for a token hash, with the version to
// pass to put after reading the store.
func (c *authCache) get(hash string, now time.Time) (pw.Principal, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if ok && now.Before(e.until) {
		return e.p, true, c.version
	}
	return pw.Principal{}, false, c.version
}

// getStale returns the principal cached for a token hash whose time has
// passed by at most AuthStaleMax, and not its credential's end.
func (c *authCache) getStale(hash string, now time.Time) (pw.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if ok && now.Before(e.stale) {
		return e.p, true
	}
	return pw.Principal{}, false
}

// put caches p until until (and, stale, AuthStaleMax longer, but not past
// ends when it is not zero), unless a revocation happened since version
// was read: what the store said before a revocation must not outlive it.
func (c *authCache) put(hash string, p pw.Principal, until, ends time.Time, version uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		return
	}
	if c.byHash == nil || len(c.byHash) >= authCacheMax {
		c.byHash = map[string]authEntry{}
	}
	stale := until.Add(AuthStaleMax)
	if !ends.IsZero() && ends.Before(stale) {
		stale = ends
	}
	c.byHash[hash] = authEntry{p: p, until: until, stale: stale}
}

// revoked forgets every cached principal.
func (c *authCache) revoked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	c.byHash = nil
}
