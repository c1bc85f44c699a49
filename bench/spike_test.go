package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestASpikeThatFallsBehindStillOffersItsLoad: the spike offers
// spikeRate's arrivals over its whole length, 1.55 × the capacity on
// average, whatever the generator's own pace. Until 2026-11-29 each tick of
// its 1 ms ticker added one millisecond's arrivals, and a ticker drops the
// ticks of a receiver that falls behind: a generator slowed for a while (a
// machine short of CPU, as the bench's shares two cores with the server)
// offered less than the spike it reported, and the server was judged at a
// load it never met. Here the generator stalls for 5 ms at every 20th
// arrival, as if preempted.
func TestASpikeThatFallsBehindStillOffersItsLoad(t *testing.T) {
	const capacity, dur = 1000.0, time.Second
	pop := twoUsers()
	p2p := pop.picker(ScenarioUniform)
	n := 0
	stalling := func(rng *rand.Rand) pw.TransferCreate {
		if n++; n%20 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		return p2p(rng)
	}
	rec, _ := runSpike(context.Background(), spinningPayer{}, stalling, Config{Callers: 10_000, Duration: dur, Deadline: time.Second, Capacity: capacity, Seed: 1})
	var offered int64
	for _, s := range rec.seconds {
		offered += s.offered
	}
	want := capacity * (SpikeLow + SpikeHigh) / 2 * dur.Seconds() // the triangle's mean rate × its length
	t.Logf("offered %d of the spike's %.0f", offered, want)
	if float64(offered) < 0.95*want || float64(offered) > 1.02*want {
		t.Errorf("the spike offered %d payments, want its %.0f (within -5 %% and +2 %%)", offered, want)
	}
}
