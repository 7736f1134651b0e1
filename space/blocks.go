package space

import (
	"fmt"
	"math"
)

// shortcutSource is a tensor that RoR adds to a block's output, through a projection if its
// shape differs.
type shortcutSource struct {
	s *scope
	x int
}

// residualTail is what Expand adds to a residual block beyond its family's layers: droppath on
// its branch with probability drop, and the RoR shortcuts extra before its final activation.
type residualTail struct {
	drop  float64
	extra []shortcutSource
}

// buildPlain builds a plain or mlpconv block: a k×k conv unit, then a 1×1 unit per MLP width.
func buildPlain(g *graph, s *scope, x int, b Block, _ residualTail) int {
	norm := b.Norm == "batchnorm"
	x = g.convNormReLU(s, x, convSpec{out: b.Width, kh: b.Kernel, kw: b.Kernel, stride: b.Stride,
		padH: b.Kernel / 2, padW: b.Kernel / 2, bias: b.Bias}, norm)
	for _, w := range b.MLP {
		x = g.convNormReLU(s, x, convSpec{out: w, kh: 1, kw: 1, bias: b.Bias}, norm)
	}
	return g.se(s, x, b.SE)
}

func buildBasic(g *graph, s *scope, x int, b Block, t residualTail) int {
	y := g.cbr(s, x, convSpec{out: b.Width, kh: 3, kw: 3, stride: b.Stride, padH: 1, padW: 1})
	y = g.unary(s.name("bn"), OpBatchNorm, g.conv(s.name("conv"), y, convSpec{out: b.Width, kh: 3, kw: 3, padH: 1, padW: 1}), 0)
	return g.resNetEnd(s, x, x, y, b, t, true)
}

func buildBottleneck(g *graph, s *scope, x int, b Block, t residualTail) int {
	s1, s3 := strides(b)
	y := g.cbr(s, x, convSpec{out: b.MidWidth, kh: 1, kw: 1, stride: s1})
	y = g.cbr(s, y, convSpec{out: b.MidWidth, kh: 3, kw: 3, stride: s3, padH: 1, padW: 1, groups: b.Groups})
	y = g.unary(s.name("bn"), OpBatchNorm, g.conv(s.name("conv"), y, convSpec{out: b.Width, kh: 1, kw: 1}), 0)
	return g.resNetEnd(s, x, x, y, b, t, true)
}

func buildPreactBasic(g *graph, s *scope, x int, b Block, t residualTail) int {
	pre := g.bnReLU(s, x)
	y := g.conv(s.name("conv"), pre, convSpec{out: b.Width, kh: 3, kw: 3, stride: b.Stride, padH: 1, padW: 1})
	y = g.bnReLU(s, y)
	if b.Dropout > 0 {
		y = g.unary(s.name("dropout"), OpDropout, y, b.Dropout)
	}
	y = g.conv(s.name("conv"), y, convSpec{out: b.Width, kh: 3, kw: 3, padH: 1, padW: 1})
	return g.resNetEnd(s, x, pre, y, b, t, false)
}

func buildPreactBottleneck(g *graph, s *scope, x int, b Block, t residualTail) int {
	s1, s3 := strides(b)
	pre := g.bnReLU(s, x)
	y := g.bnReLU(s, g.conv(s.name("conv"), pre, convSpec{out: b.MidWidth, kh: 1, kw: 1, stride: s1}))
	y = g.bnReLU(s, g.conv(s.name("conv"), y, convSpec{out: b.MidWidth, kh: 3, kw: 3, stride: s3, padH: 1, padW: 1, groups: b.Groups}))
	y = g.conv(s.name("conv"), y, convSpec{out: b.Width, kh: 1, kw: 1})
	return g.resNetEnd(s, x, pre, y, b, t, false)
}

// buildTransition builds a DenseNet transition: BN-ReLU, a 1×1 conv to ⌊θ·C⌋ channels, and a
// 2×2 average pool.
func buildTransition(g *graph, s *scope, x int, b Block, _ residualTail) int {
	y := g.bnReLU(s, x)
	c := int(math.Floor(float64(g.shape(x).C) * b.Compression))
	if c < 1 {
		g.fail("compression %v leaves no channels of %d", b.Compression, g.shape(x).C)
		return 0
	}
	y = g.conv(s.name("conv"), y, convSpec{out: c, kh: 1, kw: 1})
	return g.se(s, g.pool(s.name("avgpool"), y, poolSpec{op: OpAvgPool, k: 2, stride: 2, countIncludePad: true}), b.SE)
}

// branchBuilder builds the parallel branches of an Inception-style block on x and returns their
// outputs in concatenation order.
type branchBuilder func(g *graph, s *scope, x int, b Block) []int

