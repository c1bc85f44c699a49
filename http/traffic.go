package http

import (
	"net/http"
	"time"
)

// record counts every routed request in the traffic history by its
// route's priority class (what the forecast learns from). It wraps
// instrument from outside, so that the recorded status is the one the
// client got, panics included.
func (s *Server) record(class Class, next http.Handler) http.Handler {
	if s.traffic == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			s.traffic.Observe(string(class), status, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}
