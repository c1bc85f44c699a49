package ledger

import "time"

// SetUsualBatchTime sets the usual time of a committed batch, as a store
// that has been slow for a while would have taught it.
func (l *Ledger) SetUsualBatchTime(d time.Duration) { l.batchTime.Store(int64(d)) }

// ReleaseRound tries the pending key releases once, as the background
// retrier does every ReleaseRetryInterval, and returns how many are left.
func (l *Ledger) ReleaseRound() int {
	left, _ := l.releaseRound(l.clock())
	return left
}

// HoldReleaseRetrier keeps the background retrier from starting, so that
// only ReleaseRound tries the pending releases: a test then counts each
// round's store calls alone.
func (l *Ledger) HoldReleaseRetrier() {
	l.rel.mu.Lock()
	defer l.rel.mu.Unlock()
	l.rel.running = true
}
