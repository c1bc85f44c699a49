// Package bench is peakwallet's own surge benchmark, run by `peakwallet
// bench`: closed-loop callers paying uniformly or to hot merchants, and an
// open-loop promotion spike, against any pw.LedgerService — the ledger
// in-process or a server over HTTP.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
)

// Scenarios.
const (
	ScenarioUniform = "uniform" // users pay users at random
	ScenarioHot     = "hot"     // half the payments go to HotMerchants merchants
	ScenarioSpike   = "spike"   // offered load ramps 10 % → 300 % of capacity and back
)

// Config describes one run.
type Config struct {
	Label    string
	Scenario string
	Callers  int           // concurrent callers (closed loop); the spike's in-flight cap
	Duration time.Duration // measured time
	Batch    int           // transfers per request: 0 or 1 sends single transfers
	Deadline time.Duration // per request; default 2 s
	Capacity float64       // spike: requests/s to ramp against (measure it with a closed-loop run)
	Seed     uint64
	Progress io.Writer // a live progress line goes here when set
	// Stats, when set, gives the ledger's batch counters (in-process runs).
	Stats func() ledger.Stats
}

// Result is what one run measured.
type Result struct {
	Label        string           `json:"label"`
	Scenario     string           `json:"scenario"`
	Callers      int              `json:"callers"`
	Batch        int              `json:"batch"`
	Seconds      float64          `json:"seconds"`
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	Busy         int64            `json:"busy"`
	Failed       int64            `json:"failed"`
	Transfers    int64            `json:"transfers"`
	Throughput   float64          `json:"transfers_per_second"`
	P50ms        float64          `json:"p50_ms"`
	P99ms        float64          `json:"p99_ms"`
	P999ms       float64          `json:"p999_ms"`
	BusyShare    float64          `json:"busy_share"`
	Errors       map[string]int64 `json:"errors,omitempty"`
	Ledger       *ledger.Stats    `json:"ledger,omitempty"`
	MeanBatch    float64          `json:"mean_batch_transfers,omitempty"`
	Timeline     []Second         `json:"timeline,omitempty"`
	CapacityUsed float64          `json:"capacity_requests_per_second,omitempty"`
}

// Second is one second of a spike.
type Second struct {
	Offered int64   `json:"offered"`
	OK      int64   `json:"ok"`
	Busy    int64   `json:"busy"`
	Failed  int64   `json:"failed"`
	P99ms   float64 `json:"p99_ms"`
}

// recorder collects outcomes from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    map[string]int64
	ok, busy  atomic.Int64
	failed    atomic.Int64
	transfers atomic.Int64
	requests  atomic.Int64
	seconds   []secondRec
	start     time.Time
}

type secondRec struct {
	offered, ok, busy, failed int64
	lat                       []time.Duration
}

func newRecorder(start time.Time, secs int) *recorder {
	return &recorder{errors: map[string]int64{}, start: start, seconds: make([]secondRec, secs)}
}

// isBusy says whether a refusal is the honest "not now" kind.
func isBusy(code string) bool {
	return code == pw.EBUSY || code == pw.EUNAVAILABLE || code == pw.ERATELIMITED || code == pw.EMAINTENANCE
}

func (r *recorder) record(lat time.Duration, posted int, err error, lats *[]time.Duration) {
	r.requests.Add(1)
	code := pw.ErrorCode(err)
	switch {
	case err == nil:
		r.ok.Add(1)
		r.transfers.Add(int64(posted))
		*lats = append(*lats, lat)
	case isBusy(code):
		r.busy.Add(1)
	default:
		r.failed.Add(1)
	}
	if err != nil {
		r.mu.Lock()
		r.errors[code]++
		r.mu.Unlock()
	}
}

