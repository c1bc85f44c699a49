package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/ledger"
	"github.com/peakwallet/peakwallet/postgres"
)

func TestOpen_ConcurrentMigrations(t *testing.T) {
	schema := NewSchemaName(t)
	const processes = 6
	var wg sync.WaitGroup
	errs := make([]error, processes)
	for i := range processes {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), MustDSN(t), postgres.Options{Schema: schema, MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(context.Background(), MustDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(context.Background(),
		`SELECT count(*) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&n)
	files, _ := filepath.Glob("migrations/*.sql")
	if err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d, one per migration", n, err, len(files))
	}
	s := MustOpenSchema(t, schema) // and once more, with nothing to do
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_Errors(t *testing.T) {
	MustDSN(t)
	_, err := postgres.Open(context.Background(), "postgres://%zz", postgres.Options{})
	WantCode(t, err, pw.EINVALID)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", postgres.Options{})
	WantCode(t, err, pw.EUNAVAILABLE)
}

func TestPingClose(t *testing.T) {
	s := MustOpen(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("ping after close succeeded")
	}
}

func TestWrite_RoundTrip(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	// A time in another zone must come back as the same instant, in UTC.
	paris := time.FixedZone("CET", 3600)
	from := newAccount(pw.AccountUser, at(0).In(paris))
	from.OwnerID, from.OverdraftLimit = "usr_1", 500
	from.Metadata = map[string]string{"tier": "gold", "note": "ünïcode"}
	to := newAccount(pw.AccountMerchant, at(1))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{from, to}})
	from.CreatedAt = from.CreatedAt.UTC()

	tr, entries := newPayment(from, to, 1250, at(2))
	tr.Description, tr.Metadata = "coffee", map[string]string{"order": "42"}
	tr.RequestKey = "merchant:m1\x00key-1" // NUL bytes, as the ledger joins them
	h := newHold(from, to, 300, at(3), at(3600))
	h.Metadata, h.RequestKey = map[string]string{"k": "v"}, "merchant:m1\x00key-2"
	MustWrite(t, s, &pw.Changes{Balances: []*pw.Account{from, to}, Transfers: []*pw.Transfer{tr},
		Entries: entries, NewHolds: []*pw.Hold{h}})

	for _, want := range []*pw.Account{from, to} {
		got, err := s.Account(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("account:\n got %+v\nwant %+v", got, want)
		}
	}
	gotTr, err := s.Transfer(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotTr, tr) {
		t.Errorf("transfer:\n got %+v\nwant %+v", gotTr, tr)
	}
	gotHold, err := s.Hold(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotHold, h) {
		t.Errorf("hold:\n got %+v\nwant %+v", gotHold, h)
	}
	gotEntries, err := s.EntriesAscending(ctx, from.ID, 0, 10)
	if err != nil || len(gotEntries) != 1 || !reflect.DeepEqual(gotEntries[0], entries[0]) {
		t.Errorf("entries = %+v, %v; want %+v", gotEntries, err, entries[0])
	}
	if to.Metadata != nil || gotTr.HoldID != "" || gotHold.CaptureTransferID != "" {
		t.Errorf("empty values did not read back empty")
	}
	if loc := gotHold.ExpiresAt.Location(); loc != time.UTC {
		t.Errorf("expires_at location = %v, want UTC", loc)
	}
}

func TestReads_NotFound(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	_, err := s.Account(ctx, "acc_missing")
	WantCode(t, err, pw.EACCOUNTNOTFOUND)
	_, err = s.Transfer(ctx, "tr_missing")
	WantCode(t, err, pw.ENOTFOUND)
	_, err = s.Hold(ctx, "hold_missing")
	WantCode(t, err, pw.ENOTFOUND)
}

func TestReads_BadLimit(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	_, err := s.Accounts(ctx, "", 0)
	WantCode(t, err, pw.EINVALID)
	_, err = s.Transfers(ctx, "", -1)
	WantCode(t, err, pw.EINVALID)
	_, err = s.DueHolds(ctx, t0, 0)
	WantCode(t, err, pw.EINVALID)
}

func TestAccounts_Pages(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	var accounts []*pw.Account
	for i := range 7 {
		accounts = append(accounts, newAccount(pw.AccountUser, at(i)))
	}
	MustWrite(t, s, &pw.Changes{NewAccounts: accounts})
	var got []string
	after := ""
	for {
		page, err := s.Accounts(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page, accountID)...)
		after = page[len(page)-1].ID
	}
	want := ids(accounts, accountID)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("accounts = %v, want %v", got, want)
	}
}

// TestTransfers_Pages checks newest-first order, the before cursor and the
// account filter, with the account on either side.
func TestTransfers_Pages(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b, c := newAccount(pw.AccountSystem, at(0)), newAccount(pw.AccountUser, at(0)), newAccount(pw.AccountUser, at(0))
	var all, ofB []*pw.Transfer
	var entries []*pw.Entry
	pairs := [][2]*pw.Account{{a, b}, {b, c}, {a, c}, {c, b}, {a, b}, {a, c}, {b, a}}
	for i, p := range pairs {
		tr, es := newPayment(p[0], p[1], int64(i+1), at(10+i))
		all, entries = append(all, tr), append(entries, es...)
		if p[0] == b || p[1] == b {
			ofB = append(ofB, tr)
		}
	}
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b, c}, Transfers: all, Entries: entries})
	slices.Reverse(all)
	slices.Reverse(ofB)

	var got []string
	before := ""
	for range len(all) + 1 {
		page, err := s.Transfers(ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page, transferID)...)
		before = page[len(page)-1].ID
	}
	if want := ids(all, transferID); !slices.Equal(got, want) {
		t.Errorf("transfers = %v, want %v", got, want)
	}
	byID, err := s.TransfersByID(ctx, append(ids(ofB, transferID), "tr_missing"))
	if err != nil || len(byID) != len(ofB) {
		t.Fatalf("TransfersByID = %d transfers, %v; want %d", len(byID), err, len(ofB))
	}
	for _, tr := range ofB {
		if got := byID[tr.ID]; got == nil || got.Amount != tr.Amount || got.FromAccount != tr.FromAccount {
			t.Errorf("TransfersByID[%s] = %+v, want %+v", tr.ID, got, tr)
		}
	}
}

func TestEntries_Pages(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b := newAccount(pw.AccountSystem, at(0)), newAccount(pw.AccountUser, at(0))
	var transfers []*pw.Transfer
	var entries []*pw.Entry
	for i := range 5 {
		tr, es := newPayment(a, b, 100, at(i+1))
		transfers, entries = append(transfers, tr), append(entries, es...)
	}
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b}, Transfers: transfers, Entries: entries})

	seqs := func(es []*pw.Entry) (out []int64) {
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, tc := range []struct {
		before int64
		want   []int64
	}{{0, []int64{5, 4, 3}}, {4, []int64{3, 2, 1}}, {2, []int64{1}}, {1, nil}} {
		es, err := s.Entries(ctx, b.ID, tc.before, 3)
		if err != nil || !slices.Equal(seqs(es), tc.want) {
			t.Errorf("Entries(before %d) = %v, %v; want %v", tc.before, seqs(es), err, tc.want)
		}
	}
	for _, tc := range []struct {
		after int64
		want  []int64
	}{{0, []int64{1, 2, 3}}, {3, []int64{4, 5}}, {5, nil}} {
		es, err := s.EntriesAscending(ctx, b.ID, tc.after, 3)
		if err != nil || !slices.Equal(seqs(es), tc.want) {
			t.Errorf("EntriesAscending(after %d) = %v, %v; want %v", tc.after, seqs(es), err, tc.want)
		}
	}
	es, err := s.EntriesAscending(ctx, b.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if e.PostedBalanceAfter != int64(100*(i+1)) || e.Amount != 100 || e.TransferID != transfers[i].ID {
			t.Errorf("entry %d = %+v", i, e)
		}
	}
}

// TestRefundedAmount checks that every read of a transfer sums its refunds.
func TestRefundedAmount(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b := newAccount(pw.AccountSystem, at(0)), newAccount(pw.AccountUser, at(0))
	orig, entries := newPayment(a, b, 1000, at(1))
	changes := &pw.Changes{NewAccounts: []*pw.Account{a, b}, Transfers: []*pw.Transfer{orig}}
	for i, amount := range []int64{100, 250} {
		r, es := newPayment(b, a, amount, at(2+i))
		r.Kind, r.RefundOf = pw.TransferRefund, orig.ID
		changes.Transfers, entries = append(changes.Transfers, r), append(entries, es...)
	}
	changes.Entries = entries
	MustWrite(t, s, changes)

	got, err := s.Transfer(ctx, orig.ID)
	if err != nil || got.RefundedAmount != 350 {
		t.Fatalf("Transfer refunded = %v, %v; want 350", got, err)
	}
	list, err := s.Transfers(ctx, "", 10)
	if err != nil || len(list) != 3 || list[2].ID != orig.ID || list[2].RefundedAmount != 350 || list[0].RefundedAmount != 0 {
		t.Fatalf("Transfers = %v, %v", list, err)
	}
	err = s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
		m, err := tx.Transfers(ctx, []string{orig.ID, changes.Transfers[1].ID, "tr_missing"})
		if err != nil {
			return err
		}
		if len(m) != 2 || m[orig.ID].RefundedAmount != 350 || m[changes.Transfers[1].ID].RefundOf != orig.ID {
			return fmt.Errorf("tx.Transfers = %v", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHolds_PendingAndDue(t *testing.T) {
	ctx := context.Background()
	s := MustOpen(t)
	a, b := newAccount(pw.AccountUser, at(0)), newAccount(pw.AccountMerchant, at(0))
	a.Balance.Posted = 10_000
	h1 := newHold(a, b, 10, at(1), at(100))
	h2 := newHold(a, b, 20, at(2), at(50))
	h3 := newHold(a, b, 30, at(3), at(500))
	h4 := newHold(a, b, 40, at(4), at(10))
	MustWrite(t, s, &pw.Changes{NewAccounts: []*pw.Account{a, b}, NewHolds: []*pw.Hold{h1, h2, h3, h4}})
	h4.Status, h4.UpdatedAt = pw.HoldVoided, at(5)
	MustWrite(t, s, &pw.Changes{HoldUpdates: []*pw.Hold{h4}})

	pending, err := s.PendingHolds(ctx, "", 2)
	if want := []string{h1.ID, h2.ID}; err != nil || !slices.Equal(ids(pending, holdID), want) {
		t.Fatalf("PendingHolds = %v, %v; want %v", ids(pending, holdID), err, want)
	}
	pending, err = s.PendingHolds(ctx, h2.ID, 2)
	if want := []string{h3.ID}; err != nil || !slices.Equal(ids(pending, holdID), want) {
		t.Fatalf("PendingHolds after = %v, %v; want %v", ids(pending, holdID), err, want)
	}
	due, err := s.DueHolds(ctx, at(100), 10)
	if want := []string{h2.ID, h1.ID}; err != nil || !slices.Equal(ids(due, holdID), want) {
		t.Fatalf("DueHolds = %v, %v; want %v", ids(due, holdID), err, want)
	}
	due, err = s.DueHolds(ctx, at(1000), 1)
	if want := []string{h2.ID}; err != nil || !slices.Equal(ids(due, holdID), want) {
		t.Fatalf("DueHolds limit 1 = %v, %v; want %v", ids(due, holdID), err, want)
	}
}

// TestPlansFollowTheTablesGrowth: a statement the store has run many times
// while a table was small must not keep a plan made for a small table once
// the table has grown. The idempotency keys of a batch are locked a dozen
// times on an empty table, the table then grows to 50,000 records, and the
// same session locks keys a dozen times more: that must go through the
// primary key's index and read no row by scanning the table. (The scans are
// counted by PostgreSQL's statistics, read once the store's session has
// ended and reported them.)
func TestPlansFollowTheTablesGrowth(t *testing.T) {
	ctx := context.Background()
	schema := NewSchemaName(t)
	s, err := postgres.Open(ctx, MustDSN(t), postgres.Options{Schema: schema, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lock := func() {
		t.Helper()
		for i := range 12 { // past the five runs after which PostgreSQL may settle on a generic plan
			keys := []pw.IdempotencyKey{{Principal: "operator:a", Key: fmt.Sprintf("k-%d", i)}, {Principal: "operator:b", Key: "k"}}
			if err := s.Update(ctx, func(ctx context.Context, tx pw.Tx) error {
				_, err := tx.LockIdempotency(ctx, keys)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	lock()
	conn, err := pgx.Connect(ctx, MustDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := pgx.Identifier{schema, "idempotency"}.Sanitize()
	if _, err := conn.Exec(ctx, `INSERT INTO `+table+` (principal, key, fingerprint, token, state, created_at, locked_at)
		SELECT 'operator:c', 'key-' || g, 'f', 't', 'done', now(), now() FROM generate_series(1, 50000) g`); err != nil {
		t.Fatal(err)
	}
	lock() // the same session, with whatever plans it kept
	s.Close()
	// The ended session's statistics reach the shared counters as it exits.
	var seqRead, idx int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT seq_tup_read, COALESCE(idx_scan, 0) FROM pg_stat_user_tables
			WHERE schemaname = $1 AND relname = 'idempotency'`, schema).Scan(&seqRead, &idx); err != nil {
			t.Fatal(err)
		}
		if seqRead > 0 || idx >= 12 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seqRead > 0 || idx < 12 {
		t.Fatalf("after the table grew, locking 12 batches of keys read %d rows by scanning it and used its indexes %d times; want 0 rows and at least 12 index scans", seqRead, idx)
	}
}

// TestForeignKeyChecksKeepTheirGenericPlans: the store plans its own
// statements for their values (TestPlansFollowTheTablesGrowth), but the
// inserts of a ledger batch run with PostgreSQL's default plan cache mode,
// so that the foreign-key checks PostgreSQL runs for each inserted row keep
// one generic plan (an index lookup) instead of being planned again for
// every row: that cost 30-40 % of the in-process throughput
// (docs/performance.md). The updates after them in the same batch are
// planned for their values again. Triggers record the mode each statement
// ran with.
func TestForeignKeyChecksKeepTheirGenericPlans(t *testing.T) {
	ctx := context.Background()
	schema := NewSchemaName(t)
	s := MustOpenSchema(t, schema)
	l := ledger.New(s, ledger.Options{})
	t.Cleanup(func() { l.Close() })
	bank, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountSystem, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := l.CreateAccount(ctx, pw.AccountCreate{Kind: pw.AccountUser, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, MustDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	for _, stmt := range []string{
		`CREATE TABLE ` + q("plan_log") + ` (n serial, what text, mode text)`,
		`CREATE FUNCTION ` + q("log_plan_mode") + `() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO ` + q("plan_log") + ` (what, mode) VALUES (TG_OP || ' ' || TG_TABLE_NAME, current_setting('plan_cache_mode'));
			RETURN NULL; END $$`,
		`CREATE TRIGGER log_insert AFTER INSERT ON ` + q("transfers") + ` FOR EACH STATEMENT EXECUTE FUNCTION ` + q("log_plan_mode") + `()`,
		`CREATE TRIGGER log_update AFTER UPDATE ON ` + q("accounts") + ` FOR EACH STATEMENT EXECUTE FUNCTION ` + q("log_plan_mode") + `()`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.CreateTransfer(ctx, pw.TransferCreate{FromAccount: bank.ID, ToAccount: user.ID, Amount: 5, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT what || ': ' || mode FROM `+q("plan_log")+` ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"INSERT transfers: auto", "UPDATE accounts: force_custom_plan"}; !slices.Equal(got, want) {
		t.Fatalf("the batch's statements ran with %q, want %q", got, want)
	}
}
