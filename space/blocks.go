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

// block builds one block of any family but dense on x and returns its output. drop is the
// droppath probability of a residual branch; extra are RoR shortcuts to add before the block's
// final activation.
func (g *graph) block(s *scope, x int, b Block, drop float64, extra []shortcutSource) int {
	switch b.Family {
	case FamilyPlain, FamilyMLPConv:
		norm := b.Norm == "batchnorm"
		x = g.convNormReLU(s, x, b.Width, b.Kernel, b.Kernel, b.Stride, b.Kernel/2, b.Kernel/2, 1, b.Bias, norm)
		for _, w := range b.MLP {
			x = g.convNormReLU(s, x, w, 1, 1, 1, 0, 0, 1, b.Bias, norm)
		}
		return g.se(s, x, b.SE)
	case FamilyBasic:
		y := g.cbr(s, x, b.Width, 3, 3, b.Stride, 1, 1)
		y = g.unary(s.name("bn"), OpBatchNorm, g.conv(s.name("conv"), y, b.Width, 3, 3, 1, 1, 1, 1, false), 0)
		return g.residual(s, y, g.shortcut(s.sub("shortcut"), x, x, b.Width, b.Stride, b.Shortcut, true), b, drop, extra, 1, true)
	case FamilyBottleneck:
		s1, s3 := strides(b)
		y := g.cbr(s, x, b.MidWidth, 1, 1, s1, 0, 0)
		y = g.convNormReLU(s, y, b.MidWidth, 3, 3, s3, 1, 1, b.Groups, false, true)
		y = g.unary(s.name("bn"), OpBatchNorm, g.conv(s.name("conv"), y, b.Width, 1, 1, 1, 0, 0, 1, false), 0)
		return g.residual(s, y, g.shortcut(s.sub("shortcut"), x, x, b.Width, b.Stride, b.Shortcut, true), b, drop, extra, 1, true)
	case FamilyPreactBasic:
		pre := g.bnReLU(s, x)
		y := g.conv(s.name("conv"), pre, b.Width, 3, 3, b.Stride, 1, 1, 1, false)
		y = g.bnReLU(s, y)
		if b.Dropout > 0 {
			y = g.unary(s.name("dropout"), OpDropout, y, b.Dropout)
		}
		y = g.conv(s.name("conv"), y, b.Width, 3, 3, 1, 1, 1, 1, false)
		return g.residual(s, y, g.shortcut(s.sub("shortcut"), x, pre, b.Width, b.Stride, b.Shortcut, false), b, drop, extra, 1, false)
	case FamilyPreactBottleneck:
		s1, s3 := strides(b)
		pre := g.bnReLU(s, x)
		y := g.bnReLU(s, g.conv(s.name("conv"), pre, b.MidWidth, 1, 1, s1, 0, 0, 1, false))
		y = g.bnReLU(s, g.conv(s.name("conv"), y, b.MidWidth, 3, 3, s3, 1, 1, b.Groups, false))
		y = g.conv(s.name("conv"), y, b.Width, 1, 1, 1, 0, 0, 1, false)
		return g.residual(s, y, g.shortcut(s.sub("shortcut"), x, pre, b.Width, b.Stride, b.Shortcut, false), b, drop, extra, 1, false)
	case FamilyTransition:
		y := g.bnReLU(s, x)
		c := int(math.Floor(float64(g.shape(x).C) * b.Compression))
		if c < 1 {
			g.fail("compression %v leaves no channels of %d", b.Compression, g.shape(x).C)
			return 0
		}
		y = g.conv(s.name("conv"), y, c, 1, 1, 1, 0, 0, 1, false)
		return g.se(s, g.pool(s.name("avgpool"), OpAvgPool, y, 2, 2, 0, false, true), b.SE)
	case FamilyIncResA, FamilyIncResB, FamilyIncResC:
		y := g.concat(s.name("cat"), g.inceptionBranches(s, x, b)...)
		y = g.conv(s.name("conv"), y, g.shape(x).C, 1, 1, 1, 0, 0, 1, true)
		return g.residual(s, y, x, b, drop, extra, b.Scale, !b.NoReLU)
	default:
		return g.se(s, g.concat(s.name("cat"), g.inceptionBranches(s, x, b)...), b.SE)
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
func (g *graph) denseLayer(s *scope, x int, b Block) int {
	if b.BNSize > 0 {
		x = g.conv(s.name("conv"), g.bnReLU(s, x), b.BNSize*b.GrowthRate, 1, 1, 1, 0, 0, 1, false)
	}
	x = g.conv(s.name("conv"), g.bnReLU(s, x), b.GrowthRate, 3, 3, 1, 1, 1, 1, false)
	if b.Dropout > 0 {
		x = g.unary(s.name("dropout"), OpDropout, x, b.Dropout)
	}
	return g.se(s, x, b.SE)
}

// residual finishes a residual block: SE and droppath on the branch y, the addition
// shortcut + scale·y, the RoR shortcuts, and the final ReLU if relu.
func (g *graph) residual(s *scope, y, shortcut int, b Block, drop float64, extra []shortcutSource, scale float64, relu bool) int {
	y = g.se(s, y, b.SE)
	if drop > 0 {
		y = g.unary(s.name("droppath"), OpDropPath, y, drop)
	}
	out := g.addScaled(s.name("add"), shortcut, y, scale)
	for _, e := range extra {
		out = g.addScaled(s.name("add"), out, g.shortcutTo(e.s, e.x, out, b.Shortcut, relu), 1)
	}
	if relu {
		out = g.unary(s.name("relu"), OpReLU, out, 0)
	}
	return out
}

// shortcut returns the shortcut of a residual block from x to width channels at stride: x itself
// when the shape is kept, otherwise a zeropad of x (option A) or a 1×1 conv of from (option B),
// followed by batchnorm if bn. Pre-activation blocks project their pre-activated input from.
func (g *graph) shortcut(s *scope, x, from, width, stride int, kind string, bn bool) int {
	if g.err != nil {
		return 0
	}
	if stride == 1 && g.shape(x).C == width {
		return x
	}
	if kind == "A" {
		return g.zeropad(s.name("zeropad"), x, width, stride)
	}
	y := g.conv(s.name("conv"), from, width, 1, 1, stride, 0, 0, 1, false)
	if bn {
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
	for stride := 1; stride <= from.H; stride++ {
		if window(from.H, 1, stride, 0, false) == to.H && window(from.W, 1, stride, 0, false) == to.W {
			return g.shortcut(s, x, x, to.C, stride, kind, bn)
		}
	}
	g.fail("ror: no stride maps the %dx%d input of the shortcut onto the %dx%d output", from.H, from.W, to.H, to.W)
	return 0
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
func (g *graph) convNormReLU(s *scope, x, out, kh, kw, stride, padH, padW, groups int, bias, norm bool) int {
	x = g.conv(s.name("conv"), x, out, kh, kw, stride, padH, padW, groups, bias)
	if norm {
		x = g.unary(s.name("bn"), OpBatchNorm, x, 0)
	}
	return g.unary(s.name("relu"), OpReLU, x, 0)
}

// cbr appends conv (no bias)-batchnorm-ReLU, the unit of the Inception and ResNet families.
func (g *graph) cbr(s *scope, x, out, kh, kw, stride, padH, padW int) int {
	return g.convNormReLU(s, x, out, kh, kw, stride, padH, padW, 1, false, true)
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
		k, stride, ph, pw := ks[i], 1, ks[i].kh/2, ks[i].kw/2
		if i == len(ws)-1 && lastStride > 1 {
			stride, ph, pw = lastStride, lastPad, lastPad
		}
		x = g.cbr(s, x, w, k.kh, k.kw, stride, ph, pw)
	}
	return x
}

// inceptionBranches builds the parallel branches of an Inception-style block on x and returns
// their outputs in concatenation order.
func (g *graph) inceptionBranches(s *scope, x int, b Block) []int {
	pad := 0 // of the stride-2 convs and pool of a reduction
	if b.Padding == "same" {
		pad = 1
	}
	br := func(i int) *scope { return s.sub(fmt.Sprintf("b%d", i)) }
	// poolBranch is the Inception v3 average-pool branch: avgpool 3×3 stride 1, then a 1×1 cbr.
	poolBranch := func(bs *scope) int {
		p := g.pool(bs.name("avgpool"), OpAvgPool, x, 3, 1, 1, false, !b.PoolExcludePad)
		return g.cbr(bs, p, b.PoolProj, 1, 1, 1, 0, 0)
	}
	one := []int{b.N1x1}
	switch b.Family {
	case FamilyInception:
		b4 := br(4)
		p := g.pool(b4.name("maxpool"), OpMaxPool, x, 3, 1, 1, true, false)
		k := b.N5x5Kernel
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(br(2), x, b.N3x3, []unit{k1x1, k3x3}, 1, 0),
			g.chain(br(3), x, b.N5x5, []unit{k1x1, {k, k}}, 1, 0),
			g.cbr(b4, p, b.PoolProj, 1, 1, 1, 0, 0),
		}
	case FamilyInceptionV3A:
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(br(2), x, b.N5x5, []unit{k1x1, {5, 5}}, 1, 0),
			g.chain(br(3), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 1, 0),
			poolBranch(br(4)),
		}
	case FamilyReductionA:
		b3 := br(3)
		return []int{
			g.chain(br(1), x, b.N3x3, []unit{k3x3}, 2, pad),
			g.chain(br(2), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 2, pad),
			g.pool(b3.name("maxpool"), OpMaxPool, x, 3, 2, pad, false, false),
		}
	case FamilyInceptionV3C:
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(br(2), x, b.N7x7, []unit{k1x1, k1x7, k7x1}, 1, 0),
			g.chain(br(3), x, b.N7x7dbl, []unit{k1x1, k7x1, k1x7, k7x1, k1x7}, 1, 0),
			poolBranch(br(4)),
		}
	case FamilyInceptionV3D:
		b3 := br(3)
		return []int{
			g.chain(br(1), x, b.N3x3, []unit{k1x1, k3x3}, 2, pad),
			g.chain(br(2), x, b.N7x7x3, []unit{k1x1, k1x7, k7x1, k3x3}, 2, pad),
			g.pool(b3.name("maxpool"), OpMaxPool, x, 3, 2, pad, false, false),
		}
	case FamilyInceptionV3E:
		b2, b3 := br(2), br(3)
		y2 := g.chain(b2, x, b.N3x3[:1], []unit{k1x1}, 1, 0)
		y3 := g.chain(b3, x, b.N3x3dbl[:2], []unit{k1x1, k3x3}, 1, 0)
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(b2, y2, b.N3x3[1:], []unit{k1x3}, 1, 0),
			g.chain(b2, y2, b.N3x3[1:], []unit{k3x1}, 1, 0),
			g.chain(b3, y3, b.N3x3dbl[2:], []unit{k1x3}, 1, 0),
			g.chain(b3, y3, b.N3x3dbl[2:], []unit{k3x1}, 1, 0),
			poolBranch(br(4)),
		}
	case FamilyIncResA:
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(br(2), x, b.N3x3, []unit{k1x1, k3x3}, 1, 0),
			g.chain(br(3), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 1, 0),
		}
	case FamilyIncResB:
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(br(2), x, b.N7x7, []unit{k1x1, k1x7, k7x1}, 1, 0),
		}
	case FamilyIncResC:
		return []int{
			g.chain(br(1), x, one, []unit{k1x1}, 1, 0),
			g.chain(br(2), x, b.N3x3, []unit{k1x1, k1x3, k3x1}, 1, 0),
		}
	case FamilyReductionB:
		b4 := br(4)
		return []int{
			g.chain(br(1), x, b.N3x3, []unit{k1x1, k3x3}, 2, pad),
			g.chain(br(2), x, b.N3x3B, []unit{k1x1, k3x3}, 2, pad),
			g.chain(br(3), x, b.N3x3dbl, []unit{k1x1, k3x3, k3x3}, 2, pad),
			g.pool(b4.name("maxpool"), OpMaxPool, x, 3, 2, pad, false, false),
		}
	}
	panic("space: no builder for family " + b.Family)
}
