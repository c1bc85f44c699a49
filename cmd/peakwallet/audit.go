package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/auth"
	"github.com/peakwallet/peakwallet/internal/faillog"
)

// runAudit prints the audit log from the store, oldest first, for an
// operator with access to the database (GET /v1/audit is the API's way).
// With --handle, only the records of that handle (auditHandleTargets).
func runAudit(ctx context.Context, args []string, env *environment) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var sf storeFlags
	sf.register(fs, env)
	after := fs.Int64("after", 0, "print records after this sequence number")
	limit := fs.Int("limit", 100, fmt.Sprintf("print at most this many records (1 to %d)", auth.AuditPageMax))
	asJSON := fs.Bool("json", false, "print JSON lines")
	handle := fs.String("handle", "", "print only the records of this handle (any spelling): its user's, and, as the server's secret key hashes it, its own when it was no user's; reads the whole log after --after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *limit < 1 || *limit > auth.AuditPageMax || *after < 0 {
		return fmt.Errorf("--limit must be 1 to %d and --after not negative", auth.AuditPageMax)
	}
	var secret []byte
	if *handle != "" {
		// Before the store is opened: without the key there is no answer.
		var err error
		if secret, err = storedSecretKey(sf.data, env); err != nil {
			return err
		}
		if secret == nil {
			return fmt.Errorf("audit --handle needs the server's secret key, and there is none: neither PEAKWALLET_SECRET_KEY nor %s; "+
				"an unknown handle's records name it by a keyed hash under that key, so without it they cannot be found",
				filepath.Join(sf.data, SecretKeyFile))
		}
	}
	store, _, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	enc := newJSONEncoder(env.stdout)
	show := func(r *auth.AuditRecord) error {
		if *asJSON {
			return enc.Encode(r)
		}
		_, err := fmt.Fprintf(env.stdout, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.12s\n", r.Seq, r.At.Format("2006-01-02T15:04:05.000000Z"),
			auditWord(r.Actor), auditWord(r.Action), auditWord(r.Target), auditWord(r.Address), auditDetail(r.Detail), r.Hash)
		return err
	}
	if *handle != "" {
		targets, err := auditHandleTargets(ctx, store, secret, *handle, env)
		if err != nil {
			return err
		}
		return scanAudit(ctx, store, *after, *limit, func(r *auth.AuditRecord) bool { return targets[r.Target] }, show)
	}
	list, err := store.Audit(ctx, *after, *limit)
	if err != nil {
		return err
	}
	for _, r := range list {
		if err := show(r); err != nil {
			return err
		}
	}
	return nil
}

// auditHandleTargets is the set of audit targets that name handle: its
// user's ID (when it is a user's), its keyed form (auth.HandleTarget under
// secret, the server's key: the target of a failed login, reset request or
// look-up when it was no user's, since 2026-11-29), and the normalised
// handle itself (such records written before then, which the log keeps).
// It says on stderr what it searches for.
func auditHandleTargets(ctx context.Context, store auth.Store, secret []byte, handle string, env *environment) (map[string]bool, error) {
	h, err := auth.ParseHandle(handle)
	if err != nil {
		return nil, fmt.Errorf("--handle: %w", err)
	}
	keyed, err := auth.HandleTarget(secret, h)
	if err != nil {
		return nil, err
	}
	targets := map[string]bool{keyed: true, h: true}
	who, ids := "no user's", ""
	switch u, err := store.UserByHandle(ctx, h); {
	case err == nil:
		targets[u.ID] = true
		who, ids = "user "+u.ID, u.ID+", "
	case pw.ErrorCode(err) != pw.ENOTFOUND:
		return nil, err
	}
	fmt.Fprintf(env.stderr, "handle %s is %s; printing the records whose target is %s%s (its keyed form) or %s (before 2026-11-29)\n",
		auditWord(h), who, ids, keyed, auditWord(h))
	return targets, nil
}

// scanAudit reads the log after seq after, a page (AuditPageMax) at a
// time to its end, and hands show the records match keeps, at most
// limit of them.
func scanAudit(ctx context.Context, store auth.Store, after int64, limit int, match func(*auth.AuditRecord) bool, show func(*auth.AuditRecord) error) error {
	for n := 0; n < limit; {
		list, err := store.Audit(ctx, after, auth.AuditPageMax)
		if err != nil {
			return err
		}
		for _, r := range list {
			after = r.Seq
			if !match(r) {
				continue
			}
			if err := show(r); err != nil {
				return err
			}
			if n++; n == limit {
				return nil
			}
		}
		if len(list) < auth.AuditPageMax {
			return nil
		}
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
