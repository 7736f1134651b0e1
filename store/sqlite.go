package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
)

// DefaultPath is the database file commands use when not given --db.
const DefaultPath = "nas.db"

const (
	// busyTimeout is how long SQLite itself waits for another connection's lock before it
	// returns SQLITE_BUSY; past it, retryBusy backs off and tries again.
	busyTimeout = 5 * time.Second
	// openTimeout bounds how long Open waits for other processes to let it migrate the schema.
	openTimeout = time.Minute
	// readers is the size of the pool of read-only connections.
	readers = 4
)

// sqliteMagic is how every SQLite 3 database file begins.
var sqliteMagic = []byte("SQLite format 3\x00")

// SQLite is the Store in one SQLite file, in WAL mode so that readers never wait for the writer.
// Each process has one writer connection, which takes every write transaction with BEGIN
// IMMEDIATE, and a pool of read-only connections. Writers in other processes are waited for,
// so "database is locked" never reaches the caller. It is safe for concurrent use.
type SQLite struct {
	path   string  // as the caller gave it, for messages
	writer *sql.DB // nil when opened read-only
	reader *sql.DB
}

var _ Store = (*SQLite)(nil)

// Open opens the nas database at path for reading and writing, creating it if there is no file
// there, and brings its schema up to SchemaVersion. The file is inspected read-only first: if it
// is not a SQLite database, is corrupt, belongs to another program or was written by a newer nas,
// Open returns a *FileError and the file is left as it was.
func Open(path string) (*SQLite, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	exists, err := inspect(ctx, path, true)
	if err != nil {
		return nil, err
	}
	mode := "rw" // never create a file that vanished after inspection
	if !exists {
		mode = "rwc"
	}
	w, err := sql.Open("sqlite3", dsn(path, "mode="+mode, "_txlock=immediate", "_foreign_keys=on", "_synchronous=NORMAL"))
	if err != nil {
		return nil, err
	}
	// One connection: writes of this process queue in database/sql instead of contending for
	// SQLite's lock, and BEGIN IMMEDIATE makes the lock order between processes explicit.
	w.SetMaxOpenConns(1)
	s := &SQLite{path: path, writer: w}
	if err := s.prepare(ctx); err != nil {
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

// OpenReadOnly opens the nas database at path for reading only, for reports. It never writes to
// the file; a database whose schema is older than SchemaVersion must first be opened with Open.
// It returns a *FileError for a file that is not a nas database of this schema, and an error
// wrapping fs.ErrNotExist if there is no file.
func OpenReadOnly(path string) (*SQLite, error) {
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	exists, err := inspect(ctx, path, false)
	if err != nil {
		return nil, err
	}
	if !exists {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		return nil, &FileError{Path: path, Err: ErrOlderSchema, Detail: "holds no nas data yet"}
	}
	// In a folder this process cannot write, SQLite cannot make the -shm file that reading a
	// WAL database needs; a database with no journal there is read as immutable instead.
	quiet, _ := quiescent(path)
	r, err := openReaders(path, quiet && syscall.Access(filepath.Dir(path), 2 /* W_OK */) != nil)
	if err != nil {
		return nil, err
	}
	return &SQLite{path: path, reader: r}, nil
}

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

// Close closes the database. Leases held by this process are not released.
func (s *SQLite) Close() error {
	err := s.reader.Close()
	if s.writer != nil {
		err = errors.Join(err, s.writer.Close())
	}
	return err
}

// prepare puts a freshly opened writer into WAL mode and migrates the schema.
func (s *SQLite) prepare(ctx context.Context) error {
	err := retryBusy(ctx, func() error {
		var mode string
		if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
			return err
		}
		if mode != "wal" {
			return fmt.Errorf("%s: cannot switch to WAL mode (journal mode stays %q)", s.path, mode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		// Checked again under the write lock: another process may have created or migrated
		// the file since inspect looked at it.
		h, err := readHeader(ctx, tx)
		if err != nil {
			return err
		}
		if err := h.check(s.path, true); err != nil {
			return err
		}
		if h.version == SchemaVersion {
			return nil // the usual case: nothing to write
		}
		for _, m := range migrations[h.version:] {
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return fmt.Errorf("%s: migrating the schema: %w", s.path, err)
			}
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d",
			SchemaVersion, applicationID))
		return err
	})
}

// inspect checks, without writing anything, that the file at path is one Open (write true) or
// OpenReadOnly can use. It reports whether there is a file with content: an absent or empty
// file is a new database.
func inspect(ctx context.Context, path string, write bool) (exists bool, err error) {
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
	err = checkFile(ctx, path, write, quiet)
	if quiet {
		if still, after := quiescent(path); !still || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
			err = checkFile(ctx, path, write, false)
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
func checkFile(ctx context.Context, path string, write, immutable bool) error {
	params := []string{"mode=ro"}
	if immutable {
		params = append(params, "immutable=1")
	}
	db, err := sql.Open("sqlite3", dsn(path, params...))
	if err != nil {
		return err
	}
	defer db.Close()
	err = retryBusy(ctx, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		h, err := readHeader(ctx, tx)
		if err != nil {
			return err
		}
		if err := h.check(path, write); err != nil {
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
func quickCheck(ctx context.Context, tx *sql.Tx, path string) error {
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

// header is what the SQLite file header and schema say about whose database a file is.
type header struct {
	appID   int32
	version int
	objects int // tables, indexes, views and triggers
}

func readHeader(ctx context.Context, tx *sql.Tx) (header, error) {
	var h header
	err := tx.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).
		Scan(&h.appID, &h.version, &h.objects)
	return h, err
}

// check says whether a database with header h at path can be used: for writing (it may then be
// empty or of an older schema) or for reading (it must be of this schema).
func (h header) check(path string, write bool) error {
	switch {
	case h.appID == 0 && h.version == 0 && h.objects == 0:
		if write {
			return nil
		}
		return &FileError{Path: path, Err: ErrOlderSchema, Detail: "holds no nas data yet"}
	case h.appID != applicationID:
		return &FileError{Path: path, Err: ErrNotNAS, Detail: fmt.Sprintf(
			"is a SQLite database of another program (application_id %#x, user_version %d, %d schema objects), not a nas database",
			uint32(h.appID), h.version, h.objects)}
	case h.version < 0:
		return &FileError{Path: path, Err: ErrCorrupt, Detail: fmt.Sprintf(
			"is corrupt (its header gives schema version %d)", h.version)}
	case h.version > SchemaVersion:
		return &FileError{Path: path, Err: ErrNewerSchema, Detail: fmt.Sprintf(
			"was written by a newer nas (schema %d, this binary knows %d); upgrade nas", h.version, SchemaVersion)}
	case h.version < SchemaVersion && !write:
		return &FileError{Path: path, Err: ErrOlderSchema, Detail: fmt.Sprintf(
			"has schema %d, this binary reads %d; run a nas command that writes to it to upgrade it", h.version, SchemaVersion)}
	}
	return nil
}

// FileError says why a file cannot be opened as a nas database. Whenever Open or OpenReadOnly
// return one, the file was left as it was.
type FileError struct {
	Path   string
	Err    error  // ErrNotSQLite, ErrCorrupt, ErrNotNAS, ErrNewerSchema or ErrOlderSchema
	Detail string // what is wrong, and what to do about it
}

// Error returns the path followed by the detail, e.g. "nas.db was written by a newer nas
// (schema 7, this binary knows 3); upgrade nas".
func (e *FileError) Error() string { return e.Path + " " + e.Detail }

// Unwrap returns e.Err, so that errors.Is(err, ErrCorrupt) and its siblings work.
func (e *FileError) Unwrap() error { return e.Err }

// The kinds of FileError.
var (
	ErrNotSQLite   = errors.New("not a SQLite database")
	ErrCorrupt     = errors.New("corrupt database")
	ErrNotNAS      = errors.New("not a nas database")
	ErrNewerSchema = errors.New("database from a newer nas")
	ErrOlderSchema = errors.New("database schema older than this nas reads")
)

// Check runs SQLite's integrity_check and foreign_key_check and returns what they report; none
// means the file is sound.
func (s *SQLite) Check(ctx context.Context) ([]string, error) {
	var problems []string
	err := s.read(ctx, func(tx *sql.Tx) error {
		ps, err := queryStrings(ctx, tx, "PRAGMA integrity_check")
		if err != nil {
			return err
		}
		if len(ps) != 1 || ps[0] != "ok" {
			problems = ps
		}
		rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var table, parent string
			var rowid sql.NullInt64
			var fk int
			if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
				return err
			}
			problems = append(problems, fmt.Sprintf("%s row %d refers to a missing %s row", table, rowid.Int64, parent))
		}
		return rows.Err()
	})
	return problems, err
}

func queryStrings(ctx context.Context, tx *sql.Tx, query string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and commits it, retrying the whole
// transaction while another process holds the lock past the busy timeout.
func (s *SQLite) write(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.writer == nil {
		return ErrReadOnly
	}
	return retryBusy(ctx, func() error { return inTx(ctx, s.writer, fn) })
}

// read runs fn in a read transaction, so that everything it reads is one snapshot.
func (s *SQLite) read(ctx context.Context, fn func(*sql.Tx) error) error {
	return retryBusy(ctx, func() error { return inTx(ctx, s.reader, fn) })
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retryBusy calls f until it returns something other than SQLITE_BUSY or SQLITE_LOCKED, backing
// off with jitter so that processes that collided do not collide again, or until ctx is done.
func retryBusy(ctx context.Context, f func() error) error {
	backoff := time.Millisecond
	for {
		err := f()
		if !isBusy(err) {
			return err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the database lock: %w", ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
