package http_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/internal/pgtest"
	"github.com/peakwallet/peakwallet/postgres"
	"github.com/peakwallet/peakwallet/sqlite"
)

// Tests of the other side of a transfer (from_party, to_party: who holds
// each account, as the reader may know them; docs/security.md, "The other
// side of a transfer"). Each runs on SQLite and on PostgreSQL.

// secEnvOnStore is MustOpenSecEnv on store ("sqlite" or "postgres").
func secEnvOnStore(t *testing.T, store string) *SecEnv {
	t.Helper()
	if store == "sqlite" {
		return MustOpenSecEnv(t, testLimits)
	}
	return secEnvOnStoreOpts(t, store, nil)
}

// secEnvOnStoreOpts is secEnvOnStore with the security service's options
// changed by opts (when not nil).
func secEnvOnStoreOpts(t *testing.T, store string, opts func(*auth.Options)) *SecEnv {
	t.Helper()
	if store == "sqlite" {
		lite, err := sqlite.Open(t.TempDir()+"/peakwallet.db", sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return mustOpenSecEnvOpts(t, lite, testLimits, opts, nil)
	}
	pg, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	return mustOpenSecEnvOpts(t, pg, testLimits, opts, nil)
}

// partyTransfer is a transfer as its JSON says it, the parties as raw
// members, so that a member that must be absent is seen absent.
type partyTransfer struct {
	ID          string                     `json:"id"`
	FromAccount string                     `json:"from_account"`
	ToAccount   string                     `json:"to_account"`
	Description string                     `json:"description"`
	FromParty   map[string]json.RawMessage `json:"from_party"`
	ToParty     map[string]json.RawMessage `json:"to_party"`
}

// party renders a party's members as "kind handle name" for comparison:
// `user "ann@example.com"`, `merchant name="Coffee Corner"`, `system`;
// "none" when the member is absent.
func party(m map[string]json.RawMessage) string {
	if m == nil {
		return "none"
	}
	var kind string
	json.Unmarshal(m["kind"], &kind)
	s, n := kind, 1
	for _, k := range []string{"handle", "name"} {
		if v, ok := m[k]; ok {
			s += " " + k + "=" + string(v)
			n++
		}
	}
	if len(m) != n {
		s += " (and more)"
	}
	return s
}

// historyOf reads account's transfers as token, newest first.
func historyOf(t *testing.T, e *SecEnv, token, account string) []partyTransfer {
	t.Helper()
	var page struct{ Data []partyTransfer }
	e.Do(t, "GET", "/v1/accounts/"+account+"/transfers", token, "").Want(t, 200, "").Decode(t, &page)
	return page.Data
}

func transferAs(t *testing.T, e *SecEnv, token, id string) partyTransfer {
	t.Helper()
	var tr partyTransfer
	e.Do(t, "GET", "/v1/transfers/"+id, token, "").Want(t, 200, "").Decode(t, &tr)
	return tr
}

func wantParties(t *testing.T, who string, tr partyTransfer, from, to string) {
	t.Helper()
	if got := party(tr.FromParty); got != from {
		t.Errorf("%s: transfer %s from_party = %s, want %s", who, tr.ID, got, from)
	}
	if got := party(tr.ToParty); got != to {
		t.Errorf("%s: transfer %s to_party = %s, want %s", who, tr.ID, got, to)
	}
}

// TestATransferNamesTheOtherParty: when ann pays bob by handle, bob's
// history and his read of the transfer say it came from ann's handle,
// and ann's say it went to bob's; a payment to a merchant shows the user
// the merchant's name; a top-up shows a system account, nothing more; an
// operator sees handles and names. The answer that made the payment
// carries no party (its bytes are what a retry replays).
func TestATransferNamesTheOtherParty(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStore(t, store)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			bob := e.MustPerson(t, "bob@example.com", 0)
			var m auth.Merchant
			e.Do(t, "POST", "/v1/merchants", operatorKey, `{"name":"Coffee Corner"}`).Want(t, 201, "").Decode(t, &m)
			var key auth.NewKey
			e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, "").Want(t, 201, "").Decode(t, &key)
			var till pw.Account
			e.Do(t, "POST", "/v1/accounts", key.Key, `{"kind":"merchant","currency":"EUR"}`, "Idempotency-Key", "till").Want(t, 201, "").Decode(t, &till)

			var paid partyTransfer
			e.Do(t, "POST", "/v1/transfers", ann.Token, `{"from_account":"`+ann.Wallet.ID+`","to_handle":"bob@example.com","amount":1000,"currency":"EUR","description":"Lunch"}`,
				"Idempotency-Key", "lunch").Want(t, 201, "").Decode(t, &paid)
			if paid.FromParty != nil || paid.ToParty != nil {
				t.Errorf("the payment's own answer has parties: %+v", paid)
			}
			e.Do(t, "POST", "/v1/transfers", ann.Token, `{"from_account":"`+ann.Wallet.ID+`","to_account":"`+till.ID+`","amount":350,"currency":"EUR"}`,
				"Idempotency-Key", "coffee").Want(t, 201, "")

			const annP, bobP = `user handle="ann@example.com"`, `user handle="bob@example.com"`
			const shopP = `merchant name="Coffee Corner"`
			bobs := historyOf(t, e, bob.Token, bob.Wallet.ID)
			if len(bobs) != 1 || bobs[0].ID != paid.ID {
				t.Fatalf("bob's history = %+v, want the lunch", bobs)
			}
			wantParties(t, "bob's history", bobs[0], annP, bobP)
			wantParties(t, "bob's read", transferAs(t, e, bob.Token, paid.ID), annP, bobP)
			wantParties(t, "ann's read", transferAs(t, e, ann.Token, paid.ID), annP, bobP)

			anns := historyOf(t, e, ann.Token, ann.Wallet.ID)
			if len(anns) != 3 {
				t.Fatalf("ann's history = %+v, want the coffee, the lunch and the top-up", anns)
			}
			wantParties(t, "ann's history, the coffee", anns[0], annP, shopP)
			wantParties(t, "ann's history, the lunch", anns[1], annP, bobP)
			wantParties(t, "ann's history, the top-up", anns[2], "system", annP)

			// An operator may read everything: handles and names too.
			ops := historyOf(t, e, operatorKey, ann.Wallet.ID)
			wantParties(t, "the operator's read, the coffee", ops[0], annP, shopP)
			wantParties(t, "the operator's read, the lunch", ops[1], annP, bobP)
		})
	}
}

