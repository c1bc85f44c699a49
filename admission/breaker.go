package admission

import (
	"context"
	"errors"
	"time"
)

// Circuit breaker limits. After BreakerFailuresMax store failures in a row
// the breaker opens: requests are refused at once (busy, with the time
// left to wait) instead of piling onto a database that is down. After the
// cool-down one probe request is let through; its success closes the
// breaker, its failure reopens it with a doubled cool-down, at most
// BreakerCooldownMax, so that service returns within seconds of the
// database's return. A probe whose outcome says nothing of the store
// (refused as bad input, not found, out of its own time) neither closes
// nor lengthens it: the next request is the probe.
const (
	BreakerFailuresMax = 5
	BreakerCooldown    = 500 * time.Millisecond
	BreakerCooldownMax = 2 * time.Second
	// StallSilencePostgres is the Config.StallSilence serve sets on
	// PostgreSQL: a request that ran out of its time counts against the
	// breaker as a store failure when it held its slot at least this long
	// and the store answered nothing else meanwhile (see stalled). A
	// database that stalls (behind a network that stopped passing bytes,
	// sockets open) refuses no connection, so StoreFailed never sees a
	// failure: until 2026-11-29 the breaker stayed closed through a stall,
	// and every request held a slot and a pooled connection to the stalled
	// database for its whole deadline (TestTheBreakerOpensOnAPostgresStall).
	// A first value of 0.25 s, on every store, opened the breaker in
	// SQLite surges at 3x (19,196 payments refused by it in one run, and
	// 44 % of payments paid in a mixed one: a commit there can take longer
	// than that while hundreds wait): a second, as short as a payment's
	// deadline allows, and SQLite, whose disk cannot stall as a network
	// does, not at all.
	StallSilencePostgres = time.Second
	// StallAloneAfter is how long one principal's requests must have been
	// found stalled, the store answering nobody since the first of them
	// began, before they count against the breaker without another
	// principal's (countStall): a deployment with a single client (one
	// merchant's backend) has no second principal, and until 2026-11-29
	// its requests waited out their whole deadlines through a stall of any
	// length, each holding a pooled connection to the stalled database.
	// Five seconds of a store that answers nobody is no client's own slow
	// request (a class deadline is at most 3 s, reports aside).
	StallAloneAfter = 5 * time.Second
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
	// hurried: since the breaker last closed, a probe was brought forward
	// because the store answered a check made outside admission (hurry).
	hurried bool
}

