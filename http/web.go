package http

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/ledger"
)

// WebApp is the web app and console (package web): pages and assets that
// the server mounts beside the API, on the patterns it lists.
type WebApp interface {
	http.Handler
	Patterns() []string
}

// VerifyReport answers POST /v1/verify: the same checks as `peakwallet
// verify`, on demand.
type VerifyReport struct {
	OK     bool              `json:"ok"`
	Ledger *ledger.Report    `json:"ledger"`
	Audit  *auth.AuditReport `json:"audit,omitempty"`
	Took   float64           `json:"took_seconds"`
}

// OpsSummary answers GET /v1/ops/summary: what the console plots. The
// counters are totals since the process started; the console turns two
// readings into rates, so the server keeps no history for it.
type OpsSummary struct {
	Time     time.Time    `json:"time"`
	Operator pw.Principal `json:"operator"` // who is asking (the console shows what their role may do)
	Requests int64        `json:"requests"` // API requests served (not ops or console polling)
	Busy     int64        `json:"busy"`     // of them answered 503 or 429
	Errors   int64        `json:"errors"`   // of them answered 5xx
	// Latency of those requests: mean and an estimate of the 95th
	// percentile (the upper bound of the histogram bucket it falls in).
	LatencyMeanSeconds float64 `json:"latency_mean_seconds"`
	LatencyP95Seconds  float64 `json:"latency_p95_seconds"`
	InFlight           int64   `json:"in_flight"`
	Draining           bool    `json:"draining"`
	LedgerCommits      int64   `json:"ledger_commits"`   // store transactions of the sequencer
	LedgerTransfers    int64   `json:"ledger_transfers"` // transfers they carried
	// The sequencer's store transactions that did not commit, since start,
	// by reason (peakwallet_ledger_batches_failed_total; zeros left out).
	LedgerBatchesFailed map[string]int `json:"ledger_batches_failed,omitempty"`
	// Admitted requests answered after their deadline, since start, by
	// "class:result" (peakwallet_http_answers_late_total; zeros left out).
	AnswersLate map[string]int `json:"answers_late,omitempty"`
	// Admission's state, when the server controls overload.
	Admission *AdmissionSummary `json:"admission,omitempty"`
	// What the surge queue did with busy payments that allowed
	// respond-async, since start, by result (SurgeQueueResults), when the
	// server has one.
	SurgeQueue map[string]int `json:"surge_queue,omitempty"`
	// SurgeQueueOldestSeconds is how long the oldest payment waiting in
	// the surge queue has waited, as the settler last found it (0: none).
	SurgeQueueOldestSeconds float64 `json:"surge_queue_oldest_seconds"`
	// SurgeQueuePending is how many payments wait in the surge queue and
	// how fast it moves; absent without a surge queue, or when it cannot
	// be read now.
	SurgeQueuePending *SurgeQueueLength `json:"surge_queue_pending,omitempty"`
}

// AdmissionSummary is admission control's state for the console.
type AdmissionSummary struct {
	Limit    int            `json:"limit"`    // the adaptive concurrency limit
	Admitted int            `json:"admitted"` // requests holding a slot
	Queued   map[string]int `json:"queued"`   // waiting, by priority class
	Refused  map[string]int `json:"refused"`  // refused at arrival since start, by class
	Shed     map[string]int `json:"shed"`     // displaced from the queue since start, by class
	// Every refusal since start, by class and then reason (the reasons of
	// peakwallet_admission_refusals_total; refused and shed are parts of it).
	Refusals          map[string]map[string]int `json:"refusals"`
	Breaker           string                    `json:"breaker"`             // closed, open or half_open
	RetryAfterSeconds float64                   `json:"retry_after_seconds"` // what a new payment would be told now
	DrainRate         float64                   `json:"drain_rate"`          // requests completed a second while the store is full, measured
	// Payments' latency: the short average and the floor the limit compares it with.
	PaymentLatencySeconds      float64 `json:"payment_latency_seconds"`
	PaymentLatencyFloorSeconds float64 `json:"payment_latency_floor_seconds"`
}

// VerifyRequest is POST /v1/verify's optional body.
type VerifyRequest struct {
	// AuditAnchors are audit records kept elsewhere, "seq:hash" as an
	// earlier verify's audit.anchor gave them: each must still be in the
	// chain with its hash (docs/operations.md, "Checking the books").
	AuditAnchors []string `json:"audit_anchors,omitempty"`
}

// verifyAnchorsMax bounds the anchors one request checks.
const verifyAnchorsMax = 1000

// verifyRoute runs the configured check (cmd wires ledger.Verify and the
// audit chain over the store); without one the route is not_found.
func verifyRoute() endpoint {
	return endpoint{request: reflect.TypeFor[VerifyRequest](), response: reflect.TypeFor[VerifyReport](), build: func(s *Server, rt *Route) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.verify == nil {
				Error(w, r, pw.Errorf(pw.ENOTFOUND, "verify is not enabled on this server"))
				return
			}
			body, err := ReadBody(w, r, rt.BodyMax)
			if err != nil {
				Error(w, r, err)
				return
			}
			var req VerifyRequest
			if len(body) > 0 {
				if err := DecodeJSON(body, &req); err != nil {
					Error(w, r, err)
					return
				}
			}
			if len(req.AuditAnchors) > verifyAnchorsMax {
				Error(w, r, pw.FieldErrorf("audit_anchors", pw.EINVALID, "at most %d anchors a request", verifyAnchorsMax))
				return
			}
			anchors := make([]auth.AuditAnchor, len(req.AuditAnchors))
			for i, a := range req.AuditAnchors {
				if anchors[i], err = auth.ParseAuditAnchor(a); err != nil {
					Error(w, r, pw.FieldErrorf(fmt.Sprintf("audit_anchors[%d]", i), pw.EINVALID, "%v", err))
					return
				}
			}
			start := time.Now()
			rep, err := s.verify(r.Context(), anchors...)
			if err != nil {
				Error(w, r, err)
				return
			}
			rep.Took = time.Since(start).Seconds()
			writeJSON(w, rt.Status, rep)
		})
	}}
}

