package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
)

const (
	// busyTimeout is how long SQLite itself waits for another connection's lock before it
	// returns SQLITE_BUSY; past it, retry backs off and tries again.
	busyTimeout = 5 * time.Second
	// readers is the size of the pool of read-only connections.
	readers = 4
)

// sqliteMagic is how every SQLite 3 database file begins.
var sqliteMagic = []byte("SQLite format 3\x00")

// openSQLite opens the SQLite file at path in WAL mode, so that readers never wait for the
// writer. A process has one writer connection, which takes every write transaction with BEGIN
// IMMEDIATE, and a pool of read-only connections; writers in other processes are waited for, so
// "database is locked" never reaches the caller. The file is inspected read-only first: if it
// is not a SQLite database, is corrupt, belongs to another program or was written by a newer nas,
// openSQLite returns a *FileError and the file is left as it was. Only a writing mode creates
// a file.
func openSQLite(path string, mode openMode) (*DB, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	exists, err := inspect(ctx, path, mode)
	if err != nil {
		return nil, err
	}
	if mode == readOnly {
		if !exists {
			if _, err := os.Stat(path); err != nil {
				return nil, err
			}
			return nil, &FileError{Path: path, Err: ErrOlderSchema, Detail: "holds no nas data yet"}
		}
		quiet, _ := quiescent(path)
		r, err := openReaders(path, quiet && syscall.Access(filepath.Dir(path), 2 /* W_OK */) != nil)
		if err != nil {
			return nil, err
		}
		return &DB{where: path, d: sqliteDialect{}, reader: r, found: SchemaVersion}, nil
	}
	rw := "rw" // never create a file that vanished after inspection
	if !exists {
		rw = "rwc"
	}
	w, err := sql.Open("sqlite3", dsn(path, "mode="+rw, "_txlock=immediate", "_foreign_keys=on", "_synchronous=NORMAL"))
	if err != nil {
		return nil, err
	}
	// One connection: writes of this process queue in database/sql instead of contending for
	// SQLite's lock, and BEGIN IMMEDIATE makes the lock order between processes explicit.
	w.SetMaxOpenConns(1)
	s := &DB{where: path, d: sqliteDialect{}, writer: w}
	if err := s.walMode(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.prepare(ctx, mode); err != nil {
		w.Close()
		return nil, err
	}
	s.reader, err = openReaders(path, false)
	if err != nil {
		w.Close()
		return nil, err
	}
	return s, nil
}

// openReaders opens the read-only pool of the database at path. In a folder this process cannot
// write, SQLite cannot make the -shm file that reading a WAL database needs; a database with no
// journal there is read as immutable instead.
func openReaders(path string, immutable bool) (*sql.DB, error) {
	params := []string{"mode=ro"}
	if immutable {
		params = append(params, "immutable=1")
	}
	r, err := sql.Open("sqlite3", dsn(path, params...))
	if err != nil {
		return nil, err
	}
	r.SetMaxOpenConns(readers)
	return r, nil
}

// dsn is the go-sqlite3 data source name for the file at path with the given parameters. A file:
// URI, so that SQLite's own mode parameter applies, with the path escaped so that ? # % in a file
// name stay part of it.
func dsn(path string, params ...string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Path: filepath.ToSlash(path)}
	params = append(params, fmt.Sprintf("_busy_timeout=%d", busyTimeout.Milliseconds()))
	return "file:" + u.EscapedPath() + "?" + strings.Join(params, "&")
}

// walMode puts a freshly opened writer into WAL mode.
func (s *DB) walMode(ctx context.Context) error {
	err := retry(ctx, isBusy, func() error {
		var mode string
		if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
			return err
		}
		if mode != "wal" {
			return fmt.Errorf("cannot switch to WAL mode (journal mode stays %q)", mode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", s.where, err)
	}
	return nil
}

// sqliteDialect is the SQL of SQLite, in which the store's queries and migrations are written.
// The write transaction (BEGIN IMMEDIATE) holds the database's one write lock, so rows and keys
// need no locks of their own.
type sqliteDialect struct{}

func (sqliteDialect) rebind(query string) string                        { return query }
func (sqliteDialect) lockSchema(context.Context, txn) error             { return nil }
func (sqliteDialect) lockRow() string                                   { return "" }
func (sqliteDialect) skipLocked() string                                { return "" }
func (sqliteDialect) lockKey(context.Context, txn, int64) (bool, error) { return true, nil }
func (sqliteDialect) now(context.Context, txn) (time.Time, error)       { return time.Now(), nil }
func (sqliteDialect) retryable(err error) bool                          { return isBusy(err) }

// header reads the file's application_id and user_version, and counts its schema objects.
func (sqliteDialect) header(ctx context.Context, tx txn) (header, error) {
	var appID int32
	var h header
	var objects int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).
		Scan(&appID, &h.version, &objects)
	h.empty = appID == 0 && h.version == 0 && objects == 0
	h.nas = appID == applicationID
	h.source = "its header"
	h.foreign = fmt.Sprintf("is a SQLite database of another program (application_id %#x, user_version %d, %d schema objects), not a nas database",
		uint32(appID), h.version, objects)
	return h, err
}

// upgrade runs the migrations after version from and marks the file as a nas database of
// SchemaVersion.
func (sqliteDialect) upgrade(ctx context.Context, tx txn, from int) error {
	for _, m := range migrations[from:] {
		if _, err := tx.ExecContext(ctx, m); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d",
		SchemaVersion, applicationID))
	return err
}

