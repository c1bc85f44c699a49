package postgres

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{
		{"pgx's default mode", nil, "force_custom_plan"},
		{"the DSN's own choice", url.Values{"plan_cache_mode": {"force_generic_plan"}}, "force_generic_plan"},
		{"exec mode, as behind PgBouncer", url.Values{"default_query_exec_mode": {"exec"}}, "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionSetting(t, dsn, tc.params, "plan_cache_mode"); got != tc.want {
				t.Fatalf("plan_cache_mode %q, want %q", got, tc.want)
			}
		})
	}
}

// sessionSetting opens a store on dsn with params added to it and returns
// what SHOW name says in its session.
func sessionSetting(t *testing.T, dsn *url.URL, params url.Values, name string) string {
	t.Helper()
	u := *dsn
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	s, err := Open(context.Background(), u.String(), Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got string
	if err := s.pool.QueryRow(context.Background(), "SHOW "+pgx.Identifier{name}.Sanitize()).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRandomPageCostOnlyWhereNobodyChose: the store's sessions plan with a
// random_page_cost of 1.1 (ADR 0034) where nobody chose one, and keep the
// value the DSN or the database's own settings give; in the modes without
// named statements (behind PgBouncer) it sends nothing and sets nothing.
func TestRandomPageCostOnlyWhereNobodyChose(t *testing.T) {
	dsn, err := url.Parse(pgtest.NewDatabase(t)) // always a URL
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		params url.Values
		want   string
	}{
		{"pgx's default mode", nil, "1.1"},
		{"the DSN's own choice", url.Values{"random_page_cost": {"2"}}, "2"},
		{"exec mode, as behind PgBouncer", url.Values{"default_query_exec_mode": {"exec"}}, "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionSetting(t, dsn, tc.params, "random_page_cost"); got != tc.want {
				t.Fatalf("random_page_cost %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("the database's own setting", func(t *testing.T) {
		conn, err := pgx.Connect(context.Background(), dsn.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		name := strings.TrimPrefix(dsn.Path, "/")
		if _, err := conn.Exec(context.Background(), "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET random_page_cost = 3"); err != nil {
			t.Fatal(err)
		}
		if got := sessionSetting(t, dsn, nil, "random_page_cost"); got != "3" {
			t.Fatalf("random_page_cost %q, want the database's 3", got)
		}
	})
}
