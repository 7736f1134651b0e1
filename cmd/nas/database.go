package main

import (
	"errors"
	"flag"
	"io/fs"

	"github.com/gonas/nas/store"
)

// dbFlag adds the --db flag that every command touching the database has.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", store.DefaultPath, "the SQLite database `FILE`")
}

// openStore opens the database at path for reading. A missing or foreign file is the user's
// mistake.
func openStore(path string) (*store.SQLite, error) {
	st, err := store.OpenReadOnly(path)
	var fe *store.FileError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, badInputf("no database at %s: run nas search first, or name one with --db", path)
	case errors.As(err, &fe):
		return nil, badInput(err)
	}
	return st, err
}
