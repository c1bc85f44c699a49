// Package http is peakwallet's JSON API over HTTP: the server (every route
// is in routes.go), the one error writer, strict JSON decoding,
// idempotency, authentication, metrics, the generated OpenAPI document, and
// a Client that implements peakwallet.LedgerService over the same API.
//
// Import it as pwhttp.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/status"
	"github.com/peakwallet/peakwallet/traffic"
)

// Ledger is what the server needs from the ledger: the service, plus the
// claim and release of idempotency keys around money-moving calls.
type Ledger interface {
	pw.LedgerService
	// BeginIdempotent claims key for a request with fingerprint. Exactly
	// one of claim and replay is non-nil on success; errors have the codes
	// idempotency_key_reused and idempotency_key_in_use.
	BeginIdempotent(ctx context.Context, key pw.IdempotencyKey, fingerprint string) (claim, replay *pw.IdempotencyRecord, err error)
	// ReleaseIdempotent frees claim after a request that committed nothing.
	ReleaseIdempotent(ctx context.Context, claim *pw.IdempotencyRecord)
}

// PublicDeadline bounds a public route's request (the status page, sign-up
// and login, the forecast): admission gives the others their deadlines, and
// a public route had none, so a stalled database held its requests, and a
// drain, for as long as the stall lasted (found in review, 2026-11-27).
const PublicDeadline = 5 * time.Second

// bounded runs h with its request's context ended after d at the latest.
func bounded(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Timeouts of the *http.Server built by NewHTTPServer. WriteTimeout bounds
// a whole request, including a batch's commit; admission's deadlines are
// shorter.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	// HeaderBytesMax bounds request headers (Go's default is 1 MiB).
	HeaderBytesMax = 64 << 10
)

// Config holds the server's dependencies. Ledger and Authenticator are
// required; the rest have defaults.
type Config struct {
	Ledger        Ledger
	Authenticator pw.Authenticator
	// Readiness reports whether the server can serve (the store is
	// reachable); nil means always ready.
	Readiness func(ctx context.Context) error
	Logger    *slog.Logger
	// Registry receives the server's metrics and the Go and process
	// collectors, and is what /metrics serves. nil: a new registry.
	Registry *prometheus.Registry
	Now      func() time.Time
	// Security serves users, sessions, MFA, keys and the audit log, and
	// wraps Ledger in its Guard (object-level authorization). Without it
	// (some tests), every principal sees everything and the security
	// routes answer not_found.
	Security *auth.Service
	// Admission, when set, controls overload: priorities, deadlines, the
	// adaptive limit, fair queues, rate limits and the circuit breaker.
	Admission *admission.Controller
	// Maintenance, when set, holds the operator's maintenance windows.
	Maintenance *admission.Schedule
	// Intents, when set, is the durable surge queue: POST /v1/transfers
	// with Prefer: respond-async may be accepted (202) when busy.
	Intents pw.IntentStore
	// Status serves /v1/status's components, incidents, maintenance and
	// forecast, the status page and its feed. Without it (some tests)
	// /v1/status answers the load only.
	Status *status.Service
	// Traffic records every request by class for the forecast; nil: none.
	Traffic *traffic.Recorder
	// SurgeQueue reports the surge queue's live state on the status page
	// (the overload branch wires its durable queue here); nil: normal.
	SurgeQueue func(ctx context.Context) status.Component
	// PublicURL is the server's public base URL, used in the Atom feed's
	// links; empty: taken from each request's Host.
	PublicURL string
	// Web is the web app and console, mounted on its own patterns beside
	// the API; nil serves the API alone.
	Web WebApp
	// Verify runs the invariant check for POST /v1/verify; nil: the route
	// answers not_found.
	// anchors are the request's audit anchors, to be found in the chain.
	Verify func(ctx context.Context, anchors ...auth.AuditAnchor) (*VerifyReport, error)
}

