package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/demo"
	"github.com/peakwallet/peakwallet/ledger"
)

// Bounds of the demo's size.
const (
	DemoUsersMax     = 1000
	DemoTransfersMax = 100_000
)

// runDemo fills an empty instance with demo data (marked demo=true).
func runDemo(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var sf storeFlags
	sf.register(fs, env)
	var stf statusFlags
	stf.register(fs, env)
	users := fs.Int("users", 8, "demo users to create")
	transfers := fs.Int("transfers", 200, "demo payments to make")
	weeks := fs.Int("weeks", demo.WeeksDefault, "weeks of traffic history")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same traffic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *users < 0 || *users > DemoUsersMax || *transfers < 0 || *transfers > DemoTransfersMax || *weeks < 4 || *weeks > 52 {
		return fmt.Errorf("demo: --users 0..%d, --transfers 0..%d, --weeks 4..52", DemoUsersMax, DemoTransfersMax)
	}
	store, where, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	sealKey, err := secretKey(sf.data, env)
	if err != nil {
		return err
	}
	l := ledger.New(store, ledger.Options{})
	defer l.Close()
	sec := auth.New(store, l, auth.Options{SecretKey: sealKey})
	svc, err := stf.service(store, nil, nil, nil)
	if err != nil {
		return err
	}
	cal, loc, _ := stf.calendar()
	rep, err := demo.Populate(ctx, store, l, sec, svc, demo.Options{Now: time.Now(), Weeks: *weeks, Seed: *seed,
		Location: loc, Calendar: cal, Users: *users, Transfers: *transfers})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "demo data written to %s (everything is marked demo: metadata demo=true, \"demo\" in names)\n", where)
	fmt.Fprintf(env.stdout, "  %d users, %d merchants, %d payments\n", rep.Users, rep.Merchants, rep.Transfers)
	fmt.Fprintf(env.stdout, "  %d hours of traffic history; holidays: %s\n", rep.TrafficHours, strings.Join(rep.Holidays, "; "))
	fmt.Fprintf(env.stdout, "  promotion announced: %s\n", rep.Promotion)
	fmt.Fprintln(env.stdout, "next: peakwallet serve (then open /status), or peakwallet forecast")
	return nil
}
