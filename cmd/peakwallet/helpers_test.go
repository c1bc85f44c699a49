package main_test

import (
	"database/sql"

	_ "github.com/mattn/go-sqlite3" // the driver the sqlite store uses, to break a store on purpose
)

// breakStore inserts an account with a balance that no entry explains.
func breakStore(path string) error {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`INSERT INTO accounts (id, kind, currency, posted, created_at) VALUES ('acc_broken', 'user', 'EUR', 500, 0)`)
	return err
}

// cutAuditHead removes the store's newest audit record and moves the head
// back to the record before it, as someone with write access to the
// database could.
func cutAuditHead(path string) error {
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`DELETE FROM audit WHERE seq = (SELECT seq FROM audit_head); UPDATE audit_head SET seq = seq - 1`)
	return err
}
