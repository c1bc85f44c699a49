package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	pw "github.com/peakwallet/peakwallet"
)

// metrics are the server's Prometheus metrics. Routes are labelled by
// their pattern, never by the raw path, so that IDs do not explode the
// number of series.
type metrics struct {
	requests *prometheus.CounterVec   // route, method, code
	duration *prometheus.HistogramVec // route, method
	replays  *prometheus.CounterVec   // route
	offers   *prometheus.CounterVec   // result: what the surge queue did with a busy payment
	late     *prometheus.CounterVec   // class, result: answers written after the request's deadline
}

// What a late answer was (peakwallet_http_answers_late_total's result).
const (
	LateSuccess = "success" // 2xx: done, but the client may have given up
	LateRefusal = "refusal" // any other status
)

func newMetrics(reg *prometheus.Registry, inFlight *atomic.Int64, oldestPending func() time.Duration) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "peakwallet", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "peakwallet", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		replays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "peakwallet", Subsystem: "http", Name: "idempotent_replays_total",
			Help: "Money-moving requests answered from a remembered response, by route pattern.",
		}, []string{"route"}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "peakwallet", Subsystem: "surge_queue", Name: "offers_total",
			Help: "Busy payments that allowed respond-async, by what the surge queue did with them (SurgeQueueResults).",
		}, []string{"result"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "peakwallet", Subsystem: "http", Name: "answers_late_total",
			Help: "Admitted requests answered after their deadline (the class's, or the shorter one the client asked with Prefer: wait), by class and result (success, refusal). A client that keeps to its deadline has given up on them.",
		}, []string{"class", "result"}),
	}
	for _, r := range SurgeQueueResults {
		m.offers.WithLabelValues(r) // every result is a series from the start, at 0
	}
	inFlightGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "peakwallet", Subsystem: "http", Name: "requests_in_flight",
		Help: "HTTP requests being served now.",
	}, func() float64 { return float64(inFlight.Load()) })
	oldestGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "peakwallet", Subsystem: "surge_queue", Name: "oldest_pending_seconds",
		Help: "How long the oldest payment waiting in the surge queue has waited (0: none), as the settler last found it (it looks at least every 250 ms).",
	}, func() float64 { return oldestPending().Seconds() })
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.replays, m.offers, m.late, inFlightGauge, oldestGauge} {
		reg.MustRegister(c)
	}
	// The caller may have registered these already on a shared registry.
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
		}
	}
	return m
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument wraps a route's handler: in-flight count, the request's
// logger, recovery from panics (as a logged internal error), metrics, and
// one Debug log line per request.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)

		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), loggerKey{}, s.log))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err := &pw.Error{Code: pw.EINTERNAL, Op: "http." + route,
					Err: fmt.Errorf("panic: %v\n%s", v, debug.Stack())}
				if rec.status == 0 {
					Error(rec, r, err)
				} else {
					s.log.Error("panic after the response started", "route", route, "err", err)
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			method := methodLabel(r.Method)
			s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			s.metrics.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", status), slog.Duration("duration", elapsed))
		}()
		h.ServeHTTP(rec, r)
	})
}

// methodLabel bounds the method label: unmatched requests may carry any
// method a client invents, and each would be a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// metricsHandler serves the server's registry in the Prometheus text format.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: false,
	})
}
