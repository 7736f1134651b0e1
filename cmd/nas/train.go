package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

func init() { register(&trainCommand{}) }

type trainCommand struct{}

func (*trainCommand) Name() string { return "train" }

func (*trainCommand) Synopsis() string {
	return "train one architecture under a recipe and report its accuracy"
}

func (c *trainCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "ARCH.yaml [flags]", stderr)
	dataName := fs.String("data", "fashion-mnist", "data set: "+fmt.Sprint(data.Names())+" or folder:PATH")
	dataDir := fs.String("data-dir", "", "look for the data set in `DIR`/NAME first")
	recipePath := fs.String("recipe", "", "training recipe YAML `FILE` (flags below override it)")
	epochs := fs.Int("epochs", 0, "epochs")
	batch := fs.Int("batch", 0, "batch size")
	lr := fs.Float64("lr", 0, "base learning rate")
	threads := fs.Int("threads", 0, "engine threads (0: every core; results do not depend on it)")
	seed := fs.Uint64("seed", 1, "seed of initialisation, split, data order and augmentation")
	val := fs.Float64("val", -1, "fraction of the training set held out for validation")
	test := fs.Bool("test", false, "evaluate on the test split at the end")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	db := fs.String("db", "", "record the trial in the database `DB`, a SQLite file or a PostgreSQL URL (reusing a result it already holds); with a file, a training of several epochs keeps a checkpoint beside it and resumes from it")
	expName := fs.String("name", "train", "with --db, the experiment the trial is recorded under")
	save := fs.String("save", "", "write the trained model (weights, architecture, recipe, normalisation, scores) to the safetensors `FILE`")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the training to `FILE`")
	pos, err := parseArgs(fs, args, oneArg, "architecture file")
	if err != nil {
		return err
	}
	arch, err := space.Load(pos[0])
	if err != nil {
		return badInput(err)
	}
	recipe := evaluator.DefaultRecipe()
	if *recipePath != "" {
		if recipe, err = evaluator.LoadRecipe(*recipePath); err != nil {
			return badInput(err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["epochs"] {
		recipe.Epochs = *epochs
	}
	if set["batch"] {
		recipe.Batch = *batch
	}
	if set["lr"] {
		recipe.LR = *lr
	}
	if set["threads"] {
		recipe.Threads = *threads
	}
	if set["val"] {
		recipe.ValFraction = *val
	}
	if err := recipe.Validate(); err != nil {
		return badInputf("recipe: %w", err)
	}
	if cores := runtime.GOMAXPROCS(0); recipe.Threads > cores {
		return badInputf("threads is %d; it must be between 0 and %d, the usable cores (0: every core)", recipe.Threads, cores)
	}
	var dirs []string
	if *dataDir != "" {
		dirs = append(dirs, *dataDir)
	}
	ds, err := data.Open(*dataName, dirs...)
	if err != nil {
		return badInput(err)
	}
	if in := (space.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}); arch.Input != in || arch.Classes != ds.Train.Classes {
		fmt.Fprintf(stderr, "note: %s is written for %v images in %d classes; building it for %s's %v in %d\n",
			arch.Name, arch.Input, arch.Classes, ds.Name, in, ds.Train.Classes)
		arch.Input, arch.Classes = in, ds.Train.Classes
	}
	if err := checkTrainable(arch, ds, recipe.Batch); err != nil {
		return err
	}

	var rec *trainRecord
	if *db != "" {
		if rec, err = openTrainRecord(ctx, *db, *expName, arch, ds.Name, recipe, *seed); err != nil {
			return err
		}
		defer rec.st.Close()
		if cached, ok, err := rec.cached(ctx, *test); err != nil {
			return err
		} else if ok && *save == "" {
			fmt.Fprintf(stderr, "%s has this evaluation already (same network, data, recipe and seed): showing it, not training again\n", rec.st.Where())
			if err := rec.st.SetExperimentStatus(ctx, rec.expID, store.ExperimentDone); err != nil {
				return err
			}
			return reportTrain(stdout, arch.Name, cached, *asJSON)
		}
	}

	opt := evaluator.Options{Seed: *seed, Test: *test}
	var checkpoints *store.FileCheckpoints
	if dir := store.CheckpointDir(*db); rec != nil && recipe.Epochs > 1 && dir != "" {
		checkpoints = &store.FileCheckpoints{Store: rec.st, Dir: dir, Key: rec.spec.Key, Name: arch.Name,
			Warn: func(msg string) { fmt.Fprintln(stderr, "warning:", msg) }}
		opt.Checkpoints = checkpoints
	}
	var bar *progressbar.ProgressBar
	if !*asJSON {
		fmt.Fprintf(stderr, "training %s on %s: %d epochs, batch %d, %s lr %g (%s)\n",
			arch.Name, ds.Name, recipe.Epochs, recipe.Batch, recipe.Optimizer, recipe.LR, recipe.Schedule)
		opt.Progress = func(p evaluator.Progress) {
			if p.Done {
				bar.Finish()
				fmt.Fprintf(stderr, "\nepoch %d/%d: train loss %.4f acc %.2f%%", p.Epoch, p.Epochs, p.EpochResult.TrainLoss, 100*p.EpochResult.TrainAcc)
				if p.EpochResult.ValAcc > 0 {
					fmt.Fprintf(stderr, ", val loss %.4f acc %.2f%%", p.EpochResult.ValLoss, 100*p.EpochResult.ValAcc)
				}
				fmt.Fprintf(stderr, " (%.1fs)\n", p.EpochResult.Seconds)
				bar = nil
				return
			}
			if bar == nil {
				bar = progressbar.NewOptions(p.Steps,
					progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", p.Epoch, p.Epochs)),
					progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionShowDescriptionAtLineEnd(),
					progressbar.OptionSetWidth(30))
			}
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.2f%% %.0f img/s", p.Epoch, p.Epochs, p.Loss, 100*p.Acc, p.ImagesPerSec))
			bar.Set(p.Step)
		}
	}
	var trained *evaluator.Model
	var trainedNorm data.Norm
	if *save != "" {
		if err := checkWritableDir(*save); err != nil {
			return err
		}
		if _, err := arch.Hash(); err != nil {
			return badInput(err)
		}
		opt.Trained = func(m *evaluator.Model, norm data.Norm) { trained, trainedNorm = m, norm }
	}
	stop, err := startProfiles(*cpuProfile, "", "")
	if err != nil {
		return err
	}
	res, err := evaluator.Evaluate(ctx, arch, ds, recipe, opt)
	stop()
	if err != nil {
		if rec != nil {
			rec.st.SetExperimentStatus(context.Background(), rec.expID, store.ExperimentFailed)
		}
		return badInput(err)
	}
	if trained != nil {
		f, err := model.Trained(trained, trainedNorm, arch, recipe, *seed, ds, res, store.ThisMachine("").NASVersion)
		if err != nil {
			return err
		}
		if err := model.Save(*save, f); err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(stderr, "saved the trained model to %s\n", *save)
		}
	}
	if rec != nil {
		if err := rec.finish(res); err != nil {
			return err
		}
		if checkpoints != nil && res.Status != evaluator.StatusCancelled {
			if err := checkpoints.Remove(); err != nil { // the result is stored
				return err
			}
		}
	}
	return reportTrain(stdout, arch.Name, res, *asJSON)
}

