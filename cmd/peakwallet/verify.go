package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"slices"

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
	store, where, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	r, err := ledger.Verify(ctx, store)
	if err != nil {
		return fmt.Errorf("verify could not read the store: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.stdout, "verifying %s\n", where)
		fmt.Fprintf(env.stdout, "read %d accounts, %d entries, %d transfers, %d pending holds\n", r.Accounts, r.Entries, r.Transfers, r.PendingHolds)
		for _, cur := range slices.Sorted(maps.Keys(r.Currencies)) {
			fmt.Fprintf(env.stdout, "  %s: posted balances sum to %d\n", cur, r.Currencies[cur])
		}
		fmt.Fprintln(env.stdout, "checked:")
		for _, c := range r.Checks {
			fmt.Fprintln(env.stdout, "  ", c)
		}
		for _, v := range r.Violations {
			fmt.Fprintln(env.stdout, "VIOLATION:", v)
		}
		if r.OK() {
			fmt.Fprintln(env.stdout, "OK: every invariant holds")
		} else {
			fmt.Fprintf(env.stdout, "FAILED: %d violations\n", r.ViolationsN)
		}
	}
	if !r.OK() {
		return &exitError{code: 1, err: errSilent}
	}
	return nil
}
