// Package reporttest builds a small experiment with fixed, made-up results in a store, for the
// tests of package reports and of the commands that show reports.
package reporttest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/space"
	"github.com/gonas/nas/store"
)

// The experiments Build stores: Warmup first, then Experiment, so that Experiment is the most
// recent.
const (
	Warmup     = "warmup"
	Experiment = "fixture"
)

// Config is the configuration YAML stored with Experiment.
const Config = "# made-up experiment of package reporttest\nstrategy: nsga2\nbudget: {evaluations: 20, time: 2h}\n"

// Fidelity is the fidelity of every trial but one, which is at LowFidelity.
const (
	Fidelity    = 3
	LowFidelity = 1
)

// Machine is the machine both experiments claim to have run on.
var Machine = store.Machine{CPUModel: "Test CPU @ 1.00GHz", Cores: 2, GoVersion: "go1.26", NASVersion: "test"}

// trial is one trial of the fixture: a baseline from configs/baselines/small, optionally made
// smaller, and its made-up outcome.
type trial struct {
	baseline string
	half     bool // halve the stem's and every stage's width
	shallow  bool // one block per stage
	name     string
	family   string
	operator string
	gen      int
	fidelity float64
	status   evaluator.Status
	message  string
	acc      float64 // final validation accuracy
	latency  float64
	// repeat makes the trial a re-proposal of the network and fidelity of an earlier one, which
	// the store finishes at once from its evaluation cache.
	repeat bool
}

// trials are Experiment's trials in order. The accuracies are chosen so that found networks
// dominate some baselines in accuracy and MACs, others in accuracy and parameters, and some
// neither.
var trials = []trial{
	{baseline: "resnet20_mnist", family: "basic", operator: "baseline", acc: 0.905, latency: 2.1, repeat: true},
	{baseline: "nin_small_mnist", family: "mlpconv", operator: "baseline", acc: 0.880, latency: 1.2},
	{baseline: "densenet_bc_k12_mnist", family: "dense+transition", operator: "baseline", acc: 0.910, latency: 4.0},
	{baseline: "googlenet_small_mnist", family: "inception", operator: "baseline", acc: 0.895, latency: 2.6},
	{baseline: "vgg_small_mnist", family: "plain", operator: "baseline", acc: 0.870, latency: 1.0},
	{baseline: "resnet20_mnist", half: true, name: "g0-basic-w8", family: "basic", operator: "init", acc: 0.885, latency: 0.9},
	{baseline: "se_resnet20_mnist", name: "g0-basic-se", family: "basic+se", operator: "init", acc: 0.908, latency: 2.4},
	{baseline: "resnext20_8x4d_mnist", name: "g0-resnext", family: "resnext", operator: "init", acc: 0.912, latency: 2.9},
	{baseline: "preact_resnet20_mnist", name: "g0-preact", family: "preact_basic", operator: "init", acc: 0.902, latency: 2.2},
	{baseline: "wrn_10_2_mnist", name: "g0-wide", family: "wide", operator: "init", status: evaluator.StatusDiverged,
		message: "loss became NaN at epoch 2, step 31"},
	{baseline: "incres_small_mnist", name: "g1-incres", family: "incres_a", operator: "mutate", gen: 1, acc: 0.899, latency: 1.9},
	{baseline: "resnet20_mnist", shallow: true, name: "g1-basic-d1", family: "basic", operator: "mutate", gen: 1, acc: 0.875, latency: 0.8},
	{baseline: "resnet20_mnist", half: true, name: "g0-basic-w8", family: "basic", operator: "mutate", gen: 1, repeat: true},
	{baseline: "resnet29_bottleneck_mnist", name: "g1-bottleneck", family: "bottleneck", operator: "crossover", gen: 1,
		status: evaluator.StatusOverBudget, message: "training memory 812 MiB over the limit of 512 MiB"},
	{baseline: "preact_resnet29_mnist", half: true, shallow: true, name: "g2-preact-small", family: "preact_basic",
		operator: "mutate", gen: 2, fidelity: LowFidelity, acc: 0.801, latency: 0.7},
	{baseline: "ror_resnet20_mnist", name: "g2-ror", family: "basic+ror", operator: "mutate", gen: 2, acc: 0.915, latency: 2.3},
	{baseline: "preact_resnet29_mnist", name: "g2-preact29", family: "preact_basic", operator: "crossover", gen: 2, acc: 0.909, latency: 2.8},
}

