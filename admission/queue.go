package admission

import (
	"slices"
	"time"
)

// waiter is a request waiting for a slot. ready receives nil when it is
// admitted or an error when it is shed; it is buffered so that the
// controller never blocks on a waiter that gave up.
type waiter struct {
	class     Class
	principal string
	deadline  time.Time
	enqueued  time.Time
	ready     chan error
	queued    bool // still in its queue; guarded by the controller's mutex
}

// fairQueue is one class's queue: a FIFO per principal, served round-robin
// across principals, so that a principal with a thousand requests waiting
// gets one slot for every slot each other waiting principal gets. Time
// order holds within a principal; across principals, fairness wins.
type fairQueue struct {
	byPrincipal map[string][]*waiter
	ring        []string // principals with waiters, in round-robin order
	next        int      // the ring position served next
	n           int
}

func newFairQueue() *fairQueue { return &fairQueue{byPrincipal: map[string][]*waiter{}} }

func (q *fairQueue) len() int { return q.n }

func (q *fairQueue) count(principal string) int { return len(q.byPrincipal[principal]) }

func (q *fairQueue) push(w *waiter) {
	if len(q.byPrincipal[w.principal]) == 0 {
		q.ring = append(q.ring, w.principal)
	}
	q.byPrincipal[w.principal] = append(q.byPrincipal[w.principal], w)
	w.queued = true
	q.n++
}

// pop takes the oldest waiter of the next principal in turn.
func (q *fairQueue) pop() *waiter {
	if q.n == 0 {
		return nil
	}
	if q.next >= len(q.ring) {
		q.next = 0
	}
	p := q.ring[q.next]
	w := q.byPrincipal[p][0]
	q.q(p, q.byPrincipal[p][1:])
	if len(q.byPrincipal[p]) > 0 {
		q.next++ // this principal keeps its place; the next one is served next
	}
	w.queued = false
	q.n--
	return w
}

// remove takes w out of the queue (its caller gave up).
func (q *fairQueue) remove(w *waiter) {
	ws := q.byPrincipal[w.principal]
	i := slices.Index(ws, w)
	if i < 0 {
		return
	}
	q.q(w.principal, slices.Delete(ws, i, i+1))
	w.queued = false
	q.n--
}

// shed takes the newest waiter of the principal with the most waiting:
// the greediest client pays for overload first.
func (q *fairQueue) shed() *waiter {
	var greedy string
	for _, p := range q.ring {
		if len(q.byPrincipal[p]) > len(q.byPrincipal[greedy]) {
			greedy = p
		}
	}
	ws := q.byPrincipal[greedy]
	if len(ws) == 0 {
		return nil
	}
	w := ws[len(ws)-1]
	q.q(greedy, ws[:len(ws)-1])
	w.queued = false
	q.n--
	return w
}

// q sets principal p's FIFO, dropping p from the ring when it is empty.
func (q *fairQueue) q(p string, ws []*waiter) {
	if len(ws) > 0 {
		q.byPrincipal[p] = ws
		return
	}
	delete(q.byPrincipal, p)
	if i := slices.Index(q.ring, p); i >= 0 {
		q.ring = slices.Delete(q.ring, i, i+1)
		if i < q.next {
			q.next--
		}
	}
}