// Server is the HTTP API. Build it with NewServer and serve Handler().
type Server struct {
	ledger     Ledger
	auth       pw.Authenticator
	security   *auth.Service
	status     *status.Service
	traffic    *traffic.Recorder
	surgeQueue func(ctx context.Context) status.Component
	publicURL  string
	readiness  func(ctx context.Context) error
	verify     verifyFunc
	log        *slog.Logger
	registry   *prometheus.Registry
	now        func() time.Time
	started    time.Time

	routes   []Route
	mux      *http.ServeMux
	notFound http.Handler // for requests no route matches
	// webPatterns are the web app's patterns, whose pages keep
	// ServeMux's redirect of a path to its canonical form (ServeHTTP).
	webPatterns map[string]bool
	metrics     *metrics
	openapi     []byte
	draining    atomic.Bool
	drained     chan struct{} // closed by the first SetDraining(true): event streams end
	drainOne    sync.Once
	inFlight    atomic.Int64

	admission    *admission.Controller
	accountKinds *accountKinds // which accounts are system accounts, for a transfer's class
	streams      openStreams   // each principal's open event streams
	maintenance  *admission.Schedule
	intents      pw.IntentStore
	settled      *notifier // wakes intent event streams when an intent settles
	// ledgerFailures counts the internal failures of pending intents.
	ledgerFailures failureCounts
	wakeSettler    chan struct{}
	intentWriters  chan struct{} // IntentWritersMax slots for intents being written
	streamReads    chan struct{} // IntentEventsReadsMax slots for event streams' reads of the store (streamRead)
	intentsSeen    atomic.Int64  // unix ns when intents were last known pending (intentsMayBePending)
	// oldestPending is when the oldest pending intent was accepted, as
	// the settler's last pass found it (unix ns; 0: none pending).
	oldestPending atomic.Int64
	// settleFrom is when the settler may settle again after the last
	// read-only window it saw end (unix ns; IntentResumeGrace after the
	// first pass that found it over); heldByWindow says its last pass
	// found a read-only window.
	settleFrom   atomic.Int64
	heldByWindow atomic.Bool
	// rate is how fast this server's settler has lately settled intents,
	// for a pending intent's expected wait (placeIntents).
	rate settleRate
	// head is the queue's head as last read, for the places of pending
	// intents (pendingHead).
	head queueHead
}

