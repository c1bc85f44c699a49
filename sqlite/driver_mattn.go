//go:build !modernc

package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/mattn/go-sqlite3"
)

// DriverName says which SQLite driver this build uses (see
// docs/decisions/0001-sqlite-driver.md; build with -tags modernc for the other).
const DriverName = "mattn/go-sqlite3 (cgo)"

// writerDriver is go-sqlite3 with the writer's per-connection settings,
// applied to every connection it opens (a replaced connection too):
// go-sqlite3's DSN has no parameter for them.
const writerDriver = "sqlite3-peakwallet-writer"

var registerWriter sync.Once

func openDB(path string, role dbRole) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		fmt.Sprintf("?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=%d&_foreign_keys=on", busyTimeoutMillis)
	switch role {
	case roleWriter:
		registerWriter.Do(func() {
			sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
				_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -%d; PRAGMA journal_size_limit = %d", writerCacheKiB, walBytesKept), nil)
				return err
			}})
		})
		return sql.Open(writerDriver, dsn+"&_txlock=immediate")
	case roleReader:
		return sql.Open("sqlite3", dsn+"&_query_only=true")
	default:
		return sql.Open("sqlite3", dsn)
	}
}

// resultCode returns the SQLite result codes carried by err.
func resultCode(err error) (code, extended int, ok bool) {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return int(se.Code), int(se.ExtendedCode), true
	}
	return 0, 0, false
}
