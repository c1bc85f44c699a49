package ledger

import (
	"math/bits"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// statsBuckets are powers of two: bucket i counts batches of [2^i, 2^(i+1)) transfers.
const statsBuckets = 14

type metrics struct {
	batchCommands prometheus.Histogram
	batchUnits    prometheus.Histogram
	// releasesPending counts idempotency claims whose release waits for
	// the store (ReleaseIdempotent).
	releasesPending prometheus.Gauge
	// batchesFailed counts the store transactions of the sequencer that
	// did not commit, by BatchFailures reason.
	batchesFailed *prometheus.CounterVec
	batches       atomic.Uint64
	commands      atomic.Uint64
	units         atomic.Uint64
	hist          [statsBuckets]atomic.Uint64
}

func newMetrics(reg prometheus.Registerer) *metrics {
	buckets := prometheus.ExponentialBuckets(1, 2, statsBuckets) // 1 … 8192
	m := &metrics{
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "peakwallet_ledger_batch_commands", Help: "Commands committed per store transaction.", Buckets: buckets}),
		batchUnits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "peakwallet_ledger_batch_transfers", Help: "Transfers (batch items included) per store transaction.", Buckets: buckets}),
		releasesPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peakwallet_ledger_idempotency_releases_pending",
			Help: "Idempotency keys of failed requests whose release waits for the store to answer (tried every 250 ms)."}),
		batchesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peakwallet_ledger_batches_failed_total",
			Help: "Store transactions of the sequencer that did not commit, by reason: out_of_time (given up at a caller's deadline before its commit: the earliest once stalled, its callers with time left being committed again, or the latest; nothing moved), unavailable (the store failed; nothing moved), outcome_unknown (COMMIT cut, outcome not learnt in time), refused (the store refused it; its commands are retried one by one)."},
			[]string{"reason"}),
	}
	for _, r := range BatchFailures {
		m.batchesFailed.WithLabelValues(r) // every reason is exported, at 0 until it happens
	}
	if reg != nil {
		reg.MustRegister(m.batchCommands, m.batchUnits, m.releasesPending, m.batchesFailed)
	}
	return m
}

// Why a batch did not commit (peakwallet_ledger_batches_failed_total).
const (
	BatchOutOfTime      = "out_of_time"
	BatchUnavailable    = "unavailable"
	BatchOutcomeUnknown = "outcome_unknown"
	BatchRefused        = "refused"
)

// BatchFailures lists the reasons.
var BatchFailures = []string{BatchOutOfTime, BatchUnavailable, BatchOutcomeUnknown, BatchRefused}

func (m *metrics) observeBatch(commands, units int) {
	m.batchCommands.Observe(float64(commands))
	m.batchUnits.Observe(float64(units))
	m.batches.Add(1)
	m.commands.Add(uint64(commands))
	m.units.Add(uint64(units))
	if units > 0 {
		m.hist[min(bits.Len(uint(units))-1, statsBuckets-1)].Add(1)
	}
}

// Stats counts what the sequencer committed since the ledger started.
type Stats struct {
	Batches  uint64 `json:"batches"`  // store transactions
	Commands uint64 `json:"commands"` // requests
	Units    uint64 `json:"units"`    // transfers, batch items counted one by one
	// SizeHistogram[i] counts batches of 2^i to 2^(i+1)-1 transfers.
	SizeHistogram [statsBuckets]uint64 `json:"size_histogram"`
}

// Stats returns the sequencer's counters.
func (l *Ledger) Stats() Stats {
	s := Stats{Batches: l.metrics.batches.Load(), Commands: l.metrics.commands.Load(), Units: l.metrics.units.Load()}
	for i := range s.SizeHistogram {
		s.SizeHistogram[i] = l.metrics.hist[i].Load()
	}
	return s
}

// Sub returns s - o, the counts of an interval.
func (s Stats) Sub(o Stats) Stats {
	d := Stats{Batches: s.Batches - o.Batches, Commands: s.Commands - o.Commands, Units: s.Units - o.Units}
	for i := range d.SizeHistogram {
		d.SizeHistogram[i] = s.SizeHistogram[i] - o.SizeHistogram[i]
	}
	return d
}

// Add returns s + o.
func (s Stats) Add(o Stats) Stats {
	d := Stats{Batches: s.Batches + o.Batches, Commands: s.Commands + o.Commands, Units: s.Units + o.Units}
	for i := range d.SizeHistogram {
		d.SizeHistogram[i] = s.SizeHistogram[i] + o.SizeHistogram[i]
	}
	return d
}
