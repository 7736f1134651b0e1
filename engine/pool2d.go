package engine

import (
	"fmt"
	"math"
)

// PoolSpec describes a 2-D max or average pooling window with PyTorch's semantics. Stride applies to
// both axes; PadH and PadW are implicit padding on each side, at most half the window. Ceil selects
// ceil_mode: the output size is rounded up, but a window must start inside the input or its left
// padding. CountIncludePad (average pooling only) divides by the window's size clipped to the padded
// input, instead of by the number of input elements it covers.
type PoolSpec struct {
	KH, KW, Stride, PadH, PadW int
	Ceil                       bool
	CountIncludePad            bool
}

// poolGeom is the geometry shared by max and average pooling.
type poolGeom struct {
	s       PoolSpec
	in, out Shape
}

func newPoolGeom(name string, in Shape, s PoolSpec) poolGeom {
	if s.KH < 1 || s.KW < 1 || s.Stride < 1 {
		panic(fmt.Sprintf("engine: %s: window %dx%d and stride %d must be positive", name, s.KH, s.KW, s.Stride))
	}
	if s.PadH < 0 || s.PadW < 0 || 2*s.PadH > s.KH || 2*s.PadW > s.KW {
		panic(fmt.Sprintf("engine: %s: padding %d,%d must be in [0, half the window %dx%d]", name, s.PadH, s.PadW, s.KH, s.KW))
	}
	out := Shape{
		H: pooledSize(name, in.H, s.KH, s.Stride, s.PadH, s.Ceil),
		W: pooledSize(name, in.W, s.KW, s.Stride, s.PadW, s.Ceil),
		C: in.C,
	}
	return poolGeom{s: s, in: in, out: out}
}

// pooledSize is PyTorch's pooling_output_shape without dilation.
func pooledSize(name string, in, k, stride, pad int, ceil bool) int {
	span := in + 2*pad - k
	if span < 0 {
		panic(fmt.Sprintf("engine: %s: window %d larger than padded input %d", name, k, in+2*pad))
	}
	if !ceil {
		return span/stride + 1
	}
	out := (span+stride-1)/stride + 1
	if (out-1)*stride >= in+pad {
		out-- // the last window would start in the right padding
	}
	return out
}

// poolWindow returns the input rows (or columns) [lo, hi) that output position o covers along one
// axis, and the size of the window clipped to the padded input, PyTorch's count_include_pad
// divisor along that axis.
func poolWindow(o, k, stride, pad, in int) (lo, hi, padded int) {
	lo = o*stride - pad
	end := min(lo+k, in+pad)
	padded = end - lo
	return max(lo, 0), min(end, in), padded
}

type maxPoolOp struct {
	poolGeom
	x, y *Node
	// argmax holds, per output element, the offset within its sample of the input element chosen.
	argmax []int32
	// taps holds each worker's offsets of a window's pixels.
	taps     [][]int32
	fwd, bwd func(w, i int)
}

// MaxPool adds max pooling with PyTorch's semantics (MaxPool2d with dilation 1), including
// ceil_mode; padding counts as -∞. Among equal maxima the first in row-major window order wins,
// and a NaN in a window is the result.
func (g *Graph) MaxPool(x *Node, s PoolSpec) *Node {
	name := x.Name + ".maxpool"
	o := &maxPoolOp{poolGeom: newPoolGeom(name, x.Shape, s), x: x}
	o.y = g.addNode(name, o.out, o, x)
	o.argmax = make([]int32, len(o.y.Value))
	o.taps = make([][]int32, g.pool.Threads())
	for w := range o.taps {
		o.taps[w] = make([]int32, 0, s.KH*s.KW)
	}
	o.fwd = o.forwardSample
	o.bwd = o.backwardSample
	return o.y
}

func (o *maxPoolOp) forwardSample(w, n int) {
	in, out, s := o.in, o.out, o.s
	c := in.C
	x := o.x.Value[n*in.Size() : (n+1)*in.Size()]
	y := o.y.Value[n*out.Size() : (n+1)*out.Size()]
	arg := o.argmax[n*out.Size() : (n+1)*out.Size()]
	for oh := range out.H {
		h0, h1, _ := poolWindow(oh, s.KH, s.Stride, s.PadH, in.H)
		for ow := range out.W {
			w0, w1, _ := poolWindow(ow, s.KW, s.Stride, s.PadW, in.W)
			taps := o.taps[w][:0]
			for ih := h0; ih < h1; ih++ {
				for iw := w0; iw < w1; iw++ {
					taps = append(taps, int32((ih*in.W+iw)*c))
				}
			}
			maxPool(x, y[(oh*out.W+ow)*c:][:c], arg[(oh*out.W+ow)*c:][:c], c, taps)
		}
	}
}

// maxPool sets y, c channels, to the maximum of the pixels of x at the offsets taps, in order,
// and arg to the offset of the element chosen: the first largest, or the last NaN, as PyTorch.
func maxPool(x, y []float32, arg []int32, c int, taps []int32) {
	first := int32(0)
	if len(taps) > 0 {
		first = taps[0]
	}
	for ch := maxPoolVec(x, y, arg, c, taps); ch < c; ch++ {
		m, a := float32(math.Inf(-1)), first+int32(ch)
		for _, base := range taps {
			if v := x[int(base)+ch]; v > m || v != v {
				m, a = v, base+int32(ch)
			}
		}
		y[ch], arg[ch] = m, a
	}
}

func (o *maxPoolOp) backwardSample(_, n int) {
	dx := o.x.Grad[n*o.in.Size() : (n+1)*o.in.Size()]
	dy := o.y.Grad[n*o.out.Size() : (n+1)*o.out.Size()]
	for j, a := range o.argmax[n*o.out.Size() : (n+1)*o.out.Size()] {
		dx[a] += dy[j]
	}
}

