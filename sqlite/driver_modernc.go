//go:build modernc

package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"modernc.org/sqlite"
)

// DriverName says which SQLite driver this build uses.
const DriverName = "modernc.org/sqlite (pure Go)"

func openDB(path string, role dbRole) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		fmt.Sprintf("?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeoutMillis)
	switch role {
	case roleWriter:
		dsn += fmt.Sprintf("&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=cache_size(-%d)&_pragma=journal_size_limit(%d)", writerCacheKiB, walBytesKept)
	case roleReader:
		dsn += "&_pragma=query_only(1)"
	}
	return sql.Open("sqlite", dsn)
}

// resultCode returns the SQLite result codes carried by err.
func resultCode(err error) (code, extended int, ok bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff, se.Code(), true
	}
	return 0, 0, false
}
