package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/peakwallet/peakwallet/internal/pgtest"
)

// TestPlanCacheModeOnlyWithNamedStatements: the store asks for custom plans
// where pgx prepares named statements (its default), leaves the setting
// alone where the DSN chose it, and sends nothing in the modes without
// named statements (PgBouncer in transaction mode refuses unknown start-up
// parameters; docs/operations.md).
func TestPlanCacheModeOnlyWithNamedStatements(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	sep := " " // key=value DSN
	if strings.Contains(dsn, "://") {
		sep = "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
	}
	for _, tc := range []struct{ name, extra, want string }{
		{"pgx's default mode", "", "force_custom_plan"},
		{"the DSN's own choice", "plan_cache_mode=force_generic_plan", "force_generic_plan"},
		{"exec mode, as behind PgBouncer", "default_query_exec_mode=exec", "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dsn
			if tc.extra != "" {
				d += sep + tc.extra
			}
			s, err := Open(context.Background(), d, Options{MaxConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got string
			if err := s.pool.QueryRow(context.Background(), "SHOW plan_cache_mode").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("plan_cache_mode %q, want %q", got, tc.want)
			}
		})
	}
}
