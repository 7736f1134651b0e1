package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
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
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return badInputf("want one architecture file, got %d arguments", len(pos))
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

	opt := evaluator.Options{Seed: *seed, Test: *test}
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
	res, err := evaluator.Evaluate(ctx, arch, ds, recipe, opt)
	if err != nil {
		return badInput(err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printResult(stdout, arch.Name, res)
	}
	if res.Status != evaluator.StatusOK {
		return errors.New(string(res.Status) + ": " + res.Message)
	}
	return nil
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
}