// concatenated returns the builder of an Inception-style block: its branches concatenated,
// then SE.
func concatenated(branches branchBuilder) func(*graph, *scope, int, Block, residualTail) int {
	return func(g *graph, s *scope, x int, b Block, _ residualTail) int {
		return g.se(s, g.concat(s.name("cat"), branches(g, s, x, b)...), b.SE)
	}
}

// incres returns the builder of an Inception-ResNet block: its branches concatenated, a 1×1
// conv with bias back to the input's width, and x + scale·branch, then ReLU unless NoReLU.
func incres(branches branchBuilder) func(*graph, *scope, int, Block, residualTail) int {
	return func(g *graph, s *scope, x int, b Block, t residualTail) int {
		y := g.concat(s.name("cat"), branches(g, s, x, b)...)
		y = g.conv(s.name("conv"), y, convSpec{out: g.shape(x).C, kh: 1, kw: 1, bias: true})
		return g.residual(s, y, x, b, t, b.Scale, !b.NoReLU)
	}
}

// strides returns the strides of a bottleneck's first 1×1 conv and of its 3×3 conv.
func strides(b Block) (int, int) {
	if b.StrideOn == "1x1" {
		return b.Stride, 1
	}
	return 1, b.Stride
}

// denseLayer builds one DenseNet layer on the concatenated features x and returns the growth
// rate k new feature maps: BN-ReLU-conv1×1 (to BNSize·k, when BNSize > 0), then BN-ReLU-conv3×3.
func denseLayer(g *graph, s *scope, x int, b Block) int {
	if b.BNSize > 0 {
		x = g.conv(s.name("conv"), g.bnReLU(s, x), convSpec{out: b.BNSize * b.GrowthRate, kh: 1, kw: 1})
	}
	x = g.conv(s.name("conv"), g.bnReLU(s, x), convSpec{out: b.GrowthRate, kh: 3, kw: 3, padH: 1, padW: 1})
	if b.Dropout > 0 {
		x = g.unary(s.name("dropout"), OpDropout, x, b.Dropout)
	}
	return g.se(s, x, b.SE)
}

// residual finishes a residual block: SE and droppath on the branch y, the addition
// shortcut + scale·y, the RoR shortcuts, and the final ReLU if relu.
func (g *graph) residual(s *scope, y, shortcut int, b Block, t residualTail, scale float64, relu bool) int {
	y = g.se(s, y, b.SE)
	if t.drop > 0 {
		y = g.unary(s.name("droppath"), OpDropPath, y, t.drop)
	}
	out := g.addScaled(s.name("add"), shortcut, y, scale)
	for _, e := range t.extra {
		out = g.addScaled(s.name("add"), out, g.shortcutTo(e.s, e.x, out, b.Shortcut, relu), 1)
	}
	if relu {
		out = g.unary(s.name("relu"), OpReLU, out, 0)
	}
	return out
}

// resNetEnd finishes a block of the ResNet families on its branch y: the shortcut of its input x
// (projected from from where the shape changes) and residual. A post-activation block (post)
// follows a projection with batchnorm and the addition with ReLU; a pre-activation block
// projects its pre-activated input and ends with the addition.
func (g *graph) resNetEnd(s *scope, x, from, y int, b Block, t residualTail, post bool) int {
	sc := g.shortcut(s.sub("shortcut"), x, from, shortcutSpec{width: b.Width, stride: b.Stride, kind: b.Shortcut, bn: post})
	return g.residual(s, y, sc, b, t, 1, post)
}

// shortcutSpec is a residual block's shortcut: to width channels at stride, by kind A
// (subsample and zero-pad) or B (a 1×1 conv, followed by batchnorm if bn).
type shortcutSpec struct {
	width, stride int
	kind          string
	bn            bool
}

// shortcut returns the shortcut from x: x itself when the shape is kept, otherwise a zeropad of
// x (kind A) or a 1×1 conv of from (kind B).
func (g *graph) shortcut(s *scope, x, from int, sc shortcutSpec) int {
	if g.err != nil {
		return 0
	}
	if sc.stride == 1 && g.shape(x).C == sc.width {
		return x
	}
	if sc.kind == "A" {
		return g.zeropad(s.name("zeropad"), x, sc.width, sc.stride)
	}
	y := g.conv(s.name("conv"), from, convSpec{out: sc.width, kh: 1, kw: 1, stride: sc.stride})
	if sc.bn {
		y = g.unary(s.name("bn"), OpBatchNorm, y, 0)
	}
	return y
}

