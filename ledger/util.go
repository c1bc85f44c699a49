package ledger

import (
	"errors"
	"time"

	pw "github.com/peakwallet/peakwallet"
)

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }

// asError returns err as a *pw.Error, wrapping unknown errors as internal.
func asError(err error) *pw.Error {
	var e *pw.Error
	if errors.As(err, &e) {
		return e
	}
	return &pw.Error{Code: pw.EINTERNAL, Err: err}
}
