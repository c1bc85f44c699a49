package auth

import (
	"context"
	"testing"

	pw "github.com/peakwallet/peakwallet"
)

// TestAStepUpMessageNamesTheAmountInItsCurrencysDecimals: the message that
// carries a step-up code says what it authorizes, the amount written with
// its currency's exponent (none for JPY, three for BHD) and the payee.
func TestAStepUpMessageNamesTheAmountInItsCurrencysDecimals(t *testing.T) {
	for _, c := range []struct {
		pay  stepUpPayment
		want string
	}{
		{stepUpPayment{Kind: stepUpTransfer, Payee: "bob@example.com", Amount: 150_00, Currency: "EUR"}, "a payment of 150.00 EUR to bob@example.com"},
		{stepUpPayment{Kind: stepUpTransfer, Payee: "acc_x", Amount: 1500, Currency: "JPY"}, "a payment of 1500 JPY to acc_x"},
		{stepUpPayment{Kind: stepUpHold, Payee: "acc_y", Amount: 12_345, Currency: "BHD"}, "a reservation (hold) of 12.345 BHD for acc_y"},
		{stepUpPayment{Kind: stepUpRefund, Payee: "acc_z", Amount: 5, Currency: "EUR"}, "a refund of 0.05 EUR to acc_z"},
	} {
		if got := c.pay.text(); got != c.want {
			t.Errorf("text() = %q, want %q", got, c.want)
		}
	}
}

// TestAStepUpCodesHashChangesWithEveryPartOfItsPayment: a code's stored
// hash is keyed with each part of what it authorizes, so that changing
// any one part makes the same code not match; a login code (bound to
// nothing) keeps its salted hash.
func TestAStepUpCodesHashChangesWithEveryPartOfItsPayment(t *testing.T) {
	s := &Service{linkKey: linkKeyOf(make([]byte, SecretKeyBytes))}
	ctx := NewContextWithPaymentKey(context.Background(), "k1")
	base := stepUpPayment{Kind: stepUpTransfer, From: "acc_a", To: "acc_b", Amount: 60_00, Currency: "EUR"}
	want := s.otpHash("usr_1", base.link(ctx), "123456")
	changed := map[string]func(p *stepUpPayment){
		"kind":     func(p *stepUpPayment) { p.Kind = stepUpHold },
		"from":     func(p *stepUpPayment) { p.From = "acc_c" },
		"to":       func(p *stepUpPayment) { p.To = "acc_c" },
		"amount":   func(p *stepUpPayment) { p.Amount++ },
		"currency": func(p *stepUpPayment) { p.Currency = pw.Currency("USD") },
	}
	for name, change := range changed {
		p := base
		change(&p)
		if s.otpHash("usr_1", p.link(ctx), "123456") == want {
			t.Errorf("another %s hashes the code alike", name)
		}
	}
	if s.otpHash("usr_1", base.link(NewContextWithPaymentKey(context.Background(), "k2")), "123456") == want {
		t.Error("another Idempotency-Key hashes the code alike")
	}
	if s.otpHash("usr_2", base.link(ctx), "123456") == want || s.otpHash("usr_1", base.link(ctx), "123457") == want {
		t.Error("another user or code hashes alike")
	}
	// Fields are length-prefixed: moving a character from one field to the
	// next is another payment.
	a := stepUpPayment{Kind: stepUpTransfer, From: "acc_ab", To: "c", Amount: 1, Currency: "EUR"}
	b := stepUpPayment{Kind: stepUpTransfer, From: "acc_a", To: "bc", Amount: 1, Currency: "EUR"}
	if a.link(ctx) == b.link(ctx) {
		t.Error("two payments encode alike")
	}
	if got := s.otpHash("usr_1", "", "123456"); got != HashToken("usr_1:123456") {
		t.Errorf("a login code's hash is %s, want the salted SHA-256", got)
	}
}
