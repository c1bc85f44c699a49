package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
	pwhttp "github.com/peakwallet/peakwallet/http"
)

// ScenarioOutage stops the database under load and starts it again.
const ScenarioOutage = "outage"

// Outage limits.
const (
	// OutageBucket is the width of the buckets that recovery is judged on.
	OutageBucket = 250 * time.Millisecond
	// OutageServedShare is the share of a bucket's payments that must
	// succeed for the bucket to count as served.
	OutageServedShare = 0.99
	// OutageAnswersMax bounds the answers one run keeps (about 100 bytes
	// each): past it, arrivals are dropped by the generator.
	OutageAnswersMax = 2_000_000
	// OutageReadersMax is how many read-backs of acknowledged transfers
	// run at once.
	OutageReadersMax = 32
	// OutageSettleMax is how long after the run a payment answered
	// outcome_unknown is retried with its key before it counts as
	// unresolved.
	OutageSettleMax = 30 * time.Second
)

// OutageConfig describes an outage run: open-loop payments at Rate for
// Duration; Stop runs Warmup after the start, Start runs For after Stop
// was issued.
type OutageConfig struct {
	Rate     float64
	Duration time.Duration
	Warmup   time.Duration
	For      time.Duration
	Deadline time.Duration // each request's deadline
	Seed     uint64
	// Stop and Start stop and start the database; Start must return only
	// once the database accepts connections again.
	Stop, Start func(context.Context) error
}

// answer is one payment's outcome.
type answer struct {
	sent     time.Duration // since the run's start
	latency  time.Duration
	code     string // "" for success, else outcomeCode's name
	message  string // the error's text
	noRetry  bool   // a refusal without Retry-After
	transfer string // the acknowledged transfer's ID
	// key and req are kept for a payment answered outcome_unknown, which
	// is retried with its key after the run.
	key string
	req pw.TransferCreate
}

// outageTimes are the moments of the outage, since the run's start.
type outageTimes struct {
	stopIssued, stopReturned, startIssued, startReturned time.Duration
}

