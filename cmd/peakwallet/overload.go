package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peakwallet/peakwallet/admission"
)

// MaintenanceFile keeps the maintenance schedule inside the data directory.
const MaintenanceFile = "maintenance.json"

// RateMin is the least rate limit --rate takes (one request in about 17
// minutes), and BurstMax the largest bucket: beyond, a bucket's refill
// time (BurstMax/RateMin, 31 years) would overflow a time.Duration.
const (
	RateMin  = 0.001
	BurstMax = 1_000_000
)

// overloadFlags configure admission control.
type overloadFlags struct {
	rate      float64
	burst     int
	limitMin  int
	limitMax  int
	tolerance float64
	queueMax  int
	reusePort bool
	envRate   error // PEAKWALLET_RATE that is not a number
}

func (f *overloadFlags) register(fs *flag.FlagSet, env *environment) {
	raw := envOr(env, "PEAKWALLET_RATE", "200")
	rate, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		f.envRate = fmt.Errorf("PEAKWALLET_RATE=%q is not a number of requests a second", raw)
	}
	fs.Float64Var(&f.rate, "rate", rate, "requests a second per client (token bucket); operators are exempt; 0 disables [PEAKWALLET_RATE]")
	fs.IntVar(&f.burst, "burst", 0, "token bucket size per client (default 2×rate)")
	fs.IntVar(&f.limitMin, "limit-min", admission.LimitMin, "floor of the adaptive concurrency limit: enough requests in flight to fill the ledger's batches")
	fs.IntVar(&f.limitMax, "limit-max", admission.LimitMax, "ceiling of the adaptive concurrency limit")
	fs.Float64Var(&f.tolerance, "latency-tolerance", admission.LatencyTolerance, "how many times its class's latency floor a request may take before the limit shrinks")
	fs.IntVar(&f.queueMax, "queue-max", admission.QueueRequestsMax, "requests waiting for a slot, all classes")
	fs.BoolVar(&f.reusePort, "reuseport", true, "listen with SO_REUSEPORT, so that a new binary that cannot take the listening socket over (--handover) can still join the address; the connections queued on the old socket are then reset when it closes")
}

// check refuses flags that contradict each other. A --limit-min above
// --limit-max was taken without a word, and the limit sat at --limit-min:
// the ceiling asked for was silently ignored
// (TestALimitMinAboveLimitMaxIsRefusedAtStart).
//
// A rate that cannot be read, is negative or is not finite is refused too:
// until 2026-11-29 PEAKWALLET_RATE=fast (or --rate -5) turned the rate limit
// off without a word (TestARateThatIsNoRateIsRefusedAtStart).
func (f *overloadFlags) check(fs *flag.FlagSet) error {
	rateGiven := false // --rate on the command line overrides the environment
	fs.Visit(func(fl *flag.Flag) { rateGiven = rateGiven || fl.Name == "rate" })
	if f.envRate != nil && !rateGiven {
		return f.envRate
	}
	if f.rate < 0 || math.IsNaN(f.rate) || math.IsInf(f.rate, 0) {
		return fmt.Errorf("--rate %v: a rate is 0 (no limit) or a positive number of requests a second", f.rate)
	}
	// A rate or a bucket so far out that the bucket's refill time
	// overflows: until 2026-11-29 (found in review) --rate 1e-10 started,
	// and its RateLimit headers said a negative window and reset.
	if f.rate != 0 && f.rate < RateMin {
		return fmt.Errorf("--rate %v: a rate is 0 (no limit) or at least %v requests a second", f.rate, RateMin)
	}
	if f.burst > BurstMax {
		return fmt.Errorf("--burst %d: it must be at most %d", f.burst, BurstMax)
	}
	// Values admission.New would silently replace by its defaults (it
	// takes 0 for "default"): asked for on the command line, they are
	// mistakes (until 2026-11-29 --limit-min 0 ran with 512, --queue-max -1
	// with the default queue; TestAKnobThatWouldBeSilentlyReplacedIsRefused).
	for _, k := range []struct {
		name  string
		value int
		least int
	}{{"--limit-min", f.limitMin, 1}, {"--limit-max", f.limitMax, 1}, {"--queue-max", f.queueMax, 1}, {"--burst", f.burst, 0}} {
		if k.value < k.least {
			return fmt.Errorf("%s %d: it must be at least %d", k.name, k.value, k.least)
		}
	}
	if !(f.tolerance > 0) || math.IsInf(f.tolerance, 0) {
		return fmt.Errorf("--latency-tolerance %v: it must be a positive number", f.tolerance)
	}
	if f.limitMin > f.limitMax {
		return fmt.Errorf("--limit-min %d is above --limit-max %d: the adaptive limit moves between them", f.limitMin, f.limitMax)
	}
	return nil
}

// build returns the admission controller and the maintenance schedule
// kept in the data directory.
//
// On PostgreSQL (postgres), requests out of time while the database
// answers nobody open the breaker (admission.StallSilencePostgres); on
// SQLite they do not.
func (f *overloadFlags) build(dataDir string, postgres bool, log *slog.Logger) (*admission.Controller, *admission.Schedule, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	sched, err := admission.NewScheduleLogged(filepath.Join(dataDir, MaintenanceFile), nil, log)
	if err != nil {
		return nil, nil, err
	}
	var stallSilence time.Duration
	if postgres {
		stallSilence = admission.StallSilencePostgres
	}
	ctrl := admission.New(admission.Config{
		Rate: f.rate, Burst: f.burst, LimitMin: f.limitMin, LimitMax: f.limitMax, Tolerance: f.tolerance, QueueMax: f.queueMax,
		RateExempt:   func(p string) bool { return strings.HasPrefix(p, "operator:") },
		StallSilence: stallSilence,
	})
	return ctrl, sched, nil
}

// listen opens the server's socket; with reusePort, SO_REUSEPORT lets the
// old and the new process listen on one address during a handover that
// could not pass the socket itself (handover.go): an old binary without
// the handover socket, or --handover off. Each then has its own accept
// queue, and what waits in the old one's is reset when it closes.
func listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("SO_REUSEPORT: %w", serr)
			}
			return nil
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}
