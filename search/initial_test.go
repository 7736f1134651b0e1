package search

import (
	"context"
	"reflect"
	"testing"
)

func TestInitialGenomesStartTheFirstPopulationOfEveryStrategy(t *testing.T) {
	sp := bits{n: 10, maxOnes: 7}
	over := "1111111111" // more ones than maxOnes: skipped, not an error
	initial := []string{"0000000001", over, "1000000000"}
	for _, s := range []Strategy{
		Random{Batch: 4},
		GA{PopSize: 6, Tournament: 2, Elite: 1, CrossRate: 0.5, MutRate: 1},
		NSGA2{PopSize: 6, CrossRate: 0.9, MutRate: 1},
		RegEvo{Population: 6, Sample: 2, Batch: 2},
	} {
		t.Run(s.Name(), func(t *testing.T) {
			run := func(initial []string) *Result[string] {
				res, err := Run(context.Background(), sp, newRecorder(twoObjectives{f: newNK(10, 2, 3)}.outcome), nil, Config[string]{
					Strategy: s, Seed: 3, Objectives: 2, Budget: 30, Initial: initial,
				})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			res := run(initial)
			if got := []string{res.Trials[0].Genome, res.Trials[1].Genome}; !reflect.DeepEqual(got, []string{initial[0], initial[2]}) {
				t.Errorf("the first trials are %v, want the initial genomes that meet the constraints, %v", got, []string{initial[0], initial[2]})
			}
			for i, tr := range res.Trials[:s.population()] {
				want := "init"
				if i < 2 {
					want = seedOperator
				}
				if tr.Batch != 0 || tr.Operator != want {
					t.Errorf("trial %d: batch %d, operator %q; want batch 0, operator %q", i, tr.Batch, tr.Operator, want)
				}
			}
			if res.Stats.Rejected < 1 {
				t.Errorf("%d rejected proposals; the initial genome over the constraints is one", res.Stats.Rejected)
			}
			if again := run(initial); !reflect.DeepEqual(genomes(again), genomes(res)) {
				t.Error("the same seed and initial genomes gave other trials")
			}
			// The random members of the first population are those a search without initial
			// genomes draws first.
			plain := run(nil)
			if got, want := genomes(res)[2:s.population()], genomes(plain)[:s.population()-2]; !reflect.DeepEqual(got, want) {
				t.Errorf("random members %v, want the first draws of a search without initial genomes, %v", got, want)
			}
		})
	}
}

// genomes returns the genomes of res's trials, in order.
func genomes(res *Result[string]) []string {
	var out []string
	for _, tr := range res.Trials {
		out = append(out, tr.Genome)
	}
	return out
}
