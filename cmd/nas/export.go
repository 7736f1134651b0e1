package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/onnx"
	"github.com/gonas/nas/pytorch"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func init() { register(&exportCommand{}) }

type exportCommand struct{}

func (*exportCommand) Name() string { return "export" }

func (*exportCommand) Synopsis() string {
	return "write a trial, a model file or an architecture as YAML (with its recipe) or a PyTorch module"
}

// exportFormats are the formats of nas export.
var exportFormats = []string{"yaml", "pytorch", "onnx"}

// exportSource is what nas export writes: a network as a model file, with its trained weights or
// with the initial weights of its seed, and what is known of where it came from.
type exportSource struct {
	file *model.File
	// trained tells whether file.Tensors are trained weights; if not they are drawn by weights().
	trained bool
	// header is the YAML export's comment lines that say where the network came from.
	header string
	// what names the source in messages: "trial 3", "model m.safetensors", "a.yaml".
	what string
}

func (c *exportCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "TRIAL|MODEL.safetensors|ARCH.yaml [flags]", stderr)
	db := dbFlag(fs)
	format := fs.String("format", "yaml", "what to write: "+strings.Join(exportFormats, ", "))
	out := fs.String("out", "", "write to `PATH` (yaml: standard output if unset, and the recipe beside it as NAME.recipe.yaml; pytorch: PATH.py and PATH.safetensors; onnx: PATH.onnx)")
	recipePath := fs.String("recipe", "", "a trial's recipe YAML `FILE`, when the database cannot tell it (checked against the trial's recipe hash)")
	seed := fs.Uint64("seed", 1, "for an architecture file: the seed of its initial weights")
	pos, err := parseArgs(fs, args, oneArg, "trial number, model file or architecture file")
	if err != nil {
		return err
	}
	var src *exportSource
	switch {
	case isTrialNumber(pos[0]):
		src, err = trialSource(ctx, *db, pos[0], *recipePath, stderr)
	case strings.HasSuffix(pos[0], ".safetensors"):
		src, err = modelSource(pos[0])
	default:
		src, err = archSource(pos[0], *seed)
	}
	if err != nil {
		return err
	}
	switch *format {
	case "yaml":
		return exportYAML(src, *out, stdout)
	case "pytorch":
		py, err := exportPath(*out, ".py", "pytorch")
		if err != nil {
			return err
		}
		if err := src.weights(); err != nil {
			return err
		}
		if err := pytorch.Export(py, src.file); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s and its weights %s\n", py, pytorch.WeightsPath(py))
		return nil
	case "onnx":
		path, err := exportPath(*out, ".onnx", "onnx")
		if err != nil {
			return err
		}
		if err := src.weights(); err != nil {
			return err
		}
		b, err := onnx.Marshal(src.file)
		if err != nil {
			return fmt.Errorf("%s: %w", src.what, err)
		}
		if err := writeTo(path, nil, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", path)
		return nil
	}
	return badInputf("--format %q: want one of %s", *format, strings.Join(exportFormats, ", "))
}

// isTrialNumber tells a trial number from a file name.
func isTrialNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil || strings.TrimLeft(s, "-0123456789") == ""
}

// exportPath checks --out for a format that writes files: it must be given, and gets ext if it
// has none.
func exportPath(out, ext, format string) (string, error) {
	if out == "" {
		return "", badInputf("--format %s writes files: give --out PATH%s", format, ext)
	}
	if filepath.Ext(out) != ext {
		out += ext
	}
	if err := checkWritableDir(out); err != nil {
		return "", err
	}
	return out, nil
}

// weights draws the initial weights of an untrained source from its seed, as nas train would,
// and leaves out of its metadata the training it has not had (a trial's recipe and data set).
func (s *exportSource) weights() error {
	if s.trained || s.file.Tensors != nil {
		return nil
	}
	s.file.Meta.Recipe, s.file.Meta.Dataset = nil, ""
	net, err := s.file.Meta.Arch.Expand()
	if err != nil {
		return badInputf("%s: %w", s.what, err)
	}
	pool := parallel.NewPool(1)
	defer pool.Close()
	m, err := evaluator.Build(net, 1, pool, s.file.Meta.Seed, 0)
	if err != nil {
		return badInputf("%s: %w", s.what, err)
	}
	s.file.Tensors = m.Weights()
	return nil
}

// newSource returns the source of arch with the metadata that does not depend on where it came
// from.
func newSource(arch *space.Arch, seed uint64, what string) (*exportSource, error) {
	hash, err := arch.Hash()
	if err != nil {
		return nil, badInputf("%s: %w", what, err)
	}
	return &exportSource{what: what, file: &model.File{Meta: model.Meta{Arch: arch, ArchHash: hash, Seed: seed,
		Version: store.ThisMachine("").NASVersion}}}, nil
}

func archSource(path string, seed uint64) (*exportSource, error) {
	arch, err := space.Load(path)
	if err != nil {
		return nil, badInput(err)
	}
	src, err := newSource(arch, seed, path)
	if err != nil {
		return nil, err
	}
	src.header = fmt.Sprintf("# Architecture %s of %s; canonical hash %s.\n", arch.Name, path, src.file.Meta.ArchHash)
	return src, nil
}

