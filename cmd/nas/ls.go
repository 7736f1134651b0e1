package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gonas/nas/reports"
)

func init() { register(&lsCommand{}) }

type lsCommand struct{}

func (*lsCommand) Name() string     { return "ls" }
func (*lsCommand) Synopsis() string { return "list the experiments in the database" }

func (c *lsCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "[--db FILE]", stderr)
	path := dbFlag(fs)
	if _, err := parseArgs(fs, args, noArgs, ""); err != nil {
		return err
	}
	st, err := openStore(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	exps, err := st.Experiments(ctx)
	if err != nil {
		return err
	}
	t := reports.Table{
		Title:  fmt.Sprintf("Experiments in %s", st.Where()),
		Header: []string{"experiment", "strategy", "status", "trials", "done", "best val acc", "started", "machine"},
		Right:  []bool{false, false, false, true, true, true, false, false},
	}
	for _, e := range exps {
		trials, err := st.Trials(ctx, e.ID)
		if err != nil {
			return err
		}
		evals, err := st.Evaluations(ctx, e.ID)
		if err != nil {
			return err
		}
		best := -1.0
		for _, ev := range evals {
			if ev.Result.Status == "ok" && ev.Result.ValAcc > best {
				best = ev.Result.ValAcc
			}
		}
		bestText := "-"
		if best >= 0 {
			bestText = fmt.Sprintf("%.2f%%", 100*best)
		}
		t.Rows = append(t.Rows, []string{e.Name, e.Strategy, string(e.Status), fmt.Sprint(len(trials)), fmt.Sprint(len(evals)),
			bestText, e.Created.Local().Format(time.DateTime), fmt.Sprintf("%s, %d cores", e.Machine.CPUModel, e.Machine.Cores)})
	}
	return reports.WriteTable(stdout, t, false)
}