// summaryExcluded are routes whose requests are not load: health checks,
// scrapes, the console's own polling, and pages and assets.
func summaryExcluded(route string) bool {
	return !strings.HasPrefix(route, "/v1/") || route == "/v1/ops/summary" || route == "/v1/status"
}

func serveOpsSummary(s *Server, rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := pw.PrincipalFromContext(r.Context())
		sum := OpsSummary{Time: s.now().UTC(), Operator: p, InFlight: s.inFlight.Load() - 1, Draining: s.Draining()}
		families, err := s.registry.Gather()
		if err != nil {
			// Gather returns what it could alongside the error; a partial
			// summary is more useful to an operator than none.
			loggerFrom(r.Context()).Warn("ops summary: gathering metrics", "err", err)
		}
		for _, f := range families {
			switch f.GetName() {
			case "peakwallet_http_requests_total":
				summariseRequests(&sum, f)
			case "peakwallet_http_request_duration_seconds":
				summariseLatency(&sum, f)
			case "peakwallet_surge_queue_offers_total":
				if s.intents != nil {
					sum.SurgeQueue = map[string]int{}
					for _, m := range f.GetMetric() {
						sum.SurgeQueue[m.GetLabel()[0].GetValue()] = int(m.GetCounter().GetValue())
					}
				}
			case "peakwallet_surge_queue_oldest_pending_seconds":
				if m := f.GetMetric(); len(m) == 1 {
					sum.SurgeQueueOldestSeconds = m[0].GetGauge().GetValue()
				}
			case "peakwallet_http_answers_late_total":
				sum.AnswersLate = nonZeroCounts(f, func(m *dto.Metric) string { return label(m, "class") + ":" + label(m, "result") })
			case "peakwallet_ledger_batches_failed_total":
				sum.LedgerBatchesFailed = nonZeroCounts(f, func(m *dto.Metric) string { return label(m, "reason") })
			case "peakwallet_ledger_batch_transfers":
				for _, m := range f.GetMetric() {
					sum.LedgerCommits += int64(m.GetHistogram().GetSampleCount())
					sum.LedgerTransfers += int64(m.GetHistogram().GetSampleSum())
				}
			}
		}
		sum.SurgeQueuePending = s.surgeQueueLength(r.Context())
		if s.admission != nil {
			a := s.admission.Stats()
			as := &AdmissionSummary{Limit: a.Limit, Admitted: a.InFlight, Breaker: a.Breaker, RetryAfterSeconds: a.RetryAfter.Seconds(),
				DrainRate: a.DrainRate, PaymentLatencySeconds: a.LatencyRecent.Seconds(), PaymentLatencyFloorSeconds: a.LatencyLong.Seconds(),
				Queued: map[string]int{}, Refused: map[string]int{}, Shed: map[string]int{}, Refusals: a.RefusalsByName()}
			for c := range a.Queued {
				name := admission.Class(c).String()
				as.Queued[name], as.Refused[name], as.Shed[name] = a.Queued[c], int(a.Refused[c]), int(a.Shed[c])
			}
			sum.Admission = as
		}
		writeJSON(w, rt.Status, sum)
	})
}

// nonZeroCounts is a counter family's non-zero series by key(series),
// nil when there is none.
func nonZeroCounts(f *dto.MetricFamily, key func(*dto.Metric) string) map[string]int {
	var out map[string]int
	for _, m := range f.GetMetric() {
		if n := int(m.GetCounter().GetValue()); n > 0 {
			if out == nil {
				out = map[string]int{}
			}
			out[key(m)] = n
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func summariseRequests(sum *OpsSummary, f *dto.MetricFamily) {
	for _, m := range f.GetMetric() {
		if summaryExcluded(label(m, "route")) {
			continue
		}
		n := int64(m.GetCounter().GetValue())
		code := label(m, "code")
		sum.Requests += n
		if code == "503" || code == "429" {
			sum.Busy += n
		}
		if strings.HasPrefix(code, "5") {
			sum.Errors += n
		}
	}
}

func summariseLatency(sum *OpsSummary, f *dto.MetricFamily) {
	var count uint64
	var total float64
	buckets := map[float64]uint64{}
	var bounds []float64
	for _, m := range f.GetMetric() {
		if summaryExcluded(label(m, "route")) {
			continue
		}
		h := m.GetHistogram()
		count += h.GetSampleCount()
		total += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			if _, ok := buckets[b.GetUpperBound()]; !ok {
				bounds = append(bounds, b.GetUpperBound())
			}
			buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if count == 0 {
		return
	}
	sum.LatencyMeanSeconds = total / float64(count)
	// Every series has the same buckets, in order, so bounds is sorted.
	for _, ub := range bounds {
		if float64(buckets[ub]) >= 0.95*float64(count) {
			sum.LatencyP95Seconds = ub
			return
		}
	}
}

// verifyFunc is Config.Verify's type.
type verifyFunc = func(ctx context.Context, anchors ...auth.AuditAnchor) (*VerifyReport, error)
