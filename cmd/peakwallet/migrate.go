package main

import (
	"context"
	"flag"
	"fmt"
)

// runMigrate applies the schema migrations embedded in the binary. serve
// applies them too on start; this command lets an operator do it first.
// Migrations are additive (new tables, columns and indexes), so a running
// older binary keeps working while they apply.
func runMigrate(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var sf storeFlags
	sf.register(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, where, err := sf.open(ctx) // opening applies every pending migration
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(env.stdout, "%s: schema is up to date\n", where)
	return nil
}
