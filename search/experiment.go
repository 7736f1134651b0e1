package search

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/space"
)

// Experiment is a search experiment as its YAML file describes it (configs/search/README.md),
// with the files it names read and checked: everything RunExperiment needs but the data set.
type Experiment struct {
	// Name is the experiment's name in the store: the YAML's name, or the file's base name.
	Name string
	// File is the path the experiment was read from; the paths below are relative to its folder.
	File string
	// Config is the YAML as given, byte for byte.
	Config []byte

	// SpaceFile is the search space's YAML file, Space the space read from it, not yet bound to
	// the data set and without the constraints, which RunExperiment sets.
	SpaceFile string
	Space     *space.SearchSpace
	// Dataset is the name of the data set, as evaluator/data.Open takes it.
	Dataset string
	// Recipe is how a candidate is trained at the last fidelity level (see RecipeAt).
	Recipe evaluator.Recipe
	// Fidelity, if it has levels, turns on successive halving.
	Fidelity Fidelity
	// Strategy and its parameters.
	Strategy Strategy
	// Objectives are what the search optimises, in order: single-objective strategies (ga,
	// regevo) rank by the first only.
	Objectives []evaluator.Objective
	// Constraints bound the networks the search may evaluate, checked from analytic counts
	// before any training; Constraints.Batch is the recipe's batch.
	Constraints space.Budget
	// Evaluations is the budget of trials (see Config.Budget); MaxTime, if positive, stops the
	// search at the first batch boundary after it.
	Evaluations int
	MaxTime     time.Duration
	// Seed seeds the search and every training.
	Seed uint64
	// Workers and Threads are the parallelism the YAML asks for; 0 means the machine's choice
	// (see Parallelism).
	Workers, Threads int
	// Baselines are hand-written networks trained like the candidates, beside the search; those
	// the space represents exactly also start its first population (see RunExperiment).
	Baselines []Baseline

	spaceData []byte // the space file's bytes, for the fingerprint
}

// Fidelity is successive halving over a recipe field: each level trains with By set to that
// level's value.
type Fidelity struct {
	By     string    // "epochs" or "data_fraction"
	Levels []float64 // increasing; empty for one level, the recipe as written
	Eta    int       // promotes the best 1/Eta of each level, >= 2
}

// Baseline is a hand-written architecture evaluated beside the search.
type Baseline struct {
	File string
	Arch *space.Arch
	Hash string // Arch's canonical hash

	data []byte // the file's bytes, until ParseExperiment parses them
}

// Objectives lists the objectives an experiment may name; a search minimises their Cost.
var Objectives = []evaluator.Objective{evaluator.ValAcc, evaluator.MACs, evaluator.Params, evaluator.Latency}

// experimentFile is an experiment as its YAML file writes it.
type experimentFile struct {
	Name        string                `yaml:"name"`
	Space       string                `yaml:"space"`
	Dataset     string                `yaml:"dataset"`
	RecipeFile  string                `yaml:"recipe_file"`
	Recipe      evaluator.Recipe      `yaml:"recipe"`
	Fidelity    fidelityFile          `yaml:"fidelity"`
	Strategy    strategyFile          `yaml:"strategy"`
	Objectives  []evaluator.Objective `yaml:"objectives"`
	Constraints struct {
		MaxParams      quantity `yaml:"max_params"`
		MaxMACs        quantity `yaml:"max_macs"`
		MaxTrainMemory quantity `yaml:"max_train_memory"`
	} `yaml:"constraints"`
	Budget struct {
		Evaluations int                `yaml:"evaluations"`
		Time        evaluator.Duration `yaml:"time"`
	} `yaml:"budget"`
	Seed     uint64 `yaml:"seed"`
	Parallel struct {
		Workers int `yaml:"workers"`
		Threads int `yaml:"threads"`
	} `yaml:"parallel"`
	Baselines []string `yaml:"baselines"`
}

type fidelityFile struct {
	By     string    `yaml:"by"`
	Levels []float64 `yaml:"levels"`
	Eta    int       `yaml:"eta"`
}

