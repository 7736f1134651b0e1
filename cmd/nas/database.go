package main

import (
	"errors"
	"flag"
	"io/fs"

	"github.com/gonas/nas/store"
)

// dbFlag adds the --db flag that every command touching the database has.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", store.DefaultPath,
		"the database `DB`: a SQLite file, or a PostgreSQL URL (postgres://user:password@host:port/database)")
}

// openStore opens the database dsn for reading.
func openStore(dsn string) (*store.DB, error) {
	st, err := store.OpenReadOnly(dsn)
	return st, storeError(dsn, err)
}

// storeError marks the errors of opening the database dsn that are the user's mistake: a missing
// file, a bad URL, a database that is not a nas database of this schema.
func storeError(dsn string, err error) error {
	var fe *store.FileError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return badInputf("no database at %s: run nas search first, or name one with --db", dsn)
	case errors.As(err, &fe):
		return badInput(err)
	}
	return err
}
