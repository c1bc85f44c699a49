package main

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/bench"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// OutageLoadShare is the share of measured capacity the outage bench
// offers: enough load that the outage is felt at once, little enough that
// what is measured is the outage and not an overload.
const OutageLoadShare = 0.5

// outageFlags are the flags of `bench --scenario outage`.
type outageFlags struct {
	stop, start string
	outageFor   time.Duration
	warmup      time.Duration
	rate        float64
}

func (o *outageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.stop, "outage-stop", "", "outage: shell command that stops the database (run with sh -c)")
	fs.StringVar(&o.start, "outage-start", "", "outage: shell command that starts the database and returns once it accepts connections")
	fs.DurationVar(&o.outageFor, "outage-for", 10*time.Second, "outage: how long the database stays stopped (from the stop command's start)")
	fs.DurationVar(&o.warmup, "outage-warmup", 5*time.Second, "outage: load offered before the stop")
	fs.Float64Var(&o.rate, "rate", 0, "outage: payments offered a second (0: half the capacity measured first)")
}

// outageReport is what `peakwallet bench --scenario outage` prints.
type outageReport struct {
	Date        time.Time           `json:"date"`
	Machine     string              `json:"machine"`
	Store       string              `json:"store"`
	StopCommand string              `json:"stop_command"`
	Start       string              `json:"start_command"`
	CapacityRPS float64             `json:"capacity_rps"` // 0 when --rate was given
	Run         *bench.OutageResult `json:"run"`
}

// runOutageBench stops the database of a running server (--target) under
// open-loop payments and starts it again, then judges the answers and
// reads every acknowledged transfer back (and retries each payment
// answered outcome_unknown with its key). It exits non-zero when an
// acknowledged transfer is missing, differs from the payment sent or could
// not be read back, or a payment of unknown outcome stayed so.
func runOutageBench(ctx context.Context, f *benchFlags, env *environment) error {
	o := f.outage
	if f.url == "" || o.stop == "" || o.start == "" {
		return fmt.Errorf("bench --scenario outage needs --target, --outage-stop and --outage-start")
	}
	// The setup and the read-back retry, as clients should: a transfer is
	// missing only when the server says so, not when a read was refused.
	setup := pwhttp.NewClient(f.url, f.key, httpClient(f.callers)).WithRetry(setupRetry)
	keys := []string{f.key}
	if f.principals > 1 {
		var err error
		if keys, err = benchOperators(ctx, setup, f.principals); err != nil {
			return fmt.Errorf("bench: creating %d operators: %w", f.principals, err)
		}
	}
	svc, err := bench.NewFastClient(f.url, keys, OverloadConnsMax, setup.WithRetry(pwhttp.RetryPolicy{Attempts: 1}))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "bench: outage, server %s; opening %d users…\n", f.url, f.users)
	pop, err := bench.NewPopulation(ctx, setup, pw.Currency(f.currency), f.users, f.merchants)
	if err != nil {
		return err
	}
	rep := outageReport{Date: time.Now().UTC(), Machine: machine(), Store: "the server's at " + f.url,
		StopCommand: o.stop, Start: o.start}
	rate := o.rate
	if rate <= 0 {
		probe := min(f.duration, 5*time.Second)
		capRun, err := bench.Run(ctx, svc, pop, bench.Config{Scenario: bench.ScenarioUniform, Callers: f.callers, Duration: probe, Deadline: f.deadline, Seed: 2})
		if err != nil {
			return err
		}
		rep.CapacityRPS = float64(capRun.OK) / capRun.Seconds
		rate = OutageLoadShare * rep.CapacityRPS
	}
	fmt.Fprintf(env.stderr, "bench: capacity %.0f payments/s; offering %.0f/s for %s, database stopped at %s for %s…\n",
		rep.CapacityRPS, rate, f.duration, o.warmup, o.outageFor)
	rep.Run, err = bench.RunOutage(ctx, svc, setup, pop, bench.OutageConfig{Rate: rate, Duration: f.duration,
		Warmup: o.warmup, For: o.outageFor, Deadline: f.deadline, Seed: 4,
		Stop: shellCommand(o.stop, env), Start: shellCommand(o.start, env)})
	if err != nil {
		return err
	}
	r := rep.Run
	fmt.Fprintln(env.stderr, outageLatencySummary(r))
	fmt.Fprintf(env.stderr, "bench: during the outage %d sent, %d refusals without Retry-After, %d unexpected %v; before it %d unexpected %v, %d without Retry-After; after it %d unexpected %v, %d without Retry-After; %d outcome unknown (on retry with the key: %d paid, %d refused, %d unresolved); recovery %.2f s; %d acknowledged, %d missing, %d mismatched, %d unverified; target met %v\n",
		r.During.Sent, r.During.BusyWithoutRetryAfter, r.During.Unexpected, r.During.UnexpectedCodes(),
		r.Before.Unexpected, r.Before.UnexpectedCodes(), r.Before.BusyWithoutRetryAfter, r.After.Unexpected, r.After.UnexpectedCodes(), r.After.BusyWithoutRetryAfter,
		r.InDoubt.Answered, r.InDoubt.Paid, r.InDoubt.Refused, r.InDoubt.Unresolved, r.RecoverySeconds, r.Acknowledged, r.Missing, r.Mismatched, r.Unverified, r.TargetMet)
	enc := newJSONEncoder(env.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if r.Missing > 0 || r.Mismatched > 0 || r.Unverified > 0 || r.InDoubt.Unresolved > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d acknowledged transfers missing, %d not as paid (%v) and %d not readable after the outage; %d payments of unknown outcome unresolved",
			r.Missing, r.Mismatched, r.MismatchedSample, r.Unverified, r.InDoubt.Unresolved)}
	}
	return nil
}

// outageLatencySummary is the summary line of each phase's p99: of the
// paid payments (p99_ms), and with the client timeouts counted at the
// deadline (p99_ms_with_timeouts), with how many there were, as the
// surge's summary gives them (surgeSummary).
func outageLatencySummary(r *bench.OutageResult) string {
	phase := func(name string, p *bench.OutagePhase) string {
		return fmt.Sprintf("%s %.1f ms (with its %d client timeouts counted at the deadline %.1f ms)",
			name, p.P99ms, p.Codes[bench.CodeTimeout], p.P99msWithTimeouts)
	}
	return "bench: p99 of paid payments " + phase("before the outage", &r.Before) + ", " +
		phase("during it", &r.During) + ", " + phase("after it", &r.After)
}

// shellCommand runs cmd with sh -c, its output on stderr.
func shellCommand(cmd string, env *environment) func(context.Context) error {
	return func(ctx context.Context) error {
		c := exec.CommandContext(ctx, "sh", "-c", cmd)
		c.Stdout, c.Stderr = env.stderr, env.stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("%q: %w", cmd, err)
		}
		return nil
	}
}
