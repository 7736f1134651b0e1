// Package search drives evolutionary architecture search on github.com/MaxHalford/eaopt: genomes
// from space, evaluation through the evaluator with the store as a cache, several strategies,
// constraints, multi-fidelity, parallel evaluation and resume.
package search
