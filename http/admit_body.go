package http

import (
	"io"
	"net/http"
	"time"

	"github.com/peakwallet/peakwallet/admission"
)

// BodyGrace is how long an admitted request's body may take to arrive
// while the request holds its slot. A body that comes with its headers,
// as nearly every client sends it, is read in microseconds; one sent after
// a 100 Continue comes a round trip later, a few milliseconds within a
// region. Past the grace the slot goes back unused and the body is read
// without one (readBodyWithin). Why 20 ms: a principal at its full rate
// (200/s by default) whose every body trickles holds at most 4 slots, not
// the 400 that bodies of 2 s held, and a body read within the grace keeps
// its slot at most about as long as a payment takes at capacity (13 ms on
// SQLite here), so it costs the store's slots and the latency the limit
// learns about one more payment. A longer grace holds more slots; a
// shorter one sends more clients that wait for 100 Continue, and more
// requests whose goroutine the machine did not run in time, to queue
// twice (on this 2-core VM, loaded, 0 to 2 reads in 200,000 of a body
// already there took longer than 10, 20 or 50 ms alike: BenchmarkReadBody).
const BodyGrace = 20 * time.Millisecond

// hasBody reports whether r comes with a body to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// readBodyWithin reads r's body whole, at most limit bytes, for a request
// that holds ticket, and hands it to the handler as r.Body (a readBody).
// If the body has not all arrived within grace, ticket is given back
// unused (Abandon: no latency learnt, no outcome for the breaker, not
// counted admitted), and the read goes on without a slot, bounded as
// before by the read deadline bodyDueBy set and by limit; slow says so,
// and the caller must then queue again for a slot. A client that trickles
// its body thus holds a slot for at most grace, and a body cut at its
// deadline teaches the limit nothing of the store.
//
// The read itself is not interrupted at the grace: a read deadline would
// end it with an error that net/http keeps (it cancels the request's
// context, and a chunked body's reader stays failed), so a timer gives the
// slot back while this goroutine reads on.
//
// err is the error the read ended with (a *http.MaxBytesError, a passed
// read deadline, a client gone), unmapped: readBody replays it after the
// bytes, so that the handler's ReadBody answers it where it answered it
// before, after the checks that come first.
func readBodyWithin(w http.ResponseWriter, r *http.Request, limit int64, ticket *admission.Ticket, grace time.Duration) (body []byte, slow bool, err error) {
	gaveBack := make(chan struct{})
	timer := time.AfterFunc(grace, func() {
		ticket.Abandon()
		close(gaveBack)
	})
	body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if !timer.Stop() {
		// The timer has fired: its slot must be back before the caller
		// queues again, or, with every slot taken, the request could be
		// refused for the slot it holds itself.
		<-gaveBack
		slow = true
	}
	r.Body = &readBody{data: body, err: err}
	return body, slow, err
}

// readBody is a request body already read whole: its bytes, then the
// error its read ended with (io.EOF when none). ReadBody takes the bytes
// as they are, without copying them again.
type readBody struct {
	data []byte
	err  error
	off  int
}

func (b *readBody) Read(p []byte) (int, error) {
	if b.off < len(b.data) {
		n := copy(p, b.data[b.off:])
		b.off += n
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return 0, io.EOF
}

func (b *readBody) Close() error { return nil }
