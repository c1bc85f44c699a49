package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	pw "github.com/peakwallet/peakwallet"
	"github.com/peakwallet/peakwallet/internal/groupcommit"
)

// GenesisHash is the PrevHash of the first audit record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditPageMax bounds one read of the audit log.
const AuditPageMax = 500

// canonical is the byte form of a record that its hash covers: every field
// but the hashes, in a fixed order, times at microseconds in UTC. Changing
// it breaks every existing chain, so it never changes.
func canonical(r *AuditRecord) []byte {
	b, err := json.Marshal(struct {
		Seq     int64             `json:"seq"`
		At      string            `json:"at"`
		Actor   string            `json:"actor"`
		Action  string            `json:"action"`
		Target  string            `json:"target"`
		Address string            `json:"address"`
		Detail  map[string]string `json:"detail"` // encoding/json sorts map keys
	}{r.Seq, r.At.UTC().Format("2006-01-02T15:04:05.000000Z"), r.Actor, r.Action, r.Target, r.Address, r.Detail})
	if err != nil {
		panic("auth: cannot encode an audit record: " + err.Error())
	}
	return b
}

// ChainHash is SHA-256 over the previous record's hash and this record's
// canonical form: changing, removing or reordering any record changes
// every hash after it.
func ChainHash(prevHash string, r *AuditRecord) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(canonical(r))
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends an event. A security event that cannot be recorded fails
// the action that caused it (when in doubt, return the error).
func (s *Service) Audit(ctx context.Context, action, target string, detail map[string]string) error {
	// The record is written whatever ctx does: an action is not done before
	// its audit record is.
	if _, err := s.audits.Do(context.Background(), s.auditRecord(ctx, action, target, detail)); err != nil {
		return &pw.Error{Code: pw.ErrorCode(err), Op: "auth.Audit", Message: "the audit log cannot be written", Err: err}
	}
	return nil
}

// auditRecord is the record of an event by ctx's principal, unchained.
func (s *Service) auditRecord(ctx context.Context, action, target string, detail map[string]string) *AuditRecord {
	return &AuditRecord{At: s.clock(), Actor: actor(ctx), Action: action, Target: target,
		Address: ClientAddress(ctx), Detail: detail}
}

// auditTx is a ledger transaction that can append to the audit log: both
// stores' transactions are.
type auditTx interface {
	AppendAudit(ctx context.Context, recs []*AuditRecord, seal func(prev *AuditRecord) error) error
}

// WriteInCommit appends the audit records of operators' money actions
// (made by Guard) inside the ledger transaction that commits the actions:
// the movement and its record commit together or not at all, with one
// durable commit instead of two in a row.
func (s *Service) WriteInCommit(ctx context.Context, tx pw.Tx, recs []any) error {
	atx, ok := tx.(auditTx)
	if !ok {
		return pw.Errorf(pw.EINTERNAL, "auth: the store's transaction (%T) cannot append to the audit log", tx)
	}
	out := make([]*AuditRecord, len(recs))
	for i, r := range recs {
		if out[i], ok = r.(*AuditRecord); !ok {
			return pw.Errorf(pw.EINTERNAL, "auth: %T is not an audit record", r)
		}
	}
	return atx.AppendAudit(ctx, out, chain(out))
}

// chain returns the seal that links recs, in order, after prev.
func chain(recs []*AuditRecord) func(prev *AuditRecord) error {
	return func(prev *AuditRecord) error {
		for _, rec := range recs {
			rec.Seq, rec.PrevHash = 1, GenesisHash
			if prev != nil {
				rec.Seq, rec.PrevHash = prev.Seq+1, prev.Hash
			}
			rec.Hash = ChainHash(rec.PrevHash, rec)
			prev = rec
		}
		return nil
	}
}

// Audit appends limits.
const (
	// AuditBatchMax bounds the records one append transaction carries.
	AuditBatchMax = 512
	// auditAppendTimeout bounds one append transaction.
	auditAppendTimeout = 10 * time.Second
)

// newAuditQueue group-commits audit records: every operator money action
// is audited before it runs, and one durable transaction per record would
// make operators' traffic queue for the disk one by one. A batch appends
// everything queued (up to AuditBatchMax) in one transaction, chaining the
// records in queue order (internal/groupcommit).
func newAuditQueue(store Store) *groupcommit.Queue[*AuditRecord, struct{}] {
	return &groupcommit.Queue[*AuditRecord, struct{}]{Max: AuditBatchMax, Timeout: auditAppendTimeout,
		Write: func(ctx context.Context, recs []*AuditRecord) ([]groupcommit.Result[struct{}], error) {
			return nil, store.AppendAudit(ctx, recs, chain(recs))
		}}
}

// AuditLog lists records after the cursor (a Seq).
func (s *Service) AuditLog(ctx context.Context, page pw.Page) ([]*AuditRecord, string, error) {
	var after int64
	if page.Cursor != "" {
		if _, err := fmt.Sscanf(page.Cursor, "%d", &after); err != nil || after < 0 || fmt.Sprint(after) != page.Cursor {
			return nil, "", pw.FieldErrorf("cursor", pw.EINVALID, "cursor is not one this server gave")
		}
	}
	limit := page.Limit
	if limit <= 0 || limit > AuditPageMax {
		limit = pw.PageLimitDefault
	}
	list, err := s.store.Audit(ctx, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = fmt.Sprint(list[limit-1].Seq)
	}
	return list, next, nil
}

