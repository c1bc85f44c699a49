package ledger

import "time"

// SetUsualBatchTime sets the usual time of a committed batch, as a store
// that has been slow for a while would have taught it.
func (l *Ledger) SetUsualBatchTime(d time.Duration) { l.batchTime.Store(int64(d)) }
