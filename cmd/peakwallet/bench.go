package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/bench"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
)

// target is what a bench run drives: a LedgerService, and, when the ledger
// runs in this process, its batch counters.
type target struct {
	svc   pw.LedgerService
	stats func() ledger.Stats
	close func()
}

type benchFlags struct {
	store              storeFlags
	url, key           string
	overHTTP           bool
	scenario           string
	callers, batch     int
	users, merchants   int
	duration, deadline time.Duration
	baseline, asJSON   bool
	report             string
	baselineDuration   time.Duration
	currency           string
	cpuProfile         string
	batchesInFlight    int
	principals         int
	offeredRPS         float64
	mixPayments        int
	mixReads           int
	probe              time.Duration
	quiet              time.Duration
	async              bool
	outage             outageFlags
}

func runBench(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var f benchFlags
	f.store.register(fs, env)
	fs.StringVar(&f.url, "target", "", "benchmark a running server at this URL instead of the ledger in-process")
	fs.StringVar(&f.key, "key", env.getenv("PEAKWALLET_OPERATOR_KEY"), "operator key for --target [PEAKWALLET_OPERATOR_KEY]")
	fs.BoolVar(&f.overHTTP, "http", false, "serve the store over HTTP in this process and benchmark through real HTTP (keep-alive)")
	fs.StringVar(&f.scenario, "scenario", "all", "uniform, hot, spike, or all; or overload or mixed (open-loop 3× capacity through admission control); or curve (closed loops from 1 to 2× --callers: can the overload targets hold together here?); or outage (--target: stop the database under load)")
	fs.IntVar(&f.callers, "callers", 256, "concurrent callers (the spike's in-flight cap is 4× this)")
	fs.IntVar(&f.batch, "batch", 0, "transfers per request (0: single transfers; >1: the batch endpoint)")
	fs.IntVar(&f.users, "users", 10_000, "user accounts")
	fs.IntVar(&f.merchants, "merchants", 1_000, "merchant accounts")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&f.deadline, "deadline", 2*time.Second, "deadline of each request")
	fs.BoolVar(&f.baseline, "baseline", true, "also run the naive baseline (single transfers, one store transaction each) and report the ratio")
	fs.DurationVar(&f.baselineDuration, "baseline-duration", 5*time.Second, "measured time of the baseline run")
	fs.StringVar(&f.currency, "currency", "EUR", "currency of the accounts")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON on stdout")
	fs.StringVar(&f.report, "report", "", "also write the report as Markdown to this file")
	fs.DurationVar(&f.probe, "probe", 0, "overload and mixed: how long the closed loop at --callers that measures capacity runs, before and after the surge (0: 5s, or --duration if shorter); --probe equal to --duration compares the surge with a capacity sustained as long")
	fs.DurationVar(&f.quiet, "quiet", 0, "overload and mixed: a quiet spell before the surge: payments at 2 a second for this long after the capacity probe (0: the surge follows the probe at once), as real surges follow a quiet hour; the report counts each class's refusals in the surge's first second")
	fs.BoolVar(&f.async, "async", false, "overload and mixed: payments allow Prefer: respond-async, so that those the server cannot take now may be accepted (202) into its durable surge queue; the report counts them as accepted")
	fs.Float64Var(&f.offeredRPS, "offered-rps", 0, "overload and mixed: offer this many requests a second instead of 3× the measured capacity (to compare builds at the same load)")
	fs.IntVar(&f.mixPayments, "mix-payments", bench.MixedPaymentsDefault, "mixed: percent of the requests that are payments")
	fs.IntVar(&f.mixReads, "mix-reads", bench.MixedReadsDefault, "mixed: percent that are account reads (the rest are reports); e.g. --mix-payments 90 --mix-reads 10 for a payments-heavy surge")
	fs.IntVar(&f.principals, "principals", 64, "overload and mixed with --target: clients the load comes from, each an operator with its own key")
	fs.IntVar(&f.batchesInFlight, "batches-in-flight", 1, "ledger batches committing at once (more than 1 only helps PostgreSQL with cores to spare)")
	f.outage.register(fs)
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole session to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if f.scenario == bench.ScenarioOverload || f.scenario == bench.ScenarioMixed || f.scenario == bench.ScenarioCurve {
		return runOverloadBench(ctx, &f, fs, env)
	}
	if f.scenario == bench.ScenarioOutage {
		return runOutageBench(ctx, &f, env)
	}
	scenarios := []string{bench.ScenarioUniform, bench.ScenarioHot, bench.ScenarioSpike}
	if f.scenario != "all" {
		scenarios = strings.Split(f.scenario, ",")
		for _, s := range scenarios {
			if s != bench.ScenarioUniform && s != bench.ScenarioHot && s != bench.ScenarioSpike {
				return fmt.Errorf("--scenario: unknown scenario %q", s)
			}
		}
	}

	rep := &bench.Report{
		Date:    time.Now().UTC(),
		Command: "peakwallet bench " + strings.Join(args, " "),
		Machine: machine(),
		Mode:    "in-process (ledger + store, no HTTP)",
		Ratios:  map[string]float64{},
	}
	var open func(maxBatch int) (*target, error)
	var store pw.Store
	switch {
	case f.url != "":
		rep.Mode, rep.Store = "over HTTP to "+f.url, "the server's"
		f.baseline = false
		open = func(int) (*target, error) {
			return &target{svc: benchClient(f.url, f.key, f.callers), close: func() {}}, nil
		}
	default:
		s, where, closeStore, err := openBenchStore(ctx, &f, fs, env)
		if err != nil {
			return err
		}
		defer closeStore()
		store, rep.Store = s, where
		if f.overHTTP {
			rep.Mode = "over HTTP (loopback, keep-alive, server in this process)"
		}
		open = func(maxBatch int) (*target, error) {
			return localTarget(store, maxBatch, f.batchesInFlight, f.overHTTP, f.callers)
		}
	}

	var progress io.Writer
	if isTerminal(env.stderr) {
		progress = env.stderr
	}
	t, err := open(0)
	if err != nil {
		return err
	}
	defer t.close()
	fmt.Fprintf(env.stderr, "bench: %s, store %s; opening %d users and %d merchants…\n", rep.Mode, rep.Store, f.users, f.merchants)
	pop, err := bench.NewPopulation(ctx, t.svc, pw.Currency(f.currency), f.users, f.merchants)
	if err != nil {
		return err
	}
	cfg := bench.Config{Callers: f.callers, Duration: f.duration, Batch: f.batch, Deadline: f.deadline, Seed: 1, Progress: progress, Stats: t.stats}
	var uniform *bench.Result
	var closed []bench.Config
	for _, sc := range scenarios {
		if sc != bench.ScenarioSpike {
			c := cfg
			c.Scenario, c.Label = sc, sc
			closed = append(closed, c)
		}
	}
	if len(closed) > 0 {
		rounds := 1
		if len(closed) > 1 {
			rounds = interleaveRounds
		}
		fmt.Fprintf(env.stderr, "bench: %s, %d callers, %d transfers per request, %s each (%d interleaved rounds)…\n",
			strings.Join(scenarioNames(closed), " and "), f.callers, max(f.batch, 1), f.duration, rounds)
		results, err := bench.RunInterleaved(ctx, t.svc, pop, closed, rounds)
		if err != nil {
			return err
		}
		for _, r := range results {
			fmt.Fprintf(env.stderr, "bench: %s: %.0f transfers/s, p99 %.2f ms, busy %.2f %%\n", r.Label, r.Throughput, r.P99ms, 100*r.BusyShare)
			rep.Runs = append(rep.Runs, r)
			if r.Scenario == bench.ScenarioUniform {
				uniform = r
			}
		}
		for _, r := range results {
			if r.Scenario == bench.ScenarioHot && uniform != nil && uniform.Throughput > 0 {
				rep.Ratios["hot merchants / uniform throughput"] = r.Throughput / uniform.Throughput
			}
		}
	}
	if slices.Contains(scenarios, bench.ScenarioSpike) {
		if uniform == nil {
			c0 := cfg
			c0.Scenario, c0.Label, c0.Duration = bench.ScenarioUniform, "capacity probe", min(f.duration, 5*time.Second)
			if uniform, err = runOne(ctx, env, t, pop, c0, rep); err != nil {
				return err
			}
		}
		c := cfg
		c.Scenario, c.Label = bench.ScenarioSpike, bench.ScenarioSpike
		c.Capacity = float64(uniform.OK) / uniform.Seconds
		c.Callers = 4 * f.callers
		c.Batch = 0
		if _, err := runOne(ctx, env, t, pop, c, rep); err != nil {
			return err
		}
	}
	if f.baseline && uniform != nil {
		t.close()
		naive, err := open(1)
		if err != nil {
			return err
		}
		c := cfg
		// The naive way: every transfer its own request and its own store
		// transaction, whatever the measured run batched.
		c.Scenario, c.Label, c.Duration, c.Stats = bench.ScenarioUniform, "naive baseline (1 transaction per transfer)", f.baselineDuration, naive.stats
		c.Batch = 0
		r, err := runOne(ctx, env, naive, pop, c, rep)
		naive.close()
		if err != nil {
			return err
		}
		if r.Throughput > 0 {
			rep.Ratios["batched / naive throughput"] = uniform.Throughput / r.Throughput
		}
		t.close = func() {}
	}
	if store != nil {
		fmt.Fprintln(env.stderr, "bench: checking every invariant…")
		v, err := ledger.Verify(ctx, store)
		if err != nil {
			return err
		}
		ok := v.OK()
		rep.Verify, rep.VerifyOK = v, &ok
	}
	if f.report != "" {
		file, err := os.Create(f.report)
		if err != nil {
			return err
		}
		rep.Markdown(file)
		if err := file.Close(); err != nil {
			return err
		}
	}
	if f.asJSON {
		enc := newJSONEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.Markdown(env.stdout)
	}
	if rep.VerifyOK != nil && !*rep.VerifyOK {
		return &exitError{code: 1, err: errors.New("the invariant check failed after the bench")}
	}
	return nil
}

