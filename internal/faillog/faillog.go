// Package faillog logs the failures of a background loop the way an
// operator can read them: the first failure of a run at once, then at
// most one reminder per interval while it lasts, and the recovery with how
// long it took. A loop that ticks four times a second would otherwise
// write forty identical warnings during a ten-second database outage, and
// bury the one line that says when it began.
package faillog

import (
	"log/slog"
	"time"
)

// ReminderEvery is how often a failure that lasts is logged again.
const ReminderEvery = time.Minute

// Loop is one background loop's failure log. The zero value is not
// usable; make one with New. It is not safe for concurrent use: a loop
// observes its own passes one at a time.
type Loop struct {
	log        *slog.Logger
	msg        string
	failures   int
	since      time.Time // first failure of the current run
	remindedAt time.Time
}

// New returns the failure log of a loop that logs msg with log.
func New(log *slog.Logger, msg string) *Loop {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loop{log: log, msg: msg}
}

// Observe records one pass's outcome at now: a failure is logged (Warn)
// when it begins a run and then once per ReminderEvery; the first success
// after a run is logged (Info) with the run's length and count. It
// reports whether it logged.
func (l *Loop) Observe(now time.Time, err error) bool {
	switch {
	case err == nil && l.failures == 0:
		return false
	case err == nil:
		l.log.Info(l.msg+": working again", "failed_for", now.Sub(l.since).Round(time.Millisecond), "failures", l.failures)
		l.failures = 0
		return true
	}
	l.failures++
	if l.failures == 1 {
		l.since, l.remindedAt = now, now
		l.log.Warn(l.msg+" failed; retrying", "err", err)
		return true
	}
	if now.Sub(l.remindedAt) >= ReminderEvery {
		l.remindedAt = now
		l.log.Warn(l.msg+" still failing", "err", err, "for", now.Sub(l.since).Round(time.Second), "failures", l.failures)
		return true
	}
	return false
}
