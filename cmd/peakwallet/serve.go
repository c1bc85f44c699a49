package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/faillog"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/traffic"
	"github.com/peakwallet/peakwallet/web"
)

// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM.
const ShutdownTimeout = 30 * time.Second

// StoreCloseTimeout bounds the store's close as serve exits. Closing a
// PostgreSQL connection whose query was cut takes pgx up to 15 s against a
// stalled database (it asks the server to cancel the query, on a new
// connection, and drains the old one), and the pool's close waits for it:
// a SIGTERM in a stall took 19.5 s. Past the bound the process exits
// anyway: nothing is left to write (every commit has answered), and the
// database drops the connections when the process is gone; SQLite's last
// checkpoint, cut short, is redone from the WAL at the next open.
const StoreCloseTimeout = 5 * time.Second

// closeStore closes store within StoreCloseTimeout.
func closeStore(store io.Closer, log *slog.Logger) {
	done := make(chan struct{})
	go func() { defer close(done); store.Close() }()
	select {
	case <-done:
	case <-time.After(StoreCloseTimeout):
		log.Warn("the store did not close in time; exiting without waiting for it", "timeout", StoreCloseTimeout)
	}
}

// ShutdownCutTimeout bounds the wait for the last flush of traffic figures
// once a drain that did not finish in ShutdownTimeout has been cut.
const ShutdownCutTimeout = 5 * time.Second

// OperatorKeyFile holds the generated operator key inside the data directory.
const OperatorKeyFile = "operator.key"

