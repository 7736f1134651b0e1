package evaluator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

// Recipe says how a candidate is trained. Every field has a default (DefaultRecipe); a recipe
// file only names what it changes.
type Recipe struct {
	Epochs int `yaml:"epochs" json:"epochs"`
	Batch  int `yaml:"batch" json:"batch"`

	// Optimizer is "sgd" or "adamw".
	Optimizer string  `yaml:"optimizer" json:"optimizer"`
	LR        float64 `yaml:"lr" json:"lr"`
	// Momentum is SGD's momentum; Nesterov selects Nesterov momentum.
	Momentum float64 `yaml:"momentum" json:"momentum"`
	Nesterov bool    `yaml:"nesterov" json:"nesterov"`
	// Beta1 and Beta2 are AdamW's moment decay rates.
	Beta1       float64 `yaml:"beta1" json:"beta1"`
	Beta2       float64 `yaml:"beta2" json:"beta2"`
	WeightDecay float64 `yaml:"weight_decay" json:"weight_decay"`
	// NoDecayNorm exempts BatchNorm scales and shifts and biases from weight decay.
	NoDecayNorm bool `yaml:"no_decay_norm" json:"no_decay_norm"`

	// Schedule is "constant", "cosine" or "step" (multiply by StepGamma at each epoch of
	// StepEpochs), applied per step; WarmupEpochs of linear warm-up come first.
	Schedule     string  `yaml:"schedule" json:"schedule"`
	StepEpochs   []int   `yaml:"step_epochs" json:"step_epochs,omitempty"`
	StepGamma    float64 `yaml:"step_gamma" json:"step_gamma"`
	WarmupEpochs float64 `yaml:"warmup_epochs" json:"warmup_epochs"`

	LabelSmoothing float64 `yaml:"label_smoothing" json:"label_smoothing"`

	// DataFraction is the fraction of the training split used (low fidelity), in (0, 1].
	DataFraction float64 `yaml:"data_fraction" json:"data_fraction"`
	// ValFraction is the part of the training set held out for validation, in [0, 1).
	ValFraction float64 `yaml:"val_fraction" json:"val_fraction"`

	// Augment: random crop with CropPad pixels of padding, horizontal flip, random erasing with
	// probability Erase.
	CropPad int     `yaml:"crop_pad" json:"crop_pad"`
	Flip    bool    `yaml:"flip" json:"flip"`
	Erase   float64 `yaml:"erase" json:"erase"`

	// Test evaluates the test split once training ends. nas finalize sets it; a search refuses
	// it, since it ranks on the validation split. A tested training has its own hash, so that
	// its result never stands for an untested one's, nor the other way round.
	Test bool `yaml:"test,omitempty" json:"test,omitempty"`

	// TimeLimit stops training when exceeded (status over_budget); 0 means none.
	TimeLimit Duration `yaml:"time_limit" json:"time_limit"`
	// Threads is the engine's thread count; 0 means every core. It does not change results.
	Threads int `yaml:"threads" json:"threads"`
}

// Duration is a time.Duration written as "90s" or "10m" in YAML and JSON.
type Duration time.Duration

// MarshalText writes the duration as Go writes durations, e.g. "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a duration such as "90s", "10m" or "1h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as 90s, 10m or 1h, got %q", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a duration from YAML; a mistake is a *space.ConfigError at the value, so
// that the message names the file, line and field.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	tok := node.GetToken()
	if tok == nil {
		return &space.ConfigError{Msg: "want a duration such as 90s, 10m or 1h"}
	}
	if err := d.UnmarshalText([]byte(tok.Value)); err != nil {
		e := &space.ConfigError{Msg: err.Error()}
		if tok.Position != nil {
			e.Line, e.Col = tok.Position.Line, tok.Position.Column
		}
		return e
	}
	return nil
}

// DefaultRecipe is the recipe every field of which a recipe file may override: SGD with momentum
// 0.9 and weight decay 5e-4, lr 0.1 on a cosine schedule, batch 128, one epoch, 10% of the
// training set held out for validation, no augmentation.
func DefaultRecipe() Recipe {
	return Recipe{
		Epochs:       1,
		Batch:        128,
		Optimizer:    "sgd",
		LR:           0.1,
		Momentum:     0.9,
		Beta1:        0.9,
		Beta2:        0.999,
		WeightDecay:  5e-4,
		Schedule:     "cosine",
		StepGamma:    0.1,
		DataFraction: 1,
		ValFraction:  0.1,
	}
}

// LoadRecipe reads a recipe YAML file; the fields it leaves out keep DefaultRecipe's values.
func LoadRecipe(path string) (Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Recipe{}, err
	}
	return ParseRecipe(b, path)
}

// ParseRecipe decodes a recipe from YAML over DefaultRecipe and validates it. Mistakes are
// *space.ConfigError values naming the file, line and field.
func ParseRecipe(b []byte, filename string) (Recipe, error) {
	r := DefaultRecipe()
	err := space.DecodeYAML(b, filename, &r, r.Validate)
	return r, err
}

// Bounds of the recipe's fields, far beyond any sensible training, so that every figure derived
// from them (steps, schedules, padded image sizes) stays exact.
const (
	// MaxBatch is the largest batch size.
	MaxBatch     = 1 << 16
	maxEpochs    = 10000
	maxLR        = 1000.0
	maxCropPad   = 1024
	maxTimeLimit = 365 * 24 * time.Hour
	maxThreads   = 4096
)