// call sends one request and returns the transfers it posted.
func call(ctx context.Context, svc pw.LedgerService, pick picker, rng *rand.Rand, batch int) (int, error) {
	if batch <= 1 {
		_, err := svc.CreateTransfer(ctx, pick(rng))
		return 1, err
	}
	req := pw.BatchCreate{Transfers: make([]pw.TransferCreate, batch)}
	for i := range req.Transfers {
		req.Transfers[i] = pick(rng)
	}
	res, err := svc.CreateBatch(ctx, req)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range res {
		if r.Status == pw.TransferPosted {
			n++
		}
	}
	return n, nil
}

// Run measures one scenario against svc.
func Run(ctx context.Context, svc pw.LedgerService, pop *Population, cfg Config) (*Result, error) {
	m, err := measure(ctx, svc, pop, &cfg)
	if err != nil {
		return nil, err
	}
	return summarize(cfg, m), nil
}

// RunInterleaved measures several closed-loop scenarios in rounds rounds,
// each scenario running Duration/rounds per round in turn, so that all see
// the store at the same sizes: a store grows during a bench, and a
// scenario run after another would otherwise meet a bigger one.
func RunInterleaved(ctx context.Context, svc pw.LedgerService, pop *Population, cfgs []Config, rounds int) ([]*Result, error) {
	all := make([]*measurement, len(cfgs))
	for range rounds {
		for i := range cfgs {
			c := cfgs[i]
			c.Duration /= time.Duration(rounds)
			m, err := measure(ctx, svc, pop, &c)
			if err != nil {
				return nil, err
			}
			all[i] = all[i].merge(m)
		}
	}
	out := make([]*Result, len(cfgs))
	for i, c := range cfgs {
		out[i] = summarize(c, all[i])
	}
	return out, nil
}

// measurement is the raw outcome of running a scenario.
type measurement struct {
	rec     *recorder
	lats    []time.Duration
	elapsed time.Duration
	stats   *ledger.Stats
}

// merge adds o to m (m may be nil).
func (m *measurement) merge(o *measurement) *measurement {
	if m == nil {
		return o
	}
	m.rec.requests.Add(o.rec.requests.Load())
	m.rec.ok.Add(o.rec.ok.Load())
	m.rec.busy.Add(o.rec.busy.Load())
	m.rec.failed.Add(o.rec.failed.Load())
	m.rec.transfers.Add(o.rec.transfers.Load())
	for k, v := range o.rec.errors {
		m.rec.errors[k] += v
	}
	m.lats = append(m.lats, o.lats...)
	m.elapsed += o.elapsed
	if m.stats != nil && o.stats != nil {
		s := m.stats.Add(*o.stats)
		m.stats = &s
	}
	return m
}

func measure(ctx context.Context, svc pw.LedgerService, pop *Population, cfg *Config) (*measurement, error) {
	if cfg.Callers <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("bench: callers and duration must be positive")
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 2 * time.Second
	}
	var before ledger.Stats
	if cfg.Stats != nil {
		before = cfg.Stats()
	}
	pick := pop.picker(cfg.Scenario)
	m := &measurement{}
	if cfg.Scenario == ScenarioSpike {
		if cfg.Capacity <= 0 {
			return nil, fmt.Errorf("bench: the spike needs the measured capacity")
		}
		m.rec, m.lats = runSpike(ctx, svc, pick, *cfg)
	} else {
		m.rec, m.lats = runClosed(ctx, svc, pick, *cfg)
	}
	m.elapsed = time.Since(m.rec.start)
	// A run stopped before its end measured part of what was asked, its
	// last requests failed by the cancellation: no figure of it may be
	// reported. (Until 2026-11-29 it was returned as a whole run, and
	// `bench --target` printed its report and exited 0 after a Ctrl-C;
	// TestACancelledRunIsAnError.)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bench: %s cut short after %.1f s of %s: %w", cfg.Scenario, m.elapsed.Seconds(), cfg.Duration, err)
	}
	if cfg.Stats != nil {
		d := cfg.Stats().Sub(before)
		m.stats = &d
	}
	return m, nil
}

