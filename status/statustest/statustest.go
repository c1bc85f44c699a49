// Package statustest is the conformance suite of status.Store's items
// (traffictest covers its traffic half).
package statustest

import (
	"context"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/status"
)

// Run checks put, replace, list order, get and delete.
func Run(t *testing.T, s status.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"inc_a", "inc_b", "inc_c"} {
		if err := s.PutStatusItem(ctx, &status.Item{Kind: status.KindIncident, ID: id, Body: []byte(`{"n":1}`), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutStatusItem(ctx, &status.Item{Kind: status.KindIncident, ID: "inc_a", Body: []byte(`{"n":2}`), CreatedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	items, err := s.StatusItems(ctx, status.KindIncident, 2)
	if err != nil || len(items) != 2 || items[0].ID != "inc_c" || items[1].ID != "inc_b" {
		t.Fatalf("StatusItems = %+v, %v", items, err)
	}
	it, err := s.StatusItem(ctx, status.KindIncident, "inc_a")
	if err != nil || string(it.Body) != `{"n":2}` || !it.CreatedAt.Equal(t0) {
		t.Fatalf("replaced item = %+v, %v (want the new body and the first CreatedAt)", it, err)
	}
	if other, _ := s.StatusItems(ctx, status.KindPromotion, 10); len(other) != 0 {
		t.Fatalf("kinds leak: %+v", other)
	}
	if err := s.DeleteStatusItem(ctx, status.KindIncident, "inc_a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatusItem(ctx, status.KindIncident, "inc_a"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("deleted item: %v", err)
	}
	if err := s.DeleteStatusItem(ctx, status.KindIncident, "inc_a"); pw.ErrorCode(err) != pw.ENOTFOUND {
		t.Fatalf("second delete: %v", err)
	}
}