// RunOutage offers payments at cfg.Rate (Poisson arrivals, whatever the
// answers) for cfg.Duration while the database is stopped and started
// again, then reads every acknowledged transfer back through check. The
// answers are judged by OutageResult's rules (see outage_report.go).
func RunOutage(ctx context.Context, svc pw.LedgerService, check pw.LedgerService, pop *Population, cfg OutageConfig) (*OutageResult, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.For <= 0 || cfg.Warmup < 0 {
		return nil, fmt.Errorf("bench: an outage run needs a positive rate, duration and outage length")
	}
	if cfg.Warmup+cfg.For >= cfg.Duration {
		return nil, fmt.Errorf("bench: the run (%s) must outlast the warm-up (%s) and the outage (%s)", cfg.Duration, cfg.Warmup, cfg.For)
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 2 * time.Second
	}
	var (
		mu      sync.Mutex
		answers []answer
		dropped atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	since := func() time.Duration { return time.Since(start) }

	// The outage runs beside the load, on its own clock: a stop or start
	// that takes long delays neither the arrivals nor each other's timing.
	var times outageTimes
	outageErr := make(chan error, 1)
	go func() {
		outageErr <- runOutageCommands(ctx, cfg, start, &times)
	}()

	pick := pop.picker(ScenarioUniform)
	rng := rand.New(rand.NewPCG(cfg.Seed, 11))
	end := start.Add(cfg.Duration)
	next := start
	for i := uint64(0); ctx.Err() == nil; i++ {
		next = next.Add(time.Duration(rng.ExpFloat64() / cfg.Rate * float64(time.Second)))
		if next.After(end) {
			break
		}
		time.Sleep(time.Until(next))
		mu.Lock()
		full := len(answers) >= OutageAnswersMax
		mu.Unlock()
		if full {
			dropped.Add(1)
			continue
		}
		tr := pick(rng)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
			defer cancel()
			a := answer{sent: since()}
			key := fmt.Sprintf("outage-%d-%d-%d", cfg.Seed, start.UnixNano(), i)
			t, err := svc.CreateTransfer(pw.NewContextWithIdempotencyKey(rctx, key), tr)
			a.latency = since() - a.sent
			if err == nil {
				a.transfer = t.ID
			} else {
				a.code, a.message = outcomeCode(err), err.Error()
				var pe *pw.Error
				a.noRetry = (isBusy(a.code) || a.code == pw.EOUTCOMEUNKNOWN) && (!errors.As(err, &pe) || pe.Retry <= 0)
				if a.code == pw.EOUTCOMEUNKNOWN {
					a.key, a.req = key, tr
				}
			}
			mu.Lock()
			answers = append(answers, a)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := <-outageErr; err != nil {
		return nil, err
	}
	res := judgeOutage(answers, times, since(), cfg)
	res.Dropped = dropped.Load()
	var acked []string
	var inDoubt []answer
	for _, a := range answers {
		switch {
		case a.transfer != "":
			acked = append(acked, a.transfer)
		case a.code == "":
			res.WithoutID++ // acknowledged, but nothing to read back
		case a.code == pw.EOUTCOMEUNKNOWN:
			inDoubt = append(inDoubt, a)
		}
	}
	for _, id := range settleInDoubt(ctx, svc, inDoubt, &res.InDoubt) {
		if id == "" {
			res.WithoutID++
			continue
		}
		acked = append(acked, id)
	}
	res.Missing, res.Unverified, res.MissingSample = readBack(ctx, check, acked)
	res.Unverified += res.WithoutID
	res.finish()
	return res, nil
}

// runOutageCommands stops the database after the warm-up and starts it
// cfg.For after the stop was issued, noting when each was issued and
// returned. A failed stop or start ends the run: its figures would mean
// nothing.
func runOutageCommands(ctx context.Context, cfg OutageConfig, start time.Time, t *outageTimes) error {
	sleepUntil := func(at time.Time) error {
		timer := time.NewTimer(time.Until(at))
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		}
	}
	if err := sleepUntil(start.Add(cfg.Warmup)); err != nil {
		return err
	}
	t.stopIssued = time.Since(start)
	if err := cfg.Stop(ctx); err != nil {
		return fmt.Errorf("bench: stopping the database: %w", err)
	}
	t.stopReturned = time.Since(start)
	if err := sleepUntil(start.Add(t.stopIssued + cfg.For)); err != nil {
		return err
	}
	t.startIssued = time.Since(start)
	if err := cfg.Start(ctx); err != nil {
		return fmt.Errorf("bench: starting the database: %w", err)
	}
	t.startReturned = time.Since(start)
	return nil
}

// settleInDoubt retries each payment answered 504 outcome_unknown with its own
// key and request, as a client must, until a final answer or
// OutageSettleMax after it began: a success (the remembered payment if it
// had committed, else the payment made now) or a refusal that is final.
// It counts them in c and returns the paid transfers' IDs, which are read
// back with the acknowledged ones.
func settleInDoubt(ctx context.Context, svc pw.LedgerService, as []answer, c *InDoubtCount) []string {
	var (
		mu   sync.Mutex
		paid []string
	)
	end := time.Now().Add(OutageSettleMax)
	parallel(OutageReadersMax, len(as), func(i int) {
		a := as[i]
		for {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			t, err := svc.CreateTransfer(pw.NewContextWithIdempotencyKey(rctx, a.key), a.req)
			cancel()
			again := err != nil && pwhttp.Retryable(err) // as the Go client would retry it
			if again && time.Now().Before(end) && ctx.Err() == nil {
				var pe *pw.Error
				wait := 200 * time.Millisecond
				if errors.As(err, &pe) && pe.Retry > wait {
					wait = pe.Retry
				}
				time.Sleep(wait)
				continue
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				c.Paid++
				paid = append(paid, t.ID)
			case again:
				c.Unresolved++
			default:
				c.Refused++
				if c.RefusedCodes == nil {
					c.RefusedCodes = map[string]int64{}
				}
				c.RefusedCodes[outcomeCode(err)]++
			}
			return
		}
	})
	c.Answered = int64(len(as))
	return paid
}

// readBack reads every acknowledged transfer back. A transfer the server
// says does not exist is missing; one it could not be asked about (after
// the client's retries) is unverified. Both fail the run.
func readBack(ctx context.Context, check pw.LedgerService, ids []string) (missing, unverified int64, sample []string) {
	var mu sync.Mutex
	parallel(OutageReadersMax, len(ids), func(i int) {
		_, err := check.Transfer(ctx, ids[i])
		if err == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if pw.ErrorCode(err) == pw.ENOTFOUND {
			missing++
			if len(sample) < 10 {
				sample = append(sample, ids[i])
			}
		} else {
			unverified++
		}
	})
	return missing, unverified, sample
}
