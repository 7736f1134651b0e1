package engine

import (
	"fmt"
	"math"

	"github.com/gonas/nas/engine/gemm"
	"github.com/gonas/nas/engine/parallel"
)

// linearBlock is how many columns of y (forward) or of x (backward) one chunk of a linear layer
// covers. Each chunk reduces over the whole batch in one GEMM, so chunks write disjoint outputs
// and the result does not depend on the thread count.
const linearBlock = 128

type linearOp struct {
	x, y    *Node
	w, b    *Param
	in, out int
	g       *Graph
	// dxBeta is 0 when backward sets x's gradient instead of adding to it.
	dxBeta float32
	// Backward runs one pool job whose chunks are, in order, blocks of dx's columns (when x needs
	// a gradient), blocks of dW's rows and, with a bias, one chunk for db.
	fwd, bwd func(w, i int)
}

// Linear adds a fully connected layer y = x·W + b on x flattened to a vector of I = H·W·C values
// (NHWC order), giving a vector of out values. W is stored I×out (Param shape [I, out]); W and b
// start uniform in [-1/√I, 1/√I] as in PyTorch; b is a NoDecay parameter.
func (g *Graph) Linear(x *Node, out int, bias bool) *Node {
	name := x.Name + ".linear"
	if out < 1 {
		panic(fmt.Sprintf("engine: %s: %d outputs, need at least 1", name, out))
	}
	in := x.Shape.Size()
	o := &linearOp{x: x, in: in, out: out, g: g, dxBeta: 1}
	o.y = g.addNode(name, Shape{1, 1, out}, o, x)
	bound := 1 / math.Sqrt(float64(in))
	o.w = g.addParam(name+".weight", false, uniformInit(bound), in, out)
	if bias {
		o.b = g.addParam(name+".bias", true, uniformInit(bound), out)
	}
	o.fwd = o.forwardBlock
	o.bwd = o.backwardChunk
	return o.y
}

// uniformInit fills a parameter uniformly in [-bound, bound).
func uniformInit(bound float64) func([]float32, *normalRand) {
	return func(v []float32, rng *normalRand) {
		for i := range v {
			v[i] = float32((2*rng.Uniform() - 1) * bound)
		}
	}
}

// forwardBlock computes columns block·linearBlock… of y for the active batch.
func (o *linearOp) forwardBlock(_, block int) {
	n, in, out := o.g.n, o.in, o.out
	j0, j1 := parallel.Span(block, out, linearBlock)
	y := o.y.Value[j0:]
	gemm.Sgemm(false, false, n, j1-j0, in, 1, o.x.Value, in, o.w.Value[j0:], out, 0, y, out)
	if o.b == nil {
		return
	}
	b := o.b.Value[j0:j1]
	for r := range n {
		ys := y[r*out:][:len(b)]
		for j, v := range b {
			ys[j] += v
		}
	}
}

func (o *linearOp) forward(g *Graph) {
	g.pool.For(parallel.Chunks(o.out, linearBlock), o.fwd)
}

func (o *linearOp) backwardChunk(_, i int) {
	n, in, out := o.g.n, o.in, o.out
	dy := o.y.Grad
	blocks := parallel.Chunks(in, linearBlock)
	if o.x.Grad != nil {
		if i < blocks {
			// dx[:, block] += dy · W[block, :]ᵀ
			c0, c1 := parallel.Span(i, in, linearBlock)
			gemm.Sgemm(false, true, n, c1-c0, out, 1, dy, out, o.w.Value[c0*out:], out, o.dxBeta, o.x.Grad[c0:], in)
			return
		}
		i -= blocks
	}
	if i < blocks {
		// dW[block, :] += x[:, block]ᵀ · dy
		r0, r1 := parallel.Span(i, in, linearBlock)
		gemm.Sgemm(true, false, r1-r0, out, n, 1, o.x.Value[r0:], in, dy, out, 1, o.w.Grad[r0*out:], out)
		return
	}
	db := o.b.Grad
	for r := range n {
		for j, d := range dy[r*out : (r+1)*out] {
			db[j] += d
		}
	}
}

func (o *linearOp) overwrite(int) bool {
	o.dxBeta = 0
	return true
}

func (o *linearOp) backward(g *Graph) {
	chunks := parallel.Chunks(o.in, linearBlock)
	if o.x.Grad != nil {
		chunks *= 2
	}
	if o.b != nil {
		chunks++
	}
	g.pool.For(chunks, o.bwd)
}
