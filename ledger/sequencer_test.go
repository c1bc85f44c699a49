package ledger

import (
	"errors"
	"testing"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

func TestBatchDeadline(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *command { return &command{deadline: now.Add(d)} }
	none := &command{}
	for _, tc := range []struct {
		name string
		cmds []*command
		want time.Time
	}{
		{"the latest caller's deadline", []*command{at(time.Second), at(3 * time.Second), at(2 * time.Second)}, now.Add(3 * time.Second)},
		{"a caller without a deadline: the commit bound", []*command{at(time.Second), none}, now.Add(CommitTimeout)},
		{"never past the commit bound", []*command{at(time.Hour)}, now.Add(CommitTimeout)},
	} {
		if got := batchDeadline(tc.cmds, now); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsolatable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pw.Error{Code: pw.EINTERNAL}, true},     // a store refusal one command may have caused
		{&pw.Error{Code: pw.EIDEMINUSE}, true},    // a request key posted twice: one command's
		{&pw.Error{Code: pw.EUNAVAILABLE}, false}, // the store is down: retrying alone does not help
		{&pw.Error{Code: pw.EOUTCOMEUNKNOWN, Err: errors.Join(pw.ErrCommitUnknown, errors.New("eof"))}, false}, // may have committed
	} {
		if got := isolatable(tc.err); got != tc.want {
			t.Errorf("isolatable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