// AuditReport is what VerifyAudit found.
type AuditReport struct {
	Records int64  `json:"records"`
	Head    string `json:"head"`     // the last record's hash
	HeadSeq int64  `json:"head_seq"` // and its seq (0: no record)
	// Anchor is the head as an anchor ("seq:hash") to keep elsewhere and
	// give to a later verify (empty when the log has no record).
	Anchor string `json:"anchor,omitempty"`
	// AnchorsChecked counts the anchors given to the verify.
	AnchorsChecked int      `json:"anchors_checked,omitempty"`
	Violations     []string `json:"violations,omitempty"`
}

// OK reports whether the chain is intact.
func (r *AuditReport) OK() bool { return len(r.Violations) == 0 }

// auditViolationsMax bounds a report: past that, the chain is broken anyway.
const auditViolationsMax = 100

// AuditAnchor is a record's seq and hash kept outside the store (a ticket,
// a notary, another system's log), as VerifyAudit's report gave it. The
// chain shows a record altered, removed or reordered among the others,
// but not the newest records removed with the head moved back, nor the
// whole chain rewritten from some record on: whoever can write the store
// can re-compute every hash after theirs. A record of the chain kept
// elsewhere cannot be re-computed: a later verify given it finds the
// record gone or its hash changed.
type AuditAnchor struct {
	Seq  int64
	Hash string
}

func (a AuditAnchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// ParseAuditAnchor reads an anchor written "seq:hash", as AuditReport's
// Anchor and `peakwallet verify` print it.
func ParseAuditAnchor(s string) (AuditAnchor, error) {
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 {
		return AuditAnchor{}, fmt.Errorf("audit anchor %q: want seq:hash, seq a record's number from 1", s)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size || strings.ToLower(hash) != hash {
		return AuditAnchor{}, fmt.Errorf("audit anchor %q: the hash must be 64 lowercase hex digits, as verify prints it", s)
	}
	return AuditAnchor{Seq: n, Hash: hash}, nil
}

// VerifyAudit re-computes the whole chain from the store. Each anchor
// must still be in it, with its hash: one missing or changed is a
// violation (the newest records removed, or the chain rewritten).
func VerifyAudit(ctx context.Context, store Store, anchors ...AuditAnchor) (*AuditReport, error) {
	r := &AuditReport{Head: GenesisHash, AnchorsChecked: len(anchors)}
	pinned := make(map[int64]string, len(anchors))
	for _, a := range anchors {
		if h, ok := pinned[a.Seq]; ok && h != a.Hash {
			r.Violations = append(r.Violations, fmt.Sprintf("audit anchors %s and %s name one record with two hashes: one of them was not verify's", AuditAnchor{a.Seq, h}, a))
		}
		pinned[a.Seq] = a.Hash
	}
	found := make(map[int64]bool, len(anchors))
	prev, want := GenesisHash, int64(1)
	// From the lowest seq there can be, not from 1: a record inserted
	// before the first (seq 0 or less) is read and named too. Until
	// 2026-11-29 verify began after 0 and such a record went unseen.
	after := int64(math.MinInt64)
	for {
		list, err := store.Audit(ctx, after, AuditPageMax)
		if err != nil {
			return nil, err
		}
		for _, rec := range list {
			r.Records++
			bad := func(format string, args ...any) {
				if len(r.Violations) < auditViolationsMax {
					r.Violations = append(r.Violations, fmt.Sprintf("audit record %d: ", rec.Seq)+fmt.Sprintf(format, args...))
				}
			}
			if rec.Seq != want {
				bad("sequence gap: expected %d", want)
			}
			if rec.PrevHash != prev {
				bad("prev_hash does not match the previous record's hash")
			}
			if got := ChainHash(rec.PrevHash, rec); got != rec.Hash {
				bad("hash mismatch: the record was altered")
			}
			if h, ok := pinned[rec.Seq]; ok {
				found[rec.Seq] = true
				if rec.Hash != h {
					bad("its hash is not the anchor's (%s): the chain was rewritten from this record or before it", AuditAnchor{rec.Seq, h})
				}
			}
			prev, after, want = rec.Hash, rec.Seq, rec.Seq+1
			r.HeadSeq = rec.Seq
		}
		if len(list) < AuditPageMax {
			break
		}
	}
	r.Head = prev
	if r.Records > 0 {
		r.Anchor = AuditAnchor{r.HeadSeq, r.Head}.String()
	}
	for _, seq := range slices.Sorted(maps.Keys(pinned)) {
		if !found[seq] && len(r.Violations) < auditViolationsMax {
			r.Violations = append(r.Violations, fmt.Sprintf("audit anchor %s: the log holds no record %d (its newest is %d): records were removed",
				AuditAnchor{seq, pinned[seq]}, seq, r.HeadSeq))
		}
	}
	return r, nil
}
