package data

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// epochIndices runs one epoch of l and returns the image indices in the order they came, checking
// each batch's bookkeeping on the way.
func epochIndices(t *testing.T, l *Loader, epoch int) []int {
	t.Helper()
	var idx []int
	step := 0
	for b := range l.Epoch(t.Context(), epoch) {
		if b.Epoch != epoch || b.Step != step || len(b.Y) != b.N || len(b.Index) != b.N || len(b.X) != b.N*l.set.ImageSize() {
			t.Fatalf("batch epoch %d step %d N %d with %d labels, %d indices, %d values; want epoch %d step %d",
				b.Epoch, b.Step, b.N, len(b.Y), len(b.Index), len(b.X), epoch, step)
		}
		for j, i := range b.Index {
			if b.Y[j] != l.set.Labels[i] {
				t.Fatalf("image %d has label %d in the batch, %d in the set", i, b.Y[j], l.set.Labels[i])
			}
		}
		idx = append(idx, b.Index...)
		step++
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if step != l.Steps() {
		t.Fatalf("epoch had %d batches, Steps says %d", step, l.Steps())
	}
	return idx
}

func isPermutation(idx []int) bool {
	s := slices.Clone(idx)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			return false
		}
	}
	return true
}

func TestLoaderVisitsEveryImageOncePerEpoch(t *testing.T) {
	s := patternSet(103, 1, 2, 2, 4)
	l := NewLoader(s, LoaderOptions{Batch: 10, Shuffle: true, Seed: 5})
	defer l.Close()
	if l.Steps() != 11 {
		t.Fatalf("Steps() = %d, want 11 for 103 images in batches of 10", l.Steps())
	}
	var sizes []int
	for b := range l.Epoch(t.Context(), 0) {
		sizes = append(sizes, b.N)
	}
	if want := []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
	e0, e1 := epochIndices(t, l, 0), epochIndices(t, l, 1)
	if !isPermutation(e0) || !isPermutation(e1) {
		t.Fatal("an epoch does not visit every image exactly once")
	}
	if slices.Equal(e0, e1) {
		t.Error("epochs 0 and 1 came in the same order")
	}
	if slices.IsSorted(e0) {
		t.Error("a shuffled epoch came in the set's order")
	}
	if again := epochIndices(t, l, 0); !slices.Equal(again, e0) {
		t.Error("epoch 0 asked for again came in another order")
	}

	same := NewLoader(s, LoaderOptions{Batch: 10, Shuffle: true, Seed: 5})
	defer same.Close()
	if !slices.Equal(epochIndices(t, same, 1), e1) {
		t.Error("two loaders with the same seed gave different orders")
	}
	other := NewLoader(s, LoaderOptions{Batch: 10, Shuffle: true, Seed: 6})
	defer other.Close()
	if slices.Equal(epochIndices(t, other, 0), e0) {
		t.Error("seeds 5 and 6 gave the same order")
	}
	plain := NewLoader(s, LoaderOptions{Batch: 7})
	defer plain.Close()
	if got := epochIndices(t, plain, 3); !slices.IsSorted(got) || !isPermutation(got) {
		t.Error("an unshuffled epoch did not come in the set's order")
	}
}

func TestLoaderNormalises(t *testing.T) {
	s := patternSet(5, 2, 3, 3, 2)
	norm := Norm{Mean: []float64{0.1, 0.9}, Std: []float64{0.5, 2}}
	l := NewLoader(s, LoaderOptions{Batch: 2, Norm: norm})
	defer l.Close()
	for b := range l.Epoch(t.Context(), 0) {
		for j, i := range b.Index {
			for k, p := range s.Image(i) {
				c := k % 2
				want := float32((float64(p)/255 - norm.Mean[c]) / norm.Std[c])
				if got := b.X[j*s.ImageSize()+k]; got != want {
					t.Fatalf("image %d value %d = %v, want %v", i, k, got, want)
				}
			}
		}
	}
}

// imagesOf runs one epoch and returns each image's values by its index in the set.
func imagesOf(l *Loader, epoch int) map[int][]float32 {
	m := map[int][]float32{}
	size := l.set.ImageSize()
	for b := range l.Epoch(context.Background(), epoch) {
		for j, i := range b.Index {
			m[i] = slices.Clone(b.X[j*size : (j+1)*size])
		}
	}
	return m
}

func TestLoaderAugmentationDependsOnSeedEpochAndImageOnly(t *testing.T) {
	s := patternSet(40, 3, 8, 8, 4)
	aug := Augment{Pad: 2, Flip: true, Erase: 0.5}
	a := NewLoader(s, LoaderOptions{Batch: 7, Shuffle: true, Seed: 9, Augment: aug})
	defer a.Close()
	b := NewLoader(s, LoaderOptions{Batch: 16, Seed: 9, Augment: aug})
	defer b.Close()
	a1, b1 := imagesOf(a, 1), imagesOf(b, 1)
	for i := range s.Len() {
		if !slices.Equal(a1[i], b1[i]) {
			t.Fatalf("image %d of epoch 1 differs between batch sizes 7 (shuffled) and 16", i)
		}
	}
	a2 := imagesOf(a, 2)
	changed := 0
	for i := range s.Len() {
		if !slices.Equal(a1[i], a2[i]) {
			changed++
		}
	}
	if changed < s.Len()/2 {
		t.Errorf("only %d of %d images were augmented differently in epochs 1 and 2", changed, s.Len())
	}
}

