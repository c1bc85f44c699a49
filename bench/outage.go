package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
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
	// OutageAnswersMax bounds the answers one run keeps (184 bytes each on
	// 64-bit, with a failure's text besides): past it, arrivals are dropped by
	// the generator.
	OutageAnswersMax = 2_000_000
	// OutageReadersMax is how many read-backs of acknowledged transfers
	// run at once.
	OutageReadersMax = 32
	// OutageSamplesMax bounds each sample of the read-back's failures.
	OutageSamplesMax = 10
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
	// req is the payment as the generator sent it (its account IDs are
	// the population's strings, not copies): an acknowledged transfer is
	// read back and compared with it, and a payment answered
	// outcome_unknown is retried with it and its key (kept only for
	// those) after the run.
	key string
	req pw.TransferCreate
}

// ackedTransfer is a transfer the server acknowledged and the payment it
// was asked for, which stays in the answers (24 bytes an acknowledgement:
// a run acknowledges up to some hundred thousand).
type ackedTransfer struct {
	id   string
	sent *pw.TransferCreate
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
			a := answer{sent: since(), req: tr}
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
					a.key = key
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
	var acked []ackedTransfer
	var inDoubt []answer
	for i := range answers {
		a := &answers[i]
		switch {
		case a.transfer != "":
			acked = append(acked, ackedTransfer{id: a.transfer, sent: &a.req})
		case a.code == "":
			res.WithoutID++ // acknowledged, but nothing to read back
		case a.code == pw.EOUTCOMEUNKNOWN:
			inDoubt = append(inDoubt, *a)
		}
	}
	for _, p := range settleInDoubt(ctx, svc, inDoubt, &res.InDoubt) {
		if p.id == "" {
			res.WithoutID++
			continue
		}
		acked = append(acked, p)
	}
	rb := readBack(ctx, check, acked)
	res.Missing, res.MissingSample = rb.missing, rb.missingSample
	res.Mismatched, res.MismatchedSample = rb.mismatched, rb.mismatchedSample
	res.Unverified = rb.unverified + res.WithoutID
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
// It counts them in c and returns the paid transfers (an ID of "" when
// the answer named none), which are read back with the acknowledged ones.
func settleInDoubt(ctx context.Context, svc pw.LedgerService, as []answer, c *InDoubtCount) []ackedTransfer {
	var (
		mu   sync.Mutex
		paid []ackedTransfer
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
				paid = append(paid, ackedTransfer{id: t.ID, sent: &as[i].req})
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

// readBackCount is what the read-back found wrong, with samples.
type readBackCount struct {
	missing, mismatched, unverified int64
	missingSample, mismatchedSample []string
}

// readBack reads every acknowledged transfer back and compares it with the
// payment sent. A transfer the server says does not exist is missing; one
// that differs from the payment (transferDiff) is mismatched; one it could
// not be asked about (after the client's retries) is unverified. Each
// fails the run.
func readBack(ctx context.Context, check pw.LedgerService, acked []ackedTransfer) readBackCount {
	var (
		mu sync.Mutex
		c  readBackCount
	)
	parallel(OutageReadersMax, len(acked), func(i int) {
		a := acked[i]
		t, err := check.Transfer(ctx, a.id)
		diff := ""
		if err == nil {
			if diff = transferDiff(t, a.id, a.sent); diff == "" {
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			c.mismatched++
			if len(c.mismatchedSample) < OutageSamplesMax {
				c.mismatchedSample = append(c.mismatchedSample, a.id+": "+diff)
			}
		case pw.ErrorCode(err) == pw.ENOTFOUND:
			c.missing++
			if len(c.missingSample) < OutageSamplesMax {
				c.missingSample = append(c.missingSample, a.id)
			}
		default:
			c.unverified++
		}
	})
	return c
}

// transferDiff says how the transfer read back as id differs from the
// payment sent, in what the payment asked for (payer, payee, amount,
// currency) and in its ID; "" when it does not.
func transferDiff(t *pw.Transfer, id string, sent *pw.TransferCreate) string {
	if t == nil {
		return "read back as nothing"
	}
	var d []string
	if t.ID != id {
		d = append(d, fmt.Sprintf("read back as %q", t.ID))
	}
	if t.FromAccount != sent.FromAccount {
		d = append(d, fmt.Sprintf("from_account %s, sent %s", t.FromAccount, sent.FromAccount))
	}
	if t.ToAccount != sent.ToAccount {
		d = append(d, fmt.Sprintf("to_account %s, sent %s", t.ToAccount, sent.ToAccount))
	}
	if t.Amount != sent.Amount {
		d = append(d, fmt.Sprintf("amount %d, sent %d", t.Amount, sent.Amount))
	}
	if t.Currency != sent.Currency {
		d = append(d, fmt.Sprintf("currency %s, sent %s", t.Currency, sent.Currency))
	}
	return strings.Join(d, "; ")
}