// Build stores Warmup, one trial of resnet20_mnist, and then Experiment, the trials above, in
// st, reading the baselines from baselineDir (configs/baselines/small). Experiment's first
// baseline takes its result from Warmup's trial through the evaluation cache.
func Build(ctx context.Context, st store.Store, baselineDir string) error {
	warm, err := st.CreateExperiment(ctx, store.Experiment{Name: Warmup, Config: []byte("strategy: random\n"),
		Seed: 1, Strategy: "random", Machine: Machine})
	if err != nil {
		return err
	}
	exp, err := st.CreateExperiment(ctx, store.Experiment{Name: Experiment, Config: []byte(Config),
		Seed: 7, Strategy: "nsga2", Machine: Machine})
	if err != nil {
		return err
	}
	for i, tr := range trials {
		spec, err := putArch(ctx, st, filepath.Join(baselineDir, tr.baseline+".yaml"), tr)
		if err != nil {
			return fmt.Errorf("trial %d: %w", i, err)
		}
		if tr.repeat {
			if i == 0 {
				if _, err := st.RecordTrial(ctx, warm, spec, result(i, tr)); err != nil {
					return err
				}
			}
			if _, err := st.AddTrials(ctx, exp, []store.TrialSpec{spec}); err != nil {
				return fmt.Errorf("trial %d: %w", i, err)
			}
			continue
		}
		if _, err := st.RecordTrial(ctx, exp, spec, result(i, tr)); err != nil {
			return fmt.Errorf("trial %d: %w", i, err)
		}
	}
	if err := st.SetExperimentStatus(ctx, warm, store.ExperimentDone); err != nil {
		return err
	}
	return st.SetExperimentStatus(ctx, exp, store.ExperimentDone)
}

// putArch loads the baseline at path, changes it as tr says, stores it and returns the trial
// spec that evaluates it.
func putArch(ctx context.Context, st store.Store, path string, tr trial) (store.TrialSpec, error) {
	a, err := space.Load(path)
	if err != nil {
		return store.TrialSpec{}, err
	}
	if tr.name != "" {
		a.Name = tr.name
	}
	for i := range a.Stages {
		if tr.half {
			a.Stages[i].Width /= 2
		}
		if tr.shallow {
			a.Stages[i].Blocks = 1
		}
	}
	if tr.half {
		for i := range a.Stem {
			a.Stem[i].Filters /= 2
		}
	}
	c, err := a.Canonical()
	if err != nil {
		return store.TrialSpec{}, err
	}
	hash, err := a.Hash()
	if err != nil {
		return store.TrialSpec{}, err
	}
	counts, err := a.Counts()
	if err != nil {
		return store.TrialSpec{}, err
	}
	js, err := json.Marshal(c)
	if err != nil {
		return store.TrialSpec{}, err
	}
	if err := st.PutArch(ctx, store.Arch{Hash: hash, Name: a.Name, Family: tr.family, Params: counts.Params,
		MACs: counts.MACs, JSON: js}); err != nil {
		return store.TrialSpec{}, err
	}
	fid := tr.fidelity
	if fid == 0 {
		fid = Fidelity
	}
	return store.TrialSpec{Key: store.EvalKey{ArchHash: hash, Dataset: "fashion-mnist", RecipeHash: "recipe0",
		Fidelity: fid, Seed: 1}, Generation: tr.gen, Operator: tr.operator}, nil
}

// result makes up the outcome of trial i: a learning curve rising to tr.acc over the fidelity's
// epochs, or a failure.
func result(i int, tr trial) evaluator.Result {
	r := evaluator.Result{Status: evaluator.StatusOK, Message: tr.message, Threads: 2, Seed: 1,
		TrainSeconds: 40 + 3*float64(i), LatencyB1Ms: tr.latency, LatencyB128Ms: 40 * tr.latency,
		ImagesPerSec: 1000 - 10*float64(i), PeakMemBytes: 64 << 20}
	if tr.status != "" {
		r.Status = tr.status
		r.ValLoss, r.ValAcc = math.NaN(), math.NaN()
		r.Epochs = []evaluator.Epoch{{Epoch: 1, TrainLoss: 2.1, TrainAcc: 0.3, ValLoss: 2.0, ValAcc: 0.35, LR: 0.1, Seconds: 11}}
		return r
	}
	epochs := Fidelity
	if tr.fidelity != 0 {
		epochs = int(tr.fidelity)
	}
	for e := 1; e <= epochs; e++ {
		gap := 0.04 * float64(epochs-e) * float64(epochs-e+1) / 2
		r.Epochs = append(r.Epochs, evaluator.Epoch{Epoch: e, TrainLoss: 0.3 + gap, TrainAcc: tr.acc + 0.01 - gap,
			ValLoss: 0.32 + gap, ValAcc: tr.acc - gap, LR: 0.1 / float64(e), Seconds: r.TrainSeconds / float64(epochs)})
	}
	r.ValAcc, r.ValLoss = tr.acc, 0.32
	return r
}

// Created is the time FixTimes gives the experiment's creation.
var Created = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// FixTimes replaces the times the store stamped on d by fixed ones: the experiment created at
// Created, trial i created at Created + i minutes and finished a minute later, and the
// experiment finished with its last trial. Reports of the fixture then do not depend on when it
// was built.
func FixTimes(d *reports.Data) {
	d.Experiment.Created, d.Experiment.Updated = Created, Created
	fixed := map[int64]store.Trial{}
	for i := range d.Trials {
		t := &d.Trials[i]
		t.Created = Created.Add(time.Duration(i) * time.Minute)
		t.Started, t.Finished = time.Time{}, time.Time{}
		if t.Status == store.TrialDone {
			t.Started, t.Finished = t.Created, t.Created.Add(time.Minute)
			d.Experiment.Finished, d.Experiment.Updated = t.Finished, t.Finished
		}
		fixed[t.ID] = *t
	}
	for i := range d.Evaluations {
		d.Evaluations[i].Trial = fixed[d.Evaluations[i].Trial.ID]
	}
}
