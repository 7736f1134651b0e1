package evaluator

import (
	"testing"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/space"
)

func BenchmarkTrainStepResNet20MNIST(b *testing.B) {
	arch, err := space.Load("../configs/baselines/small/resnet20_mnist.yaml")
	if err != nil {
		b.Fatal(err)
	}
	net, err := arch.Expand()
	if err != nil {
		b.Fatal(err)
	}
	pool := parallel.NewPool(0)
	defer pool.Close()
	m, err := Build(net, 128, pool, 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	r := DefaultRecipe()
	opt := newOptimizer(m.Graph, r)
	for i := range m.Input.Value {
		m.Input.Value[i] = float32(i%7) - 3
	}
	for i := range m.Loss.Labels {
		m.Loss.Labels[i] = int32(i % 10)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Graph.Forward(true)
		m.Graph.Backward()
		opt.Step(0.01)
	}
	b.ReportMetric(128*float64(b.N)/b.Elapsed().Seconds(), "img/s")
}
