package admission

import "time"

// Circuit breaker limits. After BreakerFailuresMax store failures in a row
// the breaker opens: requests are refused at once (busy, with the time
// left to wait) instead of piling onto a database that is down. After the
// cool-down one probe request is let through; its success closes the
// breaker, its failure reopens it with a doubled cool-down, at most
// BreakerCooldownMax, so that service returns within seconds of the
// database's return.
const (
	BreakerFailuresMax = 5
	BreakerCooldown    = 500 * time.Millisecond
	BreakerCooldownMax = 2 * time.Second
)

type breakerState uint8

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen // a probe is in flight
)

var breakerStateNames = [...]string{"closed", "open", "half_open"}

func (s breakerState) String() string { return breakerStateNames[s] }

// BreakerStates lists the names Stats.Breaker takes.
func BreakerStates() []string { return append([]string(nil), breakerStateNames[:]...) }

type breaker struct {
	state    breakerState
	failures int
	cooldown time.Duration
	until    time.Time // open: when a probe may go
}

// allow reports whether a request may go to the store now; probe is true
// when it is the half-open probe. When not allowed, wait is how long.
func (b *breaker) allow(now time.Time) (ok, probe bool, wait time.Duration) {
	switch b.state {
	case breakerClosed:
		return true, false, 0
	case breakerOpen:
		if !now.Before(b.until) {
			b.state = breakerHalfOpen
			return true, true, 0
		}
		return false, false, b.until.Sub(now)
	default: // half open: one probe at a time
		return false, false, b.cooldown
	}
}

// record notes the outcome of a request that reached the store.
func (b *breaker) record(now time.Time, failed, probe bool) {
	switch {
	case !failed:
		if probe || b.state == breakerClosed {
			b.state, b.failures, b.cooldown = breakerClosed, 0, 0
		}
	case probe:
		b.open(now, min(2*b.cooldown, BreakerCooldownMax))
	case b.state == breakerClosed:
		b.failures++
		if b.failures >= BreakerFailuresMax {
			b.open(now, BreakerCooldown)
		}
	}
}

// cancelProbe puts a half-open breaker back to open when its probe never
// reached the store (it was shed or cancelled), so another may go.
func (b *breaker) cancelProbe(now time.Time) {
	if b.state == breakerHalfOpen {
		b.state, b.until = breakerOpen, now
	}
}

func (b *breaker) open(now time.Time, cooldown time.Duration) {
	b.state, b.cooldown, b.until = breakerOpen, max(cooldown, BreakerCooldown), now.Add(max(cooldown, BreakerCooldown))
}
