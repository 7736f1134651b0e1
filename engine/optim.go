package engine

import (
	"fmt"
	"math"

	"github.com/gonas/nas/engine/parallel"
)

// Optimizer updates a graph's parameters from their gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr, using each Param's Grad as left by Backward.
	Step(lr float64)
	// State returns what the optimizer carries from one step to the next, for a checkpoint.
	// Its buffers alias the optimizer's memory: copy them before the next Step to keep them.
	State() OptimizerState
	// SetState restores a state that State returned for an optimizer of the same kind over a
	// graph of the same parameters, copying its buffers. It returns an error naming the first
	// buffer that is missing or of another size, and then changes nothing.
	SetState(s OptimizerState) error
}

// OptimizerState is an optimizer's state between steps: the number of steps taken and its
// buffers by PyTorch's names ("momentum_buffer" for SGD with momentum, "exp_avg" and
// "exp_avg_sq" for AdamW), each with one slice per parameter, in the graph's Params order.
type OptimizerState struct {
	Steps   int
	Buffers map[string][][]float32
}

// setState copies s's buffers into dst, which has the same names and sizes, and returns an
// error without copying anything if they do not match.
func setState(dst map[string][][]float32, s OptimizerState) error {
	if len(s.Buffers) != len(dst) {
		return fmt.Errorf("engine: optimizer state has %d buffer kinds, want %d", len(s.Buffers), len(dst))
	}
	for name, bufs := range dst {
		src, ok := s.Buffers[name]
		if !ok {
			return fmt.Errorf("engine: optimizer state has no %s", name)
		}
		if len(src) != len(bufs) {
			return fmt.Errorf("engine: optimizer state has %s for %d parameters, want %d", name, len(src), len(bufs))
		}
		for k := range bufs {
			if len(src[k]) != len(bufs[k]) {
				return fmt.Errorf("engine: %s of parameter %d has %d values, want %d", name, k, len(src[k]), len(bufs[k]))
			}
		}
	}
	for name, bufs := range dst {
		for k := range bufs {
			copy(bufs[k], s.Buffers[name][k])
		}
	}
	return nil
}

// optimChunk is how many float32s of one parameter one chunk of an update covers.
const optimChunk = 1 << 14

// paramSpan is the part [lo, hi) of parameter k that one chunk updates.
type paramSpan struct {
	k      int
	p      *Param
	lo, hi int
}

// paramUpdate runs an update kernel over every parameter of a graph, cut into fixed spans, on the
// graph's pool.
type paramUpdate struct {
	pool  *parallel.Pool
	spans []paramSpan
	fn    func(w, i int)
}

func newParamUpdate(g *Graph, kernel func(s paramSpan)) paramUpdate {
	u := paramUpdate{pool: g.pool}
	for k, p := range g.params {
		for i := 0; i < parallel.Chunks(len(p.Value), optimChunk); i++ {
			lo, hi := parallel.Span(i, len(p.Value), optimChunk)
			u.spans = append(u.spans, paramSpan{k, p, lo, hi})
		}
	}
	spans := u.spans
	u.fn = func(_, i int) { kernel(spans[i]) }
	return u
}

func (u *paramUpdate) run() { u.pool.For(len(u.spans), u.fn) }

// stateLike returns one zeroed float32 buffer per parameter of g, of the parameter's size.
func stateLike(g *Graph) [][]float32 {
	s := make([][]float32, len(g.params))
	for k, p := range g.params {
		s[k] = make([]float32, len(p.Value))
	}
	return s
}

// decay returns the weight decay that applies to p.
func decay(p *Param, wd float64, exemptNoDecay bool) float64 {
	if exemptNoDecay && p.NoDecay {
		return 0
	}
	return wd
}

// SGDConfig sets up stochastic gradient descent.
type SGDConfig struct {
	// Momentum is μ; 0 means plain gradient descent.
	Momentum float64
	// Nesterov selects Nesterov momentum (it needs Momentum > 0).
	Nesterov bool
	// WeightDecay is the L2 coefficient added to the gradient.
	WeightDecay float64
	// ExemptNoDecay gives parameters marked NoDecay (BatchNorm scales and shifts, biases) no
	// weight decay.
	ExemptNoDecay bool
}

// SGD is stochastic gradient descent with PyTorch's semantics. For each parameter p with
// gradient g, Step(lr) computes d = g + wd·p; buf = μ·buf + d (buf = d on the first step);
// d = d + μ·buf with Nesterov momentum, else d = buf; p −= lr·d. Without momentum, p −= lr·d.
type SGD struct {
	cfg    SGDConfig
	buf    [][]float32
	steps  int
	lr     float32
	update paramUpdate
}

// NewSGD returns an SGD optimizer over the parameters of g.
func NewSGD(g *Graph, cfg SGDConfig) *SGD {
	if cfg.Momentum < 0 || cfg.WeightDecay < 0 {
		panic(fmt.Sprintf("engine: SGD momentum %v and weight decay %v must not be negative", cfg.Momentum, cfg.WeightDecay))
	}
	if cfg.Nesterov && cfg.Momentum == 0 {
		panic("engine: SGD with Nesterov momentum needs a momentum")
	}
	o := &SGD{cfg: cfg}
	if cfg.Momentum != 0 {
		o.buf = stateLike(g)
	}
	mu := float32(cfg.Momentum)
	o.update = newParamUpdate(g, func(s paramSpan) {
		wd := float32(decay(s.p, cfg.WeightDecay, cfg.ExemptNoDecay))
		lr := o.lr
		ps, gs := s.p.Value[s.lo:s.hi], s.p.Grad[s.lo:s.hi]
		gs = gs[:len(ps)]
		if mu == 0 {
			for i, v := range ps {
				ps[i] = v - lr*(gs[i]+wd*v)
			}
			return
		}
		buf := o.buf[s.k][s.lo:s.hi]
		buf = buf[:len(ps)]
		for i, v := range ps {
			// The buffer starts at zero, so the first step sets it to d as PyTorch does.
			d := gs[i] + wd*v
			b := mu*buf[i] + d
			buf[i] = b
			if cfg.Nesterov {
				d += mu * b
			} else {
				d = b
			}
			ps[i] = v - lr*d
		}
	})
	return o
}