// TestAMerchantIsNotShownItsCustomersHandles: a merchant's key reads the
// payments to its account with the payer a user, and no handle (data
// minimisation: a shop has no need of its customers' email addresses or
// phone numbers); its own side carries its name. A refund it makes is
// read the same. Nobody reads the parties of a transfer they may not
// read (404, no handle in it).
func TestAMerchantIsNotShownItsCustomersHandles(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			e := secEnvOnStore(t, store)
			ann := e.MustPerson(t, "ann@example.com", 100_00)
			carol := e.MustPerson(t, "carol@example.com", 0)
			var m auth.Merchant
			e.Do(t, "POST", "/v1/merchants", operatorKey, `{"name":"Coffee Corner"}`).Want(t, 201, "").Decode(t, &m)
			var key, readKey auth.NewKey
			e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, "").Want(t, 201, "").Decode(t, &key)
			e.Do(t, "POST", "/v1/merchants/"+m.ID+"/keys", operatorKey, `{"scope":"read"}`).Want(t, 201, "").Decode(t, &readKey)
			var till pw.Account
			e.Do(t, "POST", "/v1/accounts", key.Key, `{"kind":"merchant","currency":"EUR"}`, "Idempotency-Key", "till").Want(t, 201, "").Decode(t, &till)
			var paid partyTransfer
			e.Do(t, "POST", "/v1/transfers", ann.Token, `{"from_account":"`+ann.Wallet.ID+`","to_account":"`+till.ID+`","amount":350,"currency":"EUR"}`,
				"Idempotency-Key", "coffee").Want(t, 201, "").Decode(t, &paid)
			e.Do(t, "POST", "/v1/transfers/"+paid.ID+"/refunds", key.Key, `{"amount":50}`, "Idempotency-Key", "sorry").Want(t, 201, "")

			const shopP = `merchant name="Coffee Corner"`
			for _, k := range []string{key.Key, readKey.Key} {
				list := historyOf(t, e, k, till.ID)
				if len(list) != 2 {
					t.Fatalf("the till's history = %+v, want the refund and the coffee", list)
				}
				wantParties(t, "the merchant's history, the refund", list[0], shopP, "user")
				wantParties(t, "the merchant's history, the coffee", list[1], "user", shopP)
				wantParties(t, "the merchant's read", transferAs(t, e, k, paid.ID), "user", shopP)
			}
			wantParties(t, "ann's read", transferAs(t, e, ann.Token, paid.ID), `user handle="ann@example.com"`, shopP)

			r := e.Do(t, "GET", "/v1/transfers/"+paid.ID, carol.Token, "").Want(t, 404, pw.ENOTFOUND)
			e.Do(t, "GET", "/v1/accounts/"+ann.Wallet.ID+"/transfers", carol.Token, "").Want(t, 404, pw.EACCOUNTNOTFOUND)
			if strings.Contains(string(r.Body), "ann@") || strings.Contains(string(r.Body), "Coffee") {
				t.Errorf("carol's 404 names a party: %s", r.Body)
			}
			for _, k := range []string{key.Key, readKey.Key} {
				for _, path := range []string{"/v1/accounts/" + till.ID + "/transfers", "/v1/transfers/" + paid.ID} {
					if r := e.Do(t, "GET", path, k, "").Want(t, 200, ""); strings.Contains(string(r.Body), "ann@") {
						t.Errorf("the merchant's GET %s names ann: %s", path, r.Body)
					}
				}
			}
		})
	}
}
