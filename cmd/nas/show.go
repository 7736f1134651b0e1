package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

func init() { register(&showCommand{}) }

type showCommand struct{}

func (*showCommand) Name() string { return "show" }
func (*showCommand) Synopsis() string {
	return "show one trial (by number) with its learning curve, or one experiment (by name)"
}

func (c *showCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "TRIAL|EXPERIMENT [--db FILE]", stderr)
	path := dbFlag(fs)
	pos, err := parseArgs(fs, args, oneArg, "trial number or experiment name")
	if err != nil {
		return err
	}
	st, err := openStore(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	if id, err := strconv.ParseInt(pos[0], 10, 64); err == nil {
		ev, err := st.Evaluation(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return badInputf("no finished trial %d in %s (nas ls lists the experiments)", id, *path)
		}
		if err != nil {
			return err
		}
		return showTrial(stdout, ev)
	}
	exp, err := st.Experiment(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return badInputf("no experiment %q in %s (nas ls lists them)", pos[0], *path)
	}
	if err != nil {
		return err
	}
	evals, err := st.Evaluations(ctx, exp.ID)
	if err != nil {
		return err
	}
	return showExperiment(stdout, exp, evals)
}

func showTrial(w io.Writer, ev store.Evaluation) error {
	r := ev.Result
	info := reports.Table{Title: fmt.Sprintf("Trial %d of %s", ev.Trial.ID, ev.Experiment)}
	add := func(k, v string) { info.Rows = append(info.Rows, []string{k, v}) }
	add("network", fmt.Sprintf("%s (%s)", ev.Arch.Name, ev.Arch.Family))
	add("hash", ev.Arch.Hash)
	add("params", fmt.Sprint(ev.Arch.Params))
	add("MACs", fmt.Sprint(ev.Arch.MACs))
	if ev.Trial.Phase == store.PhaseFinal {
		add("made by", fmt.Sprintf("nas finalize: the final training of search trial %d", ev.Trial.Source))
	} else {
		add("made by", fmt.Sprintf("%s, generation %d", ev.Trial.Operator, ev.Trial.Generation))
	}
	add("data set", fmt.Sprintf("%s, fidelity %g, seed %d", ev.Trial.Key.Dataset, ev.Trial.Key.Fidelity, ev.Trial.Key.Seed))
	status := string(r.Status)
	if r.Message != "" {
		status += ": " + r.Message
	}
	if ev.Cached {
		status += " (result taken from the evaluation cache)"
	}
	add("status", status)
	add("val accuracy", reports.Percent(r.ValAcc))
	if r.Tested {
		add("test accuracy", reports.Percent(r.TestAcc))
	}
	add("training", fmt.Sprintf("%.1f s, %.0f images/s on %d threads", r.TrainSeconds, r.ImagesPerSec, r.Threads))
	if r.LatencyB1Ms > 0 {
		add("latency", fmt.Sprintf("%.2f ms at batch 1, %.1f ms at batch 128", r.LatencyB1Ms, r.LatencyB128Ms))
	}
	add("finished", ev.Trial.Finished.Local().Format(time.DateTime))
	if err := reports.WriteTable(w, info, false); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return reports.WriteTable(w, curveTable(r), false)
}

func curveTable(r evaluator.Result) reports.Table {
	t := reports.Table{
		Title:  "Learning curve",
		Header: []string{"epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds"},
		Right:  []bool{true, true, true, true, true, true, true},
	}
	for _, e := range r.Epochs {
		t.Rows = append(t.Rows, []string{fmt.Sprint(e.Epoch), fmt.Sprintf("%.4f", e.TrainLoss), reports.Percent(e.TrainAcc),
			fmt.Sprintf("%.4f", e.ValLoss), reports.Percent(e.ValAcc), fmt.Sprintf("%.4g", e.LR), fmt.Sprintf("%.1f", e.Seconds)})
	}
	return t
}

func showExperiment(w io.Writer, e store.Experiment, evals []store.Evaluation) error {
	info := reports.Table{Title: "Experiment " + e.Name}
	add := func(k, v string) { info.Rows = append(info.Rows, []string{k, v}) }
	add("strategy", e.Strategy)
	add("seed", fmt.Sprint(e.Seed))
	add("status", string(e.Status))
	add("started", e.Created.Local().Format(time.DateTime))
	if !e.Finished.IsZero() {
		add("finished", e.Finished.Local().Format(time.DateTime))
	}
	add("machine", fmt.Sprintf("%s, %d cores, %s, nas %s", e.Machine.CPUModel, e.Machine.Cores, e.Machine.GoVersion, e.Machine.NASVersion))
	add("evaluations", fmt.Sprint(len(evals)))
	if err := reports.WriteTable(w, info, false); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := reports.Table{
		Title:  "Trials",
		Header: []string{"trial", "network", "family", "operator", "params", "MACs", "val acc", "status", "seconds"},
		Right:  []bool{true, false, false, false, true, true, true, false, true},
	}
	for _, ev := range evals {
		t.Rows = append(t.Rows, []string{fmt.Sprint(ev.Trial.ID), ev.Arch.Name, ev.Arch.Family, ev.Trial.Operator,
			fmt.Sprint(ev.Arch.Params), fmt.Sprint(ev.Arch.MACs), reports.Percent(ev.Result.ValAcc), string(ev.Result.Status),
			fmt.Sprintf("%.1f", ev.Result.TrainSeconds)})
	}
	return reports.WriteTable(w, t, false)
}