// strategyFile holds a strategy's name and the parameters the YAML sets. Each parameter has the
// Go name of the strategy field it sets, which is how strategy finds the field.
type strategyFile struct {
	Name       string   `yaml:"name"`
	Batch      *int     `yaml:"batch"`
	PopSize    *int     `yaml:"pop_size"`
	Tournament *int     `yaml:"tournament"`
	Elite      *int     `yaml:"elite"`
	CrossRate  *float64 `yaml:"cross_rate"`
	MutRate    *float64 `yaml:"mut_rate"`
	Population *int     `yaml:"population"`
	Sample     *int     `yaml:"sample"`
}

// LoadExperiment reads the experiment in the YAML file at path (see ParseExperiment).
func LoadExperiment(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseExperiment(data, path)
}

// ParseExperiment decodes an experiment from YAML read from filename, checks it, and reads the
// search space, recipe and baseline files it names, relative to filename's folder. Decoding is
// strict. Every mistake is a *space.ConfigError naming the file, line, column and field: of the
// experiment, or of the file named whose content is wrong.
func ParseExperiment(data []byte, filename string) (*Experiment, error) {
	dir := filepath.Dir(filename)
	f := experimentFile{Recipe: evaluator.DefaultRecipe()}
	// The recipe file is the base that the inline recipe overrides, so it is read first.
	var pre struct {
		RecipeFile string `yaml:"recipe_file"`
	}
	var recipeErr error
	if yaml.Unmarshal(data, &pre) == nil && pre.RecipeFile != "" {
		path := resolve(dir, pre.RecipeFile)
		b, err := os.ReadFile(path)
		if err != nil {
			recipeErr = err
		} else if f.Recipe, err = evaluator.ParseRecipe(b, path); err != nil {
			return nil, err
		}
	}
	e := &Experiment{File: filename, Config: data}
	err := space.DecodeYAML(data, filename, &f, func() error {
		if recipeErr != nil {
			return &space.ConfigError{Field: "recipe_file", Msg: "cannot be read: " + recipeErr.Error()}
		}
		return f.check(e, dir)
	})
	if err != nil {
		return nil, err
	}
	e.Name = f.Name
	if e.Name == "" {
		e.Name = strings.TrimSuffix(filepath.Base(filename), filepath.Ext(filename))
	}
	if e.Space, err = space.ParseSpace(e.spaceData, e.SpaceFile); err != nil {
		return nil, err
	}
	for i := range e.Baselines {
		b := &e.Baselines[i]
		if b.Arch, err = space.Parse(b.data, b.File); err != nil {
			return nil, err
		}
		if b.Hash, err = b.Arch.Hash(); err != nil {
			return nil, err
		}
		b.data = nil
	}
	return e, nil
}

