package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/postgres"
	"github.com/peakwallet/peakwallet/sqlite"
	"github.com/peakwallet/peakwallet/status"
)

// storeFlags choose the store: SQLite in a data directory by default,
// PostgreSQL when a DSN is given.
type storeFlags struct {
	data     string
	postgres string
}

func (f *storeFlags) register(fs *flag.FlagSet, env *environment) {
	fs.StringVar(&f.data, "data", envOr(env, "PEAKWALLET_DATA", "./peakwallet-data"), "data directory (SQLite database, operator key) [PEAKWALLET_DATA]")
	fs.StringVar(&f.postgres, "postgres", env.getenv("PEAKWALLET_POSTGRES"), "PostgreSQL DSN; when set, the ledger lives there [PEAKWALLET_POSTGRES]")
}

// Store is what the commands need: the ledger's store and the auth store,
// which both implementations are.
type Store interface {
	pw.Store
	auth.Store
	status.Store
}

// open constructs the chosen store explicitly (no registration by import)
// and applies pending migrations.
func (f *storeFlags) open(ctx context.Context) (Store, string, error) {
	if f.postgres != "" {
		s, err := postgres.Open(ctx, f.postgres, postgres.Options{ApplicationName: "peakwallet"})
		if err != nil {
			return nil, "", fmt.Errorf("opening PostgreSQL: %w", err)
		}
		return s, "postgres " + redactDSN(f.postgres), nil
	}
	s, err := sqlite.OpenDir(f.data, sqlite.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite in %s: %w", f.data, err)
	}
	return s, "sqlite " + s.Path() + " (driver " + sqlite.DriverName + ")", nil
}

// registerStoreMetrics adds the store's own counters to reg. For SQLite:
// peakwallet_sqlite_other_process_commits_total and peakwallet_sqlite_shared,
// what the store knows of another process on its file (ADR 0036), and
// peakwallet_sqlite_wal_restarts_total{result="done"|"failed"}, the
// checkpointer's attempts to start the WAL from its beginning
// (sqlite/checkpoint.go). A failed restart leaves the WAL growing until the
// next one gets in: under a sustained surge most fail, because the committer
// holds the write lock nearly all the time.
func registerStoreMetrics(reg prometheus.Registerer, s Store) {
	w, ok := s.(*sqlite.Store)
	if !ok {
		return
	}
	for _, c := range []struct {
		result string
		count  func() float64
	}{
		{"done", func() float64 { done, _ := w.WALRestarts(); return float64(done) }},
		{"failed", func() float64 { _, failed := w.WALRestarts(); return float64(failed) }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "peakwallet_sqlite_wal_restarts_total",
			Help:        "RESTART checkpoints of the SQLite WAL, by result: done (the WAL starts again from its beginning) or failed (the write lock or the readers did not come free in time, or an error).",
			ConstLabels: prometheus.Labels{"result": c.result},
		}, c.count))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "peakwallet_sqlite_other_process_commits_total",
		Help: "Commits by another process to this SQLite file that the writer noticed (a binary handover; ADR 0036): after each, it re-reads the accounts it had cached.",
	}, func() float64 { n, _ := w.Sharing(); return float64(n) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "peakwallet_sqlite_shared",
		Help: "1 while another process has this SQLite file open (a binary handover), else 0.",
	}, func() float64 {
		if _, shared := w.Sharing(); shared {
			return 1
		}
		return 0
	}))
}

// redactDSN hides a password in a DSN before it is printed.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			if colon := strings.Index(dsn[i+3:at], ":"); colon >= 0 {
				return dsn[:i+3+colon] + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}

func envOr(env *environment, key, def string) string {
	if v := env.getenv(key); v != "" {
		return v
	}
	return def
}

// envInt reads an integer setting from the environment: def when unset,
// and an error naming key when set to what is not an integer. The caller
// refuses to start with that error unless the setting's flag was given
// (flags override the environment). Until 2026-11-29 a malformed value
// (PEAKWALLET_BATCHES_IN_FLIGHT=two) was taken silently as the default
// (TestASettingThatCannotBeReadIsRefusedAtStart).
func envInt(env *environment, key string, def int) (int, error) {
	raw := env.getenv(key)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return def, fmt.Errorf("%s=%q is not an integer", key, raw)
	}
	return n, nil
}

// envBool reads a yes/no setting from the environment (strconv.ParseBool:
// 1, t, true, 0, f, false in any case): false when unset, and an error
// naming key when set to anything else. Until 2026-11-29 any value turned
// the setting on, PEAKWALLET_LOG_JSON=false included.
func envBool(env *environment, key string) (bool, error) {
	raw := env.getenv(key)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not true or false", key, raw)
	}
	return b, nil
}
