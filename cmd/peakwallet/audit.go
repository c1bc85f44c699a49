package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/internal/faillog"
)

// runAudit prints the audit log from the store, oldest first, for an
// operator with access to the database (GET /v1/audit is the API's way).
func runAudit(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var sf storeFlags
	sf.register(fs, env)
	after := fs.Int64("after", 0, "print records after this sequence number")
	limit := fs.Int("limit", 100, fmt.Sprintf("print at most this many records (1 to %d)", auth.AuditPageMax))
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *limit < 1 || *limit > auth.AuditPageMax || *after < 0 {
		return fmt.Errorf("--limit must be 1 to %d and --after not negative", auth.AuditPageMax)
	}
	store, _, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := store.Audit(ctx, *after, *limit)
	if err != nil {
		return err
	}
	enc := newJSONEncoder(env.stdout)
	for _, r := range list {
		if *asJSON {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(env.stdout, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.12s\n", r.Seq, r.At.Format("2006-01-02T15:04:05.000000Z"),
			auditWord(r.Actor), auditWord(r.Action), auditWord(r.Target), auditWord(r.Address), auditDetail(r.Detail), r.Hash)
	}
	return nil
}

// auditDetail is a record's detail as the text listing prints it: k=v
// pairs by key, separated by spaces, each value an auditWord.
func auditDetail(d map[string]string) string {
	var detail []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		detail = append(detail, k+"="+auditWord(d[k]))
	}
	return strings.Join(detail, " ")
}

// auditWord is v as the text listing prints it: as is when it is one word
// of printable text, else quoted in Go's syntax. Some values are free
// text (an operator's reason for stopping a payment): with a space and an
// equals sign one would read as another k=v pair ("duplicate payer=…"),
// with a tab as another column, with a line break as another record.
// Bytes that are not UTF-8 (which the API refuses, but a store written by
// other means may hold) are quoted as \x escapes, not printed raw.
func auditWord(v string) string {
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
		return r == ' ' || r == '=' || r == '"' || r == '\\' || !strconv.IsPrint(r)
	}) {
		return strconv.Quote(v)
	}
	return v
}

// AuditHeadInterval is how often serve logs the audit log's head when it
// has moved.
const AuditHeadInterval = 10 * time.Minute

// auditHeads is what auditHeadLoop reads.
type auditHeads interface {
	AuditHead(ctx context.Context) (*auth.AuditRecord, error)
}

// auditHeadLoop logs the audit log's head as an anchor ("audit head",
// anchor=seq:hash) at start, then every AuditHeadInterval when it has
// moved, until ctx ends (not at stop: a stop in a database stall must not
// wait on another read, TestADrainDuringAPostgresStallEnds). The chain in the database cannot show its newest
// records removed, or itself rewritten, by someone who can write the
// database (docs/security.md); a log shipped elsewhere holds anchors that
// `peakwallet verify --audit-anchor` checks. One read of the newest
// record each time.
func auditHeadLoop(ctx context.Context, store auditHeads, log *slog.Logger) {
	fails := faillog.New(log, "audit head")
	last := ""
	pass := func() {
		anchor, err := logAuditHead(ctx, store, log, last)
		if ctx.Err() == nil {
			fails.Observe(time.Now(), err)
		}
		last = anchor
	}
	pass()
	t := time.NewTicker(AuditHeadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pass()
		}
	}
}

// logAuditHead logs the head when it is not last (the anchor logged
// before) and returns the head's anchor (last when it could not be read,
// or the log is empty).
func logAuditHead(ctx context.Context, store auditHeads, log *slog.Logger, last string) (string, error) {
	rec, err := store.AuditHead(ctx)
	if err != nil || rec == nil {
		return last, err
	}
	anchor := auth.AuditAnchor{Seq: rec.Seq, Hash: rec.Hash}.String()
	if anchor != last {
		log.Info("audit head", "anchor", anchor, "at", rec.At.UTC().Format(time.RFC3339))
	}
	return anchor, nil
}
