package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestTheAuditListingKeepsFreeTextInItsField: `peakwallet audit` prints a
// record's detail as k=v pairs. A value that is free text (an operator's
// reason for stopping a payment) is quoted when it holds what would read
// as another pair, column or record: a space with an equals sign, a tab,
// a line break, a quote, a bidirectional control, a byte that is not
// UTF-8. One word is printed as it is, as before.
func TestTheAuditListingKeepsFreeTextInItsField(t *testing.T) {
	for d, want := range map[string]string{
		"ticket-4711":                     `reason=ticket-4711`,
		"duplicate payer=user:evil":       `reason="duplicate payer=user:evil"`,
		"a\tb":                            `reason="a\tb"`,
		"x\n42\t2026-11-28T10:00:00.000Z": `reason="x\n42\t2026-11-28T10:00:00.000Z"`,
		`say "hi"`:                        `reason="say \"hi\""`,
		"ok \u202etxt.exe":                `reason="ok \u202etxt.exe"`,
		"":                                `reason=`,
		"bad\xffbyte":                     `reason="bad\xffbyte"`,
	} {
		if got := auditDetail(map[string]string{"reason": d}); got != want {
			t.Errorf("detail %q printed as %s; want %s", d, got, want)
		}
	}
	if got := auditDetail(map[string]string{"payer": "user:u1", "amount": "1000"}); got != "amount=1000 payer=user:u1" {
		t.Errorf("two plain values printed as %s", got)
	}
}

// TestTheServerLogsItsAuditHeadAsAnAnchor: serve logs the audit log's head
// as an anchor (seq:hash) when it has moved, and only then, so that a log
// shipped elsewhere holds anchors `verify --audit-anchor` checks; an empty
// log logs nothing.
func TestTheServerLogsItsAuditHeadAsAnAnchor(t *testing.T) {
	s, err := sqlite.OpenDir(t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	last, err := logAuditHead(ctx, s, log, "")
	if err != nil || last != "" || buf.Len() != 0 {
		t.Fatalf("an empty log: anchor %q, %v, logged %q", last, err, buf.String())
	}
	svc := auth.New(s, nil, auth.Options{Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	audit := func(n int) {
		t.Helper()
		for range n {
			if err := svc.Audit(ctx, "key.create", "key_x", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	audit(3)
	last, err = logAuditHead(ctx, s, log, last)
	if err != nil || !strings.HasPrefix(last, "3:") || !strings.Contains(buf.String(), "msg=\"audit head\" anchor="+last) {
		t.Fatalf("after 3 records: anchor %q, %v, logged %q", last, err, buf.String())
	}
	a, err := auth.ParseAuditAnchor(last)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := auth.VerifyAudit(ctx, s, a); err != nil || !r.OK() {
		t.Fatalf("the logged anchor does not verify: %+v, %v", r, err)
	}
	buf.Reset()
	if again, err := logAuditHead(ctx, s, log, last); err != nil || again != last || buf.Len() != 0 {
		t.Fatalf("an unmoved head: anchor %q, %v, logged %q", again, err, buf.String())
	}
	audit(2)
	if moved, err := logAuditHead(ctx, s, log, last); err != nil || !strings.HasPrefix(moved, "5:") || !strings.Contains(buf.String(), "anchor="+moved) {
		t.Fatalf("a moved head: anchor %q, %v, logged %q", moved, err, buf.String())
	}
}
