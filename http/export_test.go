package http

import (
	"context"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// RenderedProblems is how many problem bodies the cache holds.
func RenderedProblems() int { return int(renderedCount.Load()) }

// ProblemCacheMax is the cache's bound.
const ProblemCacheMax = problemCacheMax

// RenderError is renderError.
var RenderError = renderError

// ResetProblemCache empties the cache, for a test that needs to know what
// it holds.
func ResetProblemCache() {
	renderedProblems.Clear()
	renderedCount.Store(0)
}

// IntentNotPending is the refusal of a cancellation that found in settled.
func IntentNotPending(in *pw.Intent) error {
	return &pw.Error{Code: pw.EINTENTNOTPENDING, Err: intentState{in}}
}

// ForgetQueueHead drops the queue's head as last read (pendingHead), so
// that the next place is counted anew, for tests of what a place says
// rather than of how fresh it is.
func (s *Server) ForgetQueueHead() {
	s.head.mu.Lock()
	s.head.at = time.Time{}
	s.head.mu.Unlock()
}

// PendingHead is the queue's head as places are counted from
// (pendingHead).
func (s *Server) PendingHead(ctx context.Context) ([]string, error) { return s.pendingHead(ctx) }
