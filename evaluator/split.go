package evaluator

import "github.com/gonas/nas/evaluator/data"

// Split is a data set's training images prepared for an evaluation: the recipe's validation
// split, the recipe's fraction of the rest to train on, and that part's normalisation. Preparing
// it copies the images, which costs a small network's trial several training steps; a worker
// whose trials share data set, fractions and seed prepares it once (Options.Split).
type Split struct {
	Train, Val *data.Set
	Norm       data.Norm
	key        splitKey
}

// splitKey is what a Split depends on.
type splitKey struct {
	train             *data.Set
	valFrac, dataFrac float64
	seed              uint64
}

func keyOf(ds *data.Dataset, r Recipe, seed uint64) splitKey {
	return splitKey{train: ds.Train, valFrac: r.ValFraction, dataFrac: r.DataFraction, seed: seed}
}

// NewSplit prepares ds's training images for an evaluation under r with seed, as Evaluate does.
// The Split shares no memory that an evaluation writes, so evaluations may use it concurrently.
func NewSplit(ds *data.Dataset, r Recipe, seed uint64) *Split {
	train, val := ds.Train.Split(r.ValFraction, seed)
	if r.DataFraction < 1 {
		train = train.Subset(r.DataFraction, seed)
	}
	return &Split{Train: train, Val: val, Norm: train.Norm(), key: keyOf(ds, r, seed)}
}

// Fits tells whether s is the Split that NewSplit(ds, r, seed) would prepare.
func (s *Split) Fits(ds *data.Dataset, r Recipe, seed uint64) bool {
	return s != nil && s.key == keyOf(ds, r, seed)
}
