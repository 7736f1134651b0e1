package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gonas/nas/store"
)

// dbFlag adds the --db flag that every command touching the database has.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", store.DefaultPath,
		"the database `DB`: a SQLite file, or a PostgreSQL URL (postgres://user:password@host:port/database)")
}

// The exit codes of a bad database are the same from every command: 2 when --db names what
// cannot be a nas database (a file of another kind or of a newer nas, a device, a folder, a
// folder that does not exist), 1 when the machine refuses or failed (a read-only file or folder,
// a corrupt database, a disk error).

// openStore opens the database dsn (a SQLite file or a PostgreSQL URL) for reading. A missing or
// foreign file is the user's mistake.
func openStore(dsn string) (*store.DB, error) {
	if err := checkDBPath(dsn, false); err != nil {
		return nil, err
	}
	st, err := store.OpenReadOnly(dsn)
	return st, dbError(dsn, err)
}

// openStoreWrite opens the database at path for reading and writing, creating it if there is
// none, after checking that path can be one. A file that is not a nas database is reported as
// such (exit code 2) before its being read-only (exit code 1), as the other commands do.
func openStoreWrite(path string) (*store.DB, error) {
	if err := checkDBPath(path, true); err != nil {
		return nil, err
	}
	st, err := store.Open(path)
	var fe *store.FileError
	if errors.As(err, &fe) || store.IsURL(path) {
		return st, dbError(path, err)
	}
	// SQLite opens a file it may not write read-only and fails at the first write: say so now.
	if cause := readOnly(path); cause != nil {
		if st != nil {
			st.Close()
		}
		return nil, cause
	}
	return st, dbError(path, err)
}

// openStoreExisting opens the database dsn for reading and writing, as openStoreWrite does, but
// only if it exists: a command that works on what a search stored (a final training) names a
// missing file rather than create an empty database.
func openStoreExisting(dsn string) (*store.DB, error) {
	if !store.IsURL(dsn) {
		if _, err := os.Stat(dsn); err != nil {
			return nil, dbError(dsn, err)
		}
	}
	return openStoreWrite(dsn)
}

// dbError classes an error of opening the database dsn by its exit code: a missing file, a bad
// URL, a database that is not a nas database of this schema are the user's mistake.
func dbError(path string, err error) error {
	var fe *store.FileError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return badInputf("no database at %s: run nas search first, or name one with --db", path)
	case errors.Is(err, store.ErrCorrupt):
		return err // damage the machine did, not a wrong name
	case errors.As(err, &fe):
		return badInput(err)
	}
	return err
}

// checkDBPath refuses, before anything is opened or created, a path that cannot hold a nas
// database: a device such as /dev/null, a folder, or for writing a file in a folder that does
// not exist.
func checkDBPath(path string, write bool) error {
	if path == "" {
		return badInputf("--db names no file")
	}
	if store.IsURL(path) {
		return nil // the server says what is wrong
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return badInputf("%s is %s, not a database file; name a SQLite file with --db", path, fileKind(fi.Mode()))
	case err == nil, !write:
		return nil // OpenReadOnly says when there is no database
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return badInputf("cannot create the database %s: folder %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("cannot create the database %s: %w", path, err)
	case !di.IsDir():
		return badInputf("cannot create the database %s: %s is not a folder", path, dir)
	}
	return nil
}

// readOnly explains a failure to open the database at path for writing by the file or its
// folder being read-only (SQLite writes its journal beside the database), or returns nil.
func readOnly(path string) error {
	if _, err := os.Stat(path); err == nil && !writable(path) {
		return fmt.Errorf("%s is read-only: nas records trials in it; make it writable or copy it", path)
	}
	if dir := filepath.Dir(path); !writable(dir) {
		return fmt.Errorf("cannot write the database %s: folder %s is read-only, and SQLite keeps its journal beside the database", path, dir)
	}
	return nil
}

// writable reports whether this process may write path.
func writable(path string) bool { return syscall.Access(path, 2 /* W_OK */) == nil }

// fileKind names a file mode that is not a regular file's, for messages.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeCharDevice != 0, m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}