// checkWritableDir fails, as bad input, unless the directory that file is to be written in
// exists, so that a long training does not end without a place for its result.
func checkWritableDir(file string) error {
	dir := filepath.Dir(file)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return badInputf("cannot write %s: %s is not a directory", file, dir)
	}
	return nil
}

// reportTrain prints a training's result, as JSON or for people, and turns a failed training
// into the command's error.
func reportTrain(stdout io.Writer, name string, res evaluator.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printResult(stdout, name, res)
	}
	if res.Status != evaluator.StatusOK {
		return errors.New(string(res.Status) + ": " + res.Message)
	}
	return nil
}

// trainRecord is where nas train --db keeps its trial: the experiment and the evaluation key.
type trainRecord struct {
	st    *store.DB
	expID int64
	arch  store.Arch
	spec  store.TrialSpec
}

func openTrainRecord(ctx context.Context, path, name string, arch *space.Arch, dataset string, r evaluator.Recipe, seed uint64) (*trainRecord, error) {
	rec := &trainRecord{}
	var err error
	if rec.arch, err = store.ArchOf(arch); err != nil {
		return nil, badInput(err)
	}
	rec.spec = store.TrialSpec{
		Key:      store.EvalKey{ArchHash: rec.arch.Hash, Dataset: dataset, RecipeHash: r.Hash(), Fidelity: float64(r.Epochs) * r.DataFraction, Seed: seed},
		Operator: "train",
	}
	if rec.st, err = openStoreWrite(path); err != nil {
		return nil, err
	}
	exp, err := rec.st.Experiment(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cfg, _ := json.Marshal(map[string]any{"command": "nas train", "recipe": r})
		rec.expID, err = rec.st.CreateExperiment(ctx, store.Experiment{Name: name, Config: cfg, Seed: seed, Strategy: "train", Machine: store.ThisMachine("")})
	case err == nil:
		rec.expID = exp.ID
		err = rec.st.SetExperimentStatus(ctx, rec.expID, store.ExperimentRunning)
	}
	if err == nil {
		err = rec.st.PutArch(ctx, rec.arch)
	}
	if err != nil {
		rec.st.Close()
		return nil, err
	}
	return rec, nil
}

