package engine

import (
	"math"
	"testing"

	"github.com/gonas/nas/engine/parallel"
)

// optimGraph returns a graph with a decayed parameter large enough to span several update chunks
// and a small NoDecay one, with random values.
func optimGraph() *Graph {
	g := New(Config{Batch: 1, Pool: parallel.NewPool(2), Seed: 3})
	noInit := func([]float32, *normalRand) {}
	rng := newNormalRand(8, 8)
	for _, p := range []*Param{g.addParam("w", false, noInit, 2*optimChunk+5), g.addParam("b", true, noInit, 7)} {
		fillGaussian(p.Value, rng, 1, 0)
	}
	return g
}

// runOptimizer takes steps with opt on g with random gradients and the learning rates lrs, and
// calls ref with every float64 parameter value and gradient before each step, the step number
// (from 1), and the parameter; ref returns the parameter's new value. It fails if the optimizer
// strays from ref.
func runOptimizer(t *testing.T, g *Graph, opt Optimizer, lrs []float64, ref func(k, i, t int, p *Param, v, grad, lr float64) float64) {
	t.Helper()
	defer g.Pool().Close()
	rng := newNormalRand(9, 9)
	want := make([][]float64, len(g.Params()))
	for k, p := range g.Params() {
		for _, v := range p.Value {
			want[k] = append(want[k], float64(v))
		}
	}
	for step, lr := range lrs {
		for k, p := range g.Params() {
			fillGaussian(p.Grad, rng, 1, 0)
			for i := range p.Value {
				want[k][i] = ref(k, i, step+1, p, want[k][i], float64(p.Grad[i]), lr)
			}
		}
		opt.Step(lr)
		for k, p := range g.Params() {
			for i, v := range p.Value {
				if !closeTo(float64(v), want[k][i], 2e-5) {
					t.Fatalf("step %d: %s[%d] = %v, want %v", step+1, p.Name, i, v, want[k][i])
				}
			}
		}
	}
}

func TestSGD(t *testing.T) {
	cases := []struct {
		name string
		cfg  SGDConfig
	}{
		{"plain", SGDConfig{WeightDecay: 1e-2}},
		{"momentum", SGDConfig{Momentum: 0.9, WeightDecay: 5e-2}},
		{"Nesterov", SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 5e-2}},
		{"momentum exempting NoDecay", SGDConfig{Momentum: 0.8, WeightDecay: 5e-2, ExemptNoDecay: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := optimGraph()
			bufs := make([][]float64, len(g.Params()))
			for k, p := range g.Params() {
				bufs[k] = make([]float64, len(p.Value))
			}
			runOptimizer(t, g, NewSGD(g, c.cfg), []float64{0.1, 0.05, 0.2, 0.01}, func(k, i, step int, p *Param, v, grad, lr float64) float64 {
				wd := c.cfg.WeightDecay
				if c.cfg.ExemptNoDecay && p.NoDecay {
					wd = 0
				}
				mu := c.cfg.Momentum
				d := grad + wd*v
				if mu != 0 {
					buf := &bufs[k][i]
					if step == 1 {
						*buf = d
					} else {
						*buf = mu**buf + d
					}
					if c.cfg.Nesterov {
						d += mu * *buf
					} else {
						d = *buf
					}
				}
				return v - lr*d
			})
		})
	}
}

func TestAdamW(t *testing.T) {
	cases := []struct {
		name string
		cfg  AdamWConfig
	}{
		{"defaults", AdamWConfig{WeightDecay: 1e-2}},
		{"exempting NoDecay", AdamWConfig{Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1, ExemptNoDecay: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := optimGraph()
			b1, b2, eps := c.cfg.Beta1, c.cfg.Beta2, c.cfg.Eps
			if b1 == 0 {
				b1, b2, eps = 0.9, 0.999, 1e-8
			}
			m, v := make([][]float64, len(g.Params())), make([][]float64, len(g.Params()))
			for k, p := range g.Params() {
				m[k], v[k] = make([]float64, len(p.Value)), make([]float64, len(p.Value))
			}
			runOptimizer(t, g, NewAdamW(g, c.cfg), []float64{1e-3, 2e-3, 5e-4, 1e-3}, func(k, i, step int, p *Param, x, grad, lr float64) float64 {
				wd := c.cfg.WeightDecay
				if c.cfg.ExemptNoDecay && p.NoDecay {
					wd = 0
				}
				x *= 1 - lr*wd
				m[k][i] = b1*m[k][i] + (1-b1)*grad
				v[k][i] = b2*v[k][i] + (1-b2)*grad*grad
				mHat := m[k][i] / (1 - math.Pow(b1, float64(step)))
				vHat := v[k][i] / (1 - math.Pow(b2, float64(step)))
				return x - lr*mHat/(math.Sqrt(vHat)+eps)
			})
		})
	}
}

// An optimizer restored with SetState from another's State continues bit for bit as the
// original does, and a state of the wrong shape is refused without changing anything.
func TestOptimizerStateRoundTrip(t *testing.T) {
	makers := map[string]func(g *Graph) Optimizer{
		"sgd nesterov": func(g *Graph) Optimizer {
			return NewSGD(g, SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-2})
		},
		"sgd plain": func(g *Graph) Optimizer { return NewSGD(g, SGDConfig{WeightDecay: 1e-2}) },
		"adamw":     func(g *Graph) Optimizer { return NewAdamW(g, AdamWConfig{WeightDecay: 1e-2}) },
	}
	for name, make := range makers {
		t.Run(name, func(t *testing.T) {
			a, b := optimGraph(), optimGraph()
			defer a.Pool().Close()
			defer b.Pool().Close()
			oa, ob := make(a), make(b)
			grads := newNormalRand(4, 4)
			step := func(g *Graph, o Optimizer, lr float64, rng *normalRand) {
				for _, p := range g.Params() {
					fillGaussian(p.Grad, rng, 1, 0)
				}
				o.Step(lr)
			}
			for range 3 {
				step(a, oa, 0.01, grads)
			}
			s := oa.State()
			if s.Steps != 3 {
				t.Fatalf("State().Steps = %d after 3 steps", s.Steps)
			}
			for k, p := range a.Params() {
				copy(b.Params()[k].Value, p.Value)
			}
			if err := ob.SetState(s); err != nil {
				t.Fatal(err)
			}
			ra, rb := newNormalRand(5, 5), newNormalRand(5, 5)
			for range 2 {
				step(a, oa, 0.02, ra)
				step(b, ob, 0.02, rb)
			}
			for k, p := range a.Params() {
				for i, v := range p.Value {
					if math.Float32bits(v) != math.Float32bits(b.Params()[k].Value[i]) {
						t.Fatalf("%s[%d]: restored %v, original %v", p.Name, i, b.Params()[k].Value[i], v)
					}
				}
			}
			for kind, bufs := range s.Buffers {
				short := OptimizerState{Steps: 1, Buffers: map[string][][]float32{kind: {bufs[0][:1], bufs[1]}}}
				for other, ob2 := range s.Buffers {
					if other != kind {
						short.Buffers[other] = ob2
					}
				}
				if err := ob.SetState(short); err == nil {
					t.Errorf("SetState took a %s of 1 value for %d", kind, len(bufs[0]))
				}
				if ob.State().Steps != 5 {
					t.Errorf("a refused SetState changed the step count to %d", ob.State().Steps)
				}
			}
		})
	}
}
