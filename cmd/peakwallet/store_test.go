package main

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/sqlite"
)

// TestSQLiteWALRestartsAreMetrics: serve's registry carries the SQLite
// checkpointer's restart counters, and they count what the store counts.
func TestSQLiteWALRestartsAreMetrics(t *testing.T) {
	s, err := sqlite.OpenDir(t.TempDir(), sqlite.Options{WALFramesMax: 1, CheckpointEveryCommits: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	registerStoreMetrics(reg, s)
	// Every commit wakes the checkpointer, and any WAL is over the limit.
	l := ledger.New(s, ledger.Options{})
	defer l.Close()
	deadline := time.Now().Add(10 * time.Second)
	for done, _ := s.WALRestarts(); done == 0; done, _ = s.WALRestarts() {
		if time.Now().After(deadline) {
			t.Fatal("no WAL restart in 10 s of commits")
		}
		if _, err := l.CreateAccount(context.Background(), pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	done, failed := s.WALRestarts()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "peakwallet_sqlite_wal_restarts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if len(got) != 2 {
		t.Fatalf("series %v of peakwallet_sqlite_wal_restarts_total, want done and failed", got)
	}
	if got["done"] < float64(done) || got["failed"] < float64(failed) || got["done"] == 0 {
		t.Fatalf("metrics %v, store counted %d done and %d failed", got, done, failed)
	}
}

// TestSQLiteSharingIsMetrics: while a second store has the file open (a
// handover's new process), peakwallet_sqlite_shared is 1, and a commit of
// the second one is counted by the first's writer at its next transaction.
func TestSQLiteSharingIsMetrics(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.OpenDir(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	registerStoreMetrics(reg, s)
	value := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	if v := value("peakwallet_sqlite_shared"); v != 0 {
		t.Fatalf("shared = %v with one store open", v)
	}
	other, err := sqlite.OpenDir(dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	deadline := time.Now().Add(5 * sqlite.ShareCheckInterval)
	for value("peakwallet_sqlite_shared") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("shared still 0 %v after the second store opened", 5*sqlite.ShareCheckInterval)
		}
		time.Sleep(sqlite.ShareCheckInterval / 4)
	}
	l, lo := ledger.New(s, ledger.Options{}), ledger.New(other, ledger.Options{})
	defer l.Close()
	defer lo.Close()
	ctx := context.Background()
	if _, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lo.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if v := value("peakwallet_sqlite_other_process_commits_total"); v != 0 {
		t.Fatalf("other process's commits = %v before the writer looked again", v)
	}
	if _, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if v := value("peakwallet_sqlite_other_process_commits_total"); v != 1 {
		t.Fatalf("other process's commits = %v, want 1", v)
	}
}
