package traffic_test

import (
	"context"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/traffic"
)

// memStore is a traffic.Store in memory for the recorder's own tests (the
// real stores run traffictest).
type memStore struct {
	merged []*traffic.Bucket
	fail   bool
}

func (m *memStore) MergeTraffic(_ context.Context, _ traffic.Resolution, bs []*traffic.Bucket) error {
	if m.fail {
		return context.DeadlineExceeded
	}
	m.merged = append(m.merged, bs...)
	return nil
}
func (m *memStore) ReplaceTraffic(context.Context, traffic.Resolution, time.Time, time.Time, []*traffic.Bucket) error {
	return nil
}
func (m *memStore) Traffic(context.Context, traffic.Resolution, time.Time, time.Time) ([]*traffic.Bucket, error) {
	return nil, nil
}
func (m *memStore) DeleteTrafficBefore(context.Context, traffic.Resolution, time.Time) (int64, error) {
	return 0, nil
}

func TestRecorder(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)
	r := traffic.NewRecorder(func() time.Time { return now })
	r.Observe("payment", 201, 3*time.Millisecond)
	r.Observe("payment", 503, 40*time.Millisecond)
	r.Observe("payment", 429, time.Millisecond)
	r.Observe("read", 404, time.Millisecond)
	r.Observe("ops", 200, time.Millisecond)
	s := &memStore{}
	if err := r.Flush(context.Background(), s, false); err != nil || len(s.merged) != 0 {
		t.Fatalf("the current minute was flushed: %v %v", s.merged, err)
	}
	now = now.Add(time.Minute)
	s.fail = true
	if err := r.Flush(context.Background(), s, false); err == nil {
		t.Fatal("a failing store did not fail the flush")
	}
	s.fail = false
	if err := r.Flush(context.Background(), s, false); err != nil || len(s.merged) != 3 {
		t.Fatalf("after a failed flush the minutes are kept: %+v %v", s.merged, err)
	}
	p := s.merged[1]
	if p.Class != "payment" || p.Requests != 3 || p.Successes != 1 || p.Busy != 2 || p.Latency.Quantile(0.5) != 5*time.Millisecond {
		t.Fatalf("payment minute = %+v", p)
	}
	total, per := r.Live(5)
	if total.Requests != 4 || total.Busy != 2 || per["ops"].Requests != 1 {
		t.Fatalf("live = %+v %+v", total, per)
	}
}

func TestHistogramRoundTrip(t *testing.T) {
	var h traffic.Histogram
	for _, d := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, time.Minute} {
		h.Observe(d)
	}
	back, err := traffic.ParseHistogram(h.String())
	if err != nil || back != h {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if q := h.Quantile(1); q != 20*time.Second {
		t.Fatalf("overflow quantile = %v", q)
	}
	if _, err := traffic.ParseHistogram("1,x"); err == nil {
		t.Fatal("bad histogram accepted")
	}
}