// Step applies one update with learning rate lr.
func (o *SGD) Step(lr float64) {
	o.steps++
	o.lr = float32(lr)
	o.update.run()
}

func (o *SGD) buffers() map[string][][]float32 {
	if o.buf == nil {
		return map[string][][]float32{}
	}
	return map[string][][]float32{"momentum_buffer": o.buf}
}

// State returns the step count and the momentum buffers (none without momentum).
func (o *SGD) State() OptimizerState { return OptimizerState{Steps: o.steps, Buffers: o.buffers()} }

// SetState restores a state that State returned.
func (o *SGD) SetState(s OptimizerState) error {
	if err := setState(o.buffers(), s); err != nil {
		return err
	}
	o.steps = s.Steps
	return nil
}

// AdamWConfig sets up AdamW. Zero Beta1, Beta2 and Eps mean PyTorch's defaults.
type AdamWConfig struct {
	// Beta1 and Beta2 are the decay rates of the gradient's first and second moment
	// estimates; 0 means 0.9 and 0.999.
	Beta1, Beta2 float64
	// Eps is added to the denominator; 0 means 1e-8.
	Eps float64
	// WeightDecay is the decoupled decay coefficient: each step multiplies p by 1 − lr·wd.
	WeightDecay float64
	// ExemptNoDecay gives parameters marked NoDecay (BatchNorm scales and shifts, biases) no
	// weight decay.
	ExemptNoDecay bool
}

// AdamW is Adam with decoupled weight decay (Loshchilov and Hutter 2019), with PyTorch's
// semantics. For each parameter p with gradient g, step t = 1, 2, ... of Step(lr) computes
// p ·= 1 − lr·wd; m = β₁·m + (1−β₁)·g; v = β₂·v + (1−β₂)·g²;
// p −= lr/(1−β₁ᵗ) · m/(√v/√(1−β₂ᵗ) + ε).
type AdamW struct {
	cfg    AdamWConfig
	m, v   [][]float32
	t      int
	lr     float64
	update paramUpdate
	// The current step's factors, set by Step before the update runs.
	stepSize, sqrtBC2 float32
}

// NewAdamW returns an AdamW optimizer over the parameters of g.
func NewAdamW(g *Graph, cfg AdamWConfig) *AdamW {
	if cfg.Beta1 == 0 {
		cfg.Beta1 = 0.9
	}
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.999
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	if cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1 || cfg.Eps < 0 || cfg.WeightDecay < 0 {
		panic(fmt.Sprintf("engine: AdamW betas %v, %v must be in [0, 1), eps %v and weight decay %v not negative", cfg.Beta1, cfg.Beta2, cfg.Eps, cfg.WeightDecay))
	}
	o := &AdamW{cfg: cfg, m: stateLike(g), v: stateLike(g)}
	b1, b2, eps := float32(cfg.Beta1), float32(cfg.Beta2), float32(cfg.Eps)
	o.update = newParamUpdate(g, func(s paramSpan) {
		keep := float32(1 - o.lr*decay(s.p, cfg.WeightDecay, cfg.ExemptNoDecay))
		stepSize, sqrtBC2 := o.stepSize, o.sqrtBC2
		ps, gs := s.p.Value[s.lo:s.hi], s.p.Grad[s.lo:s.hi]
		m, v := o.m[s.k][s.lo:s.hi], o.v[s.k][s.lo:s.hi]
		gs, m, v = gs[:len(ps)], m[:len(ps)], v[:len(ps)]
		for i, p := range ps {
			gr := gs[i]
			mi := b1*m[i] + (1-b1)*gr
			vi := b2*v[i] + (1-b2)*gr*gr
			m[i], v[i] = mi, vi
			denom := float32(math.Sqrt(float64(vi)))/sqrtBC2 + eps
			ps[i] = p*keep - stepSize*mi/denom
		}
	})
	return o
}

// Step applies one update with learning rate lr.
func (o *AdamW) Step(lr float64) {
	o.t++
	o.lr = lr
	o.stepSize = float32(lr / (1 - math.Pow(o.cfg.Beta1, float64(o.t))))
	o.sqrtBC2 = float32(math.Sqrt(1 - math.Pow(o.cfg.Beta2, float64(o.t))))
	o.update.run()
}

func (o *AdamW) buffers() map[string][][]float32 {
	return map[string][][]float32{"exp_avg": o.m, "exp_avg_sq": o.v}
}

// State returns the step count t and the moment estimates.
func (o *AdamW) State() OptimizerState { return OptimizerState{Steps: o.t, Buffers: o.buffers()} }

// SetState restores a state that State returned; the next Step is step s.Steps+1.
func (o *AdamW) SetState(s OptimizerState) error {
	if err := setState(o.buffers(), s); err != nil {
		return err
	}
	o.t = s.Steps
	return nil
}
