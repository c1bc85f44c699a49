package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
	"github.com/peakwallet/peakwallet/sqlite"
)

// Tests of support's look-up of a user by handle (GET /v1/users?handle=;
// docs/security.md, "Who can do what"). Each runs on SQLite and on
// PostgreSQL.

// lookUp asks for the user of handle as token.
func lookUp(t *testing.T, e *SecEnv, token, handle string) *Response {
	t.Helper()
	return e.Do(t, "GET", "/v1/users?"+url.Values{"handle": {handle}}.Encode(), token, "")
}

// TestSupportFindsAUserByHandle: support, risk and admin operators each
// find a user by any spelling of their handle (a phone number with
// spaces finds the normalised one): the user's ID, handle, creation
// time, that TOTP is on, no lock, and their wallets with the balances
// the ledger holds. The raw body carries nothing secret. Every look-up
// is in the audit log, naming the operator and the user, and the chain
// verifies. Before the change GET /v1/users was 405 (only POST existed).
func TestSupportFindsAUserByHandle(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStore(t, store)
			bob := e.MustPerson(t, "+4915112345678", 42_50)
			e.MustEnrollTOTP(t, bob)
			var usd pw.Account
			e.Do(t, "POST", "/v1/wallets", bob.Token, `{"currency":"USD"}`).Want(t, 201, "").Decode(t, &usd)
			e.MustPerson(t, "ann@example.com", 10_00) // someone else, not to be shown

			for _, role := range []string{pw.RoleSupport, pw.RoleRisk, pw.RoleAdmin} {
				op, key := mustOperator(t, e, role)
				r := lookUp(t, e, key, "+49 151 1234 5678").Want(t, 200, "")
				for _, secret := range []string{"password", "hash", "secret", "token", "code", "recovery", bob.Password, bob.Secret, bob.Token} {
					if strings.Contains(strings.ToLower(string(r.Body)), strings.ToLower(secret)) {
						t.Errorf("%s: the look-up's body holds %q: %s", role, secret, r.Body)
					}
				}
				var v struct {
					ID          string       `json:"id"`
					Handle      string       `json:"handle"`
					TOTPEnabled bool         `json:"totp_enabled"`
					Locked      bool         `json:"locked"`
					LockedUntil *string      `json:"locked_until"`
					Wallets     []pw.Account `json:"wallets"`
				}
				r.Decode(t, &v)
				if v.ID != bob.ID || v.Handle != "+4915112345678" || !v.TOTPEnabled || v.Locked || v.LockedUntil != nil {
					t.Errorf("%s: the look-up found %s", role, r.Body)
				}
				if len(v.Wallets) != 2 {
					t.Fatalf("%s: wallets %+v, want bob's EUR and USD", role, v.Wallets)
				}
				for _, w := range v.Wallets {
					want := map[string]int64{bob.Wallet.ID: 42_50, usd.ID: 0}
					if w.OwnerID != bob.ID || w.Balance != e.Balance(t, w.ID) || w.Balance.Posted != want[w.ID] {
						t.Errorf("%s: wallet %+v, want bob's with %d posted", role, w, want[w.ID])
					}
				}
				recs := auditOf(t, e, auth.ActionUserLookup)
				if last := recs[len(recs)-1]; last.Actor != op || last.Target != bob.ID {
					t.Errorf("%s: the look-up's record is %+v, want %s looking up %s", role, last, op, bob.ID)
				}
			}
			if n := len(auditOf(t, e, auth.ActionUserLookup)); n != 3 {
				t.Errorf("%d look-up records, want 3", n)
			}

			// The Go client finds the same user (as the root admin).
			c := pwhttp.NewClient(e.HTTP.URL, operatorKey, e.HTTP.Client())
			got, err := c.LookUpUser(context.Background(), "+49 (151) 1234-5678")
			if err != nil || got.ID != bob.ID || len(got.Wallets) != 2 {
				t.Fatalf("the client's look-up: %+v %v", got, err)
			}
		})
	}
}

// TestALookUpShowsALock: a user locked after failed logins is shown
// locked, until when; the lock's end, passed, shows them unlocked.
func TestALookUpShowsALock(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStore(t, store)
			ann := e.MustPerson(t, "ann@example.com", 0)
			// Failed logins from many addresses lock a handle; the store's
			// write is what they leave behind.
			until := e.Clock.Now().Add(15 * time.Minute)
			for range testLimits.LockAfter {
				if _, err := e.DB.RecordLoginFailure(context.Background(), ann.ID, until); err != nil {
					t.Fatal(err)
				}
			}
			var v auth.CustomerView
			lookUp(t, e, operatorKey, "ANN@example.com").Want(t, 200, "").Decode(t, &v)
			if v.ID != ann.ID || !v.Locked || v.LockedUntil == nil || !v.LockedUntil.Equal(until) || v.FailedLogins != testLimits.LockAfter {
				t.Fatalf("a locked user is shown %+v", v)
			}
			e.Clock.Advance(v.LockedUntil.Sub(e.Clock.Now()) + 1)
			v = auth.CustomerView{}
			lookUp(t, e, operatorKey, "ann@example.com").Want(t, 200, "").Decode(t, &v)
			if v.Locked || v.LockedUntil != nil {
				t.Fatalf("after the lock's end the user is shown %+v", v)
			}
		})
	}
}

