package search

import (
	"slices"
	"testing"
)

func TestParseSeeds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint64
	}{
		{"1-5", []uint64{1, 2, 3, 4, 5}},
		{"7", []uint64{7}},
		{"1,3, 10-12", []uint64{1, 3, 10, 11, 12}},
		{"0-0", []uint64{0}},
	} {
		got, err := ParseSeeds(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseSeeds(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "a", "5-1", "1-", "-3", "1,,2", "1-3,2", "0-20000"} {
		if got, err := ParseSeeds(bad); err == nil {
			t.Errorf("ParseSeeds(%q) = %v, want an error", bad, got)
		}
	}
}

func TestVariantKeepsTheBudgetAndThePopulation(t *testing.T) {
	e, err := LoadExperiment("../configs/search/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	budget, objectives := e.Evaluations, e.Objectives
	if err := e.Variant("random", 3); err != nil {
		t.Fatal(err)
	}
	if e.Name != "quick/random/s3" || e.Seed != 3 || e.Evaluations != budget || !slices.Equal(e.Objectives, objectives) {
		t.Errorf("variant %s seed %d, %d evaluations", e.Name, e.Seed, e.Evaluations)
	}
	if r, ok := e.Strategy.(Random); !ok || r.Batch != 8 {
		t.Errorf("strategy %#v, want random search in batches of nsga2's population of 8", e.Strategy)
	}

	e, err = LoadExperiment("../configs/search/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yamlStrategy := e.Strategy
	if err := e.Variant("nsga2", 2); err != nil {
		t.Fatal(err)
	}
	if e.Strategy != yamlStrategy || e.Name != "quick/nsga2/s2" {
		t.Errorf("the YAML's own strategy became %#v named %s; want its parameters kept", e.Strategy, e.Name)
	}
	if ConfigMaxMACs(e.Config) != 10_000_000 {
		t.Errorf("ConfigMaxMACs = %d, want quick's 10M", ConfigMaxMACs(e.Config))
	}
}