// Validate checks every field's range. The error is a *space.ConfigError naming the field and
// what is valid.
func (r *Recipe) Validate() error {
	check := func(ok bool, field, valid string, got any) error {
		if ok {
			return nil
		}
		return &space.ConfigError{Field: field, Msg: fmt.Sprintf("must be %s (got %v)", valid, got)}
	}
	for _, err := range []error{
		check(r.Epochs >= 1 && r.Epochs <= maxEpochs, "epochs", fmt.Sprintf("between 1 and %d", maxEpochs), r.Epochs),
		check(r.Batch >= 1 && r.Batch <= MaxBatch, "batch", fmt.Sprintf("between 1 and %d", MaxBatch), r.Batch),
		check(r.Optimizer == "sgd" || r.Optimizer == "adamw", "optimizer", `"sgd" or "adamw"`, r.Optimizer),
		check(r.LR > 0 && r.LR <= maxLR, "lr", fmt.Sprintf("in (0, %g]", maxLR), r.LR),
		check(r.Momentum >= 0 && r.Momentum < 1, "momentum", "in [0, 1)", r.Momentum),
		check(r.Beta1 >= 0 && r.Beta1 < 1, "beta1", "in [0, 1)", r.Beta1),
		check(r.Beta2 >= 0 && r.Beta2 < 1, "beta2", "in [0, 1)", r.Beta2),
		check(r.WeightDecay >= 0 && r.WeightDecay <= 1, "weight_decay", "in [0, 1]", r.WeightDecay),
		check(r.Schedule == "constant" || r.Schedule == "cosine" || r.Schedule == "step", "schedule", `"constant", "cosine" or "step"`, r.Schedule),
		check(r.StepGamma > 0 && r.StepGamma <= 1, "step_gamma", "in (0, 1]", r.StepGamma),
		check(r.WarmupEpochs >= 0 && r.WarmupEpochs <= float64(r.Epochs), "warmup_epochs", "between 0 and epochs", r.WarmupEpochs),
		check(r.LabelSmoothing >= 0 && r.LabelSmoothing < 1, "label_smoothing", "in [0, 1)", r.LabelSmoothing),
		check(r.DataFraction > 0 && r.DataFraction <= 1, "data_fraction", "in (0, 1]", r.DataFraction),
		check(r.ValFraction >= 0 && r.ValFraction < 1, "val_fraction", "in [0, 1)", r.ValFraction),
		check(r.CropPad >= 0 && r.CropPad <= maxCropPad, "crop_pad", fmt.Sprintf("between 0 and %d", maxCropPad), r.CropPad),
		check(r.Erase >= 0 && r.Erase <= 1, "erase", "in [0, 1]", r.Erase),
		check(r.TimeLimit >= 0 && time.Duration(r.TimeLimit) <= maxTimeLimit, "time_limit", fmt.Sprintf("between 0 (none) and %v", maxTimeLimit), time.Duration(r.TimeLimit)),
		check(r.Threads >= 0 && r.Threads <= maxThreads, "threads", fmt.Sprintf("between 0 and %d (0 means every core; more than the machine's cores is refused where it runs)", maxThreads), r.Threads),
	} {
		if err != nil {
			return err
		}
	}
	for i, e := range r.StepEpochs {
		if e < 1 || e > r.Epochs || (i > 0 && e <= r.StepEpochs[i-1]) {
			return &space.ConfigError{Field: fmt.Sprintf("step_epochs[%d]", i), Msg: fmt.Sprintf("must be increasing epochs in [1, %d] (got %d)", r.Epochs, e)}
		}
	}
	return nil
}

// Augment is the recipe's augmentation in the data package's terms.
func (r *Recipe) Augment() data.Augment {
	return data.Augment{Pad: r.CropPad, Flip: r.Flip, Erase: r.Erase}
}

// Hash identifies what the recipe computes: two recipes with the same hash train the same way,
// on this engine (engine.Version is part of it). Threads does not change a result and is left
// out.
func (r Recipe) Hash() string {
	r.Threads = 0
	b, err := json.Marshal(struct {
		Recipe
		Engine int `json:"engine"`
	}{r, engine.Version})
	if err != nil {
		panic(err) // a struct of plain fields always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newSchedule returns the recipe's per-step learning rate for an epoch of stepsPerEpoch steps.
func newSchedule(r Recipe, stepsPerEpoch int) engine.Schedule {
	total := r.Epochs * stepsPerEpoch
	var s engine.Schedule
	switch r.Schedule {
	case "cosine":
		s = engine.CosineLR{Base: r.LR, Total: total}
	case "step":
		ms := make([]int, len(r.StepEpochs))
		for i, e := range r.StepEpochs {
			ms[i] = e * stepsPerEpoch
		}
		s = engine.MultiStepLR{Base: r.LR, Gamma: r.StepGamma, Milestones: ms}
	default:
		s = engine.ConstantLR{Base: r.LR}
	}
	if w := int(r.WarmupEpochs * float64(stepsPerEpoch)); w > 0 {
		s = engine.WarmupLR{Steps: w, Then: s}
	}
	return s
}

// newOptimizer returns the recipe's optimizer over g's parameters.
func newOptimizer(g *engine.Graph, r Recipe) engine.Optimizer {
	if r.Optimizer == "adamw" {
		return engine.NewAdamW(g, engine.AdamWConfig{Beta1: r.Beta1, Beta2: r.Beta2, WeightDecay: r.WeightDecay, ExemptNoDecay: r.NoDecayNorm})
	}
	return engine.NewSGD(g, engine.SGDConfig{Momentum: r.Momentum, Nesterov: r.Nesterov, WeightDecay: r.WeightDecay, ExemptNoDecay: r.NoDecayNorm})
}
