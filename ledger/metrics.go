package ledger

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batchCommands prometheus.Histogram
	batchUnits    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	buckets := prometheus.ExponentialBuckets(1, 2, 14) // 1 … 8192
	m := &metrics{
		batchCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "peakwallet_ledger_batch_commands", Help: "Commands committed per store transaction.", Buckets: buckets}),
		batchUnits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "peakwallet_ledger_batch_transfers", Help: "Transfers (batch items included) per store transaction.", Buckets: buckets}),
	}
	if reg != nil {
		reg.MustRegister(m.batchCommands, m.batchUnits)
	}
	return m
}

func (m *metrics) observeBatch(commands, units int) {
	m.batchCommands.Observe(float64(commands))
	m.batchUnits.Observe(float64(units))
}
