package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/pquerna/otp/totp"
)

// runTOTP prints the TOTP code of a secret: a development helper that
// stands in for an authenticator app in scripts (docs/security.md's
// walkthrough). A code works once, so --in asks for a later step's code.
func runTOTP(_ context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("totp", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	in := fs.Duration("in", 0, "the code valid this long from now (30s: the next code)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: peakwallet totp [--in 30s] SECRET")
	}
	code, err := totp.GenerateCode(fs.Arg(0), time.Now().Add(*in))
	if err != nil {
		return fmt.Errorf("not a TOTP secret: %w", err)
	}
	fmt.Fprintln(env.stdout, code)
	return nil
}