func (o *maxPoolOp) forward(g *Graph) { g.pool.For(g.n, o.fwd) }

func (o *maxPoolOp) backward(g *Graph) {
	if o.x.Grad != nil {
		g.pool.For(g.n, o.bwd)
	}
}

type avgPoolOp struct {
	poolGeom
	x, y     *Node
	fwd, bwd func(w, i int)
}

// AvgPool adds average pooling with PyTorch's semantics (AvgPool2d without divisor_override),
// including ceil_mode and count_include_pad.
func (g *Graph) AvgPool(x *Node, s PoolSpec) *Node {
	name := x.Name + ".avgpool"
	o := &avgPoolOp{poolGeom: newPoolGeom(name, x.Shape, s), x: x}
	o.y = g.addNode(name, o.out, o, x)
	o.fwd = func(_, n int) { o.eachWindow(n, false) }
	o.bwd = func(_, n int) { o.eachWindow(n, true) }
	return o.y
}

// eachWindow computes the averages of sample n, or with backward set adds their gradient to the
// input's.
func (o *avgPoolOp) eachWindow(n int, backward bool) {
	in, out, s := o.in, o.out, o.s
	c := in.C
	var x, y []float32
	if backward {
		x, y = o.x.Grad, o.y.Grad
	} else {
		x, y = o.x.Value, o.y.Value
	}
	x = x[n*in.Size() : (n+1)*in.Size()]
	y = y[n*out.Size() : (n+1)*out.Size()]
	for oh := range out.H {
		h0, h1, ph := poolWindow(oh, s.KH, s.Stride, s.PadH, in.H)
		for ow := range out.W {
			w0, w1, pw := poolWindow(ow, s.KW, s.Stride, s.PadW, in.W)
			count := (h1 - h0) * (w1 - w0)
			if s.CountIncludePad {
				count = ph * pw
			}
			scale := 1 / float32(count)
			ys := y[(oh*out.W+ow)*c:][:c]
			if !backward {
				clear(ys)
			}
			for ih := h0; ih < h1; ih++ {
				for iw := w0; iw < w1; iw++ {
					xs := x[(ih*in.W+iw)*c:][:c]
					if backward {
						for ch, d := range ys {
							xs[ch] += d * scale
						}
					} else {
						for ch, v := range xs {
							ys[ch] += v
						}
					}
				}
			}
			if !backward {
				for ch := range ys {
					ys[ch] *= scale
				}
			}
		}
	}
}

func (o *avgPoolOp) forward(g *Graph) { g.pool.For(g.n, o.fwd) }

func (o *avgPoolOp) backward(g *Graph) {
	if o.x.Grad != nil {
		g.pool.For(g.n, o.bwd)
	}
}

type globalAvgPoolOp struct {
	x, y *Node
	// set makes backward set x's gradient instead of adding to it.
	set      bool
	sums     []channelSums
	fwd, bwd func(w, i int)
}

// channelSums is one worker's scratch for the per-channel sums of a sample's rows, taken by the
// BatchNorm kernels: acc for their float32 sums, s1 and s2 for the results, t for constants; zeros
// and ones, shared by the workers, are the kernels' constant shifts and scales.
type channelSums struct {
	acc, t, zeros, ones []float32
	s1, s2              []float64
}

func newChannelSums(threads, c int) []channelSums {
	sums := make([]channelSums, threads)
	zeros, ones := filled(c, 0), filled(c, 1)
	for w := range sums {
		sums[w] = channelSums{acc: make([]float32, bnAccLen(c)), t: make([]float32, c), zeros: zeros, ones: ones,
			s1: make([]float64, c), s2: make([]float64, c)}
	}
	return sums
}

// GlobalAvgPool adds the mean over all positions of each channel: H×W×C becomes 1×1×C.
func (g *Graph) GlobalAvgPool(x *Node) *Node {
	c := x.Shape.C
	o := &globalAvgPoolOp{x: x, sums: newChannelSums(g.pool.Threads(), c)}
	o.y = g.addNode(x.Name+".gap", Shape{1, 1, c}, o, x)
	size := x.Shape.Size()
	scale := 1 / float32(x.Shape.H*x.Shape.W)
	o.fwd = func(w, n int) {
		// The float32 sum of each channel over the positions, in order, as BatchNorm's statistics
		// kernel takes it (relative to zero).
		s := &o.sums[w]
		bnStats(x.Value[n*size:(n+1)*size], c, s.zeros, s.acc, s.s1, s.s2)
		y := o.y.Value[n*c : (n+1)*c]
		for ch, v := range s.s1 {
			y[ch] = float32(v) * scale
		}
	}
	o.bwd = func(w, n int) {
		// dx += dy·scale at every position: dx·1 + t by the BatchNorm kernel.
		s := &o.sums[w]
		for ch, d := range o.y.Grad[n*c : (n+1)*c] {
			s.t[ch] = d * scale
		}
		dxs := x.Grad[n*size : (n+1)*size]
		if o.set {
			clear(dxs)
		}
		bnNormalize(dxs, dxs, c, s.ones, s.t, false)
	}
	return o.y
}

func (o *globalAvgPoolOp) overwrite(int) bool {
	o.set = true
	return true
}

func (o *globalAvgPoolOp) forward(g *Graph) { g.pool.For(g.n, o.fwd) }

func (o *globalAvgPoolOp) backward(g *Graph) {
	if o.x.Grad != nil {
		g.pool.For(g.n, o.bwd)
	}
}