// TestOnlyOperatorsLookUpUsers: a user's session and a merchant's keys
// (either scope) are refused 403 forbidden, and nothing is audited as a
// look-up; an unknown handle is 404 user_not_found and audited (the
// handle asked for, known=false); a handle that is neither an email nor
// a phone number, or none, is 400 with field handle. Before the change
// each was 405.
func TestOnlyOperatorsLookUpUsers(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStore(t, store)
			ann := e.MustPerson(t, "ann@example.com", 0)
			var m auth.Merchant
			e.Do(t, "POST", "/v1/merchants", operatorKey, `{"name":"Coffee Corner"}`).Want(t, 201, "").Decode(t, &m)
			for _, scope := range []string{"read", "write"} {
				var key auth.NewKey
				e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, `{"scope":"`+scope+`"}`).Want(t, 201, "").Decode(t, &key)
				lookUp(t, e, key.Key, "ann@example.com").Want(t, 403, pw.EFORBIDDEN)
			}
			lookUp(t, e, ann.Token, "ann@example.com").Want(t, 403, pw.EFORBIDDEN)
			lookUp(t, e, "", "ann@example.com").Want(t, 401, pw.EUNAUTHORIZED)
			if recs := auditOf(t, e, auth.ActionUserLookup); len(recs) != 0 {
				t.Fatalf("refused look-ups were audited: %+v", recs)
			}

			_, key := mustOperator(t, e, pw.RoleSupport)
			if p := lookUp(t, e, key, "nobody@example.com").Want(t, 404, pw.EUSERNOTFOUND).Problem(t); p.Field != "handle" {
				t.Errorf("an unknown handle's problem: %+v", p)
			}
			recs := auditOf(t, e, auth.ActionUserLookup)
			if len(recs) != 1 || recs[0].Target != "nobody@example.com" || recs[0].Detail["known"] != "false" {
				t.Fatalf("the unknown handle's look-up is recorded as %+v", recs)
			}
			for _, bad := range []string{"", "ann", "+0 12"} {
				if p := lookUp(t, e, key, bad).Want(t, 400, pw.EINVALID).Problem(t); p.Field != "handle" {
					t.Errorf("%q: %+v", bad, p)
				}
			}
			e.Do(t, "GET", "/v1/users", key, "").Want(t, 400, pw.EINVALID)
		})
	}
}

// auditFailingStore fails the audit appends of one action while fail is
// set: the store's other writes go on.
type auditFailingStore struct {
	secStore
	action string
	fail   atomic.Bool
}

var errAuditDown = errors.New("the audit log is down")

func (f *auditFailingStore) AppendAudit(ctx context.Context, recs []*auth.AuditRecord, seal func(prev *auth.AuditRecord) error) error {
	for _, r := range recs {
		if f.fail.Load() && r.Action == f.action {
			return errAuditDown
		}
	}
	return f.secStore.AppendAudit(ctx, recs, seal)
}

// TestALookUpThatCannotBeAuditedFails: when the look-up's audit record
// cannot be written, the look-up answers an error and none of the
// user's data (no handle, no wallet, no ID), whether the handle is a
// user's or not; once the log can be written again it answers.
func TestALookUpThatCannotBeAuditedFails(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			var inner secStore
			if store == "sqlite" {
				lite, err := sqlite.Open(t.TempDir()+"/peakwallet.db", sqlite.Options{})
				if err != nil {
					t.Fatal(err)
				}
				inner = lite
			} else {
				pg, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 8})
				if err != nil {
					t.Fatal(err)
				}
				inner = pg
			}
			fs := &auditFailingStore{secStore: inner, action: auth.ActionUserLookup}
			e := mustOpenSecEnvOn(t, fs, testLimits, nil)
			ann := e.MustPerson(t, "ann@example.com", 7_00)

			fs.fail.Store(true)
			for _, handle := range []string{"ann@example.com", "nobody@example.com"} {
				r := lookUp(t, e, operatorKey, handle)
				if r.Status < 500 {
					t.Errorf("%s: an unaudited look-up answered %d: %s", handle, r.Status, r.Body)
				}
				var body map[string]json.RawMessage
				r.Decode(t, &body)
				for _, leak := range []string{ann.ID, ann.Wallet.ID, "wallets", "handle"} {
					if strings.Contains(string(r.Body), leak) {
						t.Errorf("%s: an unaudited look-up shows %q: %s", handle, leak, r.Body)
					}
				}
			}
			fs.fail.Store(false)
			var v auth.CustomerView
			lookUp(t, e, operatorKey, "ann@example.com").Want(t, 200, "").Decode(t, &v)
			if v.ID != ann.ID || len(v.Wallets) != 1 || v.Wallets[0].Balance.Posted != 7_00 {
				t.Fatalf("the look-up once audited: %+v", v)
			}
		})
	}
}
