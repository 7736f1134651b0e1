package engine

import "fmt"

type flattenOp struct {
	x, y     *Node
	fwd, bwd *elementwise
	// set makes backward set x's gradient instead of adding to it.
	set bool
}

// Flatten adds a copy of x as a vector: H×W×C becomes 1×1×(H·W·C), in NHWC order.
func (g *Graph) Flatten(x *Node) *Node {
	o := &flattenOp{x: x}
	o.y = g.addNode(x.Name+".flatten", Shape{1, 1, x.Shape.Size()}, o, x)
	o.fwd = newElementwise(g, o.y, func(lo, hi int) { copy(o.y.Value[lo:hi], x.Value[lo:hi]) })
	o.bwd = newElementwise(g, o.y, func(lo, hi int) { put(x.Grad[lo:hi], o.y.Grad[lo:hi], !o.set) })
	return o.y
}

func (o *flattenOp) overwrite(int) bool {
	o.set = true
	return true
}

func (o *flattenOp) forward(*Graph) { o.fwd.run() }

func (o *flattenOp) backward(*Graph) {
	if o.x.Grad != nil {
		o.bwd.run()
	}
}

type zeroPadShortcutOp struct {
	x, y     *Node
	stride   int
	fwd, bwd func(w, i int)
}

// ZeroPadShortcut adds the parameter-free shortcut of CIFAR ResNets ("option A"): it subsamples x
// with the given stride and pads zero channels on both sides up to outC, with the input's
// channels at offset p = (outC−C)/2,
//
//	y[n, i, j, p+c] = x[n, i·stride, j·stride, c] for c < C, and 0 elsewhere,
//
// so the output is ⌈H/stride⌉×⌈W/stride⌉×outC, as the widely used PyTorch implementation's
// F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, p, outC−C−p)). space's zeropad layer means the same.
func (g *Graph) ZeroPadShortcut(x *Node, outC, stride int) *Node {
	name := x.Name + ".zeropad"
	in := x.Shape
	if stride < 1 || outC < in.C {
		panic(fmt.Sprintf("engine: %s: stride %d must be positive and outC %d at least the %d input channels", name, stride, outC, in.C))
	}
	o := &zeroPadShortcutOp{x: x, stride: stride}
	out := Shape{H: (in.H-1)/stride + 1, W: (in.W-1)/stride + 1, C: outC}
	o.y = g.addNode(name, out, o, x)
	o.fwd = func(_, n int) { o.eachPixel(n, false) }
	o.bwd = func(_, n int) { o.eachPixel(n, true) }
	return o.y
}

// eachPixel fills sample n of the output, or with backward set adds its gradient to the input's.
func (o *zeroPadShortcutOp) eachPixel(n int, backward bool) {
	in, out := o.x.Shape, o.y.Shape
	off := (out.C - in.C) / 2
	x, y := o.x.Value, o.y.Value
	if backward {
		x, y = o.x.Grad, o.y.Grad
	}
	x = x[n*in.Size() : (n+1)*in.Size()]
	y = y[n*out.Size() : (n+1)*out.Size()]
	for i := range out.H {
		for j := range out.W {
			xs := x[(i*o.stride*in.W+j*o.stride)*in.C:][:in.C]
			ys := y[(i*out.W+j)*out.C:][:out.C]
			if backward {
				for c, d := range ys[off : off+in.C] {
					xs[c] += d
				}
				continue
			}
			clear(ys[:off])
			copy(ys[off:], xs)
			clear(ys[off+in.C:])
		}
	}
}

func (o *zeroPadShortcutOp) forward(g *Graph) { g.pool.For(g.n, o.fwd) }

func (o *zeroPadShortcutOp) backward(g *Graph) {
	if o.x.Grad != nil {
		g.pool.For(g.n, o.bwd)
	}
}
