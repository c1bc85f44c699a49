package sqlite_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/auth/authtest"
)

func TestAuthConformance(t *testing.T) {
	authtest.Run(t, func(t *testing.T) auth.Store { return MustOpen(t) })
}

// TestAuditTamper changes one record behind the server's back: verify
// must name it.
func TestAuditTamper(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	svc := auth.New(s, nil, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}, Now: func() time.Time { return time.Unix(1e9, 0) }})
	for _, a := range []string{"login.success", "key.create", "login.failure"} {
		if err := svc.Audit(ctx, a, "usr_x", map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := auth.VerifyAudit(ctx, s); err != nil || !r.OK() {
		t.Fatalf("intact chain: %+v, %v", r, err)
	}
	db, err := sql.Open("sqlite3", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET action = 'login.success' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	r, err := auth.VerifyAudit(ctx, s)
	if err != nil || r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), "audit record 3: hash mismatch") {
		t.Fatalf("tampered chain: %+v, %v", r, err)
	}
	if _, err := db.Exec(`DELETE FROM audit WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if r, _ := auth.VerifyAudit(ctx, s); r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), "sequence gap") {
		t.Fatalf("deleted record not detected: %+v", r)
	}
}

// TestAuditAnchorsSeeTheNewestRecordsRemovedAndAChainRewritten: whoever can
// write the store can remove the newest audit records and move the head
// back, or rewrite a record and re-compute every hash after it; the chain
// alone then verifies. An anchor kept from an earlier verify (its head,
// seq:hash) is found gone, or with another hash.
func TestAuditAnchorsSeeTheNewestRecordsRemovedAndAChainRewritten(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	svc := auth.New(s, nil, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}, Now: func() time.Time { return time.Unix(1e9, 0) }})
	for _, a := range []string{"login.success", "key.create", "operator.transfer", "key.revoke"} {
		if err := svc.Audit(ctx, a, "usr_x", map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := auth.VerifyAudit(ctx, s)
	if err != nil || !r.OK() || r.HeadSeq != 4 || r.Anchor != "4:"+r.Head {
		t.Fatalf("intact chain: %+v, %v", r, err)
	}
	anchor, err := auth.ParseAuditAnchor(r.Anchor)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := auth.VerifyAudit(ctx, s, anchor); err != nil || !r.OK() || r.AnchorsChecked != 1 {
		t.Fatalf("intact chain with its own head as anchor: %+v, %v", r, err)
	}
	db, err := sql.Open("sqlite3", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The last record rewritten (another action) and its hash re-computed.
	recs, err := s.Audit(ctx, 0, 10)
	if err != nil || len(recs) != 4 {
		t.Fatalf("audit: %d records, %v", len(recs), err)
	}
	last := recs[3]
	last.Action = "login.failure"
	last.Hash = auth.ChainHash(last.PrevHash, last)
	if _, err := db.Exec(`UPDATE audit SET action = ?, hash = ? WHERE seq = 4`, last.Action, last.Hash); err != nil {
		t.Fatal(err)
	}
	if r, err := auth.VerifyAudit(ctx, s); err != nil || !r.OK() {
		t.Fatalf("a rewritten chain verifies without an anchor (the gap anchors close): %+v, %v", r, err)
	}
	r, err = auth.VerifyAudit(ctx, s, anchor)
	if err != nil || r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), "audit record 4: its hash is not the anchor's") {
		t.Fatalf("a rewritten chain against its anchor: %+v, %v", r, err)
	}
	// The newest record removed and the head moved back.
	if _, err := db.Exec(`DELETE FROM audit WHERE seq = 4; UPDATE audit_head SET seq = 3`); err != nil {
		t.Fatal(err)
	}
	if r, err := auth.VerifyAudit(ctx, s); err != nil || !r.OK() || r.HeadSeq != 3 {
		t.Fatalf("a chain cut short verifies without an anchor (the gap anchors close): %+v, %v", r, err)
	}
	r, err = auth.VerifyAudit(ctx, s, anchor)
	if err != nil || r.OK() || !strings.Contains(strings.Join(r.Violations, "\n"), "the log holds no record 4 (its newest is 3): records were removed") {
		t.Fatalf("a chain cut short against its anchor: %+v, %v", r, err)
	}
}