// check validates f and fills in e, reading the space file's bytes. Its errors name fields of
// the experiment's YAML.
func (f *experimentFile) check(e *Experiment, dir string) error {
	need := func(ok bool, field, format string, args ...any) error {
		if ok {
			return nil
		}
		return &space.ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if err := need(f.Space != "", "space", "is required: the search space's YAML file, relative to this file (see configs/spaces)"); err != nil {
		return err
	}
	e.SpaceFile = resolve(dir, f.Space)
	var err error
	if e.spaceData, err = os.ReadFile(e.SpaceFile); err != nil {
		return &space.ConfigError{Field: "space", Msg: "cannot be read: " + err.Error()}
	}
	if err := need(f.Dataset != "", "dataset", "is required: mnist, fashion-mnist, kmnist, cifar10, cifar100, synthetic or folder:PATH"); err != nil {
		return err
	}
	e.Dataset = f.Dataset

	if err := f.Recipe.Validate(); err != nil {
		return prefixField(err, "recipe.")
	}
	if err := need(f.Recipe.ValFraction > 0, "recipe.val_fraction", "must be in (0, 1): a search ranks candidates on the validation split (got %v)", f.Recipe.ValFraction); err != nil {
		return err
	}
	if err := need(f.Recipe.Threads == 0, "recipe.threads", "must be left out: parallel.threads sets the threads of each training"); err != nil {
		return err
	}
	if err := need(!f.Recipe.Test, "recipe.test", "must be left out: a search ranks candidates on the validation split; nas finalize evaluates the test split"); err != nil {
		return err
	}
	e.Recipe = f.Recipe
	if err := f.Fidelity.check(e); err != nil {
		return err
	}

	if e.Strategy, err = f.Strategy.strategy(); err != nil {
		return err
	}
	if err := need(len(f.Objectives) > 0, "objectives", "must list at least one of %s", objectiveNames()); err != nil {
		return err
	}
	for i, o := range f.Objectives {
		field := fmt.Sprintf("objectives[%d]", i)
		if err := need(slices.Contains(Objectives, o), field, "must be one of %s (got %q)", objectiveNames(), string(o)); err != nil {
			return err
		}
		if err := need(!slices.Contains(f.Objectives[:i], o), field, "lists %s twice", string(o)); err != nil {
			return err
		}
	}
	e.Objectives = f.Objectives
	e.Constraints = space.Budget{
		MaxParams:      int64(f.Constraints.MaxParams),
		MaxMACs:        int64(f.Constraints.MaxMACs),
		MaxTrainMemory: int64(f.Constraints.MaxTrainMemory),
		Batch:          e.Recipe.Batch,
	}

	e.Evaluations, e.MaxTime, e.Seed = f.Budget.Evaluations, time.Duration(f.Budget.Time), f.Seed
	cfg := Config[space.Genome]{Strategy: e.Strategy, Fidelities: e.Fidelity.Levels, Eta: e.Fidelity.Eta}
	first := cfg.cost(e.Strategy.population())
	if err := need(e.Evaluations >= first && e.Evaluations <= maxEvaluations, "budget.evaluations", "must be between %d, the trials of the initial population of %d, and %d (got %d)", first, e.Strategy.population(), maxEvaluations, e.Evaluations); err != nil {
		return err
	}
	if err := need(e.MaxTime >= 0 && e.MaxTime <= maxTime, "budget.time", "must be a duration between 0 (none) and %v, such as 10m, or left out (got %v)", maxTime, e.MaxTime); err != nil {
		return err
	}
	e.Workers, e.Threads = f.Parallel.Workers, f.Parallel.Threads
	if err := need(e.Workers >= 0, "parallel.workers", "must be at least 1, or 0 for the machine's choice (got %d)", e.Workers); err != nil {
		return err
	}
	if err := need(e.Threads >= 0, "parallel.threads", "must be at least 1, or 0 for the machine's choice (got %d)", e.Threads); err != nil {
		return err
	}
	e.Baselines = make([]Baseline, len(f.Baselines))
	for i, path := range f.Baselines {
		b := &e.Baselines[i]
		b.File = resolve(dir, path)
		if b.data, err = os.ReadFile(b.File); err != nil {
			return &space.ConfigError{Field: fmt.Sprintf("baselines[%d]", i), Msg: "cannot be read: " + err.Error()}
		}
	}
	return nil
}

// maxEvaluations bounds budget.evaluations: more trials than a store of one machine holds in
// years of training.
const maxEvaluations = 1_000_000

// maxTime bounds budget.time: a year.
const maxTime = 365 * 24 * time.Hour

// resolve returns the path of a file that a file in dir names: path itself if it is absolute,
// else path relative to dir.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// check validates the fidelity levels and sets e.Fidelity.
func (f *fidelityFile) check(e *Experiment) error {
	if f.By == "" && len(f.Levels) == 0 && f.Eta == 0 {
		return nil
	}
	var valid string
	switch f.By {
	case "epochs":
		valid = "an integer number of epochs, at least 1"
	case "data_fraction":
		valid = "a fraction of the training split in (0, 1]"
	default:
		return &space.ConfigError{Field: "fidelity.by", Msg: fmt.Sprintf(`must be "epochs" or "data_fraction" (got %q)`, f.By)}
	}
	if len(f.Levels) < 2 {
		return &space.ConfigError{Field: "fidelity.levels", Msg: fmt.Sprintf("must list at least two increasing levels, each %s", valid)}
	}
	e.Fidelity = Fidelity{By: f.By, Levels: f.Levels, Eta: f.Eta}
	if e.Fidelity.Eta == 0 {
		e.Fidelity.Eta = DefaultEta
	}
	if e.Fidelity.Eta < 2 {
		return &space.ConfigError{Field: "fidelity.eta", Msg: fmt.Sprintf("must be at least 2, the factor by which each level cuts the candidates (got %d)", f.Eta)}
	}
	for i, l := range f.Levels {
		field := fmt.Sprintf("fidelity.levels[%d]", i)
		ok := l > 0 && l <= 1
		if f.By == "epochs" {
			ok = l >= 1 && l <= math.MaxInt32 && l == math.Trunc(l)
		}
		if !ok {
			return &space.ConfigError{Field: field, Msg: fmt.Sprintf("must be %s (got %v)", valid, l)}
		}
		if i > 0 && l <= f.Levels[i-1] {
			return &space.ConfigError{Field: field, Msg: fmt.Sprintf("must exceed the level before it (%v): levels increase", f.Levels[i-1])}
		}
		r := e.RecipeAt(l)
		if err := r.Validate(); err != nil {
			var ce *space.ConfigError
			msg := err.Error()
			if errors.As(err, &ce) {
				msg = fmt.Sprintf("gives a recipe whose field %q %s", ce.Field, ce.Msg)
			}
			return &space.ConfigError{Field: field, Msg: msg}
		}
	}
	return nil
}

// RecipeAt returns the recipe of fidelity level fid: the recipe with the fidelity's field set to
// fid, or the recipe itself when fid is 0 (one level).
func (e *Experiment) RecipeAt(fid float64) evaluator.Recipe {
	r := e.Recipe
	switch {
	case fid == 0:
	case e.Fidelity.By == "epochs":
		r.Epochs = int(fid)
	case e.Fidelity.By == "data_fraction":
		r.DataFraction = fid
	default:
		panic(fmt.Sprintf("search: fidelity level %v of an experiment without fidelity levels", fid))
	}
	return r
}

// lastFidelity returns the fidelity level of the front and of the baselines.
func (e *Experiment) lastFidelity() float64 {
	if n := len(e.Fidelity.Levels); n > 0 {
		return e.Fidelity.Levels[n-1]
	}
	return 0
}

// strategy returns the strategy f names, with NewStrategy's defaults for the parameters it
// leaves out.
func (f *strategyFile) strategy() (Strategy, error) {
	s, err := NewStrategy(f.Name)
	if err != nil {
		return nil, &space.ConfigError{Field: "strategy.name", Msg: fmt.Sprintf("must be one of %s (got %q)", strings.Join(StrategyNames, ", "), f.Name)}
	}
	sv := reflect.New(reflect.TypeOf(s)).Elem()
	sv.Set(reflect.ValueOf(s))
	fv, ft := reflect.ValueOf(f).Elem(), reflect.TypeOf(f).Elem()
	for i := range ft.NumField() {
		p := fv.Field(i)
		if p.Kind() != reflect.Pointer || p.IsNil() {
			continue
		}
		dst := sv.FieldByName(ft.Field(i).Name)
		if !dst.IsValid() {
			return nil, &space.ConfigError{Field: "strategy." + yamlKey(ft.Field(i)), Msg: fmt.Sprintf("is not a parameter of %s; its parameters are %s", f.Name, strings.Join(f.params(sv.Type()), ", "))}
		}
		dst.Set(p.Elem())
	}
	s = sv.Interface().(Strategy)
	if err := s.validate(); err != nil {
		// The strategy's message starts with the Go name of the field at fault; the YAML spells
		// the fields as keys.
		msg := strings.TrimPrefix(err.Error(), "search: ")
		field := "strategy"
		for i := range ft.NumField() {
			goName, key := ft.Field(i).Name, yamlKey(ft.Field(i))
			if strings.HasPrefix(msg, f.Name+": "+goName+" ") {
				field += "." + key
			}
			msg = strings.ReplaceAll(msg, goName, key)
		}
		return nil, &space.ConfigError{Field: field, Msg: msg}
	}
	return s, nil
}

// params returns the YAML keys of the parameters of the strategy type t.
func (f *strategyFile) params(t reflect.Type) []string {
	var keys []string
	ft := reflect.TypeOf(f).Elem()
	for i := range ft.NumField() {
		if _, ok := t.FieldByName(ft.Field(i).Name); ok {
			keys = append(keys, yamlKey(ft.Field(i)))
		}
	}
	return keys
}

func yamlKey(f reflect.StructField) string { return strings.Split(f.Tag.Get("yaml"), ",")[0] }

func objectiveNames() string { return evaluator.ObjectiveNames(Objectives) }

// prefixField returns err with prefix added to the field of a *space.ConfigError, so that the
// error of a part names its place in the whole document.
func prefixField(err error, prefix string) error {
	var ce *space.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	c := *ce
	c.Field = prefix + c.Field
	return &c
}

// Parallelism returns how many evaluations run at once (K) and how many engine threads each
// uses (T): workers and threads if they are not zero, else the experiment's, else the machine's
// choice. The machine's choice gives each training about an eighth of the cores (1 to 4
// threads), since small networks use few threads well, and runs as many trainings as the cores
// and the strategy's batches allow; an unused share of cores goes to the threads. It returns an
// error if K·T exceeds the usable cores (runtime.GOMAXPROCS). Neither changes the trials.
func (e *Experiment) Parallelism(workers, threads int) (k, t int, err error) {
	cores := runtime.GOMAXPROCS(0)
	k, t = orElse(workers, e.Workers), orElse(threads, e.Threads)
	batch := batchSize(e.Strategy)
	switch {
	case k == 0 && t == 0:
		t = min(4, max(1, cores/8))
		k = max(1, min(cores/t, batch))
		t = max(t, cores/k)
	case k == 0:
		k = max(1, min(cores/t, batch))
	case t == 0:
		t = max(1, cores/k)
	}
	if k < 1 || t < 1 || k*t > cores {
		return k, t, fmt.Errorf("%d workers × %d threads = %d; this machine has %d usable cores, and workers × threads must not exceed them", k, t, k*t, cores)
	}
	return k, t, nil
}

// orElse returns a, or b if a is zero.
func orElse[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// batchSize returns how many candidates a strategy's generations propose at once, which bounds
// the useful number of workers.
func batchSize(s Strategy) int {
	switch s := s.(type) {
	case Random:
		return s.Batch
	case GA:
		return s.PopSize - s.Elite
	case NSGA2:
		return s.PopSize
	case RegEvo:
		return s.Batch
	}
	panic("search: unknown strategy " + s.Name())
}

// fingerprint returns the parts of the experiment that decide its trials, each as a short
// string: a resumed experiment must agree on all of them. The name, the budget and the
// parallelism are left out: they may change between runs.
func (e *Experiment) fingerprint() map[string]string {
	sum := func(b []byte) string {
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:8])
	}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // plain values always marshal
		}
		return string(b)
	}
	recipes := []string{e.RecipeAt(0).Hash()[:16]}
	for _, l := range e.Fidelity.Levels {
		recipes = append(recipes, e.RecipeAt(l).Hash()[:16])
	}
	baselines := make([]string, len(e.Baselines))
	for i, b := range e.Baselines {
		baselines[i] = b.Hash[:16]
	}
	return map[string]string{
		"space":       sum(e.spaceData),
		"dataset":     e.Dataset,
		"recipe":      strings.Join(recipes, " "),
		"fidelity":    js(e.Fidelity),
		"strategy":    e.Strategy.Name() + " " + js(e.Strategy),
		"objectives":  js(e.Objectives),
		"constraints": js(e.Constraints),
		"seed":        fmt.Sprint(e.Seed),
		"baselines":   strings.Join(baselines, " "),
	}
}