// inspect checks, without writing anything, that the file at path can be opened in mode. It reports whether there is a file with content: an absent or empty
// file is a new database.
func inspect(ctx context.Context, path string, mode openMode) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	head := make([]byte, 100)
	n, err := io.ReadFull(f, head)
	f.Close()
	switch {
	case n == 0 && err == io.EOF:
		return false, nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return false, err
	case n < len(head) || !bytes.HasPrefix(head, sqliteMagic):
		return true, &FileError{Path: path, Err: ErrNotSQLite,
			Detail: fmt.Sprintf("is not a SQLite database (it begins with %q)", head[:min(n, 16)])}
	}

	// A database that nobody has open and that left no journal is read as immutable, so that
	// SQLite creates no -wal and -shm files beside a file it may refuse. If that assumption broke
	// during the check (another process opened and wrote it), check again the ordinary way.
	quiet, before := quiescent(path)
	err = checkFile(ctx, path, mode, quiet)
	if quiet {
		if still, after := quiescent(path); !still || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
			err = checkFile(ctx, path, mode, false)
		}
	}
	return true, err
}

// quiescent reports whether the database at path has neither a WAL nor a rollback journal beside
// it, which means that no connection has it open and its file alone holds all of it. It also
// returns the file's current state, to notice a change later.
func quiescent(path string) (bool, fs.FileInfo) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, nil
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			return false, fi
		}
	}
	return true, fi
}

// checkFile opens the SQLite file at path read-only and checks its header and pages; immutable
// tells SQLite to take no locks and create no files.
func checkFile(ctx context.Context, path string, mode openMode, immutable bool) error {
	params := []string{"mode=ro"}
	if immutable {
		params = append(params, "immutable=1")
	}
	db, err := sql.Open("sqlite3", dsn(path, params...))
	if err != nil {
		return err
	}
	defer db.Close()
	err = retry(ctx, isBusy, func() error {
		sqlTx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer sqlTx.Rollback()
		tx := txn{sqlTx, sqliteDialect{}}
		h, err := tx.d.header(ctx, tx)
		if err != nil {
			return err
		}
		if err := h.check(path, mode); err != nil {
			return err
		}
		return quickCheck(ctx, tx, path)
	})
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return corrupt(path, se.Error())
	}
	var fe *FileError
	if err != nil && !errors.As(err, &fe) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return err
}

// quickCheck runs PRAGMA quick_check, which reads every page, and turns its complaints into an
// ErrCorrupt FileError for path.
func quickCheck(ctx context.Context, tx txn, path string) error {
	problems, err := queryStrings(ctx, tx, "PRAGMA quick_check")
	if err != nil {
		return err
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	var said []string
	for _, p := range problems {
		if p = strings.TrimSpace(strings.ReplaceAll(p, "*** in database main ***", "")); p != "" {
			said = append(said, strings.ReplaceAll(p, "\n", " "))
		}
	}
	if len(said) > 3 {
		said = append(said[:3], fmt.Sprintf("and %d more", len(said)-3))
	}
	return corrupt(path, strings.Join(said, "; "))
}

func corrupt(path, detail string) *FileError {
	return &FileError{Path: path, Err: ErrCorrupt, Detail: fmt.Sprintf(
		"is corrupt (%s); keep a copy and try: sqlite3 %s .recover | sqlite3 recovered.db", detail, path)}
}

// check runs SQLite's integrity_check, which reads every page and index, and foreign_key_check.
func (sqliteDialect) check(ctx context.Context, tx txn) ([]string, error) {
	var problems []string
	ps, err := queryStrings(ctx, tx, "PRAGMA integrity_check")
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 || ps[0] != "ok" {
		problems = ps
	}
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return nil, err
		}
		problems = append(problems, fmt.Sprintf("%s row %d refers to a missing %s row", table, rowid.Int64, parent))
	}
	return problems, rows.Err()
}

// isBusy says whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED: another connection holds the
// lock.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
