package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// SpikeLow and SpikeHigh are the offered load at the start and at the top
// of the spike, as shares of the measured capacity.
const (
	SpikeLow  = 0.10
	SpikeHigh = 3.00
)

// spikeRate is the offered load at fraction x ∈ [0,1] of the run: a
// triangle from SpikeLow up to SpikeHigh at the middle and back.
func spikeRate(capacity, x float64) float64 {
	return capacity * (SpikeLow + (SpikeHigh-SpikeLow)*(1-math.Abs(2*x-1)))
}

// runSpike offers requests open-loop at spikeRate: arrivals do not wait for
// answers, as real users do not. At most cfg.Callers requests are in flight
// (the client's connections); an arrival beyond that is counted as offered
// and failed with "client_overflow".
func runSpike(ctx context.Context, svc pw.LedgerService, pick picker, cfg Config) (*recorder, []time.Duration) {
	secs := int(math.Ceil(cfg.Duration.Seconds()))
	start := time.Now()
	rec := newRecorder(start, secs)
	stopProgress := progress(cfg.Progress, rec)
	slots := make(chan struct{}, cfg.Callers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []time.Duration
	rng := rand.New(rand.NewPCG(cfg.Seed, 99))
	var issued float64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		now := <-tick.C
		x := now.Sub(start).Seconds() / cfg.Duration.Seconds()
		if x >= 1 {
			break
		}
		sec := min(int(now.Sub(start).Seconds()), secs-1)
		// Arrivals due in this millisecond.
		issued += spikeRate(cfg.Capacity, x) / 1000
		for ; issued >= 1; issued-- {
			req := pick(rng)
			mu.Lock()
			rec.seconds[sec].offered++
			mu.Unlock()
			select {
			case slots <- struct{}{}:
			default:
				rec.requests.Add(1)
				rec.failed.Add(1)
				mu.Lock()
				rec.errors["client_overflow"]++
				rec.seconds[sec].failed++
				mu.Unlock()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				rctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
				t0 := time.Now()
				_, err := svc.CreateTransfer(rctx, req)
				lat := time.Since(t0)
				cancel()
				var one []time.Duration
				rec.record(lat, 1, err, &one)
				mu.Lock()
				s := &rec.seconds[sec]
				switch code := pw.ErrorCode(err); {
				case err == nil:
					s.ok++
					s.lat = append(s.lat, lat)
					all = append(all, lat)
				case isBusy(code):
					s.busy++
				default:
					s.failed++
				}
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	stopProgress()
	return rec, all
}
