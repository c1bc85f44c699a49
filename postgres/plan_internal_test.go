package postgres

import (
	"context"
	"net/url"
	"testing"

	"github.com/peakwallet/peakwallet/internal/pgtest"
)

// TestPlanCacheModeOnlyWithNamedStatements: the store asks for custom plans
// where pgx prepares named statements (its default), leaves the setting
// alone where the DSN chose it, and sends nothing in the modes without
// named statements (PgBouncer in transaction mode refuses unknown start-up
// parameters; docs/operations.md).
func TestPlanCacheModeOnlyWithNamedStatements(t *testing.T) {
	dsn, err := url.Parse(pgtest.NewDatabase(t)) // always a URL
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, param, value, want string }{
		{"pgx's default mode", "", "", "force_custom_plan"},
		{"the DSN's own choice", "plan_cache_mode", "force_generic_plan", "force_generic_plan"},
		{"exec mode, as behind PgBouncer", "default_query_exec_mode", "exec", "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := *dsn
			if tc.param != "" {
				q := u.Query()
				q.Set(tc.param, tc.value)
				u.RawQuery = q.Encode()
			}
			s, err := Open(context.Background(), u.String(), Options{MaxConns: 1})
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