// hurry brings the next probe forward to now, while the breaker is open
// and waits out its cool-down, once since it last closed: the store
// answered a check of its own (WatchStore), so the database may be back.
// Once only: a store that answers checks but fails requests (the probe
// failed after a hurry) is probed every cool-down as before, not at every
// check.
func (b *breaker) hurry(now time.Time) {
	if b.state == breakerOpen && now.Before(b.until) && !b.hurried {
		b.until, b.hurried = now, true
	}
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

// storeOutcome is what a request's outcome shows of the store.
type storeOutcome uint8

const (
	// storeAnswered: the request succeeded, so the store answered it.
	storeAnswered storeOutcome = iota
	// storeDown: the store could not be reached (Config.StoreFailed).
	storeDown
	// storeUnknown: any other error. A request refused as invalid or not
	// found may never have reached the store (the ID was checked first),
	// and one that ran out of its own time did not hear from it: neither
	// shows that the store answers, nor that it is down.
	storeUnknown
)

// outcomeOf sorts a request's error by what it shows of the store.
func outcomeOf(err error, storeFailed func(error) bool) storeOutcome {
	switch {
	case err == nil:
		return storeAnswered
	case storeFailed(err):
		return storeDown
	}
	return storeUnknown
}

// stalled reports whether a class request admitted at start, which ended
// at now with err, shows a stalled store: it ran out of its time
// (context.DeadlineExceeded), after holding its slot silence or more
// (Config.StallSilence; 0: never), and nothing the store was asked answered since it was admitted
// (lastAnswered, the end of the latest request the store answered).
//
// One request out of time shows nothing: its client may have asked for
// little time, or the store may be busy. A store that answers nobody for
// as long as a request waited is stalled, and BreakerFailuresMax such
// requests in a row open the breaker as refused connections do. In a surge
// the store answers a batch every few milliseconds, so the requests it
// turns away at their deadlines do not count. Reports do not count: a
// whole-ledger list may take longer than its deadline on an idle server,
// and one client's exports must not open the breaker for everyone.
func stalled(class Class, start, now, lastAnswered time.Time, err error, silence time.Duration) bool {
	return silence > 0 && class != ClassReport && errors.Is(err, context.DeadlineExceeded) &&
		now.Sub(start) >= silence && !lastAnswered.After(start)
}

// record notes the outcome of an admitted request. Only a success closes
// the breaker (or resets the failures counted in a row): until 2026-11-27
// any outcome but a store failure did, and a probe refused as a bad
// account ID closed the breaker while the database was still down.
func (b *breaker) record(now time.Time, o storeOutcome, probe bool) {
	switch o {
	case storeAnswered:
		if probe || b.state == breakerClosed {
			b.state, b.failures, b.cooldown, b.hurried = breakerClosed, 0, 0, false
		}
	case storeDown:
		switch {
		case probe:
			b.open(now, min(2*b.cooldown, BreakerCooldownMax))
		case b.state == breakerClosed:
			b.failures++
			if b.failures >= BreakerFailuresMax {
				b.open(now, BreakerCooldown)
			}
		}
	case storeUnknown:
		if probe {
			b.cancelProbe(now) // as if it had not gone: the next request probes
		}
	}
}

// cancelProbe puts a half-open breaker back to open when its probe never
// reached the store (it was shed or cancelled) or its outcome says nothing
// of the store, so another may go.
func (b *breaker) cancelProbe(now time.Time) {
	if b.state == breakerHalfOpen {
		b.state, b.until = breakerOpen, now
	}
}

func (b *breaker) open(now time.Time, cooldown time.Duration) {
	b.state, b.cooldown, b.until = breakerOpen, max(cooldown, BreakerCooldown), now.Add(max(cooldown, BreakerCooldown))
}

// StoreWatchInterval is how often WatchStore looks at the breaker, and
// checks the store while it is not closed; StoreWatchTimeout bounds one
// check (a stalled database answers it when it resumes, at once).
const (
	StoreWatchInterval = 100 * time.Millisecond
	StoreWatchTimeout  = 5 * time.Second
)

// WatchStore, until ctx ends, checks the store with ping while the
// breaker is not closed, one check at a time, and brings the next probe
// forward when one succeeds (StoreAnswers). Without it the breaker probes
// only after its cool-down (up to BreakerCooldownMax, 2 s) and service
// came back up to that long after the database did; a check is one cheap
// query, and at most one is out at any time.
func (c *Controller) WatchStore(ctx context.Context, ping func(context.Context) error) {
	t := time.NewTicker(StoreWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.BreakerClosed() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, StoreWatchTimeout)
		err := ping(pctx)
		cancel()
		if err == nil {
			c.StoreAnswers()
		}
	}
}

// StoreAnswers tells the controller that the store answered a check made
// outside admission: while the breaker is open, its next request is the
// probe at once instead of after the cool-down (once since the breaker
// last closed: breaker.hurry).
func (c *Controller) StoreAnswers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breaker.hurry(c.cfg.Now())
}

// BreakerClosed reports whether the breaker is closed, the store taken to
// answer. Work that reads the store outside admission, before a request is
// admitted (the kinds of a transfer's accounts, in http), asks first: while
// the breaker keeps every request from the store, that read must not go to
// it either.
func (c *Controller) BreakerClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.breaker.state == breakerClosed
}
