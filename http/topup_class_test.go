package http_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

func moveBody(from, to *pw.Account, amount int64) string {
	return fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":%d,"currency":"EUR"}`, from.ID, to.ID, amount)
}

// TestATopUpOrAWithdrawalIsAdmittedAsATopUp: a top-up (a transfer from a
// system account) and a withdrawal (one to it) are POST /v1/transfers, as a
// payment is, and until 2026-11-29 they were admitted as payments, though
// the priorities put them below. Now the store's kind of the two accounts
// decides: each is admitted in class topup, a payment in class payment, and
// a transfer from an account that does not exist stays a payment and is
// answered account_not_found, nothing moved.
func TestATopUpOrAWithdrawalIsAdmittedAsATopUp(t *testing.T) {
	env, ctrl, _ := MustOpenAdmittedEnv(t, admission.Config{})
	w := env.MustWallet(t, 1000)

	for _, c := range []struct {
		name       string
		body       string
		status     int
		class      admission.Class
		user, bank int64 // balances after
	}{
		{"payment", moveBody(w.User, w.Merchant, 100), 201, admission.ClassPayment, 900, -1000},
		{"top-up", moveBody(w.System, w.User, 50), 201, admission.ClassTopup, 950, -1050},
		{"withdrawal", moveBody(w.User, w.System, 20), 201, admission.ClassTopup, 930, -1030},
		{"from no such account", `{"from_account":"acc_01jzzzzzzzzzzzzzzzzzzzzzzz","to_account":"` + w.User.ID + `","amount":5,"currency":"EUR"}`,
			404, admission.ClassPayment, 930, -1030},
	} {
		before := ctrl.Stats().AdmittedBy
		r := env.Do(t, "POST", "/v1/transfers", c.body, map[string]string{"Idempotency-Key": "k-" + strings.ReplaceAll(c.name, " ", "-")})
		if r.Status != c.status {
			t.Fatalf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Body)
		}
		after := ctrl.Stats().AdmittedBy
		for _, k := range admission.Classes() {
			want := before[k]
			if k == c.class {
				want++
			}
			if after[k] != want {
				t.Errorf("%s: admitted in class %s %d times, want %d", c.name, k, after[k]-before[k], want-before[k])
			}
		}
		if got := env.MustBalance(t, w.User).Posted; got != c.user {
			t.Errorf("%s: the user's balance is %d, want %d", c.name, got, c.user)
		}
		if got := env.MustBalance(t, w.System).Posted; got != c.bank {
			t.Errorf("%s: the system account's balance is %d, want %d", c.name, got, c.bank)
		}
	}
}

// TestPaymentsGoBeforeTopUps: every slot is held; four top-ups queue, then
// four payments. When the slot frees, the payments are made first, though
// they came later: a top-up that gets a slot (of the route's class,
// payment, before its body says what it is) gives it back unused to the
// payments waiting and queues again in its own class, below payments.
func TestPaymentsGoBeforeTopUps(t *testing.T) {
	env, ctrl, w, held := mustOpenOneSlotEnv(t, 16)
	type answer struct {
		payment bool
		status  int
		id      string
	}
	answers := make(chan answer, 8)
	send := func(payment bool, i int) {
		body, key := moveBody(w.System, w.User, 1), fmt.Sprint("topup-", i)
		if payment {
			body, key = moveBody(w.User, w.Merchant, 1), fmt.Sprint("pay-", i)
		}
		r := env.Do(t, "POST", "/v1/transfers", body, map[string]string{"Idempotency-Key": key})
		var tr pw.Transfer
		_ = json.Unmarshal(r.Body, &tr)
		answers <- answer{payment, r.Status, tr.ID}
	}
	for i := range 4 {
		go send(false, i)
	}
	waitFor(t, func() bool { return ctrl.Stats().Queued[admission.ClassPayment] == 4 })
	for i := range 4 {
		go send(true, i)
	}
	waitFor(t, func() bool { return ctrl.Stats().Queued[admission.ClassPayment] == 8 })
	held.Done(nil)

	// Transfer IDs are ULIDs, made in order as the one slot serves them.
	lastPayment, firstTopup := "", ""
	for range 8 {
		a := <-answers
		if a.status != 201 || a.id == "" {
			t.Fatalf("payment %v: status %d, transfer %q", a.payment, a.status, a.id)
		}
		if a.payment && a.id > lastPayment {
			lastPayment = a.id
		}
		if !a.payment && (firstTopup == "" || a.id < firstTopup) {
			firstTopup = a.id
		}
	}
	if lastPayment > firstTopup {
		t.Fatalf("a top-up (%s) was made before the last payment (%s), though payments go first", firstTopup, lastPayment)
	}
}