func runOne(ctx context.Context, env *environment, t *target, pop *bench.Population, c bench.Config, rep *bench.Report) (*bench.Result, error) {
	fmt.Fprintf(env.stderr, "bench: %s, %d callers, %d transfers per request, %s…\n", c.Label, c.Callers, max(c.Batch, 1), c.Duration)
	r, err := bench.Run(ctx, t.svc, pop, c)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.stderr, "bench: %s: %.0f transfers/s, p99 %.2f ms, busy %.2f %%\n", c.Label, r.Throughput, r.P99ms, 100*r.BusyShare)
	rep.Runs = append(rep.Runs, r)
	return r, nil
}

// openBenchStore opens the store the bench writes to: the one the flags
// name, or a fresh SQLite store in a temporary directory, removed again by
// the returned close.
func openBenchStore(ctx context.Context, f *benchFlags, fs *flag.FlagSet, env *environment) (pw.Store, string, func(), error) {
	dir := ""
	if f.store.postgres == "" && !flagSet(fs, "data") && env.getenv("PEAKWALLET_DATA") == "" {
		var err error
		if dir, err = os.MkdirTemp("", "peakwallet-bench"); err != nil {
			return nil, "", nil, err
		}
		f.store.data = dir
	}
	s, where, err := f.store.open(ctx)
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, "", nil, err
	}
	return s, where, func() {
		s.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
	}, nil
}