func runServe(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	addr := fs.String("addr", envOr(env, "PEAKWALLET_ADDR", "127.0.0.1:8080"), "address to listen on [PEAKWALLET_ADDR]")
	var sf storeFlags
	sf.register(fs, env)
	logLevel := fs.String("log-level", envOr(env, "PEAKWALLET_LOG_LEVEL", "info"), "debug, info, warn or error [PEAKWALLET_LOG_LEVEL]")
	logJSONEnv, logJSONErr := envBool(env, "PEAKWALLET_LOG_JSON")
	logJSON := fs.Bool("log-json", logJSONEnv, "log as JSON lines [PEAKWALLET_LOG_JSON]")
	tlsCert := fs.String("tls-cert", env.getenv("PEAKWALLET_TLS_CERT"), "TLS certificate (PEM) to serve HTTPS with [PEAKWALLET_TLS_CERT]")
	tlsKey := fs.String("tls-key", env.getenv("PEAKWALLET_TLS_KEY"), "TLS private key (PEM) [PEAKWALLET_TLS_KEY]")
	tlsSelf := fs.Bool("tls-self-signed", false, "serve HTTPS with a development certificate made in the data directory")
	batchesEnv, batchesErr := envInt(env, "PEAKWALLET_BATCHES_IN_FLIGHT", 1)
	batchesInFlight := fs.Int("batches-in-flight", batchesEnv, "ledger batches committing at once: keep 1 on SQLite; on PostgreSQL with cores to spare, 2–4 [PEAKWALLET_BATCHES_IN_FLIGHT]")
	outbox := fs.String("outbox", envOr(env, "PEAKWALLET_OUTBOX", ""), "directory where messages (codes, reset tokens) are written; default DATA/outbox [PEAKWALLET_OUTBOX]")
	handoverSocket := fs.String("handover", envOr(env, "PEAKWALLET_HANDOVER", ""), "Unix socket through which a new binary started on the same --addr takes the listening socket over; default DATA/handover/PORT.sock; off to share the address by --reuseport alone [PEAKWALLET_HANDOVER]")
	stepUp := fs.String("step-up-threshold", env.getenv("PEAKWALLET_STEP_UP_THRESHOLD"), "a user's payment above its currency's threshold needs a second factor; CUR=AMOUNT pairs in major units with the currency's decimals, e.g. EUR=100.00,JPY=15000, over the defaults of about 100 EUR worth each (docs/security.md) [PEAKWALLET_STEP_UP_THRESHOLD]")
	debugAddr := fs.String("debug-addr", envOr(env, "PEAKWALLET_DEBUG_ADDR", ""), "serve Go's profiler (/debug/pprof/) on this loopback address; off when empty [PEAKWALLET_DEBUG_ADDR]")
	var of overloadFlags
	of.register(fs, env)
	var stf statusFlags
	stf.register(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := of.check(fs); err != nil {
		return err
	}
	for _, e := range []struct {
		flag string
		err  error
	}{{"log-json", logJSONErr}, {"batches-in-flight", batchesErr}} {
		if e.err != nil && !flagSet(fs, e.flag) {
			return e.err
		}
	}
	// The ledger would take any other number as the nearest of 1 and
	// ledger.ConcurrentBatchesMax without a word (until 2026-11-29).
	if *batchesInFlight < 1 || *batchesInFlight > ledger.ConcurrentBatchesMax {
		return fmt.Errorf("--batches-in-flight %d: it must be from 1 to %d", *batchesInFlight, ledger.ConcurrentBatchesMax)
	}
	stepUpThresholds, err := auth.ParseStepUpThresholds(*stepUp)
	if err != nil {
		return fmt.Errorf("--step-up-threshold (PEAKWALLET_STEP_UP_THRESHOLD): %s", pw.ErrorMessage(err))
	}
	logger, err := newLogger(env, *logLevel, *logJSON)
	if err != nil {
		return err
	}

	store, where, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore(store, logger)
	key, generated, err := operatorKey(sf.data, env)
	if err != nil {
		return err
	}

	cert, err := loadCertificate(*tlsCert, *tlsKey, *tlsSelf, sf.data)
	if err != nil {
		return err
	}
	sealKey, err := secretKey(sf.data, env)
	if err != nil {
		return err
	}
	if *outbox == "" {
		*outbox = filepath.Join(sf.data, "outbox")
	}

	reg := prometheus.NewRegistry()
	registerStoreMetrics(reg, store)
	ctrl, sched, err := of.build(sf.data, sf.postgres != "", logger)
	if err != nil {
		return err
	}
	l := ledger.New(store, ledger.Options{Logger: logger, Registerer: reg, ConcurrentBatches: *batchesInFlight,
		// Hold expiry writes the ledger: it waits out read-only windows.
		WritesPaused: sched.ReadOnly})
	defer l.Close()
	if len(stepUpThresholds) > 0 {
		logger.Info("step-up thresholds set over the defaults", "thresholds", stepUpThresholds.String())
	}
	// While the breaker keeps requests from the store, a principal cached
	// a little earlier is taken as it was (auth.AuthStaleMax), and checked
	// against the store again only if its request is admitted: requests
	// refused in an outage read nothing.
	security := auth.New(store, l, auth.Options{Logger: logger, Sender: auth.DirSender{Dir: *outbox}, SecretKey: sealKey,
		StepUpThresholds: stepUpThresholds, StoreDown: func() bool { return !ctrl.BreakerClosed() }})
	intents, _ := store.(pw.IntentStore)
	recorder := traffic.NewRecorder(nil)
	statusSvc, err := stf.service(store, recorder, sched.Windows, logger)
	if err != nil {
		return err
	}
	srv := pwhttp.NewServer(pwhttp.Config{
		Ledger: l,
		// The root operator key stays an admin beside the keys in the store.
		Authenticator: pwhttp.Authenticators{pwhttp.NewOperatorAuthenticator(key), security},
		Security:      security,
		Readiness:     store.Ping,
		Logger:        logger,
		Registry:      reg,
		Admission:     ctrl,
		Maintenance:   sched,
		Intents:       intents,
		Status:        statusSvc,
		Traffic:       recorder,
		PublicURL:     stf.publicURL,
		Web:           web.New(logger),
		Verify:        verifier(store),
	})
	// Whatever can fail is done before the server joins its address (the
	// handover socket is bound here too, at a temporary name): with
	// SO_REUSEPORT the kernel hands a listening process its share of new
	// connections at once, and a process that then exits without
	// accepting them resets them, while the old process that should have
	// had them still serves. Until 2026-11-29 --debug-addr was bound after
	// the address was joined, and a taken one did that
	// (TestAStartThatFailsLeavesTheAddressToTheOldProcess).
	var debugLn net.Listener
	if *debugAddr != "" {
		if debugLn, err = listenDebug(*debugAddr); err != nil {
			return err
		}
		defer debugLn.Close() // on the way out before it is served; then served until the end
	}
	ho, err := prepareHandover(*handoverSocket, sf.data, *addr, logger)
	if err != nil {
		return err
	}
	defer ho.stop()
	ln, err := ho.listen(ctx, *addr, of.reusePort)
	if err != nil {
		return err
	}
	ho.serve(ln)
	hs := pwhttp.NewHTTPServer(*addr, srv.Handler())
	scheme := "http"
	if cert != nil {
		hs.TLSConfig, scheme = tlsConfig(*cert), "https"
	}
	hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	first := newFirstRequests()
	first.track(hs)

	background, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	go l.Run(background)
	go deliverLoop(background, security, logger)
	go srv.RunIntents(background)
	// While the breaker keeps requests from the store, the store is
	// checked, and the breaker probes as soon as it answers.
	go ctrl.WatchStore(background, store.Ping)
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		recorder.Run(background, store, stf.retention, logger)
	}()
	go announceLoop(background, statusSvc, logger)
	go auditHeadLoop(background, store, logger)
	if debugLn != nil {
		serveDebug(background, debugLn, logger)
		fmt.Fprintf(env.stdout, "profiler: http://%s/debug/pprof/\n", debugLn.Addr())
	}

	fmt.Fprintf(env.stdout, "peakwallet %s listening on %s://%s\n", version(), scheme, ln.Addr())
	fmt.Fprintf(env.stdout, "open %s://%s/ in a browser for the wallet, %s://%s/console/ for operators\n", scheme, ln.Addr(), scheme, ln.Addr())
	fmt.Fprintf(env.stdout, "outbox: messages to users are written to %s\n", *outbox)
	fmt.Fprintf(env.stdout, "store: %s\n", where)
	if generated {
		fmt.Fprintf(env.stdout, "operator key (shown once; kept in %s): %s\n", filepath.Join(sf.data, OperatorKeyFile), key)
	}
	logger.Info("serving", "addr", ln.Addr().String(), "store", where)

	served := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			served <- hs.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		served <- hs.Serve(ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}

	// Drain: /readyz fails from now on, new connections are left to the
	// process that took the listener over (refused when none did),
	// in-flight requests finish (their money commits or not, never half).
	logger.Info("draining in-flight requests", "timeout", ShutdownTimeout)
	// A binary started from now on listens afresh: this one's listener
	// is about to close.
	ho.stop()
	srv.SetDraining(true)
	// Responses from now on close their connections, so that keep-alive
	// clients reconnect, to the process taking over when there is one.
	hs.SetKeepAlivesEnabled(false)
	shutdown, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	// Accepting stops before Shutdown, so that the connections accepted
	// a moment ago have their first request served: Shutdown would drop
	// it (firstRequests). When the listener was passed to a new process,
	// this closes only this process's copy, and what waits in the queue
	// stays there for the new one. Serve returns once its Accept fails,
	// and is waited for, so that Shutdown does not close the listener
	// again and take that error for a drain that failed.
	ln.Close()
	servedErr := <-served
	first.wait(shutdown)
	if err := hs.Shutdown(shutdown); err != nil {
		// What is still running after ShutdownTimeout is cut: its
		// connections closed, its requests' contexts ended (their money
		// commits or not, never half), and the background work stopped, so
		// that the store can close. Until 2026-11-27 a request stuck behind
		// a stalled database then held the store's close, and the process,
		// for as long as the stall lasted.
		hs.Close()
		stopBackground()
		select {
		case <-trafficDone:
		case <-time.After(ShutdownCutTimeout):
		}
		l.Close()
		return fmt.Errorf("drain did not finish: %w", err)
	}
	if !errors.Is(servedErr, net.ErrClosed) && !errors.Is(servedErr, http.ErrServerClosed) {
		return fmt.Errorf("server stopped: %w", servedErr)
	}
	stopBackground()
	<-trafficDone // the last minutes are flushed before the store closes
	l.Close()
	logger.Info("stopped cleanly")
	return nil
}

