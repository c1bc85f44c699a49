package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestDiskFull fills a small filesystem under the store: the write that no
// longer fits fails with a clear error (unavailable: "the disk is full"),
// moves nothing, and leaves a sound store: every acknowledged transfer is
// there, the invariants hold and SQLite's integrity check passes.
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the disk-full test (as root): mount: %v %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	path := filepath.Join(dir, "full.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(s, ledger.Options{})
	ctx := context.Background()
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	var acked []string
	var full error
	for i := 0; i < 100_000 && full == nil; i++ {
		tr, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: a.ID, Amount: 1, Currency: "EUR",
			Description: strings.Repeat("x", pw.DescriptionBytesMax)})
		if err != nil {
			full = err
			break
		}
		acked = append(acked, tr.ID)
	}
	if full == nil {
		t.Fatal("a 1 MiB filesystem never filled")
	}
	if pw.ErrorCode(full) != pw.EUNAVAILABLE || !strings.Contains(pw.ErrorMessage(full), "disk is full") {
		t.Fatalf("the write that did not fit: %v; want unavailable, the disk is full", full)
	}
	t.Logf("%d transfers fitted; then: %v", len(acked), full)
	l.Close()
	if got, err := s.Account(ctx, a.ID); err != nil || got.Balance.Posted != int64(len(acked)) {
		t.Fatalf("after the disk filled the account holds %+v (%v); want the %d acknowledged", got, err, len(acked))
	}
	for _, id := range acked {
		if _, err := s.Transfer(ctx, id); err != nil {
			t.Fatalf("acknowledged transfer %s: %v", id, err)
		}
	}
	if r, err := ledger.Verify(ctx, s); err != nil || !r.OK() {
		t.Fatalf("verify after the disk filled: %v %+v", err, r)
	}
	s.Close()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
}
