package traffic

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/peakwallet/peakwallet/internal/faillog"
)

// Limits of the recorder.
const (
	// LiveMinutesN is how many recent minutes stay in memory after their
	// flush, for the live state (busy share, request rate).
	LiveMinutesN = 15
	// PendingMinutesMax bounds the minutes kept while the store cannot be
	// written: past it the oldest are dropped (and counted), so a store
	// outage cannot grow memory without end.
	PendingMinutesMax = 24 * 60
	// FlushInterval is how often Run flushes completed minutes.
	FlushInterval = 15 * time.Second
	// RollupInterval is how often Run recomputes rollups and retention.
	RollupInterval = 5 * time.Minute
)

// Retention says how long each resolution is kept; zero keeps forever.
type Retention struct {
	Minutes time.Duration
	Hours   time.Duration
	Days    time.Duration
}

// DefaultRetention keeps two days of minutes (enough to roll up any hour
// after a long outage of the loop), two years of hours (the forecast
// learns last year's holidays from them) and days forever.
var DefaultRetention = Retention{Minutes: 48 * time.Hour, Hours: 2 * 366 * 24 * time.Hour}

type minuteKey struct {
	start int64 // unix minute
	class string
}

// Recorder aggregates requests per minute and class in memory. It is safe
// for concurrent use; Observe takes one short lock.
type Recorder struct {
	now func() time.Time

	mu      sync.Mutex
	pending map[minuteKey]*Bucket // not yet flushed
	live    map[minuteKey]*Bucket // the last LiveMinutesN minutes, flushed or not
	dropped int64
}

// NewRecorder returns a recorder on clock now (time.Now when nil).
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, pending: map[minuteKey]*Bucket{}, live: map[minuteKey]*Bucket{}}
}

// Observe records one answered request.
func (r *Recorder) Observe(class string, status int, d time.Duration) {
	start := Minute.Truncate(r.now())
	k := minuteKey{start.Unix() / 60, class}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range []map[minuteKey]*Bucket{r.pending, r.live} {
		b := m[k]
		if b == nil {
			b = &Bucket{Start: start, Class: class}
			m[k] = b
		}
		b.Requests++
		switch {
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
			b.Busy++
		case status < 400:
			b.Successes++
		}
		b.Latency.Observe(d)
	}
}

// Flush merges the completed minutes (all of them when final) into s.
// When s fails they are kept for the next flush, up to PendingMinutesMax.
func (r *Recorder) Flush(ctx context.Context, s Store, final bool) error {
	current := Minute.Truncate(r.now()).Unix() / 60
	r.mu.Lock()
	var out []*Bucket
	for k, b := range r.pending {
		if final || k.start < current {
			c := *b
			out = append(out, &c)
			delete(r.pending, k)
		}
	}
	r.pruneLive(current)
	r.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	sortBuckets(out)
	if err := s.MergeTraffic(ctx, Minute, out); err != nil {
		r.restore(out)
		return err
	}
	return nil
}

// restore puts buckets whose flush failed back, keeping the newest.
func (r *Recorder) restore(out []*Bucket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range out {
		k := minuteKey{b.Start.Unix() / 60, b.Class}
		if p := r.pending[k]; p != nil {
			p.Add(b)
		} else {
			r.pending[k] = b
		}
	}
	for len(r.pending) > PendingMinutesMax*6 { // about six classes a minute
		var oldest minuteKey
		first := true
		for k := range r.pending {
			if first || k.start < oldest.start {
				oldest, first = k, false
			}
		}
		delete(r.pending, oldest)
		r.dropped++
	}
}

func (r *Recorder) pruneLive(current int64) {
	for k := range r.live {
		if k.start <= current-LiveMinutesN {
			delete(r.live, k)
		}
	}
}