// cached returns the stored result of this evaluation; one without test accuracy does not do
// when the test split is asked for. Showing a cached result adds no trial.
func (rec *trainRecord) cached(ctx context.Context, test bool) (evaluator.Result, bool, error) {
	r, ok, err := rec.st.Lookup(ctx, rec.spec.Key)
	if err != nil || !ok || (test && !r.Tested) {
		return evaluator.Result{}, false, err
	}
	return r, true, nil
}

// finish stores a finished training as a trial with its result, and ends the experiment's
// row: done, or interrupted when the training was cancelled (which stores no trial). It runs
// after a Ctrl-C too, so it does not use the cancelled context.
func (rec *trainRecord) finish(res evaluator.Result) error {
	ctx := context.Background()
	status := store.ExperimentInterrupted
	if res.Status != evaluator.StatusCancelled {
		if _, err := rec.st.RecordTrial(ctx, rec.expID, rec.spec, res); err != nil {
			return err
		}
		status = store.ExperimentDone
	}
	return rec.st.SetExperimentStatus(ctx, rec.expID, status)
}

func printResult(w io.Writer, name string, r evaluator.Result) {
	fmt.Fprintf(w, "%s: %s\n", name, r.Status)
	fmt.Fprintf(w, "  params        %d\n  MACs          %d (%.2f M)\n", r.Params, r.MACs, float64(r.MACs)/1e6)
	if n := len(r.Epochs); n > 0 && r.Epochs[n-1].ValAcc > 0 {
		fmt.Fprintf(w, "  val accuracy  %.2f%% (loss %.4f)\n", 100*r.ValAcc, r.ValLoss)
	}
	if r.Tested {
		fmt.Fprintf(w, "  test accuracy %.2f%% (loss %.4f)\n", 100*r.TestAcc, r.TestLoss)
	}
	fmt.Fprintf(w, "  training      %.1f s, %.0f images/s on %d threads\n", r.TrainSeconds, r.ImagesPerSec, r.Threads)
	if r.LatencyB1Ms > 0 {
		fmt.Fprintf(w, "  latency       %.2f ms at batch 1, %.1f ms at batch 128\n", r.LatencyB1Ms, r.LatencyB128Ms)
	}
	fmt.Fprintf(w, "  memory        %.1f MiB of buffers\n", float64(r.PeakMemBytes)/(1<<20))
	if p := r.Phases; p.Total() > 0 {
		fmt.Fprintf(w, "  wall time     %.2f s: %.1f%% training steps; build %.2f, data %.2f, first step %.2f, "+
			"waiting %.2f, validation %.2f, test %.2f, latency %.2f s\n", p.Total(), 100*p.Steps/p.Total(),
			p.Build, p.Data, p.FirstStep, p.Wait, p.Validation, p.Test, p.Latency)
	}
}