// interleaveRounds is how many turns the closed-loop scenarios take when
// several are measured together (see bench.RunInterleaved).
const interleaveRounds = 5

func scenarioNames(cfgs []bench.Config) []string {
	names := make([]string, len(cfgs))
	for i, c := range cfgs {
		names[i] = c.Scenario
	}
	return names
}

// localTarget runs a ledger over store in this process, driven directly or
// through an HTTP server on loopback.
func localTarget(store pw.Store, maxBatch, batchesInFlight int, overHTTP bool, callers int) (*target, error) {
	l := ledger.New(store, ledger.Options{MaxBatch: maxBatch, ConcurrentBatches: batchesInFlight})
	t := &target{svc: l, stats: l.Stats, close: func() { l.Close() }}
	if !overHTTP {
		return t, nil
	}
	const key = "bench-operator-key-local-only"
	srv := pwhttp.NewServer(pwhttp.Config{Ledger: l, Authenticator: pwhttp.NewOperatorAuthenticator(key), Readiness: store.Ping})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Close()
		return nil, err
	}
	hs := pwhttp.NewHTTPServer(ln.Addr().String(), srv.Handler())
	go hs.Serve(ln)
	t.svc = benchClient("http://"+ln.Addr().String(), key, callers)
	t.close = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		l.Close()
	}
	return t, nil
}

// setupRetry is how the bench's set-up (accounts, top-ups, operators)
// retries: patiently, since it must not fail on a server that is busy or
// holds few requests at once (a server limited to one slot, in a test on a
// loaded machine, refused account openings past the default eight attempts).
var setupRetry = pwhttp.RetryPolicy{Attempts: 40, BackoffFirst: 50 * time.Millisecond, BackoffMax: 2 * time.Second,
	CallTimeout: 2 * time.Minute}

// benchClient is a client that does not retry: the bench counts every
// refusal as it is.
func benchClient(url, key string, callers int) *pwhttp.Client {
	return pwhttp.NewClient(url, key, httpClient(callers)).WithRetry(pwhttp.RetryPolicy{Attempts: 1})
}

// httpClient keeps one connection per caller alive.
func httpClient(callers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 4 * callers
	tr.MaxIdleConnsPerHost = 4 * callers
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%d CPUs (%s/%s), %s, host %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), host)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
