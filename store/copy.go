package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Copied says what Copy copied.
type Copied struct {
	Experiments []string       // their names, oldest first
	Rows        map[string]int // rows written, by table
}

// copyTable is a table as Copy copies it.
type copyTable struct {
	name string
	id   bool              // its INTEGER PRIMARY KEY id is assigned anew by the target
	refs map[string]string // columns holding the id of a row of a table (maybe itself), and that table
	// skip leaves the table out: its rows mean nothing in another database.
	skip bool
}

// copyTables are every table of the schema, in an order in which each table's references point
// to tables before it (or to its own earlier rows), but for trials.result_id, which Copy fills in
// once results are copied. Checkpoints are not copied: they name files beside the database they
// were written to, and the trainings they belong to start again wherever they are run next.
var copyTables = []copyTable{
	{name: "experiments", id: true},
	{name: "architectures"},
	{name: "recipes"},
	{name: "workers"},
	{name: "trials", id: true, refs: map[string]string{"experiment_id": "experiments", "result_id": "results",
		"source_trial": "trials"}},
	{name: "results", id: true, refs: map[string]string{"trial_id": "trials"}},
	{name: "epochs", refs: map[string]string{"result_id": "results"}},
	{name: "eval_cache", refs: map[string]string{"result_id": "results"}},
	{name: "checkpoints", skip: true},
}

// Copy copies every experiment of from, with its trials, results and curves, the architectures
// they name and the evaluation cache, into to, in one transaction of to: all of it or nothing.
// The two may be SQLite and PostgreSQL either way round. Rows keep every column but their IDs,
// which to assigns; an architecture or cache entry to already holds is kept as it is (the
// copied trials keep their own results). It refuses, with an error wrapping ErrExists, to copy
// into a database that holds an experiment of a name from holds. Leases are copied as they
// are: copy a database that no worker is using.
func Copy(ctx context.Context, from, to *DB) (Copied, error) {
	var c Copied
	err := from.read(ctx, func(src txn) error {
		return to.write(ctx, func(dst txn) error {
			c = Copied{Rows: map[string]int{}}
			var err error
			if c.Experiments, err = queryStrings(ctx, src, "SELECT name FROM experiments ORDER BY id"); err != nil {
				return err
			}
			var taken []string
			for _, name := range c.Experiments {
				var n int
				if err := dst.QueryRowContext(ctx, "SELECT count(*) FROM experiments WHERE name = ?", name).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					taken = append(taken, strconv.Quote(name))
				}
			}
			if len(taken) > 0 {
				return fmt.Errorf("%s holds experiments of the same names already (%s); copy into another database: %w",
					to.where, strings.Join(taken, ", "), ErrExists)
			}
			cp := copier{src: src, dst: dst, ids: map[string]map[int64]int64{}}
			for _, t := range copyTables {
				if t.skip {
					continue
				}
				if c.Rows[t.name], err = cp.table(ctx, t); err != nil {
					return fmt.Errorf("copying %s: %w", t.name, err)
				}
			}
			return cp.fillIn(ctx)
		})
	})
	return c, err
}

// copier copies the rows of one transaction into another.
type copier struct {
	src, dst txn
	ids      map[string]map[int64]int64 // by table, the ID of each copied row in dst by its ID in src
	later    []laterRef
}

// laterRef is a reference to a table not copied yet when its row was: column of table's row id
// in dst is to be set to the new ID of row ref of table to.
type laterRef struct {
	table, column, to string
	id, ref           int64
}

// table copies every row of t and returns how many it wrote.
func (c *copier) table(ctx context.Context, t copyTable) (int, error) {
	order := ""
	if t.id {
		order = " ORDER BY id" // so that the copies keep their order
		c.ids[t.name] = map[int64]int64{}
	}
	rows, err := c.src.QueryContext(ctx, "SELECT * FROM "+t.name+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	var names, marks []string
	for _, col := range cols {
		if !t.id || col != "id" {
			names = append(names, col)
			marks = append(marks, "?")
		}
	}
	insert := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", t.name, strings.Join(names, ", "), strings.Join(marks, ", "))
	if t.id {
		insert += " RETURNING id"
	} else {
		insert += " ON CONFLICT DO NOTHING" // rows shared across experiments that dst has already
	}
	stmt, err := c.dst.PrepareContext(ctx, insert)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()

	values := make([]any, len(cols))
	dest := make([]any, len(cols))
	for i := range values {
		dest[i] = &values[i]
	}
	written := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, err
		}
		var id int64
		var args []any
		var later []laterRef
		for i, col := range cols {
			v := values[i]
			if b, ok := v.([]byte); ok {
				v = string(b) // the schema has no BLOBs; a driver may hand TEXT over as bytes
			}
			if t.id && col == "id" {
				id = v.(int64)
				continue
			}
			if to, ok := t.refs[col]; ok && v != nil {
				ref := v.(int64)
				if c.ids[to] == nil {
					if !t.id {
						return 0, fmt.Errorf("%s.%s refers to %s, which is copied later; only a table with IDs can refer forward", t.name, col, to)
					}
					later = append(later, laterRef{table: t.name, column: col, to: to, ref: ref})
					v = nil
				} else if v, ok = c.ids[to][ref]; !ok {
					return 0, fmt.Errorf("row %v refers to %s row %d, which does not exist", values[0], to, ref)
				}
			}
			args = append(args, v)
		}
		if t.id {
			var newID int64
			if err := stmt.QueryRowContext(ctx, args...).Scan(&newID); err != nil {
				return 0, err
			}
			c.ids[t.name][id] = newID
			for _, l := range later {
				l.id = newID
				c.later = append(c.later, l)
			}
			written++
			continue
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		written += int(n)
	}
	return written, rows.Err()
}

// fillIn sets the references that pointed forward when their rows were copied.
func (c *copier) fillIn(ctx context.Context) error {
	for _, l := range c.later {
		ref, ok := c.ids[l.to][l.ref]
		if !ok {
			return fmt.Errorf("%s row %d refers to %s row %d, which does not exist", l.table, l.id, l.to, l.ref)
		}
		if _, err := c.dst.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE id = ?", l.table, l.column), ref, l.id); err != nil {
			return err
		}
	}
	return nil
}
