package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/peakwallet/peakwallet/auth"
	pwhttp "github.com/peakwallet/peakwallet/http"
	"github.com/peakwallet/peakwallet/ledger"
)

func runVerify(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var sf storeFlags
	sf.register(fs, env)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, where, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	r, err := ledger.Verify(ctx, store)
	if err != nil {
		return fmt.Errorf("verify could not read the store: %w", err)
	}
	// The audit log's hash chain is checked too: a ledger that balances
	// but whose security record was edited is not a healthy store.
	ar, err := auth.VerifyAudit(ctx, store)
	if err != nil {
		return fmt.Errorf("verify could not read the audit log: %w", err)
	}
	if *asJSON {
		enc := newJSONEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*ledger.Report
			Audit *auth.AuditReport `json:"audit"`
		}{r, ar}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.stdout, "verifying %s\n", where)
		fmt.Fprintf(env.stdout, "read %d accounts, %d entries, %d transfers, %d holds (%d pending), %d intents (%d pending)\n",
			r.Accounts, r.Entries, r.Transfers, r.Holds, r.PendingHolds, r.Intents, r.PendingIntents)
		for _, cur := range slices.Sorted(maps.Keys(r.Currencies)) {
			fmt.Fprintf(env.stdout, "  %s: posted balances sum to %d\n", cur, r.Currencies[cur])
		}
		fmt.Fprintln(env.stdout, "checked:")
		for _, c := range r.Checks {
			fmt.Fprintln(env.stdout, "  ", c)
		}
		fmt.Fprintf(env.stdout, "   audit log: %d records, hash chain re-computed, head %s\n", ar.Records, ar.Head)
		for _, v := range r.Violations {
			fmt.Fprintln(env.stdout, "VIOLATION:", v)
		}
		for _, v := range ar.Violations {
			fmt.Fprintln(env.stdout, "VIOLATION:", v)
		}
		if r.OK() && ar.OK() {
			fmt.Fprintln(env.stdout, "OK: every invariant holds")
		} else {
			fmt.Fprintf(env.stdout, "FAILED: %d violations\n", r.ViolationsN+len(ar.Violations))
		}
	}
	if !r.OK() || !ar.OK() {
		return &exitError{code: 1, err: errSilent}
	}
	return nil
}

// verifier is POST /v1/verify's check: the same as this command's, on the
// server's own store. It reads every row, so the route is admin and risk
// only and in the lowest priority class.
func verifier(store Store) func(ctx context.Context) (*pwhttp.VerifyReport, error) {
	return func(ctx context.Context) (*pwhttp.VerifyReport, error) {
		r, err := ledger.Verify(ctx, store)
		if err != nil {
			return nil, err
		}
		ar, err := auth.VerifyAudit(ctx, store)
		if err != nil {
			return nil, err
		}
		return &pwhttp.VerifyReport{OK: r.OK() && ar.OK(), Ledger: r, Audit: ar}, nil
	}
}
