package engine

import (
	"math"

	"github.com/gonas/nas/engine/parallel"
)

// Buffer is a tensor that belongs to a trained model but is not trained by gradients, such as
// BatchNorm's running statistics. Saving a model means saving its Params and its State; loading
// means copying both back into the Values of a graph built for the same architecture.
type Buffer struct {
	Name  string
	Value []float32
}

// State lists every Buffer of the graph in the order the layers created them.
func (g *Graph) State() []*Buffer {
	var bs []*Buffer
	for _, n := range g.nodes {
		if bn, ok := n.op.(*batchNormOp); ok {
			bs = append(bs, bn.runMean, bn.runVar)
		}
	}
	return bs
}

// BatchNorm constants, PyTorch's defaults for BatchNorm2d.
const (
	bnEps      = 1e-5
	bnMomentum = 0.1
)

// bnChunk is about how many float32s one chunk of a BatchNorm kernel covers. A chunk is a whole
// number of pixel rows of C channels, so that it can keep one partial sum per channel.
const bnChunk = 1 << 13

type batchNormOp struct {
	g           *Graph
	x, y        *Node
	gamma, beta *Param
	runMean     *Buffer
	runVar      *Buffer
	// rows is how many pixel rows one chunk covers.
	rows int
	// partial holds each chunk's two per-channel sums: chunk i owns partial[2Ci : 2C(i+1)].
	partial []float64
	sum1    []float64
	sum2    []float64
	// batchStats records whether the last forward normalised with the batch's statistics
	// (training) or the running ones (eval); mean and invStd are the statistics it used.
	batchStats bool
	mean       []float64
	invStd     []float64
	// The forward computes y = x·scale + shift; the backward dx += a·dy − b − k·(x − mean).
	scale, shift []float32
	a, b, k, m32 []float32
	statsFn      func(w, i int)
	normFn       func(w, i int)
	gradSumsFn   func(w, i int)
	dxFn         func(w, i int)
}

// BatchNorm adds per-channel batch normalisation, y = γ·(x − μ)/√(σ² + ε) + β with ε = 1e-5, like
// PyTorch's BatchNorm2d. In training, μ and σ² are the mean and biased variance of each channel
// over the active batch and all pixels, and the running averages are updated with momentum 0.1:
// running_mean ← 0.9·running_mean + 0.1·μ and running_var ← 0.9·running_var + 0.1·σ²·M/(M−1),
// where M = n·H·W is the number of values per channel (the factor is left out when M = 1). In
// eval, μ and σ² are the running averages (initially 0 and 1). γ (initially 1) and β (initially 0)
// are the NoDecay parameters "<y>.weight" and "<y>.bias"; the running averages are the Buffers
// "<y>.running_mean" and "<y>.running_var" listed by State, where <y> is the output's name,
// x.Name + ".bn".
func (g *Graph) BatchNorm(x *Node) *Node {
	c := x.Shape.C
	o := &batchNormOp{g: g, x: x, rows: max(1, bnChunk/c)}
	o.y = g.addNode(x.Name+".bn", x.Shape, o, x)
	name := o.y.Name
	o.gamma = g.addParam(name+".weight", true, func(v []float32, _ *normalRand) {
		for i := range v {
			v[i] = 1
		}
	}, c)
	o.beta = g.addParam(name+".bias", true, func([]float32, *normalRand) {}, c)
	o.runMean = &Buffer{Name: name + ".running_mean", Value: make([]float32, c)}
	o.runVar = &Buffer{Name: name + ".running_var", Value: make([]float32, c)}
	for i := range o.runVar.Value {
		o.runVar.Value[i] = 1
	}
	o.partial = make([]float64, 2*c*parallel.Chunks(g.batch*x.Shape.H*x.Shape.W, o.rows))
	o.sum1, o.sum2 = make([]float64, c), make([]float64, c)
	o.mean, o.invStd = make([]float64, c), make([]float64, c)
	o.scale, o.shift = make([]float32, c), make([]float32, c)
	o.a, o.b, o.k, o.m32 = make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)

	o.statsFn = o.chunkSums(func(s1, s2 []float64, xs, _ []float32) {
		for r := 0; r < len(xs); r += c {
			row := xs[r : r+c]
			s1, s2 := s1[:len(row)], s2[:len(row)]
			for j, v := range row {
				f := float64(v)
				s1[j] += f
				s2[j] += f * f
			}
		}
	})
	o.gradSumsFn = o.chunkSums(func(s1, s2 []float64, xs, dys []float32) {
		for r := 0; r < len(xs); r += c {
			row := xs[r : r+c]
			dy, s1, s2, mean := dys[r:r+len(row)], s1[:len(row)], s2[:len(row)], o.mean[:len(row)]
			for j, v := range row {
				d := float64(dy[j])
				s1[j] += d
				s2[j] += d * (float64(v) - mean[j])
			}
		}
	})
	o.normFn = func(_, i int) {
		lo, hi := parallel.Span(i, o.totalRows(), o.rows)
		xs, ys := x.Value[lo*c:hi*c], o.y.Value[lo*c:hi*c]
		for r := 0; r < len(xs); r += c {
			row, out := xs[r:r+c], ys[r:r+c]
			out, scale, shift := out[:len(row)], o.scale[:len(row)], o.shift[:len(row)]
			for j, v := range row {
				out[j] = v*scale[j] + shift[j]
			}
		}
	}
	o.dxFn = func(_, i int) {
		lo, hi := parallel.Span(i, o.totalRows(), o.rows)
		xs, dys, dxs := x.Value[lo*c:hi*c], o.y.Grad[lo*c:hi*c], x.Grad[lo*c:hi*c]
		for r := 0; r < len(xs); r += c {
			row, dy, dx := xs[r:r+c], dys[r:r+c], dxs[r:r+c]
			dy, dx = dy[:len(row)], dx[:len(row)]
			a, b, k, m := o.a[:len(row)], o.b[:len(row)], o.k[:len(row)], o.m32[:len(row)]
			for j, v := range row {
				dx[j] += a[j]*dy[j] - b[j] - k[j]*(v-m[j])
			}
		}
	}
	return o.y
}

