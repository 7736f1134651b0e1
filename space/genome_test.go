package space

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMutate(t *testing.T) {
	for _, path := range spaceFiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s := loadSpace(t, path)
			rng := rand.New(rand.NewSource(1))
			const n = 500
			changedNet, genes := 0, 0
			for range n {
				parent := s.Random(rng)
				before := slices.Clone(parent)
				child := s.Mutate(parent, rng)
				if !slices.Equal(parent, before) {
					t.Fatalf("Mutate modified its parent: %v became %v", before, parent)
				}
				if s.Distance(parent, child) == 0 {
					t.Fatalf("Mutate(%v) = %v selects the same values", parent, child)
				}
				for i := range child {
					if int(child[i]) >= len(s.genes[i].text) {
						t.Fatalf("Mutate gave gene %d the value %d of %d", i, child[i], len(s.genes[i].text))
					}
					if child[i] != parent[i] {
						genes++
					}
				}
				expandDecoded(t, s, child)
				if s.Key(child) != s.Key(parent) {
					changedNet++
				}
			}
			rate := float64(changedNet) / n
			t.Logf("%d mutations changed %.2f genes on average and the network in %.1f%% of cases", n, float64(genes)/n, 100*rate)
			if rate < 0.9 {
				t.Errorf("mutation changed the network in only %.1f%% of cases", 100*rate)
			}
		})
	}
}

func TestMutateIsDeterministic(t *testing.T) {
	s := loadSpace(t, "testdata/searchspace/every_family.yaml")
	g := s.Random(rand.New(rand.NewSource(1)))
	a := s.Mutate(g, rand.New(rand.NewSource(7)))
	b := s.Mutate(g, rand.New(rand.NewSource(7)))
	if !slices.Equal(a, b) {
		t.Errorf("two mutations with the same seed differ: %v and %v", a, b)
	}
}

func TestCrossover(t *testing.T) {
	s := loadSpace(t, "testdata/searchspace/every_family.yaml")
	rng := rand.New(rand.NewSource(2))
	fromB := make([]int, len(s.units))
	const n = 400
	for range n {
		a, b := s.Random(rng), s.Random(rng)
		a0, b0 := slices.Clone(a), slices.Clone(b)
		child := s.Crossover(a, b, rng)
		if !slices.Equal(a, a0) || !slices.Equal(b, b0) {
			t.Fatal("Crossover modified a parent")
		}
		// Every unit (a stage slot's genes, or a network-wide gene) comes whole from one parent.
		for u, unit := range s.units {
			var same func(int) bool
			switch i := unit[0]; {
			case child[i] == a[i] && child[i] != b[i]:
				same = func(i int) bool { return child[i] == a[i] }
			case child[i] == b[i] && child[i] != a[i]:
				same = func(i int) bool { return child[i] == b[i] }
				fromB[u]++
			default:
				same = func(i int) bool { return child[i] == a[i] || child[i] == b[i] }
			}
			for _, i := range unit {
				if !same(i) {
					t.Fatalf("unit %v of child %v mixes parents %v and %v", unit, child, a, b)
				}
			}
		}
		expandDecoded(t, s, child)
	}
	for u, k := range fromB {
		// Each unit comes from b with probability 1/2, less the genes on which a and b agree (half
		// the time for a gene of two values).
		if k < n/8 || k > n*3/4 {
			t.Errorf("unit %v came from the second parent %d times in %d", s.units[u], k, n)
		}
	}
	var genes []int
	for _, unit := range s.units {
		genes = append(genes, unit...)
	}
	slices.Sort(genes)
	if !slices.Equal(genes, seq(0, len(s.genes))) {
		t.Errorf("the crossover units %v do not cover each of the %d genes once", s.units, len(s.genes))
	}
}