// shortcutTo returns a shortcut from x to the shape of layer target, for RoR: the stride is the
// one that maps x's size onto target's.
func (g *graph) shortcutTo(s *scope, x, target int, kind string, bn bool) int {
	if g.err != nil {
		return 0
	}
	from, to := g.shape(x), g.shape(target)
	if stride, ok := subsampling(from, to); ok {
		return g.shortcut(s, x, x, shortcutSpec{width: to.C, stride: stride, kind: kind, bn: bn})
	}
	g.fail("ror: no stride maps the %dx%d input of the shortcut onto the %dx%d output", from.H, from.W, to.H, to.W)
	return 0
}

// subsampling returns the stride whose subsampling maps the height and width of from onto
// to's, and whether there is one.
func subsampling(from, to Shape) (int, bool) {
	for stride := 1; stride <= from.H; stride++ {
		if window(from.H, 1, stride, 0, false) == to.H && window(from.W, 1, stride, 0, false) == to.W {
			return stride, true
		}
	}
	return 0, false
}

// se applies a squeeze-and-excitation module to x, or returns x when se is nil.
func (g *graph) se(s *scope, x int, se *SE) int {
	if se == nil || g.err != nil {
		return x
	}
	ss := s.sub("se")
	c := g.shape(x).C
	hidden := c / se.Ratio
	if hidden < 1 {
		g.fail("se ratio %d leaves no hidden units for %d channels; use a ratio of at most %d", se.Ratio, c, c)
		return 0
	}
	v := g.gap(ss.name("gap"), x)
	v = g.unary(ss.name("relu"), OpReLU, g.linear(ss.name("fc"), v, hidden, true), 0)
	v = g.unary(ss.name("sigmoid"), OpSigmoid, g.linear(ss.name("fc"), v, c, true), 0)
	return g.scale(ss.name("scale"), x, v)
}

// convNormReLU appends a conv, a batchnorm if norm, and a ReLU.
func (g *graph) convNormReLU(s *scope, x int, c convSpec, norm bool) int {
	x = g.conv(s.name("conv"), x, c)
	if norm {
		x = g.unary(s.name("bn"), OpBatchNorm, x, 0)
	}
	return g.unary(s.name("relu"), OpReLU, x, 0)
}

// cbr appends conv-batchnorm-ReLU, the unit of the Inception and ResNet families; their convs
// have no bias.
func (g *graph) cbr(s *scope, x int, c convSpec) int {
	return g.convNormReLU(s, x, c, true)
}

func (g *graph) bnReLU(s *scope, x int) int {
	return g.unary(s.name("relu"), OpReLU, g.unary(s.name("bn"), OpBatchNorm, x, 0), 0)
}

// unit is a conv kernel of kh×kw.
type unit struct{ kh, kw int }

var (
	k1x1 = unit{1, 1}
	k3x3 = unit{3, 3}
	k1x3 = unit{1, 3}
	k3x1 = unit{3, 1}
	k1x7 = unit{1, 7}
	k7x1 = unit{7, 1}
)

// chain applies cbr units of widths ws and kernels ks in order, each with "same" padding and
// stride 1, except that the last has stride lastStride and, if lastStride > 1, padding lastPad.
func (g *graph) chain(s *scope, x int, ws []int, ks []unit, lastStride, lastPad int) int {
	if len(ws) != len(ks) {
		panic(fmt.Sprintf("space: chain of %d widths and %d kernels", len(ws), len(ks)))
	}
	for i, w := range ws {
		c := convSpec{out: w, kh: ks[i].kh, kw: ks[i].kw, padH: ks[i].kh / 2, padW: ks[i].kw / 2}
		if i == len(ws)-1 && lastStride > 1 {
			c.stride, c.padH, c.padW = lastStride, lastPad, lastPad
		}
		x = g.cbr(s, x, c)
	}
	return x
}

// branch returns the scope of an Inception-style block's i-th branch.
func branch(s *scope, i int) *scope { return s.sub(fmt.Sprintf("b%d", i)) }

// reductionPad returns the padding of a reduction's stride-2 convs and pool.
func reductionPad(b Block) int {
	if b.Padding == "same" {
		return 1
	}
	return 0
}

// avgPoolBranch is the Inception v3 average-pool branch: avgpool 3×3 stride 1, then a 1×1 cbr.
func (g *graph) avgPoolBranch(bs *scope, x int, b Block) int {
	p := g.pool(bs.name("avgpool"), x, poolSpec{op: OpAvgPool, k: 3, stride: 1, pad: 1, countIncludePad: !b.PoolExcludePad})
	return g.cbr(bs, p, convSpec{out: b.PoolProj, kh: 1, kw: 1})
}

