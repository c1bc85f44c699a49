package ledger

import (
	"strconv"
	"sync/atomic"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

// op says what a command does.
type op uint8

const (
	opAccount op = iota + 1
	opTransfer
	opBatch
	opRefund
	opHold
	opCapture
	opVoid
	opExpire // release a hold that fell due; expireDue does the work
)

// Command states: a queued command is either taken into a batch by the
// sequencer or cancelled by its caller (deadline passed), never both, so a
// caller that was told "busy" knows its command never runs.
const (
	cmdQueued int32 = iota
	cmdTaken
	cmdCancelled
)

// command is one request to the ledger, carried through the sequencer.
type command struct {
	op       op
	account  *pw.AccountCreate
	transfer *pw.TransferCreate
	batch    *pw.BatchCreate
	refund   *pw.RefundCreate
	hold     *pw.HoldCreate
	capture  *pw.HoldCapture
	targetID string        // the transfer refunded or the hold captured/voided
	claim    *pw.Claim     // idempotency lease, or nil
	record   *commitRecord // written in the command's transaction, or nil

	state    atomic.Int32
	done     chan struct{}
	deadline time.Time // the caller's, or zero

	// Outcome, set before done is closed.
	result any
	err    error
}

func newCommand(o op, claim *pw.Claim) *command {
	return &command{op: o, claim: claim, done: make(chan struct{})}
}

// units is the command's weight in a batch: the transfers it may post.
func (c *command) units() int {
	if c.op == opBatch {
		return len(c.batch.Transfers)
	}
	return 1
}

// requestKeyOf is the request key of principal's request with idempotency
// key: what a transfer it posted records (Transfer.RequestKey), and what
// Verify looks for under a surge queue's intent.
func requestKeyOf(principal, key string) string { return principal + "\x00" + key }

// requestKey names the idempotent request (and item of a batch) so that
// the store's unique index can refuse a second posting of it.
func (c *command) requestKey(item int) string {
	if c.claim == nil {
		return ""
	}
	k := requestKeyOf(c.claim.Record.Principal, c.claim.Record.Key)
	if c.op == opBatch {
		k += "\x00" + strconv.Itoa(item)
	}
	return k
}
