package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// TestIntentLookUpSearchesTheKeyIndex: an intent batch finds its keys
// already used through the unique (principal, key) index, whatever the
// batch's size, on a table of thousands of intents (with and without the
// statistics of ANALYZE). A plan that scanned the table would read every
// intent accepted before a batch, in every batch of a surge, on the write
// connection the ledger waits for; SQLite 3.40 plans the statement so.
func TestIntentLookUpSearchesTheKeyIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now()
	for b := range 8 {
		batch := make([]*pw.Intent, 256)
		for i := range batch {
			batch[i] = &pw.Intent{ID: pw.NewID("int", now), Principal: fmt.Sprintf("operator:%d", i%64),
				IdempotencyKey: fmt.Sprintf("seed-%d-%d", b, i), Fingerprint: "f", Body: []byte(`{}`),
				Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
		}
		if _, err := s.writeIntentBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// Both look-ups of a batch of intents: their intents, and their keys'
	// finished requests.
	lookUps := []struct{ table, head, tail string }{
		{"intents", intentsByKeyHead, intentsByKeyTail},
		{"idempotency", idempotencyByKeyHead, idempotencyByKeyTail},
	}
	check := func(stats string) {
		for _, lu := range lookUps {
			checkLookUp(t, s, stats, lu.table, lu.head, lu.tail)
		}
	}

	check("no statistics")
	if _, err := s.write.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	check("after ANALYZE")

	// And it finds what it should: a key used, a key not used, another
	// principal's key of the same name.
	got, err := s.CreateIntent(ctx, &pw.Intent{ID: pw.NewID("int", now), Principal: "operator:3", IdempotencyKey: "seed-5-3",
		Fingerprint: "f", Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now})
	if err != nil || got == nil || got.IdempotencyKey != "seed-5-3" || got.Principal != "operator:3" {
		t.Fatalf("a used key: got %+v, %v; want the stored intent", got, err)
	}
	for _, in := range []*pw.Intent{
		{Principal: "operator:3", IdempotencyKey: "never-used"},
		{Principal: "operator:4", IdempotencyKey: "seed-5-3"},
	} {
		in.ID, in.Fingerprint, in.Body, in.Status, in.CreatedAt, in.UpdatedAt = pw.NewID("int", now), "f", []byte(`{}`), pw.IntentPending, now, now
		if got, err := s.CreateIntent(ctx, in); err != nil || got != nil {
			t.Fatalf("%s's key %s: got %+v, %v; want a new intent", in.Principal, in.IdempotencyKey, got, err)
		}
	}
}

// checkLookUp checks that a look-up by (principal, key) pairs, head + a
// VALUES list + tail, searches table's key index for 1 to 256 keys.
func checkLookUp(t *testing.T, s *Store, stats, table, head, tail string) {
	t.Helper()
	for _, rows := range []int{1, 2, 64, 256} {
		q := head + strings.TrimSuffix(strings.Repeat("(?, ?), ", rows), ", ") + tail
		lines := queryPlan(t, s.write, q, make([]any, 2*rows)...)
		all := strings.Join(lines, "; ")
		searched := false
		for _, l := range lines {
			if strings.HasPrefix(l, "SCAN "+table) {
				t.Errorf("%s, %d keys: the look-up scans the table: %s", stats, rows, all)
			}
			if strings.HasPrefix(l, "SEARCH "+table+" USING") && strings.Contains(l, "principal=? AND key=?") {
				searched = true
			}
		}
		if !searched {
			t.Errorf("%s, %d keys: the look-up does not search the key index: %s", stats, rows, all)
		}
	}
}

// TestOnesPendingIntentsAreReadThroughThePendingIntentsAlone: GET
// /v1/intents (PendingIntentsOf) reads one principal's pending intents
// without reading their settled ones, with and without the statistics of
// ANALYZE. Intents are never deleted, so a plan through the principal's
// part of the (principal, key) index reads every intent the principal ever
// queued (a merchant's thousands, settled long ago), then sorts them, at
// each page of a list a client may poll.
func TestOnesPendingIntentsAreReadThroughThePendingIntentsAlone(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now()
	for b := range 8 {
		batch := make([]*pw.Intent, 256)
		for i := range batch {
			batch[i] = &pw.Intent{ID: pw.NewID("int", now), Principal: fmt.Sprintf("merchant:%d", i%4),
				IdempotencyKey: fmt.Sprintf("seed-%d-%d", b, i), Fingerprint: "f", Body: []byte(`{}`),
				Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
		}
		if _, err := s.writeIntentBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// All but a few settled, as after a surge.
	if _, err := s.write.ExecContext(ctx, "UPDATE intents SET status = 'posted' WHERE key NOT LIKE 'seed-7-%'"); err != nil {
		t.Fatal(err)
	}
	check := func(stats string) {
		t.Helper()
		all := strings.Join(queryPlan(t, s.read, "SELECT "+intentColumns+" FROM intents "+pendingOfWhere, "", "merchant:1", 10), "; ")
		if !strings.HasPrefix(all, "SEARCH intents USING INDEX intents_pending") || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("%s: one's pending intents are not read through an index of pending intents in ID order: %s", stats, all)
		}
	}
	check("no statistics")
	if _, err := s.write.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	check("after ANALYZE")
	got, err := s.PendingIntentsOf(ctx, "merchant:1", "", 100)
	if err != nil || len(got) != 64 {
		t.Fatalf("merchant:1's pending intents: %d, %v; want 64", len(got), err)
	}
}

// TestThePendingIDsAreReadFromThePendingIntentsIndex: PendingIntentIDs
// (the queue a queued payment's place is counted in) reads the partial
// index of pending intents, and only it, with and without statistics: a
// plan that read the intents table would read every intent ever queued.
func TestThePendingIDsAreReadFromThePendingIntentsIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now()
	batch := make([]*pw.Intent, 256)
	for i := range batch {
		batch[i] = &pw.Intent{ID: pw.NewID("int", now), Principal: "merchant:1", IdempotencyKey: fmt.Sprint("seed-", i),
			Fingerprint: "f", Body: []byte(`{}`), Status: pw.IntentPending, CreatedAt: now, UpdatedAt: now}
	}
	if _, err := s.writeIntentBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	check := func(stats string) {
		t.Helper()
		lines := queryPlan(t, s.read, pendingIDsQuery, 10)
		all := strings.Join(lines, "; ")
		read := false
		for _, l := range lines {
			if strings.Contains(l, " intents ") || strings.HasSuffix(l, " intents") {
				if !strings.Contains(l, "COVERING INDEX intents_pending") {
					t.Errorf("%s: the pending IDs are read otherwise than through intents_pending: %s", stats, all)
				}
				read = true
			}
		}
		if !read {
			t.Errorf("%s: no read of intents in the plan: %s", stats, all)
		}
	}
	check("no statistics")
	if _, err := s.write.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	check("after ANALYZE")
}

// queryPlan is the detail column of SQLite's EXPLAIN QUERY PLAN of q.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	plan, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	var lines []string
	for plan.Next() {
		var id, parent, unused int
		var detail string
		if err := plan.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := plan.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
