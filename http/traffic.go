package http

import (
	"net/http"
	"time"
)

// record counts every routed request in the traffic history by its
// priority class (what the forecast learns from): its route's, or the one
// admission gave it (recordClass). It wraps instrument from outside, so
// that the recorded status is the one the client got, panics included.
func (s *Server) record(class Class, next http.Handler) http.Handler {
	if s.traffic == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &classRecorder{statusRecorder: statusRecorder{ResponseWriter: w}, class: class}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			s.traffic.Observe(string(rec.class), status, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

// classRecorder is record's writer: the status written, and the class the
// request is counted under.
type classRecorder struct {
	statusRecorder
	class Class
}

// recordClass counts the request that w answers under class c in the
// traffic record. admit lowers a transfer from or to a system account to
// topup once its body is read, and until 2026-11-29 the record still
// counted it a payment, as its route is
// (TestATopUpIsRecordedAsATopUp). record's writer is found through the
// writers wrapped around it (Unwrap), as http.ResponseController finds the
// connection, so that a request that keeps its route's class, every
// refusal among them, pays nothing for this.
func recordClass(w http.ResponseWriter, c Class) {
	for {
		switch t := w.(type) {
		case *classRecorder:
			t.class = c
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
}
