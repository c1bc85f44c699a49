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
