package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

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
	var anchors []auth.AuditAnchor
	fs.Func("audit-anchor", "an audit record kept elsewhere, seq:hash as an earlier verify printed it (its head); repeat the flag for several: verify fails when one is gone or changed", func(v string) error {
		a, err := auth.ParseAuditAnchor(v)
		anchors = append(anchors, a)
		return err
	})
	fs.Func("audit-anchors", "a file of audit anchors, one seq:hash a line (# starts a comment), as --audit-anchor", func(name string) error {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			if strings.TrimSpace(line) == "" {
				continue
			}
			a, err := auth.ParseAuditAnchor(line)
			if err != nil {
				return fmt.Errorf("%s line %d: %w", name, i+1, err)
			}
			anchors = append(anchors, a)
		}
		return nil
	})
	// Exit 1 means violations found, and a job run on a schedule raises
	// the alarm on it; verify that could not run (a malformed flag or
	// anchor, a store it could not open or read) exits 2 instead.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	store, where, err := sf.open(ctx)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer store.Close()
	r, err := ledger.Verify(ctx, store)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify could not read the store: %w", err)}
	}
	// The audit log's hash chain is checked too: a ledger that balances
	// but whose security record was edited is not a healthy store.
	ar, err := auth.VerifyAudit(ctx, store, anchors...)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("verify could not read the audit log: %w", err)}
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
		if ar.AnchorsChecked > 0 {
			fmt.Fprintf(env.stdout, "   audit anchors: %d given, each looked for in the chain\n", ar.AnchorsChecked)
		}
		if ar.Anchor != "" {
			fmt.Fprintf(env.stdout, "   audit anchor of this head (keep it elsewhere; give it to a later verify with --audit-anchor): %s\n", ar.Anchor)
		}
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
func verifier(store Store) func(ctx context.Context, anchors ...auth.AuditAnchor) (*pwhttp.VerifyReport, error) {
	return func(ctx context.Context, anchors ...auth.AuditAnchor) (*pwhttp.VerifyReport, error) {
		r, err := ledger.Verify(ctx, store)
		if err != nil {
			return nil, err
		}
		ar, err := auth.VerifyAudit(ctx, store, anchors...)
		if err != nil {
			return nil, err
		}
		return &pwhttp.VerifyReport{OK: r.OK() && ar.OK(), Ledger: r, Audit: ar}, nil
	}
}