// OutboxInterval is how often queued messages that failed to send are retried.
const OutboxInterval = 10 * time.Second

// deliverLoop delivers the outbox until ctx ends: a bounded pass when a
// message is queued (auth.Service.Queued: password reset messages are
// sent only here, not by the request that asked) and one per interval,
// which retries failed sends. Passes run one at a time, and a burst of
// queued messages wakes one pass, so a broken sender cannot spin.
func deliverLoop(ctx context.Context, s *auth.Service, log *slog.Logger) {
	t := time.NewTicker(OutboxInterval)
	defer t.Stop()
	fails := faillog.New(log, "outbox delivery")
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.Queued():
		}
		if _, err := s.Deliver(ctx); ctx.Err() == nil {
			fails.Observe(time.Now(), err)
		}
	}
}

func newLogger(env *environment, level string, asJSON bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if asJSON {
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
}

// operatorKey returns the operator key: PEAKWALLET_OPERATOR_KEY, or the one
// kept in the data directory, or a new one written there (generated=true,
// so that it is printed once).
func operatorKey(dataDir string, env *environment) (key string, generated bool, err error) {
	if k := env.getenv("PEAKWALLET_OPERATOR_KEY"); k != "" {
		if len(k) < 16 {
			return "", false, errors.New("PEAKWALLET_OPERATOR_KEY must be at least 16 characters")
		}
		return k, false, nil
	}
	path := filepath.Join(dataDir, OperatorKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("reading the operator key: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	key = "pw_op_" + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("writing the operator key: %w", err)
	}
	return key, true, nil
}
