package http

import (
	"sync"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// StreamsPerPrincipalMax bounds the event streams one principal holds open
// at once. A stream takes no admission slot (it waits for a change), but it
// reads the store every IntentEventsPoll while it lasts (up to
// IntentEventsTimeout), and the rate limit counts only its opening: until
// 2026-11-29 one client at the default rate (200/s) could hold 10,000
// streams open, 10,000 store reads a second outside admission control. A
// browser needs one per queued payment it shows, in a few tabs.
const StreamsPerPrincipalMax = 16

// openStreams counts each principal's open event streams.
type openStreams struct {
	mu   sync.Mutex
	open map[string][]time.Time // principal → when each open stream began
}

// begin opens a stream for principal at now, or refuses it rate_limited
// with a Retry-After of when the principal's oldest stream ends at the
// latest (its IntentEventsTimeout). end closes the stream.
func (o *openStreams) begin(principal string, now time.Time) (end func(), err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.open == nil {
		o.open = map[string][]time.Time{}
	}
	began := o.open[principal]
	if len(began) >= StreamsPerPrincipalMax {
		oldest := began[0]
		for _, b := range began[1:] {
			if b.Before(oldest) {
				oldest = b
			}
		}
		return nil, &pw.Error{Code: pw.ERATELIMITED, Op: "http.streams", Retry: max(time.Second, oldest.Add(IntentEventsTimeout).Sub(now)),
			Message: "too many event streams open at once; close one, or wait for one to end"}
	}
	o.open[principal] = append(began, now)
	return func() { o.close(principal, now) }, nil
}

func (o *openStreams) close(principal string, began time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	list := o.open[principal]
	for i, b := range list {
		if b.Equal(began) {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(o.open, principal)
		return
	}
	o.open[principal] = list
}
