package sqlite

import (
	"sync"

	pw "github.com/peakwallet/peakwallet"
)

// AccountCacheMax bounds the accounts kept in memory; past it the cache
// starts over (it refills from the database on the next writes).
const AccountCacheMax = 1 << 20

// accountCache keeps the committed state of accounts for the writer, so a
// batch locks its accounts without reading them. It is exact because only
// the writer fills and changes it: with the write lock held (rows read
// inside the write transaction are committed state), and after a commit
// (the balances that commit wrote); and because the writer empties it when
// another process has written (share.go). Readers never fill it: a read
// snapshot may be older than the cache.
type accountCache struct {
	mu sync.Mutex
	m  map[string]pw.Account
	// epoch counts the clears. A transaction applies what it committed only
	// if no clear came between its start and then: a write transaction
	// that began after this one's commit (another goroutine's: intents,
	// the cache's check) may have noticed another process's commit, which
	// can be newer than this one's balances.
	epoch uint64
}

// get returns copies of the cached accounts among ids and the ids missing.
func (c *accountCache) get(ids []string) (map[string]*pw.Account, []string) {
	found := make(map[string]*pw.Account, len(ids))
	var missing []string
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if a, ok := c.m[id]; ok {
			found[id] = &a
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

// one returns a copy of a cached account.
func (c *accountCache) one(id string) (*pw.Account, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[id]
	return &a, ok
}

// put caches committed accounts (read under the write lock).
func (c *accountCache) put(list []*pw.Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range list {
		c.set(a)
	}
}

// epochNow is the clears so far; a write transaction reads it at its start.
func (c *accountCache) epochNow() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// committed applies what a committed transaction wrote, unless the cache
// was cleared since the transaction began (epoch), when it may be stale.
func (c *accountCache) committed(ch *pw.Changes, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	for _, a := range ch.NewAccounts {
		c.set(a)
	}
	for _, a := range ch.Balances {
		c.set(a)
	}
}

func (c *accountCache) set(a *pw.Account) {
	if c.m == nil || len(c.m) >= AccountCacheMax {
		c.m = make(map[string]pw.Account)
	}
	c.m[a.ID] = *a
}

// clear forgets every account: another process has written.
func (c *accountCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.epoch++
}