func summarize(cfg Config, m *measurement) *Result {
	rec := m.rec
	elapsed := m.elapsed.Seconds()
	res := &Result{
		Label: cfg.Label, Scenario: cfg.Scenario, Callers: cfg.Callers, Batch: max(cfg.Batch, 1),
		Seconds: elapsed, Requests: rec.requests.Load(), OK: rec.ok.Load(), Busy: rec.busy.Load(), Failed: rec.failed.Load(),
		Transfers: rec.transfers.Load(), Errors: rec.errors, CapacityUsed: cfg.Capacity, Ledger: m.stats,
	}
	res.Throughput = float64(res.Transfers) / elapsed
	if res.Requests > 0 {
		res.BusyShare = float64(res.Busy) / float64(res.Requests)
	}
	res.P50ms, res.P99ms, res.P999ms = percentile(m.lats, 0.50), percentile(m.lats, 0.99), percentile(m.lats, 0.999)
	if m.stats != nil && m.stats.Batches > 0 {
		res.MeanBatch = float64(m.stats.Units) / float64(m.stats.Batches)
	}
	for _, s := range rec.seconds {
		res.Timeline = append(res.Timeline, Second{Offered: s.offered, OK: s.ok, Busy: s.busy, Failed: s.failed, P99ms: percentile(s.lat, 0.99)})
	}
	return res
}

// runClosed runs cfg.Callers callers, each sending its next request as soon
// as the last one is answered, for cfg.Duration.
func runClosed(ctx context.Context, svc pw.LedgerService, pick picker, cfg Config) (*recorder, []time.Duration) {
	start := time.Now()
	rec := newRecorder(start, 0)
	end := start.Add(cfg.Duration)
	stopProgress := progress(cfg.Progress, rec)
	perCaller := make([][]time.Duration, cfg.Callers)
	var wg sync.WaitGroup
	for c := range cfg.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			lats := make([]time.Duration, 0, 1024)
			for time.Now().Before(end) && ctx.Err() == nil {
				rctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
				t0 := time.Now()
				n, err := call(rctx, svc, pick, rng, cfg.Batch)
				cancel()
				rec.record(time.Since(t0), n, err, &lats)
			}
			perCaller[c] = lats
		}()
	}
	wg.Wait()
	stopProgress()
	var all []time.Duration
	for _, l := range perCaller {
		all = append(all, l...)
	}
	return rec, all
}

// percentile returns the nearest-rank q-quantile of lats in milliseconds
// (sorting lats): the smallest sample with at least q of them at or
// below it, the sample of rank ceil(q·n). (Until 2026-11-27 it took rank
// int(q·n)+1, one too high whenever q·n is whole: the p99 of 100 samples
// was their maximum.)
func percentile(lats []time.Duration, q float64) float64 {
	if len(lats) == 0 {
		return 0
	}
	if !sort.SliceIsSorted(lats, func(i, j int) bool { return lats[i] < lats[j] }) {
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	}
	// Less a little before the ceiling, so that a product that floating
	// point makes a hair more than whole (0.07 × 100 = 7.000000000000001)
	// is not taken a rank up.
	i := min(max(int(math.Ceil(q*float64(len(lats))-1e-9))-1, 0), len(lats)-1)
	return float64(lats[i]) / float64(time.Millisecond)
}

// progress prints a live line to w every half second until stopped.
func progress(w io.Writer, rec *recorder) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		var lastT, lastReq, lastBusy int64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				tr, req, busy := rec.transfers.Load(), rec.requests.Load(), rec.busy.Load()
				share := 0.0
				if req > lastReq {
					share = 100 * float64(busy-lastBusy) / float64(req-lastReq)
				}
				fmt.Fprintf(w, "\r\033[K%6.1fs  %10.0f transfers/s  busy %5.1f%%  failed %d",
					now.Sub(rec.start).Seconds(), float64(tr-lastT)*2, share, rec.failed.Load())
				lastT, lastReq, lastBusy = tr, req, busy
			}
		}
	}()
	return func() { close(done); <-finished }
}