// Live sums the last n completed minutes (n ≤ LiveMinutesN) over every
// class but ops, and returns the total and the number of minutes covered.
func (r *Recorder) Live(n int) (total Bucket, perClass map[string]Bucket) {
	if n > LiveMinutesN {
		n = LiveMinutesN
	}
	current := Minute.Truncate(r.now()).Unix() / 60
	perClass = map[string]Bucket{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, b := range r.live {
		if k.start >= current-int64(n) && k.start < current {
			pc := perClass[k.class]
			pc.Class = k.class
			pc.Add(b)
			perClass[k.class] = pc
			if k.class != ClassOps {
				total.Add(b)
			}
		}
	}
	return total, perClass
}

func sortBuckets(bs []*Bucket) {
	sort.Slice(bs, func(i, j int) bool {
		if !bs[i].Start.Equal(bs[j].Start) {
			return bs[i].Start.Before(bs[j].Start)
		}
		return bs[i].Class < bs[j].Class
	})
}

// Rollup recomputes the hour buckets of the hours that ended in the last
// lookback (from their minutes) and the day buckets of the days that ended
// in it (from their hours). Recomputing is idempotent, so a process that
// restarts, or two processes at once, do no harm. Periods without finer
// buckets are left alone: their minutes may be past retention already.
func Rollup(ctx context.Context, s Store, now time.Time, lookback time.Duration) error {
	if err := rollup(ctx, s, Minute, Hour, now, lookback); err != nil {
		return err
	}
	return rollup(ctx, s, Hour, Day, now, lookback+24*time.Hour)
}

func rollup(ctx context.Context, s Store, fine, coarse Resolution, now time.Time, lookback time.Duration) error {
	end := coarse.Truncate(now)
	for start := coarse.Truncate(now.Add(-lookback)); start.Before(end); start = start.Add(coarse.Duration()) {
		next := start.Add(coarse.Duration())
		bs, err := s.Traffic(ctx, fine, start, next)
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			continue
		}
		if err := s.ReplaceTraffic(ctx, coarse, start, next, Sum(bs, coarse)); err != nil {
			return err
		}
	}
	return nil
}

// Sum adds buckets up per class into buckets of resolution res.
func Sum(bs []*Bucket, res Resolution) []*Bucket {
	byKey := map[minuteKey]*Bucket{}
	var out []*Bucket
	for _, b := range bs {
		start := res.Truncate(b.Start)
		k := minuteKey{start.Unix(), b.Class}
		sum := byKey[k]
		if sum == nil {
			sum = &Bucket{Start: start, Class: b.Class}
			byKey[k] = sum
			out = append(out, sum)
		}
		sum.Add(b)
	}
	sortBuckets(out)
	return out
}

// Expire forgets buckets past their retention.
func Expire(ctx context.Context, s Store, now time.Time, ret Retention) error {
	for _, x := range []struct {
		res Resolution
		d   time.Duration
	}{{Minute, ret.Minutes}, {Hour, ret.Hours}, {Day, ret.Days}} {
		if x.d <= 0 {
			continue
		}
		if _, err := s.DeleteTrafficBefore(ctx, x.res, now.Add(-x.d)); err != nil {
			return err
		}
	}
	return nil
}

// Run flushes every FlushInterval and rolls up and expires every
// RollupInterval until ctx ends, then flushes what remains. Each pass is
// bounded; a failing store is logged and retried at the next tick.
func (r *Recorder) Run(ctx context.Context, s Store, ret Retention, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	flush := time.NewTicker(FlushInterval)
	defer flush.Stop()
	roll := time.NewTicker(RollupInterval)
	defer roll.Stop()
	flushFails := faillog.New(log, "traffic: flush (the counts are kept for the next one)")
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := r.Flush(final, s, true); err != nil {
				log.Warn("traffic: final flush failed", "err", err)
			}
			cancel()
			return
		case <-flush.C:
			if err := r.Flush(ctx, s, false); ctx.Err() == nil {
				flushFails.Observe(time.Now(), err)
			}
		case <-roll.C:
			now := r.now()
			// Three hours back: a rollup missed by a restart is redone.
			if err := Rollup(ctx, s, now, 3*time.Hour); err != nil && ctx.Err() == nil {
				log.Warn("traffic: rollup failed", "err", err)
			} else if err := Expire(ctx, s, now, ret); err != nil && ctx.Err() == nil {
				log.Warn("traffic: expiry failed", "err", err)
			}
		}
	}
}
