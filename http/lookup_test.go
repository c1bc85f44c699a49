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

// Tests of support's look-up of a user by handle (GET /v1/users?handle=)
// or ID (GET /v1/users/{id}; docs/security.md, "Who can do what"). Each runs on SQLite and on
// PostgreSQL.

// lookUp asks for the user of handle as token.
func lookUp(t *testing.T, e *SecEnv, token, handle string) *Response {
	t.Helper()
	return e.Do(t, "GET", "/v1/users?"+url.Values{"handle": {handle}}.Encode(), token, "")
}

// lookUpByID asks for the user whose ID is id as token.
func lookUpByID(t *testing.T, e *SecEnv, token, id string) *Response {
	t.Helper()
	return e.Do(t, "GET", "/v1/users/"+url.PathEscape(id), token, "")
}

// TestSupportFindsAUserByHandleOrID: support, risk and admin operators
// each find a user by any spelling of their handle (a phone number with
// spaces finds the normalised one): the user's ID, handle, creation
// time, that TOTP is on, no lock, and their wallets with the balances
// the ledger holds. The raw body carries nothing secret. Following an
// account's owner_id (GET /v1/users/{id}) shows the same body byte for
// byte. Every look-up is in the audit log, naming the operator and the
// user, and the chain verifies. The Go client has both calls. Before the
// change GET /v1/users was 405 (only POST existed); before the look-up
// by ID, GET /v1/users/{id} was 404 not_found (no route).
func TestSupportFindsAUserByHandleOrID(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStore(t, store)
			bob := e.MustPerson(t, "+4915112345678", 42_50)
			e.MustEnrollTOTP(t, bob)
			var usd pw.Account
			e.Do(t, "POST", "/v1/wallets", bob.Token, `{"currency":"USD"}`).Want(t, 201, "").Decode(t, &usd)
			e.MustPerson(t, "ann@example.com", 10_00) // someone else, not to be shown
			var acc pw.Account
			e.Do(t, "GET", "/v1/accounts/"+bob.Wallet.ID, operatorKey, "").Want(t, 200, "").Decode(t, &acc)

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
				byID := lookUpByID(t, e, key, acc.OwnerID).Want(t, 200, "")
				if string(byID.Body) != string(r.Body) {
					t.Errorf("%s: by ID the user is shown\n%s\nby handle\n%s", role, byID.Body, r.Body)
				}
				recs := auditOf(t, e, auth.ActionUserLookup)
				for _, rec := range recs[len(recs)-2:] {
					if rec.Actor != op || rec.Target != bob.ID || rec.Detail["known"] != "" {
						t.Errorf("%s: the look-up's record is %+v, want %s looking up %s", role, rec, op, bob.ID)
					}
				}
			}
			if n := len(auditOf(t, e, auth.ActionUserLookup)); n != 6 {
				t.Errorf("%d look-up records, want 6 (3 by handle, 3 by ID)", n)
			}

			// The Go client finds the same user (as the root admin).
			c := pwhttp.NewClient(e.HTTP.URL, operatorKey, e.HTTP.Client())
			got, err := c.LookUpUser(context.Background(), "+49 (151) 1234-5678")
			if err != nil || got.ID != bob.ID || len(got.Wallets) != 2 {
				t.Fatalf("the client's look-up: %+v %v", got, err)
			}
			got, err = c.LookUpUserByID(context.Background(), bob.ID)
			if err != nil || got.ID != bob.ID || got.Handle != bob.Handle || len(got.Wallets) != 2 {
				t.Fatalf("the client's look-up by ID: %+v %v", got, err)
			}
			if _, err := c.LookUpUserByID(context.Background(), pw.NewID(pw.PrefixUser, e.Clock.Now())); pw.ErrorCode(err) != pw.EUSERNOTFOUND {
				t.Fatalf("the client's look-up of an unknown ID: %v", err)
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

// TestOnlyOperatorsLookUpUsers: a user's session (even for their own
// ID) and a merchant's keys (either scope) are refused 403 forbidden, by
// handle and by ID, and nothing is audited as a look-up; an unknown
// handle or user ID is 404 user_not_found (field handle, id) and audited
// (the ID asked for, or the handle's keyed form (auth.HandleTarget; until
// 2026-11-29 its text), known=false); a handle that is neither an
// email nor a phone number, or none, is 400 with field handle; what is
// not a user ID at all (another object's ID, a broken one, a line break
// to forge a record with) is 404 with field id and not audited. Before
// the change by handle each was 405; before the look-up by ID, the ID's
// were 404 not_found (no route), none audited.
func TestOnlyOperatorsLookUpUsers(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStoreOpts(t, store, func(o *auth.Options) { o.SecretKey = auditSecretKey })
			ann := e.MustPerson(t, "ann@example.com", 0)
			asks := map[string]func(token string) *Response{
				"by handle": func(token string) *Response { return lookUp(t, e, token, "ann@example.com") },
				"by ID":     func(token string) *Response { return lookUpByID(t, e, token, ann.ID) },
			}
			var m auth.Merchant
			e.Do(t, "POST", "/v1/merchants", operatorKey, `{"name":"Coffee Corner"}`).Want(t, 201, "").Decode(t, &m)
			for _, scope := range []string{"read", "write"} {
				var key auth.NewKey
				e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, `{"scope":"`+scope+`"}`).Want(t, 201, "").Decode(t, &key)
				for _, ask := range asks {
					ask(key.Key).Want(t, 403, pw.EFORBIDDEN)
				}
			}
			for _, ask := range asks {
				ask(ann.Token).Want(t, 403, pw.EFORBIDDEN)
				ask("").Want(t, 401, pw.EUNAUTHORIZED)
			}
			if recs := auditOf(t, e, auth.ActionUserLookup); len(recs) != 0 {
				t.Fatalf("refused look-ups were audited: %+v", recs)
			}

			_, key := mustOperator(t, e, pw.RoleSupport)
			nobody := pw.NewID(pw.PrefixUser, e.Clock.Now())
			for asked, r := range map[string]*Response{
				"handle": lookUp(t, e, key, "nobody@example.com"),
				"id":     lookUpByID(t, e, key, nobody),
			} {
				if p := r.Want(t, 404, pw.EUSERNOTFOUND).Problem(t); p.Field != asked {
					t.Errorf("an unknown %s's problem: %+v", asked, p)
				}
			}
			recs := auditOf(t, e, auth.ActionUserLookup)
			asked := map[string]bool{}
			for _, r := range recs {
				asked[r.Target] = r.Detail["known"] == "false"
			}
			keyed, err := auth.HandleTarget(auditSecretKey, "nobody@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || !asked[keyed] || !asked[nobody] {
				t.Fatalf("the unknown handle's and ID's look-ups are recorded as %+v", recs)
			}
			for _, bad := range []string{"", "ann", "+0 12"} {
				if p := lookUp(t, e, key, bad).Want(t, 400, pw.EINVALID).Problem(t); p.Field != "handle" {
					t.Errorf("%q: %+v", bad, p)
				}
			}
			e.Do(t, "GET", "/v1/users", key, "").Want(t, 400, pw.EINVALID)
			for _, bad := range []string{ann.Wallet.ID, "usr_", "usr_x", ann.ID + "\nuser.lookup forged", strings.Repeat("u", 4000)} {
				if p := lookUpByID(t, e, key, bad).Want(t, 404, pw.EUSERNOTFOUND).Problem(t); p.Field != "id" {
					t.Errorf("%q: %+v", bad, p)
				}
			}
			if n := len(auditOf(t, e, auth.ActionUserLookup)); n != 2 {
				t.Errorf("what is not a handle or a user ID was audited: %d records, want 2", n)
			}
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
// user's data (no handle, no wallet, no ID), whether the handle or ID
// is a user's or not; once the log can be written again it answers.
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
			asks := map[string]func() *Response{
				"ann@example.com":    func() *Response { return lookUp(t, e, operatorKey, "ann@example.com") },
				"nobody@example.com": func() *Response { return lookUp(t, e, operatorKey, "nobody@example.com") },
				"ann's ID":           func() *Response { return lookUpByID(t, e, operatorKey, ann.ID) },
				"an unknown ID":      func() *Response { return lookUpByID(t, e, operatorKey, pw.NewID(pw.PrefixUser, e.Clock.Now())) },
			}
			for handle, ask := range asks {
				r := ask()
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