func modelSource(path string) (*exportSource, error) {
	f, err := model.Load(path)
	if err != nil {
		return nil, badInput(err)
	}
	m := f.Meta
	var b strings.Builder
	fmt.Fprintf(&b, "# Model file %s: %s", path, m.Arch.Name)
	if m.Recipe != nil {
		fmt.Fprintf(&b, ", trained on %s with seed %d: validation accuracy %.2f%%", m.Dataset, m.Seed, 100*m.ValAcc)
		if m.Tested {
			fmt.Fprintf(&b, ", test accuracy %.2f%%", 100*m.TestAcc)
		}
	}
	fmt.Fprintf(&b, "\n# Canonical hash %s; written by nas %s.\n", m.ArchHash, m.Version)
	return &exportSource{file: f, trained: m.Recipe != nil, header: b.String(), what: "model " + path}, nil
}

func trialSource(ctx context.Context, db, arg, recipePath string, stderr io.Writer) (*exportSource, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id < 1 {
		return nil, badInputf("trial %q: want the positive trial number that nas report and nas pareto show", arg)
	}
	st, err := openStore(db)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ev, err := st.Evaluation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badInputf("%s has no finished trial %d", db, id)
	}
	if err != nil {
		return nil, err
	}
	var a space.Arch
	if err := json.Unmarshal(ev.Arch.JSON, &a); err != nil {
		return nil, fmt.Errorf("trial %d: architecture %s: %w", ev.Trial.ID, ev.Arch.Hash, err)
	}
	if a.Name == "" {
		a.Name = fmt.Sprintf("%s_trial%d", ev.Experiment, ev.Trial.ID)
	}
	k, r := ev.Trial.Key, ev.Result
	src, err := newSource(&a, k.Seed, fmt.Sprintf("trial %d", ev.Trial.ID))
	if err != nil {
		return nil, err
	}
	if src.file.Meta.ArchHash != ev.Arch.Hash {
		return nil, fmt.Errorf("trial %d: the stored architecture hashes to %s, not %s", ev.Trial.ID, src.file.Meta.ArchHash, ev.Arch.Hash)
	}
	src.file.Meta.Dataset = k.Dataset
	exp, err := st.Experiment(ctx, ev.Experiment)
	if err != nil {
		return nil, err
	}
	recipe, err := trialRecipe(exp.Config, k.RecipeHash, recipePath)
	if err != nil {
		return nil, err
	}
	if recipe == nil {
		// Queued trials (a search's, a final training's) store their recipe in the database.
		if stored, err := st.Recipe(ctx, k.RecipeHash); err == nil {
			var r evaluator.Recipe
			if err := json.Unmarshal(stored.JSON, &r); err == nil && r.Hash() == k.RecipeHash {
				recipe = &r
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	src.file.Meta.Recipe = recipe
	trainedFrom := ""
	if ev.Trial.Phase == store.PhaseFinal && r.Status == evaluator.StatusOK {
		dir := store.ModelDir(db)
		if dir == "" {
			return nil, fmt.Errorf("trial %d: a PostgreSQL database keeps no model files, so its trained weights are not kept", ev.Trial.ID)
		}
		path := store.ModelFile(dir, k)
		f, err := model.Load(path)
		if err != nil {
			return nil, fmt.Errorf("trial %d: its model file: %w (run nas finalize %s again to train it anew)", ev.Trial.ID, err, ev.Experiment)
		}
		if f.Meta.ArchHash != ev.Arch.Hash {
			return nil, fmt.Errorf("trial %d: model file %s is of architecture %s, the trial's is %s", ev.Trial.ID, path, f.Meta.ArchHash, ev.Arch.Hash)
		}
		f.Meta.Arch.Name = a.Name
		src.file, src.trained, trainedFrom = f, true, path
	} else {
		fmt.Fprintf(stderr, "note: trial %d is a search trial whose trained weights are not kept; the export has the initial weights of seed %d (nas finalize trains and keeps them)\n", ev.Trial.ID, k.Seed)
	}
	if recipe == nil {
		fmt.Fprintf(stderr, "note: the database does not tell trial %d's recipe (hash %s); give it with --recipe FILE to export it too\n", ev.Trial.ID, k.RecipeHash)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Trial %d of experiment %s (%s, generation %d): %s", ev.Trial.ID, ev.Experiment,
		ev.Trial.Operator, ev.Trial.Generation, r.Status)
	if r.Status == evaluator.StatusOK {
		fmt.Fprintf(&b, ", validation accuracy %.2f%%", 100*r.ValAcc)
		if r.Tested {
			fmt.Fprintf(&b, ", test accuracy %.2f%%", 100*r.TestAcc)
		}
	}
	fmt.Fprintf(&b, "\n# %s parameters, %s MACs; canonical hash %s.\n", reports.Thousands(ev.Arch.Params), reports.Thousands(ev.Arch.MACs), ev.Arch.Hash)
	fmt.Fprintf(&b, "# Trained on %s with seed %d at fidelity %g under the recipe of hash %s.\n", k.Dataset, k.Seed, k.Fidelity, k.RecipeHash)
	if trainedFrom != "" {
		fmt.Fprintf(&b, "# The trained weights and input normalisation of model file %s.\n", trainedFrom)
	} else {
		fmt.Fprintf(&b, "# Untrained: the initial weights of seed %d.\n", k.Seed)
	}
	src.header = b.String()
	return src, nil
}

// trialRecipe finds the recipe of hash want: the one of --recipe, or one the experiment's stored
// configuration gives (nas train's, or a search's at one of its fidelity levels, its recipe file
// read relative to the working directory). It returns nil when none has that hash, and an error
// when --recipe names a file that does not read or is another recipe.
func trialRecipe(config []byte, want, recipePath string) (*evaluator.Recipe, error) {
	if recipePath != "" {
		r, err := evaluator.LoadRecipe(recipePath)
		if err != nil {
			return nil, badInput(err)
		}
		if r.Hash() != want {
			return nil, badInputf("--recipe %s has hash %s, but the trial was trained under the recipe of hash %s", recipePath, r.Hash(), want)
		}
		return &r, nil
	}
	var candidates []evaluator.Recipe
	var trained struct {
		Recipe *evaluator.Recipe `json:"recipe"`
	}
	if json.Unmarshal(config, &trained) == nil && trained.Recipe != nil {
		candidates = append(candidates, *trained.Recipe)
	} else {
		var pre struct {
			RecipeFile string `yaml:"recipe_file"`
			Fidelity   struct {
				By     string    `yaml:"by"`
				Levels []float64 `yaml:"levels"`
			} `yaml:"fidelity"`
		}
		if yaml.Unmarshal(config, &pre) == nil {
			base := evaluator.DefaultRecipe()
			if pre.RecipeFile != "" {
				base, _ = evaluator.LoadRecipe(pre.RecipeFile)
			}
			search := struct {
				Recipe evaluator.Recipe `yaml:"recipe"`
			}{base}
			if yaml.Unmarshal(config, &search) == nil {
				r := search.Recipe
				candidates = append(candidates, r)
				for _, l := range pre.Fidelity.Levels {
					at := r
					switch pre.Fidelity.By {
					case "epochs":
						at.Epochs = int(l)
					case "data_fraction":
						at.DataFraction = l
					}
					candidates = append(candidates, at)
				}
			}
		}
	}
	for _, r := range candidates {
		if r.Hash() == want {
			return &r, nil
		}
	}
	return nil, nil
}

// exportYAML writes the architecture as YAML in the format of configs/baselines under a comment
// saying where it came from and how to train it again, and its recipe, when known, as a recipe
// file beside it (or, on standard output, as a comment). It checks that the YAML reads back as
// the very network of the source: same canonical hash.
func exportYAML(src *exportSource, out string, stdout io.Writer) error {
	m := src.file.Meta
	body, err := m.Arch.MarshalYAML()
	if err != nil {
		return err
	}
	file := "THIS.yaml"
	if out != "" {
		file = out
	}
	var b bytes.Buffer
	b.WriteString(src.header)
	var recipe []byte
	recipeFile := "RECIPE.yaml"
	if m.Recipe != nil {
		if recipe, err = yaml.Marshal(m.Recipe); err != nil {
			return err
		}
		if out != "" {
			recipeFile = strings.TrimSuffix(out, filepath.Ext(out)) + ".recipe.yaml"
		}
	}
	dataset := m.Dataset
	if dataset == "" {
		dataset = "NAME"
	}
	fmt.Fprintf(&b, "# To train it again:\n#   nas train %s --data %s --seed %d --recipe %s\n", file, dataset, m.Seed, recipeFile)
	switch {
	case m.Recipe == nil && m.Dataset != "":
		fmt.Fprintf(&b, "# with RECIPE.yaml the experiment's recipe at that fidelity.\n")
	case m.Recipe != nil && out == "":
		fmt.Fprintf(&b, "# with RECIPE.yaml this recipe:\n#\n")
		for _, line := range strings.Split(strings.TrimRight(string(recipe), "\n"), "\n") {
			fmt.Fprintf(&b, "#   %s\n", line)
		}
	}
	b.Write(body)

	back, err := space.Parse(b.Bytes(), "export")
	if err != nil {
		return fmt.Errorf("%s: the exported YAML does not read back: %w", src.what, err)
	}
	if h, err := back.Hash(); err != nil || h != m.ArchHash {
		return fmt.Errorf("%s: the exported YAML reads back as network %s, not %s (%v)", src.what, h, m.ArchHash, err)
	}
	if m.Recipe != nil && out != "" {
		if err := os.WriteFile(recipeFile, recipe, 0o644); err != nil {
			return badInput(err)
		}
	}
	return writeTo(out, stdout, func(w io.Writer) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}
