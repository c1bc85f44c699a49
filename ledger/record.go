package ledger

import (
	"context"
	"slices"

	pw "github.com/peakwallet/peakwallet"
)

// commitRecord is a record a command carries into its transaction.
type commitRecord struct {
	w   pw.CommitWriter
	rec any
}

type recordKey struct{}

// WithRecord returns a context whose command (the ledger call made with
// it) has w write rec inside the transaction that commits the command,
// whatever the command's outcome under the ledger's rules: a payment
// refused for want of funds commits its record too. A command that never
// reaches a transaction (refused busy, its deadline passed in the queue,
// the store unreachable) leaves no record, and moved nothing. w must be
// comparable (a pointer): the records of one batch are grouped by writer,
// so that each writer writes all of its records at once.
func (l *Ledger) WithRecord(ctx context.Context, w pw.CommitWriter, rec any) context.Context {
	return context.WithValue(ctx, recordKey{}, &commitRecord{w: w, rec: rec})
}

// writeRecords has each writer of the batch write its commands' records,
// in the batch's order.
func writeRecords(ctx context.Context, tx pw.Tx, cmds []*command) error {
	var writers []pw.CommitWriter
	var recs [][]any
	for _, c := range cmds {
		if c.record == nil {
			continue
		}
		i := slices.Index(writers, c.record.w)
		if i < 0 {
			i = len(writers)
			writers, recs = append(writers, c.record.w), append(recs, nil)
		}
		recs[i] = append(recs[i], c.record.rec)
	}
	for i, w := range writers {
		if err := w.WriteInCommit(ctx, tx, recs[i]); err != nil {
			return err
		}
	}
	return nil
}
