package auth_test

import (
	"context"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
)

// TestOnlyOperatorsLookUpUsersInTheService: LookUpUser and LookUpUserByID
// check that the caller is an operator themselves, not only through the
// HTTP route's Access, which refuses first (http TestOnlyOperatorsLookUpUsers
// never reaches this check). A user (even for their own handle and ID), a
// merchant and a context with no principal are each refused forbidden, as
// requireAdmin refuses, and no look-up is audited; an operator's look-up
// of the same user is, so the audit read here is not empty by accident.
func TestOnlyOperatorsLookUpUsersInTheService(t *testing.T) {
	st := newMemStore(t)
	now := time.Unix(1.9e9, 0)
	svc := auth.New(st, nil, auth.Options{Now: func() time.Time { return now }, Argon2: auth.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	ann, err := svc.SignUp(t.Context(), auth.SignUp{Handle: "ann@example.com", Password: "looked up by no one"})
	if err != nil {
		t.Fatal(err)
	}
	lookUps := func() []*auth.AuditRecord {
		t.Helper()
		recs, err := st.Audit(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []*auth.AuditRecord
		for _, r := range recs {
			if r.Action == auth.ActionUserLookup {
				out = append(out, r)
			}
		}
		return out
	}

	for name, ctx := range map[string]context.Context{
		"a user":         pw.NewContextWithPrincipal(t.Context(), pw.Principal{Kind: pw.PrincipalUser, ID: ann.ID}),
		"a merchant":     pw.NewContextWithPrincipal(t.Context(), pw.Principal{Kind: pw.PrincipalMerchant, ID: pw.NewID(pw.PrefixMerchant, now), Scope: "write"}),
		"no principal":   t.Context(),
		"an empty kind":  pw.NewContextWithPrincipal(t.Context(), pw.Principal{ID: "opr_x", Role: pw.RoleAdmin}),
		"a user as role": pw.NewContextWithPrincipal(t.Context(), pw.Principal{Kind: pw.PrincipalUser, ID: ann.ID, Role: pw.RoleAdmin}),
	} {
		if v, err := svc.LookUpUser(ctx, "ann@example.com"); pw.ErrorCode(err) != pw.EFORBIDDEN || v != nil {
			t.Errorf("LookUpUser by %s = %+v, %v; want forbidden", name, v, err)
		}
		if v, err := svc.LookUpUserByID(ctx, ann.ID); pw.ErrorCode(err) != pw.EFORBIDDEN || v != nil {
			t.Errorf("LookUpUserByID by %s = %+v, %v; want forbidden", name, v, err)
		}
		// Unknown keys too: the refusal comes before the store is read, so
		// it does not say whether the user exists.
		if _, err := svc.LookUpUser(ctx, "nobody@example.com"); pw.ErrorCode(err) != pw.EFORBIDDEN {
			t.Errorf("LookUpUser of an unknown handle by %s = %v; want forbidden", name, err)
		}
		if _, err := svc.LookUpUserByID(ctx, pw.NewID(pw.PrefixUser, now)); pw.ErrorCode(err) != pw.EFORBIDDEN {
			t.Errorf("LookUpUserByID of an unknown ID by %s = %v; want forbidden", name, err)
		}
	}
	if recs := lookUps(); len(recs) != 0 {
		t.Fatalf("refused look-ups were audited: %+v", recs)
	}

	op := pw.NewContextWithPrincipal(t.Context(), pw.Principal{Kind: pw.PrincipalOperator, ID: "opr_support", Role: pw.RoleSupport})
	if v, err := svc.LookUpUserByID(op, ann.ID); err != nil || v.ID != ann.ID {
		t.Fatalf("an operator's LookUpUserByID = %+v, %v; want ann", v, err)
	}
	if recs := lookUps(); len(recs) != 1 || recs[0].Target != ann.ID || recs[0].Actor != "operator:opr_support" {
		t.Fatalf("an operator's look-up audited as %+v; want one record of ann by operator:opr_support", recs)
	}
}
