package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gonas/nas/store"
)

func init() { register(&dbCommand{}) }

type dbCommand struct{}

func (*dbCommand) Name() string { return "db" }

func (*dbCommand) Synopsis() string {
	return "look after the database file: nas db check verifies it, page by page"
}

func (c *dbCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "check [--db FILE]", stderr)
	path := dbFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "check" {
		fs.Usage()
		return badInputf("want the subcommand check, got %q", pos)
	}
	return checkDB(ctx, *path, stdout)
}

// checkDB runs SQLite's integrity and foreign key checks on the database at path without
// writing to it, and prints what they find.
func checkDB(ctx context.Context, path string, stdout io.Writer) error {
	s, err := openStore(path)
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
		return fmt.Errorf("%s has %d problems; keep a copy and try: sqlite3 %s .recover | sqlite3 recovered.db",
			path, len(problems), path)
	}
	exps, err := s.Experiments(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (schema %d, %d experiments)\n", path, store.SchemaVersion, len(exps))
	return nil
}
