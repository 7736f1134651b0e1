// Package search drives evolutionary architecture search on github.com/MaxHalford/eaopt: it
// proposes genomes of a Space, has them evaluated by an Evaluator with a Cache in front, and keeps
// the trials. Four strategies share one driver: random search (the control), an elitist genetic
// algorithm, NSGA-II and regularized evolution, with constraints checked before any evaluation,
// optional successive halving over fidelity levels, K evaluations at once, and resume by replay.
//
// A search is a deterministic function of the seed, the space, the strategy's parameters and the
// evaluations' outcomes: every random draw comes from generators seeded by Config.Seed, candidates
// are proposed in batches (a generation, or a batch of children), and outcomes are consumed in
// proposal order whichever evaluation finishes first. Resuming is therefore replaying: run the
// same search again over the same cache, evaluations already done come back from the cache at
// once, and the search ends with exactly the trials of a run that was never interrupted.
//
// RunExperiment wires a search to the rest of nas: an Experiment read from YAML
// (configs/search/README.md describes the file) gives the space, the recipe, the strategy, the
// objectives, the constraints and the budget; the evaluator trains the candidates; and the store
// is both the Cache, across experiments, and the record of every trial. RunExperiment is a
// coordinator: RunQueued hands each fidelity level of each batch to the store's queue of trials,
// and Workers, in this process or in nas worker processes on other machines, train them.
package search
