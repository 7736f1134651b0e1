package reports

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gonas/nas/store"
)

// Source is what reports read from the store. *store.DB implements it.
type Source interface {
	Experiments(ctx context.Context) ([]store.Experiment, error)
	Experiment(ctx context.Context, name string) (store.Experiment, error)
	Trials(ctx context.Context, experimentID int64) ([]store.Trial, error)
	Evaluations(ctx context.Context, experimentID int64) ([]store.Evaluation, error)
}

// Data is what a report is computed from: one experiment with all its trials and its finished
// evaluations, as the store returned them.
type Data struct {
	Experiment  store.Experiment
	Trials      []store.Trial
	Evaluations []store.Evaluation
}

// ErrNoExperiment is returned by Fetch when the store holds no experiment at all.
var ErrNoExperiment = errors.New("no experiment in the database; run nas search first")

// Fetch reads the experiment called name from src, or the most recently created one when name is
// empty. An unknown name gives an error wrapping store.ErrNotFound that lists the experiments
// there are.
func Fetch(ctx context.Context, src Source, name string) (*Data, error) {
	var d Data
	if name == "" {
		es, err := src.Experiments(ctx)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			return nil, ErrNoExperiment
		}
		d.Experiment = es[len(es)-1]
	} else {
		e, err := src.Experiment(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, unknownExperiment(ctx, src, name, err)
		}
		if err != nil {
			return nil, err
		}
		d.Experiment = e
	}
	var err error
	if d.Trials, err = src.Trials(ctx, d.Experiment.ID); err != nil {
		return nil, err
	}
	if d.Evaluations, err = src.Evaluations(ctx, d.Experiment.ID); err != nil {
		return nil, err
	}
	return &d, nil
}

// unknownExperiment extends notFound with the names of the experiments that are stored.
func unknownExperiment(ctx context.Context, src Source, name string, notFound error) error {
	es, err := src.Experiments(ctx)
	if err != nil {
		return notFound
	}
	if len(es) == 0 {
		return fmt.Errorf("%w; %w", notFound, ErrNoExperiment)
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name
	}
	return fmt.Errorf("%w; the database holds: %s", notFound, strings.Join(names, ", "))
}
