package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gonas/nas/store"
)

func init() { register(&dbCommand{}) }

type dbCommand struct{}

func (*dbCommand) Name() string { return "db" }

func (*dbCommand) Synopsis() string {
	return "look after the database: init makes one, migrate upgrades it, check verifies it, copy copies its experiments into another"
}

func (c *dbCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "init|migrate|check [--db DB]\n       nas db copy FROM TO", stderr)
	dsn := dbFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	sub := ""
	if len(pos) > 0 {
		sub = pos[0]
	}
	switch {
	case sub == "copy" && len(pos) == 3:
		return copyDB(ctx, pos[1], pos[2], stdout)
	case sub == "copy":
		fs.Usage()
		return badInputf("nas db copy takes two databases, FROM and TO (files or URLs); got %d", len(pos)-1)
	case len(pos) == 1 && sub == "init":
		return initDB(*dsn, stdout)
	case len(pos) == 1 && sub == "migrate":
		return migrateDB(*dsn, stdout)
	case len(pos) == 1 && sub == "check":
		return checkDB(ctx, *dsn, stdout)
	}
	fs.Usage()
	return badInputf("want one subcommand, init, migrate, check or copy; got %q", pos)
}

// initDB makes a new nas database at dsn.
func initDB(dsn string, stdout io.Writer) error {
	s, err := store.Create(dsn)
	if err != nil {
		return dbError(dsn, err)
	}
	defer s.Close()
	fmt.Fprintf(stdout, "%s: a new nas database (schema %d)\n", s.Where(), store.SchemaVersion)
	return nil
}

// migrateDB brings the nas database at dsn to this binary's schema.
func migrateDB(dsn string, stdout io.Writer) error {
	if !store.IsURL(dsn) {
		if _, err := os.Stat(dsn); err != nil {
			return badInputf("no database at %s: nas db init makes one", dsn)
		}
	}
	s, err := store.Open(dsn)
	if err != nil {
		return dbError(dsn, err)
	}
	defer s.Close()
	if s.FoundVersion() == store.SchemaVersion {
		fmt.Fprintf(stdout, "%s: schema %d already, nothing to migrate\n", s.Where(), store.SchemaVersion)
	} else {
		fmt.Fprintf(stdout, "%s: migrated from schema %d to %d\n", s.Where(), s.FoundVersion(), store.SchemaVersion)
	}
	return nil
}

// checkDB runs the database's integrity checks and the store's on the database at dsn without
// writing to it, and prints what they find.
func checkDB(ctx context.Context, dsn string, stdout io.Writer) error {
	s, err := openStore(dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	problems, err := s.Check(ctx)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		err := fmt.Errorf("%s has %d problems", s.Where(), len(problems))
		if !store.IsURL(dsn) {
			err = fmt.Errorf("%w; keep a copy and try: sqlite3 %s .recover | sqlite3 recovered.db", err, dsn)
		}
		return err
	}
	exps, err := s.Experiments(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (schema %d, %d experiments)\n", s.Where(), store.SchemaVersion, len(exps))
	return nil
}

// copyDB copies every experiment of the database from into the database to.
func copyDB(ctx context.Context, from, to string, stdout io.Writer) error {
	src, err := store.OpenReadOnly(from)
	if err != nil {
		return dbError(from, err)
	}
	defer src.Close()
	dst, err := store.Open(to)
	if err != nil {
		return dbError(to, err)
	}
	defer dst.Close()
	c, err := store.Copy(ctx, src, dst)
	if errors.Is(err, store.ErrExists) {
		return badInput(err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d experiments (%s) to %s: %d trials, %d results, %d new architectures\n",
		len(c.Experiments), strings.Join(c.Experiments, ", "), dst.Where(), c.Rows["trials"], c.Rows["results"],
		c.Rows["architectures"])
	return nil
}