// totalRows is the number of pixel rows of the active batch.
func (o *batchNormOp) totalRows() int { return o.g.n * o.x.Shape.H * o.x.Shape.W }

// chunkSums returns a chunk function that clears the chunk's two per-channel partial sums and
// lets kernel add the chunk's rows of x and of the output gradient into them.
func (o *batchNormOp) chunkSums(kernel func(s1, s2 []float64, xs, dys []float32)) func(w, i int) {
	c := o.x.Shape.C
	return func(_, i int) {
		lo, hi := parallel.Span(i, o.totalRows(), o.rows)
		p := o.partial[2*c*i : 2*c*(i+1)]
		clear(p)
		var dys []float32
		if o.y.Grad != nil {
			dys = o.y.Grad[lo*c : hi*c]
		}
		kernel(p[:c], p[c:], o.x.Value[lo*c:hi*c], dys)
	}
}

// reduce runs a chunkSums function over the active batch and adds the chunks' partial sums, in
// chunk order, into sum1 and sum2.
func (o *batchNormOp) reduce(fn func(w, i int)) {
	n := parallel.Chunks(o.totalRows(), o.rows)
	o.g.pool.For(n, fn)
	c := o.x.Shape.C
	clear(o.sum1)
	clear(o.sum2)
	for i := 0; i < n; i++ {
		p := o.partial[2*c*i : 2*c*(i+1)]
		for j := 0; j < c; j++ {
			o.sum1[j] += p[j]
			o.sum2[j] += p[c+j]
		}
	}
}

func (o *batchNormOp) forward(g *Graph) {
	o.batchStats = g.train
	rm, rv := o.runMean.Value, o.runVar.Value
	if g.train {
		o.reduce(o.statsFn)
		m := float64(o.totalRows())
		unbias := 1.0
		if m > 1 {
			unbias = m / (m - 1)
		}
		for j := range o.mean {
			mean := o.sum1[j] / m
			v := max(o.sum2[j]/m-mean*mean, 0)
			o.mean[j] = mean
			o.invStd[j] = 1 / math.Sqrt(v+bnEps)
			rm[j] = float32((1-bnMomentum)*float64(rm[j]) + bnMomentum*mean)
			rv[j] = float32((1-bnMomentum)*float64(rv[j]) + bnMomentum*v*unbias)
		}
	} else {
		for j := range o.mean {
			o.mean[j] = float64(rm[j])
			o.invStd[j] = 1 / math.Sqrt(float64(rv[j])+bnEps)
		}
	}
	for j := range o.mean {
		s := float64(o.gamma.Value[j]) * o.invStd[j]
		o.scale[j] = float32(s)
		o.shift[j] = float32(float64(o.beta.Value[j]) - o.mean[j]*s)
	}
	g.pool.For(parallel.Chunks(o.totalRows(), o.rows), o.normFn)
}

func (o *batchNormOp) backward(g *Graph) {
	o.reduce(o.gradSumsFn)
	// sum1 = Σ dy, sum2·invStd = Σ dy·x̂.
	m := float64(o.totalRows())
	for j := range o.mean {
		dyXhat := o.sum2[j] * o.invStd[j]
		o.gamma.Grad[j] += float32(dyXhat)
		o.beta.Grad[j] += float32(o.sum1[j])
		a := float64(o.gamma.Value[j]) * o.invStd[j]
		o.a[j] = float32(a)
		o.m32[j] = float32(o.mean[j])
		if o.batchStats {
			// dx = a·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ = (x − μ)·invStd.
			o.b[j] = float32(a * o.sum1[j] / m)
			o.k[j] = float32(a * dyXhat / m * o.invStd[j])
		} else {
			// The running statistics are constants: dx = a·dy.
			o.b[j], o.k[j] = 0, 0
		}
	}
	if o.x.Grad != nil {
		g.pool.For(parallel.Chunks(o.totalRows(), o.rows), o.dxFn)
	}
}
