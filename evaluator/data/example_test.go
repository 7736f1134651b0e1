package data_test

import (
	"context"
	"fmt"

	"github.com/gonas/nas/evaluator/data"
)

// A training run: hold out a validation split, normalise with the statistics of what is left,
// augment only the training batches.
func ExampleLoader() {
	ds, err := data.Open("synthetic")
	if err != nil {
		panic(err)
	}
	train, val := ds.Train.Split(data.DefaultValidation, 1)
	norm := train.Norm()
	ctx := context.Background()
	trainLoader := data.NewLoader(train, data.LoaderOptions{
		Batch: 128, Shuffle: true, Seed: 1, Norm: norm,
		Augment: data.Augment{Pad: 2, Erase: 0.5},
	})
	defer trainLoader.Close()
	valLoader := data.NewLoader(val, data.LoaderOptions{Batch: 256, Norm: norm})
	defer valLoader.Close()

	for epoch := range 2 {
		images := 0
		for b := range trainLoader.Epoch(ctx, epoch) {
			images += b.N // a training step would read b.X (N×28×28×1) and b.Y here
		}
		for b := range valLoader.Epoch(ctx, epoch) {
			_ = b // evaluate
		}
		fmt.Printf("epoch %d: %d training images in %d batches, %d validation images\n",
			epoch, images, trainLoader.Steps(), val.Len())
	}
	if err := trainLoader.Err(); err != nil {
		panic(err)
	}
	// Output:
	// epoch 0: 5400 training images in 43 batches, 600 validation images
	// epoch 1: 5400 training images in 43 batches, 600 validation images
}