// NewServer returns a server over cfg's dependencies. It panics when a
// required one is missing: that is a wiring mistake, not a runtime state.
func NewServer(cfg Config) *Server {
	if cfg.Ledger == nil || cfg.Authenticator == nil {
		panic("http: NewServer needs a Ledger and an Authenticator")
	}
	s := &Server{
		ledger:     cfg.Ledger,
		auth:       cfg.Authenticator,
		security:   cfg.Security,
		status:     cfg.Status,
		traffic:    cfg.Traffic,
		surgeQueue: cfg.SurgeQueue,
		publicURL:  cfg.PublicURL,
		readiness:  cfg.Readiness,
		verify:     cfg.Verify,
		log:        cfg.Logger,
		registry:   cfg.Registry,
		now:        cfg.Now,
		routes:     Routes(),
		mux:        http.NewServeMux(),
		drained:    make(chan struct{}),

		admission:     cfg.Admission,
		maintenance:   cfg.Maintenance,
		intents:       cfg.Intents,
		settled:       newNotifier(),
		wakeSettler:   make(chan struct{}, 1),
		intentWriters: make(chan struct{}, IntentWritersMax),
		streamReads:   make(chan struct{}, IntentEventsReadsMax),
		// The ledger itself, not the Guard: an account's kind is read for
		// admission, whoever asks.
		accountKinds: newAccountKinds(cfg.Ledger.Account),
	}
	if s.admission != nil {
		s.accountKinds.storeUp = s.admission.BreakerClosed
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.security != nil {
		s.ledger = s.security.Guard()
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.readiness == nil {
		s.readiness = func(context.Context) error { return nil }
	}
	if s.surgeQueue == nil && s.intents != nil {
		s.surgeQueue = s.surgeQueueState
	}
	s.started = s.now().UTC()
	s.metrics = newMetrics(s.registry, &s.inFlight, s.oldestPendingAge)
	if s.admission != nil {
		s.registry.MustRegister(newAdmissionCollector(s.admission))
	}
	s.openapi = mustMarshal(OpenAPI(s.routes))
	for i := range s.routes {
		rt := &s.routes[i]
		h := rt.ep.build(s, rt)
		if rt.Public {
			h = bounded(h, PublicDeadline)
		} else {
			h = s.authenticate(s.admit(rt, h), rt.Access)
		}
		s.mux.Handle(rt.Pattern(), s.record(rt.Class, s.instrument(rt.Path, h)))
	}
	if cfg.Web != nil {
		// Pages and assets are labelled "web" in metrics: one series,
		// whatever the asset.
		web := s.instrument("web", cfg.Web)
		s.webPatterns = map[string]bool{}
		for _, p := range cfg.Web.Patterns() {
			s.mux.Handle(p, web)
			s.webPatterns[p] = true
		}
	}
	s.notFound = s.instrument("unmatched", http.HandlerFunc(s.unmatched))
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP routes r; a request no route matches gets a problem (404, or
// 405 with Allow when the path exists with other methods). ServeMux's own
// answers for these are text/plain.
//
// The API answers only at its canonical paths: ServeMux redirects a path
// with an empty, "." or ".." segment (/v1//transfers, //v1/transfers,
// /v1/./transfers) to its clean form with 307, which a client follows by
// sending its payment again; a path that is no route is 404, as
// /v1/transfers/ always was. Until 2026-11-29 those paths were redirected
// (TestOnlyCanonicalPathsAreServed). The web app's pages keep the
// redirect: they are GETs, for browsers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w, r)
	r = r.WithContext(auth.NewContextWithClientAddress(r.Context(), clientAddress(r)))
	if _, pattern := s.mux.Handler(r); pattern == "" || (!canonical(r.URL.EscapedPath()) && !s.webPatterns[pattern]) {
		s.notFound.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// canonical reports whether p, a request's escaped path, is the one
// ServeMux serves without redirecting it: absolute, without an empty, "."
// or ".." segment, except that it may end with a slash. path.Clean
// allocates nothing for a clean path.
func canonical(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	return clean == p || (clean != "/" && len(clean)+1 == len(p) && p[len(clean)] == '/' && p[:len(clean)] == clean)
}

// unmatched answers a request that no route takes, as a problem.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	if !canonical(r.URL.EscapedPath()) {
		Error(w, r, pw.Errorf(pw.ENOTFOUND, "no route for %s %s: the API answers only at canonical paths, without empty, \".\" or \"..\" segments", r.Method, r.URL.Path))
		return
	}
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		Error(w, r, pw.Errorf(pw.EMETHODNOTALLOWED, "%s is not allowed on %s", r.Method, r.URL.Path))
	default:
		Error(w, r, pw.Errorf(pw.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
	}
}

// headerRecorder captures what ServeMux's own 404/405 handlers would write, so that unmatched can answer with a problem instead.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

// SetDraining marks the server as shutting down: /readyz answers 503 so
// that load balancers stop sending new requests, while in-flight ones
// finish. Event streams end at once (their clients reconnect, to the
// process taking over): they would otherwise hold the drain for up to
// IntentEventsTimeout, longer than serve's ShutdownTimeout.
func (s *Server) SetDraining(draining bool) {
	s.draining.Store(draining)
	if draining {
		s.drainOne.Do(func() { close(s.drained) })
	}
}

// Draining reports whether SetDraining(true) was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// Registry returns the registry the server's metrics are in.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// NewHTTPServer returns an *http.Server for h on addr with the package's
// timeouts, so that no slow client can hold a connection forever.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    HeaderBytesMax,
	}
}

type loggerKey struct{}

// loggerFrom returns the request's logger (the server's), or the default.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