func TestDistance(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	rng := rand.New(rand.NewSource(3))
	n := float64(len(s.genes))
	for range 100 {
		a, b := s.Random(rng), s.Random(rng)
		if d := s.Distance(a, a); d != 0 {
			t.Fatalf("Distance(a, a) = %v", d)
		}
		if s.Distance(a, b) != s.Distance(b, a) {
			t.Fatal("Distance is not symmetric")
		}
		one := slices.Clone(a)
		s.change(one, rng.Intn(len(one)), rng)
		if d := s.Distance(a, one); d != 1/n {
			t.Fatalf("one gene apart: Distance = %v, want %v", d, 1/n)
		}
		wrapped := slices.Clone(a)
		for i, d := range s.genes {
			wrapped[i] += uint16(len(d.text))
			one[i] = uint16((int(a[i]) + 1) % len(d.text))
		}
		if d := s.Distance(a, wrapped); d != 0 {
			t.Fatalf("genomes that select the same values: Distance = %v", d)
		}
		if d := s.Distance(a, one); d != 1 {
			t.Fatalf("genomes that differ in every gene: Distance = %v", d)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	wide, err := ParseSpace([]byte("name: wide\ninput: [1, 8, 8]\nclasses: 2\nstages:\n  - {families: [plain, basic], width: {min: 1, max: 1000}, depth: [1, 2]}\n"), "wide.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spaces := []*SearchSpace{wide}
	for _, path := range spaceFiles {
		spaces = append(spaces, loadSpace(t, path))
	}
	rng := rand.New(rand.NewSource(4))
	for _, s := range spaces {
		bytesPerGene := 0
		for _, d := range s.genes {
			bytesPerGene++
			if len(d.text) > 256 {
				bytesPerGene++
			}
		}
		for range 200 {
			g := s.Random(rng)
			data := s.Encode(g)
			if len(data) != 5+bytesPerGene {
				t.Fatalf("%s: Encode gave %d bytes for %d genes", s.Name, len(data), len(g))
			}
			back, err := s.DecodeGenome(data)
			if err != nil || !slices.Equal(back, g) {
				t.Fatalf("%s: DecodeGenome(Encode(%v)) = %v, %v", s.Name, g, back, err)
			}
		}
	}
	// Encode writes the values genes select, so that a genome and its wrapped twin encode alike.
	s := spaces[1]
	g := s.Random(rng)
	wrapped := slices.Clone(g)
	for i, d := range s.genes {
		wrapped[i] += uint16(len(d.text))
	}
	if !bytes.Equal(s.Encode(g), s.Encode(wrapped)) {
		t.Error("a genome and its twin that selects the same values encode differently")
	}
}

func TestDecodeGenomeRejects(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	other := loadSpace(t, "../configs/spaces/cifar_resnets.yaml")
	// The same genes with one more width value: a space whose genomes mean something else.
	data, err := os.ReadFile("../configs/spaces/fashion_small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edited, err := ParseSpace(bytes.Replace(data, []byte("width: [8, 12, 16]"), []byte("width: [8, 12, 20]"), 1), "edited.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(5))
	good := s.Encode(s.Random(rng))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"nothing", nil, "has 0 bytes, not 38"},
		{"a truncated genome", good[:len(good)-1], "has 37 bytes, not 38"},
		{"a byte too many", append(slices.Clone(good), 0), "has 39 bytes, not 38"},
		{"another format", append([]byte{2}, good[1:]...), "format 2"},
		{"another space's genome", append(other.Encode(other.Random(rng)), make([]byte, 38-34)...), "encoded for another search space"},
		{"an edited space's genome", edited.Encode(edited.Random(rng)), "encoded for another search space"},
		{"a gene beyond its values", append(slices.Clone(good[:5]), append([]byte{2}, good[6:]...)...), "gene 0 (ror) of the encoded genome is 2, but it has 2 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := s.DecodeGenome(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeGenome = %v, %v; want an error containing %q", g, err, tt.want)
			}
		})
	}
}

func TestGenomeOperatorsPanicOnAnotherLength(t *testing.T) {
	s := loadSpace(t, "../configs/spaces/fashion_small.yaml")
	rng := rand.New(rand.NewSource(6))
	short := Genome{1, 2, 3}
	for name, f := range map[string]func(){
		"Mutate":    func() { s.Mutate(short, rng) },
		"Crossover": func() { s.Crossover(s.Random(rng), short, rng) },
		"Distance":  func() { s.Distance(short, s.Random(rng)) },
		"Encode":    func() { s.Encode(short) },
		"Key":       func() { s.Key(short) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of a genome of 3 genes did not panic", name)
				}
			}()
			f()
		}()
	}
}

func FuzzDecodeGenome(f *testing.F) {
	s, err := LoadSpace("testdata/searchspace/every_family.yaml")
	if err != nil {
		f.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for range 4 {
		f.Add(s.Encode(s.Random(rng)))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := s.DecodeGenome(data)
		if err != nil {
			return
		}
		if back := s.Encode(g); !bytes.Equal(back, data) {
			t.Fatalf("DecodeGenome(%x) = %v, which encodes to %x", data, g, back)
		}
		expandDecoded(t, s, g)
	})
}

// The operators search calls per proposal, on fashion_small.
func BenchmarkGenome(b *testing.B) {
	s := loadSpace(b, "../configs/spaces/fashion_small.yaml")
	s.Budget = Budget{MaxMACs: 10_000_000}
	rng := rand.New(rand.NewSource(1))
	g := s.Random(rng)
	for _, bm := range []struct {
		name string
		f    func()
	}{
		{"Decode", func() { _, _ = s.Decode(g) }},
		{"Mutate", func() { s.Mutate(g, rng) }},
		{"Crossover", func() { s.Crossover(g, g, rng) }},
		{"Check", func() { _ = s.Check(g) }},
		{"Key", func() { s.Key(g) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				bm.f()
			}
		})
	}
}