func TestLoaderRecoversFromAnAbandonedEpoch(t *testing.T) {
	s := patternSet(50, 1, 2, 2, 2)
	l := NewLoader(s, LoaderOptions{Batch: 5, Shuffle: true, Seed: 1})
	defer l.Close()
	want := epochIndices(t, l, 4)
	for stop := range 10 {
		n := 0
		for range l.Epoch(t.Context(), 3) {
			if n == stop {
				break
			}
			n++
		}
		if got := epochIndices(t, l, 4); !slices.Equal(got, want) {
			t.Fatalf("after leaving epoch 3 at batch %d, epoch 4 came in another order", stop)
		}
	}
}

func TestLoaderStopsWhenCancelledOrClosed(t *testing.T) {
	s := patternSet(50, 1, 2, 2, 2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l := NewLoader(s, LoaderOptions{Batch: 5})
	n := 0
	for range l.Epoch(ctx, 0) {
		if n++; n == 3 {
			cancel()
		}
	}
	if n != 3 || !errors.Is(l.Err(), context.Canceled) {
		t.Errorf("after cancelling at batch 3 got %d batches and error %v; want 3 and context.Canceled", n, l.Err())
	}
	// The context was the epoch's, not the loader's: the next epoch runs whole.
	if got := epochIndices(t, l, 1); len(got) != s.Len() || l.Err() != nil {
		t.Errorf("the epoch after a cancelled one gave %d images and error %v; want %d and none", len(got), l.Err(), s.Len())
	}
	l.Close()

	closed := NewLoader(s, LoaderOptions{Batch: 5})
	closed.Close()
	for range closed.Epoch(t.Context(), 0) {
		t.Fatal("a closed loader produced a batch")
	}
	if closed.Err() == nil {
		t.Error("a closed loader's epoch ended without an error")
	}
}

func TestLoaderOfAnEmptySetYieldsNothing(t *testing.T) {
	l := NewLoader(&Set{C: 1, H: 2, W: 2, Classes: 1}, LoaderOptions{Batch: 4})
	defer l.Close()
	for range l.Epoch(t.Context(), 0) {
		t.Fatal("an empty set produced a batch")
	}
	if l.Err() != nil || l.Steps() != 0 {
		t.Errorf("Err %v, Steps %d; want nil, 0", l.Err(), l.Steps())
	}
}

func TestLoaderAllocatesNothingPerBatch(t *testing.T) {
	s := patternSet(400, 1, 4, 4, 2)
	l := NewLoader(s, LoaderOptions{Batch: 2, Shuffle: true, Augment: Augment{Pad: 1, Flip: true, Erase: 0.5}})
	defer l.Close()
	epoch := 0
	allocs := testing.AllocsPerRun(5, func() {
		for range l.Epoch(t.Context(), epoch) {
		}
		epoch++
	})
	// 200 batches an epoch: anything per batch would show as hundreds.
	if allocs > 5 {
		t.Errorf("%v allocations per epoch of 200 batches", allocs)
	}
}

func TestNewLoaderPanicsOnBadOptions(t *testing.T) {
	s := patternSet(4, 2, 2, 2, 2)
	for name, opt := range map[string]LoaderOptions{
		"zero batch":        {},
		"norm of 1 channel": {Batch: 1, Norm: Norm{Mean: []float64{0}, Std: []float64{1}}},
		"negative padding":  {Batch: 1, Augment: Augment{Pad: -1}},
		"erase above 1":     {Batch: 1, Augment: Augment{Erase: 1.5}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewLoader did not panic", name)
				}
			}()
			NewLoader(s, opt).Close()
		}()
	}
}

func BenchmarkLoaderMNISTShapeAugmented(b *testing.B) {
	s := Synthetic(6000, 1, 28, 28, 10, 1)
	l := NewLoader(s, LoaderOptions{Batch: 128, Shuffle: true, Norm: s.Norm(),
		Augment: Augment{Pad: 2, Flip: true, Erase: 0.5}})
	defer l.Close()
	for e := 0; b.Loop(); e++ {
		for range l.Epoch(b.Context(), e) {
		}
	}
	b.ReportMetric(float64(b.N*s.Len())/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkLoaderCIFARShapeAugmented(b *testing.B) {
	s := Synthetic(5000, 3, 32, 32, 10, 1)
	l := NewLoader(s, LoaderOptions{Batch: 128, Shuffle: true, Norm: s.Norm(),
		Augment: Augment{Pad: 4, Flip: true}})
	defer l.Close()
	for e := 0; b.Loop(); e++ {
		for range l.Epoch(b.Context(), e) {
		}
	}
	b.ReportMetric(float64(b.N*s.Len())/b.Elapsed().Seconds(), "images/s")
}
