package space

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// spaceFiles are the search spaces every property is tested on: the shipped ones and a space of
// every family and option on an odd input without a stem.
var spaceFiles = []string{
	"../configs/spaces/fashion_small.yaml",
	"../configs/spaces/cifar_resnets.yaml",
	"testdata/searchspace/every_family.yaml",
}

func loadSpace(t testing.TB, path string) *SearchSpace {
	t.Helper()
	s, err := LoadSpace(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expandDecoded decodes g and expands its network, failing the test if either fails.
func expandDecoded(t testing.TB, s *SearchSpace, g Genome) (*Arch, *Net) {
	t.Helper()
	a, err := s.Decode(g)
	if err != nil {
		t.Fatalf("Decode(%v): %v", g, err)
	}
	n, err := a.Expand()
	if err != nil {
		y, _ := a.MarshalYAML()
		t.Fatalf("genome %v decodes to an invalid network: %v\n%s", g, err, y)
	}
	return a, n
}

func TestRandomGenomesDecodeToValidNetworks(t *testing.T) {
	for _, path := range spaceFiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := loadSpace(t, path)
			rng := rand.New(rand.NewSource(1))
			keys := map[string]bool{}
			const n = 1000
			for range n {
				g := s.Random(rng)
				a, net := expandDecoded(t, s, g)
				if out := net.Layers[net.Outputs[0]].Shape; out != (Shape{C: s.Classes(), H: 1, W: 1}) {
					t.Fatalf("genome %v: the network outputs %v", g, out)
				}
				key := s.Key(g)
				keys[key] = true
				// What the store keeps, the Arch's JSON, rebuilds the same network.
				data, err := json.Marshal(a)
				if err != nil {
					t.Fatal(err)
				}
				var back Arch
				if err := json.Unmarshal(data, &back); err != nil {
					t.Fatal(err)
				}
				if h, err := back.Hash(); err != nil || h != key {
					t.Fatalf("genome %v: the Arch's JSON hashes to %q, %v; its key is %q", g, h, err, key)
				}
			}
			t.Logf("%d random genomes of %d genes: %d distinct networks", n, len(s.Genes()), len(keys))
			if len(keys) < n*9/10 {
				t.Errorf("%d random genomes gave only %d distinct networks", n, len(keys))
			}
		})
	}
}