// quantity is a count written as an integer, or as a number with a suffix: k, M, G for 10^3,
// 10^6, 10^9, or Ki, Mi, Gi for 2^10, 2^20, 2^30 (250k, 1.5M, 512Mi).
type quantity int64

var quantitySuffixes = []struct {
	suffix string
	scale  float64
}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}}

// UnmarshalYAML reads a quantity.
func (q *quantity) UnmarshalYAML(node ast.Node) error {
	tok := node.GetToken()
	bad := &space.ConfigError{Msg: "must be a whole number, at least 0, optionally with a suffix k, M, G (10^3, 10^6, 10^9) or Ki, Mi, Gi (2^10, 2^20, 2^30), such as 250k or 512Mi"}
	if tok == nil {
		return bad
	}
	if tok.Position != nil {
		bad.Line, bad.Col = tok.Position.Line, tok.Position.Column
	}
	text, scale := strings.ReplaceAll(tok.Value, "_", ""), 1.0
	for _, s := range quantitySuffixes {
		if strings.HasSuffix(text, s.suffix) {
			text, scale = strings.TrimSuffix(text, s.suffix), s.scale
			break
		}
	}
	x, err := strconv.ParseFloat(text, 64)
	x *= scale
	if err != nil || !(x >= 0 && x < 1<<62) || x != math.Trunc(x) {
		bad.Msg += fmt.Sprintf(" (got %q)", tok.Value)
		return bad
	}
	*q = quantity(x)
	return nil
}
