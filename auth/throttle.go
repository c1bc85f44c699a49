package auth

import (
	"net/netip"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// Limits are the throttles of sign-up, login and codes. Rates are GCRA
// token buckets: Burst requests at once, then one per Every. The rates are
// in-process and small on purpose: the admission layer does general rate
// limiting; these guard only the security-sensitive doors, and a store
// write per attempt is too much for a rate limit. The back-offs after
// failures (per address, per handle or user:
// failed logins, wrong current passwords, wrong MFA codes) are counted in
// the store, for every process (failures.go).
type Limits struct {
	SignUpBurst  int
	SignUpEvery  time.Duration // per client address
	LoginBurst   int
	LoginEvery   time.Duration // per client address
	OTPBurst     int
	OTPEvery     time.Duration // per user
	FailuresFree int           // failed logins before back-off starts
	// BackoffFirst doubles with each failure past FailuresFree, up to
	// BackoffMax: the longest anyone (victim included) ever waits.
	BackoffFirst time.Duration
	BackoffMax   time.Duration
	// LockAfter failures on one handle, from any addresses, lock it
	// (with the same capped back-off) for addresses that have not logged
	// in to it before, unless the login carries a valid MFA code.
	LockAfter int
}

// DefaultLimits are the production limits (docs/security.md explains them).
var DefaultLimits = Limits{
	SignUpBurst: 5, SignUpEvery: 10 * time.Minute,
	LoginBurst: 20, LoginEvery: 3 * time.Second,
	OTPBurst: 3, OTPEvery: 5 * time.Minute,
	FailuresFree: 5, BackoffFirst: time.Second, BackoffMax: 15 * time.Minute,
	LockAfter: 10,
}

// throttleKeysMax bounds the in-process rate table; when full, stale entries
// are swept and, failing that, an arbitrary one is dropped (forgetting a
// throttle is safer than refusing everyone).
const throttleKeysMax = 100_000

type throttle struct {
	limits Limits
	mu     sync.Mutex
	tat    map[string]time.Time // GCRA theoretical arrival times
}

func newThrottle(l Limits) *throttle {
	return &throttle{limits: l, tat: map[string]time.Time{}}
}

// rateLimited is a rate_limited error carrying the honest Retry-After.
func rateLimited(wait time.Duration, msg string) error {
	if wait < time.Second {
		wait = time.Second
	}
	return &pw.Error{Code: pw.ERATELIMITED, Message: msg, Retry: wait}
}

// allow takes one token from key's bucket (GCRA: integers only, O(1)
// state), or returns how long until one is free.
func (t *throttle) allow(key string, burst int, every time.Duration, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tat, ok := t.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	limit := tat.Add(-time.Duration(burst-1) * every)
	if now.Before(limit) {
		return false, limit.Sub(now)
	}
	if !ok && len(t.tat) >= throttleKeysMax {
		sweep(t.tat, func(v time.Time) bool { return v.Before(now) })
	}
	t.tat[key] = tat.Add(every)
	return true, 0
}

// backoff is the wait after n failures: none until free failures, then
// BackoffFirst doubling with each further failure, capped at BackoffMax so
// that no one, the account's owner included, ever waits longer.
func (l Limits) backoff(n, free int) time.Duration {
	if n < free {
		return 0
	}
	d := l.BackoffFirst
	for i := free; i < n && d < l.BackoffMax; i++ {
		d *= 2
	}
	return min(d, l.BackoffMax)
}

// sweep deletes stale entries, or one arbitrary entry if none is stale.
func sweep[V any](m map[string]V, stale func(V) bool) {
	n := len(m)
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	if len(m) == n {
		for k := range m {
			delete(m, k)
			return
		}
	}
}

// ipv6PrefixBits is how much of an IPv6 address names one client: a /64
// is one network's, and a host picks any address in it (RFC 4941 privacy
// addresses change daily), so a throttle per whole address would be a
// throttle per guess.
const ipv6PrefixBits = 64

// throttleAddress is the client address that per-address throttles count:
// an IPv6 address's /64, an IPv4 address (also when written as IPv6,
// ::ffff:a.b.c.d) as it is. Anything else (no address: tests, the CLI) is
// its own key.
func throttleAddress(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.WithZone("").Prefix(ipv6PrefixBits)
	if err != nil {
		return addr
	}
	return p.String()
}