func TestDecodeReachesEveryFamilyAndOption(t *testing.T) {
	s := loadSpace(t, "testdata/searchspace/every_family.yaml")
	rng := rand.New(rand.NewSource(2))
	seen := map[string]bool{}
	for range 3000 {
		a, _ := expandDecoded(t, s, s.Random(rng))
		if a.RoR {
			seen["ror"] = true
		}
		if a.StochasticDepth != nil {
			seen["stochastic_depth"] = true
		}
		for _, st := range a.Stages {
			b := st.Block
			seen[b.Family] = true
			for _, k := range setKeys(&b) {
				seen[k] = true
			}
			if b.Stride == 2 {
				seen["stride 2 "+b.Family] = true
			}
			if b.Shortcut == "A" {
				seen["shortcut A"] = true
			}
			if b.Code != "" {
				seen["nodes"] = true // a code of each number of nodes is checked below
				seen[fmt.Sprintf("%d nodes", strings.Count(b.Code, "-")+2)] = true
			}
		}
	}
	want := append(slices.Clone(searchFamilies), FamilyTransition, FamilyReductionA, "ror", "stochastic_depth",
		"stride 2 basic", "stride 2 plain", "shortcut A", "2 nodes", "4 nodes")
	want = append(want, searchOptionKeys()...)
	var missing []string
	for _, w := range want {
		if !seen[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("3000 random genomes never decoded to %s", strings.Join(missing, ", "))
	}
}

func TestDecodeRepairsWhatWouldNotFit(t *testing.T) {
	// A few stage slots per case, on a 4×3×3 input without a stem: shapes small enough that a
	// downsampling, an SE ratio or shortcut A would not fit.
	tests := []struct {
		name  string
		slots string
		check func(t *testing.T, a *Arch)
	}{
		{"SE ratio above the channels becomes the channels",
			"{families: [basic], width: 4, options: {se: [64]}}",
			func(t *testing.T, a *Arch) {
				if se := a.Stages[0].SE; se == nil || se.Ratio != 4 {
					t.Errorf("se = %+v, want ratio 4", se)
				}
			}},
		{"shortcut A that would drop channels becomes B",
			"{families: [basic], width: 8}\n  - {families: [basic], width: 4, stride: 2, options: {shortcut: [A]}}",
			shortcutIs(1, "B")},
		{"shortcut A that widens is kept",
			"{families: [basic], width: 8, stride: 2, options: {shortcut: [A]}}",
			shortcutIs(0, "A")},
		{"a shortcut is left unset where the shape is kept",
			"{families: [basic], width: 4, options: {shortcut: [A]}}",
			shortcutIs(0, "")},
		{"a dense slot on a 1x1 map does not downsample",
			"{families: [basic], width: 2, stride: 2}\n  - {families: [basic], width: 2, stride: 2}\n  - {families: [dense], stride: 2, options: {growth_rate: [4]}}",
			func(t *testing.T, a *Arch) {
				if len(a.Stages) != 3 || a.Stages[2].Family != FamilyDense {
					t.Errorf("stages = %+v, want basic, basic, dense without a transition", a.Stages)
				}
			}},
		{"a dense slot downsamples with a transition",
			"{families: [dense], stride: 2, options: {growth_rate: [4], compression: [0.5]}}",
			func(t *testing.T, a *Arch) {
				if len(a.Stages) != 2 || a.Stages[0].Family != FamilyTransition || a.Stages[0].Compression != 0.5 {
					t.Errorf("stages = %+v, want a transition with compression 0.5, then dense", a.Stages)
				}
			}},
		{"a transition that would leave no channel does not compress",
			"{families: [plain], width: 1}\n  - {families: [dense], stride: 2, options: {growth_rate: [4], compression: [0.1]}}",
			func(t *testing.T, a *Arch) {
				if st := a.Stages[1]; st.Family != FamilyTransition || st.Compression != 0 {
					t.Errorf("stage 1 = %+v, want a transition without compression", st)
				}
			}},
		{"an incres slot downsamples with a Reduction-A",
			"{families: [incres_a], width: 8, stride: 2}",
			func(t *testing.T, a *Arch) {
				if len(a.Stages) != 2 || a.Stages[0].Family != FamilyReductionA {
					t.Errorf("stages = %+v, want reduction_a, then incres_a", a.Stages)
				}
			}},
		{"a wide block is capped at the widest block",
			"{families: [wide], width: 40000, options: {widen_factor: [2]}}",
			func(t *testing.T, a *Arch) {
				if got := a.Stages[0].WidenFactor; got != 1 {
					t.Errorf("widen_factor = %d, want 1", got)
				}
			}},
		{"RoR and stochastic depth are left out of a network without residual blocks",
			"{families: [plain], width: 4}",
			func(t *testing.T, a *Arch) {
				if a.RoR || a.StochasticDepth != nil {
					t.Errorf("ror %v, stochastic depth %+v on a plain network", a.RoR, a.StochasticDepth)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "input: [4, 3, 3]\nclasses: 2\nror: true\nstochastic_depth: 0.5\nstages:\n  - " + tt.slots + "\n"
			s, err := ParseSpace([]byte(yaml), "repair.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Genes()) != 0 {
				t.Fatalf("the space has genes %v; want one network", s.Genes())
			}
			a, _ := expandDecoded(t, s, Genome{})
			tt.check(t, a)
		})
	}
}

func TestRoRIsLeftOutWhereNoShortcutFits(t *testing.T) {
	// A transition halves a map rounding down, a stride-2 block rounding up, and RoR's body
	// shortcut subsamples by one stride s, which maps n to ⌈n/s⌉: 28 → 14 → 7 is ⌈28/4⌉, but
	// 29 → 14 → 7 is no ⌈29/s⌉ (s = 4 gives 8, s = 5 gives 6).
	for _, tt := range []struct {
		input string
		want  bool
	}{
		{"[1, 28, 28]", true},
		{"[1, 29, 29]", false},
	} {
		yaml := "input: " + tt.input + `
classes: 2
ror: true
stages:
  - {families: [dense], stride: 2, options: {growth_rate: [2]}}
  - {families: [basic], width: 4, stride: 2}
`
		s, err := ParseSpace([]byte(yaml), "ror.yaml")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := expandDecoded(t, s, Genome{})
		if a.RoR != tt.want {
			t.Errorf("input %s: ror = %v, want %v", tt.input, a.RoR, tt.want)
		}
	}
}

func TestBindGivesTheDataSetsShape(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	if err := s.Bind(Shape{C: 3, H: 5, W: 6}, 7); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	for range 300 {
		a, net := expandDecoded(t, s, s.Random(rng))
		if a.Input != (Shape{C: 3, H: 5, W: 6}) || net.Layers[net.Outputs[0]].Shape != (Shape{C: 7, H: 1, W: 1}) {
			t.Fatalf("bound to 3×5×6 and 7 classes, a genome decodes to input %v and output %v", a.Input, net.Layers[net.Outputs[0]].Shape)
		}
	}
	var ce *ConfigError
	if err := s.Bind(Shape{C: 1, H: 28, W: 28}, 0); !errors.As(err, &ce) || ce.Field != "classes" {
		t.Errorf("Bind with 0 classes: %v, want an error of field classes", err)
	}
}

func TestUnboundSpace(t *testing.T) {
	s, err := ParseSpace([]byte("stages:\n  - {families: [basic], width: [4, 8]}\n"), "unbound.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := s.Random(rand.New(rand.NewSource(1)))
	if _, err := s.Decode(g); !errors.Is(err, errUnbound) {
		t.Errorf("Decode on an unbound space: %v, want %v", err, errUnbound)
	}
	if err := s.Bind(Shape{C: 1, H: 8, W: 8}, 2); err != nil {
		t.Fatal(err)
	}
	expandDecoded(t, s, g)
}

func TestKeyIgnoresGenesTheNetworkDoesNotUse(t *testing.T) {
	s := loadSpace(t, "testdata/searchspace/every_family.yaml")
	rng := rand.New(rand.NewSource(4))
	unusedChanged := 0
	for range 200 {
		g := s.Random(rng)
		used := make([]bool, len(g))
		if _, err := s.decode(g, used); err != nil {
			t.Fatal(err)
		}
		key := s.Key(g)
		var unused []int
		for i, u := range used {
			if !u {
				unused = append(unused, i)
			}
		}
		rng.Shuffle(len(unused), func(i, j int) { unused[i], unused[j] = unused[j], unused[i] })
		for _, i := range unused[:min(3, len(unused))] {
			h := slices.Clone(g)
			s.change(h, i, rng)
			if got := s.Key(h); got != key {
				t.Fatalf("changing unused gene %d (%s) of %v changed the key", i, s.genes[i].name, g)
			}
			unusedChanged++
		}
	}
	if unusedChanged == 0 {
		t.Fatal("no genome had an unused gene")
	}
}

func TestDecodeTakesGenesModuloTheirValues(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	rng := rand.New(rand.NewSource(5))
	for range 100 {
		g := s.Random(rng)
		wrapped := slices.Clone(g)
		for i, gene := range s.Genes() {
			wrapped[i] += uint16(len(gene.Values) * (1 + rng.Intn(100)))
		}
		if s.Key(g) != s.Key(wrapped) {
			t.Fatalf("%v and %v select the same values but decode differently", g, wrapped)
		}
	}
	if _, err := s.Decode(Genome{1, 2}); err == nil {
		t.Error("Decode accepted a genome of 2 genes")
	}
}

func TestCheckEnforcesTheBudget(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	rng := rand.New(rand.NewSource(6))
	type sample struct {
		g Genome
		c Counts
	}
	var samples []sample
	for range 200 {
		g := s.Random(rng)
		a, _ := expandDecoded(t, s, g)
		c, err := a.Counts()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(g); err != nil {
			t.Fatalf("Check without a budget: %v", err)
		}
		samples = append(samples, sample{g, c})
	}
	const batch = 64
	for _, q := range []struct {
		name   string
		value  func(Counts) int64
		budget func(int64) Budget
	}{
		{"params", func(c Counts) int64 { return c.Params }, func(v int64) Budget { return Budget{MaxParams: v} }},
		{"MACs", func(c Counts) int64 { return c.MACs }, func(v int64) Budget { return Budget{MaxMACs: v} }},
		{"training memory", func(c Counts) int64 { return c.TrainMemory(batch) }, func(v int64) Budget { return Budget{MaxTrainMemory: v, Batch: batch} }},
	} {
		values := make([]int64, len(samples))
		for i, sm := range samples {
			values[i] = q.value(sm.c)
		}
		sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
		limit := values[len(values)/2]
		s.Budget = q.budget(limit)
		over := 0
		for _, sm := range samples {
			err := s.Check(sm.g)
			v := q.value(sm.c)
			var be *BudgetError
			switch {
			case v <= limit && err != nil:
				t.Errorf("%s %d within the budget of %d: Check says %v", q.name, v, limit, err)
			case v > limit && (!errors.As(err, &be) || *be != BudgetError{Quantity: q.name, Value: v, Limit: limit}):
				t.Errorf("%s %d over the budget of %d: Check says %v", q.name, v, limit, err)
			case v > limit:
				over++
			}
		}
		if over == 0 {
			t.Errorf("%s: no sample was over the median", q.name)
		}
	}
	s.Budget = Budget{MaxTrainMemory: 1}
	defer func() {
		if recover() == nil {
			t.Error("Check with MaxTrainMemory and no batch size did not panic")
		}
	}()
	_ = s.Check(samples[0].g)
}

func TestShippedSpacesAreSmallEnough(t *testing.T) {
	// fashion_small is for networks that train in about a minute per epoch on two cores:
	// most should stay within 10 M MACs per image (a ResNet-20 on 28x28 has 31 M).
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	rng := rand.New(rand.NewSource(7))
	var macs []int64
	for range 1000 {
		a, _ := expandDecoded(t, s, s.Random(rng))
		c, _ := a.Counts()
		macs = append(macs, c.MACs)
	}
	slices.Sort(macs)
	p := func(q float64) int64 { return macs[int(q*float64(len(macs)-1))] }
	t.Logf("fashion_small MACs per image: min %d, median %d, 90%% %d, max %d", p(0), p(0.5), p(0.9), p(1))
	if p(0.9) > 10_000_000 {
		t.Errorf("9 in 10 random fashion_small networks should have at most 10 M MACs; the 90th percentile has %d", p(0.9))
	}
}

func TestSpaceErrors(t *testing.T) {
	const frame = "input: [1, 28, 28]\nclasses: 10\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", frame + "stagse: []\n",
			`bad.yaml:3:1: field "stagse": unknown field "stagse"; valid fields here: classes, families, head, input, name, options, ror, stages, stem, stochastic_depth`},
		{"unknown slot key", frame + "stages:\n  - {families: [basic], width: 8, dpeth: 2}\n",
			`bad.yaml:4:35: field "stages[0].dpeth": unknown field "dpeth"; valid fields here: depth, families, options, stride, width`},
		{"unknown key in a stem layer", frame + "stem:\n  - {op: conv, filter: 8}\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:4:16: field "stem[0].filter": unknown field "filter"; valid fields here: bias, bn, ceil, exclude_pad, filters, groups, kernel, op, out, p, padding, relu, stride`},
		{"no stages", frame,
			`bad.yaml:1:1: field "stages": missing: a search space needs at least one stage slot`},
		{"unknown family", frame + "stages:\n  - families: [basic, resnet]\n    width: 8\n",
			`bad.yaml:4:23: field "stages[0].families[1]": must be one of plain, mlpconv, basic, bottleneck, preact_basic, preact_bottleneck, wide, resnext, dense, inception, incres_a, incres_b, incres_c, genetic_stage, or a list of them (got "resnet")`},
		{"a family listed twice", frame + "families: [basic, basic]\nstages:\n  - {width: 8}\n",
			`bad.yaml:3:19: field "families[1]": lists basic twice`},
		{"no families", frame + "stages:\n  - {width: 8}\n",
			`bad.yaml:4:5: field "stages[0].families": missing: the block families the stage may use (here or for the whole space), any of plain, mlpconv, basic, bottleneck, preact_basic, preact_bottleneck, wide, resnext, dense, inception, incres_a, incres_b, incres_c, genetic_stage`},
		{"no width", frame + "stages:\n  - {families: [dense, basic], options: {growth_rate: 4}}\n",
			`bad.yaml:4:5: field "stages[0].width": missing: family basic needs the widths the stage may have`},
		{"a width of the wrong type", frame + "stages:\n  - {families: [basic], width: [8, wide]}\n",
			`bad.yaml:4:36: field "stages[0].width[1]": must be an integer between 1 and 65536, a list of them, or a range {min, max, step} (got "wide")`},
		{"an empty list", frame + "stages:\n  - {families: [basic], width: []}\n",
			`bad.yaml:4:25: field "stages[0].width": must list at least one value, each an integer between 1 and 65536`},
		{"a stride of 3", frame + "stages:\n  - {families: [basic], width: 8, stride: [1, 3]}\n",
			`bad.yaml:4:47: field "stages[0].stride[1]": must be an integer between 1 and 2, a list of them, or a range {min, max, step} (got "3")`},
		{"a range upside down", frame + "stages:\n  - {families: [basic], width: 8, depth: {min: 3, max: 1}}\n",
			`bad.yaml:4:51: field "stages[0].depth.max": must be at least min (3); got 1`},
		{"a range with an unknown key", frame + "stages:\n  - {families: [basic], width: {min: 8, to: 16}}\n",
			`bad.yaml:4:41: field "stages[0].width.to": unknown field "to" of a range; valid fields here: max, min, step`},
		{"a range of floats without a step", frame + "options: {drop_path: {min: 0, max: 0.2}}\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:3:11: field "options.drop_path.step": missing: a range needs min, max and step (step defaults to 1 for integers)`},
		{"a range of too many values", frame + "options: {dropout: {min: 0, max: 0.9, step: 0.000001}}\nstages:\n  - {families: [wide], width: 8}\n",
			`bad.yaml:3:39: field "options.dropout.step": must be positive and give at most 65536 values (got 1e-06)`},
		{"a range that gives invalid values", frame + "options: {kernel: {min: 1, max: 5}}\nstages:\n  - {families: [plain], width: 8}\n",
			`bad.yaml:3:11: field "options.kernel": the range gives 2, which is not valid: each value must be an odd integer between 1 and 15`},
		{"every slot may be left out", frame + "stages:\n  - {families: [basic], width: 8, depth: [0, 1]}\n",
			`bad.yaml:3:1: field "stages": every stage slot may have depth 0; at least one must have a depth of at least 1, so that every network has a stage`},
		{"unknown option", frame + "options: {se: [none, 4], squeeze: [2]}\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:3:26: field "options.squeeze": unknown search option "squeeze"; valid options: se, shortcut, stride_on, kernel, cardinality, widen_factor, growth_rate, bn_size, compression, dropout, scale, drop_path, nodes`},
		{"an SE ratio of 0", frame + "options: {se: [none, 0]}\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:3:22: field "options.se[1]": must be none or a reduction ratio between 1 and 65536, a list of them, or a range {min, max, step} (got "0")`},
		{"a stage option no family takes", frame + "stages:\n  - {families: [basic, plain], width: 8, options: {growth_rate: [12]}}\n",
			`bad.yaml:4:52: field "stages[0].options.growth_rate": applies to none of the stage's families (basic, plain)`},
		{"resnext without cardinality", frame + "stages:\n  - {families: [basic, resnext], width: 8}\n",
			`bad.yaml:4:6: field "stages[0].families": family resnext needs the values of cardinality: set options.cardinality in the stage or for the whole space`},
		{"a stochastic depth out of range", frame + "stochastic_depth: [none, 1.5]\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:3:26: field "stochastic_depth[1]": must be none or a final survival probability in (0, 1], a list of them, or a range {min, max, step} (got "1.5")`},
		{"ror of the wrong type", frame + "ror: [yes]\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:3:7: field "ror[0]": must be true or false, or a list of them (got "yes")`},
		{"a head that needs a shape", frame + "stages:\n  - {families: [basic], width: 8}\nhead:\n  - {op: avgpool, kernel: 7}\n  - {op: linear}\n",
			`bad.yaml:6:6: field "head[0].op": a search space's head takes inputs of every shape, so it cannot use "avgpool"; valid ops: batchnorm, relu, globalavgpool, flatten, dropout, linear`},
		{"a stem that shrinks the map away", "input: [1, 4, 4]\nclasses: 10\nstem:\n  - {op: conv, filters: 8, kernel: 5}\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:4:5: field "stem[0]": the feature map shrinks below 1×1 at stem.conv1 (5x5 conv, stride 1, padding 0, on 4x4); use a smaller stride or a larger input`},
		{"input without classes", "input: [1, 28, 28]\nstages:\n  - {families: [basic], width: 8}\n",
			`bad.yaml:1:1: field "classes": missing: the number of classes, e.g. 10`},
		{"a duplicate key", frame + "stages:\n  - {families: [basic], width: 8, width: 16}\n",
			`bad.yaml:4:35: field "stages[0].width": mapping key "width" already defined at [4:25]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpace([]byte(tt.yaml), "bad.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseSpace: %v, want a *ConfigError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("ParseSpace error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestLoadSpaceNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "space.yaml")
	if err := os.WriteFile(path, []byte("stages:\n  - {families: [basic]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSpace(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2:5: ") {
		t.Errorf("LoadSpace: %v, want an error at %s:2:5", err, path)
	}
	if _, err := LoadSpace(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadSpace of a missing file: %v", err)
	}
}

func FuzzParseSpace(f *testing.F) {
	for _, path := range spaceFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("input: [1, 3, 3]\nclasses: 2\nstages:\n  - {families: [dense, inception], width: {min: 1, max: 9, step: 4}, stride: [1, 2], options: {growth_rate: 2, se: [none, 1]}}\n"))
	f.Add([]byte("stages: &a\n  - {families: *a}\n"))
	f.Add([]byte("stages:\n  - {families: [basic], width: !!int 8, depth: {min: 1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpace(data, "fuzz.yaml")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseSpace returned %T %v, want a *ConfigError", err, err)
			}
			return
		}
		if s.Classes() == 0 {
			return
		}
		rng := rand.New(rand.NewSource(int64(len(data))))
		for range 2 {
			g := s.Random(rng)
			expandDecoded(t, s, g)
			expandDecoded(t, s, s.Mutate(g, rng))
		}
	})
}

// shortcutIs returns a check that stage i's shortcut is want ("" for unset).
func shortcutIs(i int, want string) func(*testing.T, *Arch) {
	return func(t *testing.T, a *Arch) {
		if got := a.Stages[i].Shortcut; got != want {
			t.Errorf("stage %d's shortcut = %q, want %q", i, got, want)
		}
	}
}
