package search

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gonas/nas/space"
)

// geneticSpace is a tiny Genetic CNN space: two stages of 3 and 4 nodes, 9 bits.
const geneticSpace = `name: genetic_tiny
families: [genetic_stage]
stages:
  - {width: 4, stride: 2, options: {nodes: 3}}
  - {width: 4, stride: 2, options: {nodes: 4}}
`

// A GA over the Genetic CNN encoding runs end to end on the synthetic set: every trial is a
// network of genetic stages, and the search reaches several distinct codes.
func TestGeneticCNNSearchEndToEnd(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "genetic.yaml"), []byte(geneticSpace), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `space: genetic.yaml
dataset: synthetic
recipe: {epochs: 1, batch: 32, data_fraction: 0.02, val_fraction: 0.02}
strategy: {name: ga, pop_size: 4, tournament: 2, cross_rate: 0.8, mut_rate: 0.8}
objectives: [val_acc]
budget: {evaluations: 8}
seed: 3
`
	e := parseExperiment(t, yaml, filepath.Join(dir, "gcnn.yaml"))
	sum, trained, st := runCountingTrainings(t, e)
	if sum.Stats.Trained == 0 || len(trained) < 3 {
		t.Fatalf("trained %d networks (%d distinct); stats %+v", sum.Stats.Trained, len(trained), sum.Stats)
	}
	codes := map[string]bool{}
	for _, tr := range storedTrials(t, st, e.Name) {
		rec, err := st.Arch(context.Background(), tr.Arch)
		if err != nil {
			t.Fatal(err)
		}
		var a space.Arch
		if err := json.Unmarshal(rec.JSON, &a); err != nil {
			t.Fatalf("trial arch %s: %v", tr.Arch, err)
		}
		if len(a.Stages) != 2 {
			t.Fatalf("trial of %d stages, want 2: %s", len(a.Stages), tr.Arch)
		}
		key := ""
		for _, s := range a.Stages {
			if s.Family != space.FamilyGeneticStage || s.Pool == nil {
				t.Fatalf("trial stage %+v is not a pooled genetic stage", s)
			}
			key += s.Code + " "
		}
		codes[key] = true
	}
	if len(codes) < 3 {
		t.Errorf("the search reached %d distinct codes: %v", len(codes), codes)
	}
}
