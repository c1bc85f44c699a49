package http

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peakwallet/peakwallet/admission"
)

// admissionCollector publishes admission control's counters and state.
// It reads one Stats snapshot per scrape, so the series of a scrape agree
// with each other, and adds nothing to the request path.
type admissionCollector struct {
	ctrl                                                     *admission.Controller
	admitted, refusals, rateLimited, rateBuckets, rateSweeps *prometheus.Desc
	limit, inFlight, queued, drainRate, retryAfter, breaker  *prometheus.Desc
	paymentLatency, paymentLatencyFloor                      *prometheus.Desc
}

func newAdmissionCollector(ctrl *admission.Controller) *admissionCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("peakwallet", "admission", name), help, labels, nil)
	}
	return &admissionCollector{ctrl: ctrl,
		admitted:            d("admitted_total", "Requests that used a slot, counted as they gave it back, by priority class.", "class"),
		refusals:            d("refusals_total", "Requests answered 503 busy by admission control, by priority class and reason (breaker, deadline, queue_wait, client_queue, queue_full at arrival; shed, gave_up, expired after queueing).", "class", "reason"),
		rateLimited:         d("rate_limited_total", "Requests answered 429 by the per-client rate limit."),
		rateBuckets:         d("rate_buckets", "Clients with a rate-limit token bucket kept (at most admission.PrincipalsMax)."),
		rateSweeps:          d("rate_sweeps_total", "Sweeps of the rate-limit buckets, each when a new client found PrincipalsMax of them."),
		limit:               d("limit", "The adaptive concurrency limit: slots for requests at the store."),
		inFlight:            d("in_flight", "Requests holding a slot now."),
		queued:              d("queued", "Requests waiting for a slot now, by priority class.", "class"),
		drainRate:           d("drain_rate", "Requests completed a second while the store is full, as measured for waits and Retry-After."),
		retryAfter:          d("retry_after_seconds", "The Retry-After a payment refused now would be given: its place in line over the drain rate (0 while a payment would start at once)."),
		breaker:             d("breaker", "The circuit breaker's state: 1 for the current one.", "state"),
		paymentLatency:      d("payment_latency_seconds", "Payments' recent latency, the short average the limit reacts to."),
		paymentLatencyFloor: d("payment_latency_floor_seconds", "Payments' latency floor, the unloaded latency the limit compares with."),
	}
}

func (c *admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.admitted, c.refusals, c.rateLimited, c.rateBuckets, c.rateSweeps, c.limit, c.inFlight, c.queued,
		c.drainRate, c.retryAfter, c.breaker, c.paymentLatency, c.paymentLatencyFloor} {
		ch <- d
	}
}

func (c *admissionCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.ctrl.Stats()
	for _, k := range admission.Classes() {
		ch <- prometheus.MustNewConstMetric(c.admitted, prometheus.CounterValue, float64(s.AdmittedBy[k]), k.String())
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Queued[k]), k.String())
		for _, r := range admission.Reasons() {
			ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(s.Refusals[k][r]), k.String(), r.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(c.rateLimited, prometheus.CounterValue, float64(s.RateLimited))
	ch <- prometheus.MustNewConstMetric(c.rateBuckets, prometheus.GaugeValue, float64(s.RateBuckets))
	ch <- prometheus.MustNewConstMetric(c.rateSweeps, prometheus.CounterValue, float64(s.RateSweeps))
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(s.Limit))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(c.drainRate, prometheus.GaugeValue, s.DrainRate)
	ch <- prometheus.MustNewConstMetric(c.retryAfter, prometheus.GaugeValue, s.RetryAfter.Seconds())
	for _, st := range admission.BreakerStates() {
		v := 0.0
		if st == s.Breaker {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, v, st)
	}
	ch <- prometheus.MustNewConstMetric(c.paymentLatency, prometheus.GaugeValue, s.LatencyRecent.Seconds())
	ch <- prometheus.MustNewConstMetric(c.paymentLatencyFloor, prometheus.GaugeValue, s.LatencyLong.Seconds())
}
