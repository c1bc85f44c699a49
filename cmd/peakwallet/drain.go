package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// FirstRequestWaitMax bounds how long a drain waits for the first request
// of a connection accepted just before it, once the server stopped
// accepting. A client that has sent nothing by then is treated as idle, as
// net/http's Shutdown treats it after 5 s.
const FirstRequestWaitMax = time.Second

// firstRequests follows the connections whose first request has not yet
// reached a handler. net/http's Shutdown drops a request it reads after
// it began (the connection is closed without an answer: the client sees
// EOF, and a request without retries fails), so a drain stops accepting
// first and calls Shutdown only once every connection it accepted has
// had its first request dispatched, or has waited FirstRequestWaitMax.
// Seen in TestHandoverRefusesNoFreshConnection: with the listening socket
// handed over, and no connection reset any more, one request in a few
// thousand on fresh connections still failed with EOF a millisecond after
// the old process began to drain.
type firstRequests struct {
	mu      sync.Mutex
	waiting map[net.Conn]time.Time // accepted at
}

type connKey struct{}

func newFirstRequests() *firstRequests {
	return &firstRequests{waiting: make(map[net.Conn]time.Time)}
}

// track sets hs's hooks; call it before hs serves.
func (f *firstRequests) track(hs *http.Server) {
	hs.ConnState = f.connState
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	next := hs.Handler
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			f.done(c)
		}
		next.ServeHTTP(w, r)
	})
}

func (f *firstRequests) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		f.mu.Lock()
		f.waiting[c] = time.Now()
		f.mu.Unlock()
	case http.StateActive:
		// HTTP/2 is served apart, and ended by Shutdown's GOAWAY, which
		// loses no request; HTTP/1 becomes active just before the check
		// that drops its request, so it is done only in the handler.
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			f.done(c)
		}
	case http.StateIdle, http.StateClosed, http.StateHijacked:
		f.done(c)
	}
}

func (f *firstRequests) done(c net.Conn) {
	f.mu.Lock()
	delete(f.waiting, c)
	f.mu.Unlock()
}

// wait returns when no connection waits for its first request but those
// accepted FirstRequestWaitMax ago or more, or when ctx ends.
func (f *firstRequests) wait(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		f.mu.Lock()
		pending := 0
		for _, at := range f.waiting {
			if time.Since(at) < FirstRequestWaitMax {
				pending++
			}
		}
		f.mu.Unlock()
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
