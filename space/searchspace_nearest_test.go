package space

import (
	"math/rand"
	"path/filepath"
	"testing"
)

func TestNearestFindsAnExactlyRepresentableBaseline(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	a, err := Load("../configs/baselines/small/resnet20_mnist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, exact := s.Nearest(a)
	if !exact {
		got, _ := s.Decode(g)
		t.Fatalf("resnet20_mnist is not exact in fashion_small; nearest %v decodes to %+v", g, got.Stages)
	}
	want, err := a.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Key(g); got != want {
		t.Errorf("Key of the nearest genome is %s, resnet20_mnist hashes to %s", got, want)
	}
}

func TestNearestOfADecodedGenomeIsExact(t *testing.T) {
	for _, path := range spaceFiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := loadSpace(t, path)
			if s.Classes() == 0 {
				if err := s.Bind(Shape{C: 3, H: 17, W: 13}, 5); err != nil {
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewSource(1))
			exact := 0
			const n = 200
			for range n {
				g := s.Random(rng)
				a, err := s.Decode(g)
				if err != nil {
					t.Fatal(err)
				}
				near, ok := s.Nearest(a)
				if ok {
					exact++
					if s.Key(near) != s.Key(g) {
						t.Fatalf("Nearest of %v says exact, but its key differs", g)
					}
				}
			}
			// Slots of depth 0 in the middle of a space shift the stages; every shipped space
			// leaves only its last slot out, where every network must be found again.
			if exact < n*9/10 {
				t.Errorf("%d of %d decoded networks found exactly; want nearly all", exact, n)
			}
			t.Logf("%d of %d exact", exact, n)
		})
	}
}

func TestNearestOfEveryBaselineDecodes(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	paths, err := filepath.Glob("../configs/baselines/small/*mnist.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no baselines: %v", err)
	}
	for _, path := range paths {
		a, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		g, exact := s.Nearest(a)
		got, err := s.Decode(g)
		if err != nil {
			t.Fatalf("%s: the nearest genome does not decode: %v", a.Name, err)
		}
		want, _ := a.Hash()
		h, _ := got.Hash()
		if exact != (h == want) {
			t.Errorf("%s: exact is %v, but the hashes are %s and %s", a.Name, exact, h, want)
		}
		t.Logf("%s: exact %v", a.Name, exact)
	}
}

func TestNearestOfANetworkTheSpaceCannotExpress(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	a, err := Load("../configs/baselines/small/vgg_small_mnist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, exact := s.Nearest(a)
	if exact {
		t.Fatal("vgg_small_mnist is exact in fashion_small, whose families have no plain block")
	}
	if len(g) != len(s.Genes()) {
		t.Fatalf("a genome of %d genes, want %d", len(g), len(s.Genes()))
	}
	if err := s.Check(g); err != nil {
		t.Errorf("the nearest genome is not valid: %v", err)
	}
}

func TestNearestNeverPanics(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	for name, a := range map[string]*Arch{
		"nil":                 nil,
		"empty":               {},
		"no stages":           {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10},
		"unknown family":      {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, Stages: []Stage{{Block: Block{Family: "nope", Width: -3}, Blocks: -1}}},
		"too many stages":     {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, Stages: make([]Stage, 9)},
		"only a transition":   {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, Stages: []Stage{{Block: Block{Family: FamilyTransition, Compression: 0.5}}}},
		"listed blocks":       {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, Stages: []Stage{{List: []Block{{Family: FamilyBasic, Width: 8}, {Width: 8}}}}},
		"empty inception":     {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, Stages: []Stage{{Block: Block{Family: FamilyInception}}}},
		"stochastic depth":    {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, StochasticDepth: &StochasticDepth{FinalSurvival: 0.5}, RoR: true},
		"wide with a factor":  {Input: Shape{C: 1, H: 28, W: 28}, Classes: 10, Stages: []Stage{{Block: Block{Family: FamilyWide, Width: 4, WidenFactor: 4}}}},
		"another input shape": {Input: Shape{C: 3, H: 5, W: 5}, Classes: 2, Stages: []Stage{{Block: Block{Family: FamilyBasic, Width: 16}}}},
	} {
		t.Run(name, func(t *testing.T) {
			g, exact := s.Nearest(a)
			if exact {
				t.Error("exact, want false")
			}
			if _, err := s.Decode(g); err != nil {
				t.Errorf("the nearest genome does not decode: %v", err)
			}
		})
	}
}