// maxPoolBranch is a reduction's max-pool branch: maxpool 3×3 stride 2.
func (g *graph) maxPoolBranch(bs *scope, x, pad int) int {
	return g.pool(bs.name("maxpool"), x, poolSpec{op: OpMaxPool, k: 3, stride: 2, pad: pad})
}

func inceptionBranches(g *graph, s *scope, x int, b Block) []int {
	b4 := branch(s, 4)
	p := g.pool(b4.name("maxpool"), x, poolSpec{op: OpMaxPool, k: 3, stride: 1, pad: 1, ceil: true})
	k := b.N5x5Kernel
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(branch(s, 2), x, b.N3x3, []unit{k1x1, k3x3}, 1, 0),
		g.chain(branch(s, 3), x, b.N5x5, []unit{k1x1, {k, k}}, 1, 0),
		g.cbr(b4, p, convSpec{out: b.PoolProj, kh: 1, kw: 1}),
	}
}

func inceptionV3ABranches(g *graph, s *scope, x int, b Block) []int {
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(branch(s, 2), x, b.N5x5, []unit{k1x1, {5, 5}}, 1, 0),
		g.chain(branch(s, 3), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 1, 0),
		g.avgPoolBranch(branch(s, 4), x, b),
	}
}

func reductionABranches(g *graph, s *scope, x int, b Block) []int {
	pad := reductionPad(b)
	return []int{
		g.chain(branch(s, 1), x, b.N3x3, []unit{k3x3}, 2, pad),
		g.chain(branch(s, 2), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 2, pad),
		g.maxPoolBranch(branch(s, 3), x, pad),
	}
}

func inceptionV3CBranches(g *graph, s *scope, x int, b Block) []int {
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(branch(s, 2), x, b.N7x7, []unit{k1x1, k1x7, k7x1}, 1, 0),
		g.chain(branch(s, 3), x, b.N7x7dbl, []unit{k1x1, k7x1, k1x7, k7x1, k1x7}, 1, 0),
		g.avgPoolBranch(branch(s, 4), x, b),
	}
}

func inceptionV3DBranches(g *graph, s *scope, x int, b Block) []int {
	pad := reductionPad(b)
	return []int{
		g.chain(branch(s, 1), x, b.N3x3, []unit{k1x1, k3x3}, 2, pad),
		g.chain(branch(s, 2), x, b.N7x7x3, []unit{k1x1, k1x7, k7x1, k3x3}, 2, pad),
		g.maxPoolBranch(branch(s, 3), x, pad),
	}
}

func inceptionV3EBranches(g *graph, s *scope, x int, b Block) []int {
	b2, b3 := branch(s, 2), branch(s, 3)
	y2 := g.chain(b2, x, b.N3x3[:1], []unit{k1x1}, 1, 0)
	y3 := g.chain(b3, x, b.N3x3dbl[:2], []unit{k1x1, k3x3}, 1, 0)
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(b2, y2, b.N3x3[1:], []unit{k1x3}, 1, 0),
		g.chain(b2, y2, b.N3x3[1:], []unit{k3x1}, 1, 0),
		g.chain(b3, y3, b.N3x3dbl[2:], []unit{k1x3}, 1, 0),
		g.chain(b3, y3, b.N3x3dbl[2:], []unit{k3x1}, 1, 0),
		g.avgPoolBranch(branch(s, 4), x, b),
	}
}

func incresABranches(g *graph, s *scope, x int, b Block) []int {
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(branch(s, 2), x, b.N3x3, []unit{k1x1, k3x3}, 1, 0),
		g.chain(branch(s, 3), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 1, 0),
	}
}

func incresBBranches(g *graph, s *scope, x int, b Block) []int {
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(branch(s, 2), x, b.N7x7, []unit{k1x1, k1x7, k7x1}, 1, 0),
	}
}

func incresCBranches(g *graph, s *scope, x int, b Block) []int {
	return []int{
		g.chain(branch(s, 1), x, []int{b.N1x1}, []unit{k1x1}, 1, 0),
		g.chain(branch(s, 2), x, b.N3x3, []unit{k1x1, k1x3, k3x1}, 1, 0),
	}
}

func reductionBBranches(g *graph, s *scope, x int, b Block) []int {
	pad := reductionPad(b)
	return []int{
		g.chain(branch(s, 1), x, b.N3x3, []unit{k1x1, k3x3}, 2, pad),
		g.chain(branch(s, 2), x, b.N3x3B, []unit{k1x1, k3x3}, 2, pad),
		g.chain(branch(s, 3), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 2, pad),
		g.maxPoolBranch(branch(s, 4), x, pad),
	}
}
