package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func init() { register(&exportCommand{}) }

type exportCommand struct{}

func (*exportCommand) Name() string { return "export" }

func (*exportCommand) Synopsis() string {
	return "write a trial's architecture as YAML that nas train and nas info read"
}

func (c *exportCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "TRIAL [flags]", stderr)
	db := dbFlag(fs)
	out := fs.String("out", "", "write to `FILE` instead of standard output")
	pos, err := parseArgs(fs, args, oneArg, "trial number")
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return badInputf("trial %q: want the positive trial number that nas report and nas pareto show", pos[0])
	}
	st, err := openStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ev, err := st.Evaluation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return badInputf("%s has no finished trial %d", *db, id)
	}
	if err != nil {
		return err
	}
	file := "THIS.yaml"
	if *out != "" {
		file = *out
	}
	doc, err := exportYAML(ev, file)
	if err != nil {
		return err
	}
	return writeTo(*out, stdout, func(w io.Writer) error {
		_, err := w.Write(doc)
		return err
	})
}

// exportYAML writes the architecture of ev as YAML in the format of configs/baselines, under a
// comment saying where it came from and how to train it again from file. It checks that the YAML
// reads back as the very network the trial evaluated: same canonical hash.
func exportYAML(ev store.Evaluation, file string) ([]byte, error) {
	var a space.Arch
	if err := json.Unmarshal(ev.Arch.JSON, &a); err != nil {
		return nil, fmt.Errorf("trial %d: architecture %s: %w", ev.Trial.ID, ev.Arch.Hash, err)
	}
	if a.Name == "" {
		a.Name = fmt.Sprintf("%s_trial%d", ev.Experiment, ev.Trial.ID)
	}
	body, err := a.MarshalYAML()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	k, r := ev.Trial.Key, ev.Result
	fmt.Fprintf(&b, "# Trial %d of experiment %s (%s, generation %d): %s", ev.Trial.ID, ev.Experiment,
		ev.Trial.Operator, ev.Trial.Generation, r.Status)
	if r.Status == evaluator.StatusOK {
		fmt.Fprintf(&b, ", validation accuracy %.2f%%", 100*r.ValAcc)
		if r.Tested {
			fmt.Fprintf(&b, ", test accuracy %.2f%%", 100*r.TestAcc)
		}
	}
	fmt.Fprintf(&b, "\n# %s parameters, %s MACs; canonical hash %s.\n", reports.Thousands(ev.Arch.Params), reports.Thousands(ev.Arch.MACs), ev.Arch.Hash)
	fmt.Fprintf(&b, "# Trained on %s with seed %d at fidelity %g under the recipe of hash %s. To train it again:\n",
		k.Dataset, k.Seed, k.Fidelity, k.RecipeHash)
	fmt.Fprintf(&b, "#   nas train %s --data %s --seed %d --recipe RECIPE.yaml\n", file, k.Dataset, k.Seed)
	fmt.Fprintf(&b, "# with RECIPE.yaml the experiment's recipe at that fidelity.\n")
	b.Write(body)

	back, err := space.Parse(b.Bytes(), "export")
	if err != nil {
		return nil, fmt.Errorf("trial %d: the exported YAML does not read back: %w", ev.Trial.ID, err)
	}
	if h, err := back.Hash(); err != nil || h != ev.Arch.Hash {
		return nil, fmt.Errorf("trial %d: the exported YAML reads back as network %s, not %s (%v)", ev.Trial.ID, h, ev.Arch.Hash, err)
	}
	return b.Bytes(), nil
}
