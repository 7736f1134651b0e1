package reports

import (
	"image/color"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gonas/nas/space"
)

func TestBudgetIsReadFromTheConfigsBudgetMapping(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         Budget
	}{
		{"evaluations and time", "strategy: ga\nbudget:\n  evaluations: 30\n  time: 15m\n", Budget{30, 15 * time.Minute}},
		{"flow mapping", "budget: {evaluations: 8}\n", Budget{Evaluations: 8}},
		{"other keys beside it", "budget: {time: 1h, trainings: 3}\nspace: x.yaml\n", Budget{Time: time.Hour}},
		{"no budget", "strategy: random\n", Budget{}},
		{"not YAML", "budget: [\n", Budget{}},
		{"negative", "budget: {evaluations: -3}\n", Budget{}},
		{"wrong type", "budget: {evaluations: many}\n", Budget{}},
		{"empty", "", Budget{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := budgetOf([]byte(tc.config)); got != tc.want {
				t.Errorf("budgetOf(%q) = %+v, want %+v", tc.config, got, tc.want)
			}
		})
	}
}

func FuzzBudgetOf(f *testing.F) {
	f.Add([]byte("budget: {evaluations: 20, time: 2h}\n"))
	f.Add([]byte("budget:\n  evaluations: 1e9\n  time: -5s\n"))
	f.Add([]byte("budget: 12\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, config []byte) {
		if b := budgetOf(config); b.Evaluations < 0 || b.Time < 0 {
			t.Errorf("budgetOf(%q) = %+v: a negative limit", config, b)
		}
	})
}

func TestGroupIsTheFamilyOfMostBlocks(t *testing.T) {
	for file, want := range map[string]string{
		"resnet20_mnist":            "residual basic",
		"se_resnet20_mnist":         "residual basic",
		"resnet29_bottleneck_mnist": "residual bottleneck",
		"preact_resnet20_mnist":     "pre-act. residual",
		"wrn_10_2_mnist":            "wide residual",
		"densenet_bc_k12_mnist":     "DenseNet",
		"googlenet_small_mnist":     "Inception",
		"inception_v3_small_mnist":  "Inception",
		"incres_v2_small_mnist":     "Inception-ResNet",
		"nin_small_mnist":           "mlpconv (NIN)",
		"vgg_small_mnist":           "plain (VGG)",
	} {
		a, err := space.Load(filepath.Join("../configs/baselines/small", file+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if got := groupOf(a).name; got != want {
			t.Errorf("%s: group %q, want %q", file, got, want)
		}
	}
	mixed := &space.Arch{Stages: []space.Stage{
		{Block: space.Block{Family: space.FamilyBasic}, Blocks: 2},
		{Block: space.Block{Family: space.FamilyDense}, Blocks: 2},
		{Block: space.Block{Family: space.FamilyTransition}, Blocks: 5},
		{Block: space.Block{Family: space.FamilyInception}, List: []space.Block{{}, {Family: space.FamilyIncResA}}},
		{Block: space.Block{Family: space.FamilyInceptionV3A}},
	}}
	if got := groupOf(mixed).name; got != "residual basic" {
		t.Errorf("a tie of 2 basic, 2 dense and 2 Inception blocks (and 5 transitions) went to %q, want the first, residual basic", got)
	}
	mixed.Stages[len(mixed.Stages)-1].Blocks = 2
	if got := groupOf(mixed).name; got != "Inception" {
		t.Errorf("3 Inception blocks of two kinds against 2 basic went to %q, want Inception", got)
	}
	if got := groupOf(&space.Arch{Stages: []space.Stage{{Block: space.Block{Family: "future"}}}}); got != otherGroup {
		t.Errorf("unknown family went to %+v, want %+v", got, otherGroup)
	}
}

func TestLogTicksLabelOneTwoFive(t *testing.T) {
	labels := func(lo, hi float64) (marks []float64, labelled []string) {
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			marks = append(marks, tk.Value)
			if tk.Label != "" {
				labelled = append(labelled, tk.Label)
			}
		}
		return marks, labelled
	}
	marks, got := labels(7e6, 6e7)
	if want := []string{"10M", "20M", "50M"}; !slices.Equal(got, want) {
		t.Errorf("7M–60M labelled %v, want %v", got, want)
	}
	if want := []float64{7e6, 8e6, 9e6, 1e7, 2e7, 3e7, 4e7, 5e7, 6e7}; !slices.Equal(marks, want) {
		t.Errorf("7M–60M marked %v, want %v", marks, want)
	}
	if _, got := labels(2.1e7, 4.5e7); !slices.Equal(got, []string{"30M", "40M"}) {
		t.Errorf("21M–45M labelled %v, want every mark, 30M and 40M, since 1-2-5 gives none", got)
	}
	if _, got := labels(900, 2.5e9); !slices.Equal(got, []string{"1k", "2k", "5k", "10k", "20k", "50k", "100k", "200k",
		"500k", "1M", "2M", "5M", "10M", "20M", "50M", "100M", "200M", "500M", "1G", "2G"}) {
		t.Errorf("900–2.5G labelled %v", got)
	}
}

func TestEveryFamilyGroupHasItsOwnColour(t *testing.T) {
	seen := map[color.RGBA]string{}
	for _, f := range space.Families() {
		g, ok := group(f)
		if !ok {
			continue
		}
		if _, own := colours[g.name]; !own {
			t.Errorf("group %s of family %s has no colour", g.name, f)
		}
		if other, dup := seen[g.colour]; dup && other != g.name {
			t.Errorf("groups %s and %s share a colour", other, g.name)
		}
		seen[g.colour] = g.name
	}
}
