package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/search"
	"github.com/gonas/nas/store"
)

func init() { register(&lsCommand{}) }

type lsCommand struct{}

func (*lsCommand) Name() string { return "ls" }
func (*lsCommand) Synopsis() string {
	return "list the experiments in the database, or with --workers the workers"
}

func (c *lsCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "[--db DB] [--workers]", stderr)
	path := dbFlag(fs)
	workers := fs.Bool("workers", false, "list the workers instead: which are live, what each holds, and how much each has trained")
	if _, err := parseArgs(fs, args, noArgs, ""); err != nil {
		return err
	}
	st, err := openStore(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	if *workers {
		return listWorkers(ctx, st, *path, stdout)
	}
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

// listWorkers prints the workers of the database, the most recently seen first. A worker is
// live if it renewed its record within a lease (it does so every third of one) and has not
// stopped.
func listWorkers(ctx context.Context, st store.Store, path string, w io.Writer) error {
	ws, err := st.Workers(ctx)
	if err != nil {
		return err
	}
	t := reports.Table{
		Title:  fmt.Sprintf("Workers in %s", path),
		Header: []string{"worker", "state", "seen", "holds trials", "results", "trials/hour", "train s/result", "slots×threads", "machine", "nas"},
		Right:  []bool{false, false, false, false, true, true, true, false, false, false},
	}
	now := time.Now()
	for _, wk := range ws {
		state := "live"
		switch {
		case !wk.Stopped.IsZero():
			state = "stopped"
		case now.Sub(wk.Seen) > search.DefaultLease:
			state = "silent"
		}
		end := now
		if state != "live" {
			end = wk.Seen
		}
		rate, per := "-", "-"
		if h := end.Sub(wk.Started).Hours(); h > 0 && wk.Results > 0 {
			rate = fmt.Sprintf("%.1f", float64(wk.Results)/h)
			per = fmt.Sprintf("%.1f", wk.TrainSeconds/float64(wk.Results))
		}
		holds := "-"
		if len(wk.Holding) > 0 {
			holds = strings.Trim(fmt.Sprint(wk.Holding), "[]")
		}
		t.Rows = append(t.Rows, []string{wk.Name, state, now.Sub(wk.Seen).Round(time.Second).String() + " ago", holds,
			fmt.Sprint(wk.Results), rate, per, fmt.Sprintf("%d×%d", wk.Slots, wk.Threads),
			fmt.Sprintf("%s, %d cores", wk.Machine.CPUModel, wk.Machine.Cores), wk.Machine.NASVersion})
	}
	return reports.WriteTable(w, t, false)
}
