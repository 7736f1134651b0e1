package space

import (
	"math/rand"
	"testing"
)

func loadGeneticSpace(t *testing.T, name string) *SearchSpace {
	t.Helper()
	s, err := LoadSpace("../configs/spaces/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The genome of the paper's spaces is their connection bits, K(K−1)/2 per stage, and every
// genome decodes to the network of its code.
func TestGeneticSpaceGenomeIsTheBits(t *testing.T) {
	for name, bits := range map[string]int{"genetic_cnn_mnist": 3 + 10, "genetic_cnn_cifar": 3 + 6 + 10} {
		s := loadGeneticSpace(t, name)
		if got := len(s.Genes()); got != bits {
			t.Errorf("%s: %d genes, want %d bits", name, got, bits)
		}
		rng := rand.New(rand.NewSource(1))
		for range 50 {
			g := s.Random(rng)
			a, err := s.Decode(g)
			if err != nil {
				t.Fatal(err)
			}
			// The code of each stage is the genome's bits in order.
			off := 0
			for _, st := range a.Stages {
				c, err := parseGeneticCode(st.Code)
				if err != nil {
					t.Fatal(err)
				}
				for j := 1; j < c.k; j++ {
					for i := range j {
						if c.edge[i][j] != (g[off] == 1) {
							t.Fatalf("%s: genome %v gives code %s", name, g, st.Code)
						}
						off++
					}
				}
			}
			if _, err := a.Expand(); err != nil {
				t.Fatalf("%s: genome %v: %v", name, g, err)
			}
			back, err := s.DecodeGenome(s.Encode(g))
			if err != nil || s.Distance(back, g) != 0 {
				t.Fatalf("%s: genome %v encodes and decodes to %v (%v)", name, g, back, err)
			}
		}
	}
}

// Crossover exchanges whole stages: each stage's bits of the child are one parent's.
func TestGeneticCrossoverExchangesStages(t *testing.T) {
	s := loadGeneticSpace(t, "genetic_cnn_cifar")
	rng := rand.New(rand.NewSource(2))
	stages := [][2]int{{0, 3}, {3, 9}, {9, 19}}
	mixed := false
	for range 200 {
		a, b := s.Random(rng), s.Random(rng)
		c := s.Crossover(a, b, rng)
		for _, st := range stages {
			fromA, fromB := true, true
			for i := st[0]; i < st[1]; i++ {
				fromA = fromA && c[i] == a[i]
				fromB = fromB && c[i] == b[i]
			}
			if !fromA && !fromB {
				t.Fatalf("child %v mixes the bits of stage %v of %v and %v", c, st, a, b)
			}
			mixed = mixed || (fromB && !fromA)
		}
	}
	if !mixed {
		t.Error("crossover never took a stage from the second parent")
	}
}

// Mutation flips bits: the child differs from its parent in at least one bit, and in few.
func TestGeneticMutationFlipsBits(t *testing.T) {
	s := loadGeneticSpace(t, "genetic_cnn_mnist")
	rng := rand.New(rand.NewSource(3))
	total := 0
	for range 500 {
		g := s.Random(rng)
		c := s.Mutate(g, rng)
		d := 0
		for i := range g {
			if c[i] > 1 {
				t.Fatalf("mutation gave bit value %d", c[i])
			}
			if c[i] != g[i] {
				d++
			}
		}
		if d == 0 {
			t.Fatalf("mutation of %v changed nothing", g)
		}
		total += d
	}
	if mean := float64(total) / 500; mean > 3 {
		t.Errorf("mutation flips %.1f bits on average, want about 2 of 13", mean)
	}
}

// Nearest maps the paper's named structures to the genomes of their codes, exactly.
func TestGeneticNearestFindsThePaperStructures(t *testing.T) {
	s := loadGeneticSpace(t, "genetic_cnn_mnist")
	for name, want := range map[string]Genome{
		"chain": {1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1},
		"dense": {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	} {
		a, err := Load(baselines + "genetic/genetic_cnn_" + name + "_mnist.yaml")
		if err != nil {
			t.Fatal(err)
		}
		g, exact := s.Nearest(a)
		if !exact || s.Distance(g, want) != 0 {
			t.Errorf("%s: Nearest gives %v (exact %v), want %v", name, g, exact, want)
		}
	}
}
