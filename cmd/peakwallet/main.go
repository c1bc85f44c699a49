// Command peakwallet is the one binary of peakwallet: the server, the
// invariant check, migrations and the benchmark.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals(signal.Ignored)...)
	defer stop()
	// The first signal asks for a clean stop (serve drains); a second
	// Ctrl-C or SIGTERM stops the process at once, as without the handler,
	// should the drain hang (it could, until 2026-11-27, behind a stalled
	// database). A second SIGHUP does not: a hang-up may deliver one from
	// the kernel and one from the shell passing it on to its jobs, and the
	// second would have cut the drain the first began
	// (TestASecondHangupDoesNotCutTheDrain).
	go func() {
		<-ctx.Done()
		signal.Ignore(syscall.SIGHUP) // before stop(), so that no SIGHUP falls to the default in between
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "peakwallet:", err)
		}
		os.Exit(exitCode(err))
	}
}

// stopSignals are the signals that ask for a clean stop: Ctrl-C, SIGTERM,
// and SIGHUP (the terminal or SSH session that started serve went away),
// which would otherwise kill the process at once, cutting the requests in
// flight. A SIGHUP ignored at start (nohup) stays ignored: catching it
// would stop a server its operator asked to outlive the session.
func stopSignals(ignored func(os.Signal) bool) []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// errSilent marks an error already reported to the user.
var errSilent = errors.New("already reported")

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `peakwallet — a digital wallet that stays up at peak

Usage:
  peakwallet serve    [--addr 127.0.0.1:8080] [--data DIR] [--postgres DSN]   run the server
                      [--tls-cert F --tls-key F | --tls-self-signed] [--outbox DIR]
  peakwallet verify   [--data DIR | --postgres DSN] [--json]                  check every ledger invariant and the audit chain
                      [--audit-anchor SEQ:HASH]... [--audit-anchors FILE]     and that the chain still holds records kept elsewhere
  peakwallet audit    [--data DIR | --postgres DSN] [--after N] [--limit N]   print the audit log
  peakwallet totp     [--in 30s] SECRET                                       print a TOTP code (development helper)
  peakwallet migrate  [--data DIR | --postgres DSN]                           apply schema migrations
  peakwallet bench    [--data DIR | --postgres DSN | --target URL] [--http]   the surge benchmark
  peakwallet maintenance schedule|list|cancel [--target URL]                 announce maintenance windows
  peakwallet forecast [--data DIR | --postgres DSN] [--country US] [--json]   the busy-hour forecast and its back-test
  peakwallet demo     [--data DIR | --postgres DSN] [--seed N]                fill an empty instance with demo data
  peakwallet version                                                          print the version

Every flag has an environment equivalent: PEAKWALLET_ADDR, PEAKWALLET_DATA,
PEAKWALLET_POSTGRES, PEAKWALLET_OPERATOR_KEY, PEAKWALLET_LOG_LEVEL.
Run "peakwallet COMMAND -h" for a command's flags.
`

// run is the whole program, with its environment passed in so that tests
// can run it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errSilent}
	}
	env := &environment{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, env)
	case "verify":
		return runVerify(ctx, rest, env)
	case "migrate":
		return runMigrate(ctx, rest, env)
	case "audit":
		return runAudit(ctx, rest, env)
	case "totp":
		return runTOTP(ctx, rest, env)
	case "bench":
		return runBench(ctx, rest, env)
	case "maintenance":
		return runMaintenance(ctx, rest, env)
	case "forecast":
		return runForecast(ctx, rest, env)
	case "demo":
		return runDemo(ctx, rest, env)
	case "version", "--version":
		fmt.Fprintln(stdout, "peakwallet", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "peakwallet: unknown command %q\n\n%s", cmd, usage)
		return &exitError{code: 2, err: errSilent}
	}
}

// environment is what a subcommand may touch outside itself.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}
