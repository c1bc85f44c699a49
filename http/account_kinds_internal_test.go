package http

import (
	"context"
	"fmt"
	"testing"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/admission"
)

// BenchmarkTransferClass measures what deciding a transfer's class adds
// to each POST /v1/transfers once admitted, its accounts' kinds known
// (the case of every request but an account's first).
func BenchmarkTransferClass(b *testing.B) {
	k := newAccountKinds(func(context.Context, string) (*pw.Account, error) {
		b.Fatal("a known account was read again")
		return nil, nil
	})
	k.learn(&pw.Account{ID: "acc_01jd0000000000000000000001", Kind: pw.AccountUser})
	k.learn(&pw.Account{ID: "acc_01jd0000000000000000000002", Kind: pw.AccountMerchant})
	body := []byte(fmt.Sprintf(`{"from_account":%q,"to_account":%q,"amount":1250,"currency":"EUR","description":"coffee"}`,
		"acc_01jd0000000000000000000001", "acc_01jd0000000000000000000002"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if k.transferClass(ctx, body) != admission.ClassPayment {
			b.Fatal("a payment classed otherwise")
		}
	}
}

// TestAnAccountKindLookupIsBounded: while AccountKindLookups reads of
// unknown accounts are in flight, another unknown account is not read but
// taken for what it most likely is, not a system account.
func TestAnAccountKindLookupIsBounded(t *testing.T) {
	release, reading := make(chan struct{}), make(chan string, 8)
	k := newAccountKinds(func(ctx context.Context, id string) (*pw.Account, error) {
		reading <- id
		<-release
		return &pw.Account{ID: id, Kind: pw.AccountSystem}, nil
	})
	done := make(chan bool, AccountKindLookups)
	for i := range AccountKindLookups {
		go func() { done <- k.isSystem(context.Background(), fmt.Sprint("acc_busy", i)) }()
	}
	for range AccountKindLookups {
		<-reading
	}
	if k.isSystem(context.Background(), "acc_other") {
		t.Fatal("an account read while every lookup slot was taken was taken for a system account")
	}
	select {
	case id := <-reading:
		t.Fatalf("%s was read beyond the bound of %d lookups", id, AccountKindLookups)
	default:
	}
	close(release)
	for range AccountKindLookups {
		if !<-done {
			t.Fatal("a system account read was not reported as one")
		}
	}
	// Learnt: no read again.
	if !k.isSystem(context.Background(), "acc_busy0") {
		t.Fatal("a system account learnt was forgotten")
	}
	select {
	case id := <-reading:
		t.Fatalf("%s was read again though its kind was known", id)
	default:
	}
}
