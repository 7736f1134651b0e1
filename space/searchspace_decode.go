package space

import (
	"errors"
	"fmt"
	"math"
)

// errUnbound is returned by Decode on a space without input shape and classes.
var errUnbound = errors.New("space: the search space has no input shape and classes; set them in its YAML or with Bind")

// reader reads the values that a genome's genes select, and marks the genes it reads.
type reader struct {
	g    Genome
	used []bool // nil when no one asks
}

func (r *reader) index(d *decision) int {
	if d.gene < 0 {
		return 0
	}
	if r.used != nil {
		r.used[d.gene] = true
	}
	return int(r.g[d.gene]) % len(d.text)
}

func (r *reader) num(d *decision) float64 { return d.num[r.index(d)] }
func (r *reader) int(d *decision) int     { return int(r.num(d)) }
func (r *reader) text(d *decision) string { return d.text[r.index(d)] }

// residualSlot is what decode remembers of a slot of residual blocks until the network-wide
// choices are made.
type residualSlot struct {
	sl    *slot
	stage int   // its stage in the Arch
	in    Shape // the shape its first block gets
	out   Shape // the shape it gives
}

// decode builds the network of g. When used is not nil, it marks the genes that the network
// depends on: changing any other gene gives the same network.
//
// Every value is valid by construction, so that the network expands: options that would not fit
// are replaced by the nearest that does (an SE ratio above the channels by the channels, shortcut A
// where channels shrink by B, a widening beyond the widest block by the widest), a downsampling
// that a map too small for it cannot take is left out, and RoR is left out when no shortcut can
// map the body's input onto its output.
func (s *SearchSpace) decode(g Genome, used []bool) (*Arch, error) {
	if len(g) != len(s.genes) {
		return nil, fmt.Errorf("space: a genome of %d genes, but space %q has %d", len(g), s.Name, len(s.genes))
	}
	if s.classes == 0 {
		return nil, errUnbound
	}
	r := &reader{g: g, used: used}
	a := &Arch{Input: s.input, Classes: s.classes, Stem: cloneSpecs(s.stem), Head: cloneSpecs(s.head)}
	cur := s.stemOut
	var res []residualSlot
	for i := range s.slots {
		sl := &s.slots[i]
		depth := r.int(&sl.depth)
		if depth == 0 {
			continue
		}
		fam := r.text(&sl.family)
		rule := families[fam].search
		st := &slotStage{a: a, r: r, bits: sl.bits, option: func(key string) *decision { return sl.option(key, fam) },
			depth: depth, down: r.int(&sl.stride) == 2, b: Block{Family: fam}, cur: cur, in: cur}
		if !rule.widthless {
			st.width = r.int(&sl.width)
		}
		rule.decode(st)
		b := st.b
		cur = st.cur
		if d := st.option("se"); d != nil {
			if ratio := r.int(d); ratio > 0 {
				b.SE = &SE{Ratio: min(ratio, st.seChannels)}
			}
		}
		a.Stages = append(a.Stages, Stage{Block: b, Blocks: depth, Pool: st.pool})
		if families[fam].residual {
			res = append(res, residualSlot{sl: sl, stage: len(a.Stages) - 1, in: st.in, out: cur})
		}
	}
	s.networkWide(a, r, res)
	return a, nil
}

// slotStage is a stage slot being decoded: what a family's decode reads, and what it sets.
type slotStage struct {
	a      *Arch // the network so far; a downsampling step goes into its stages
	r      *reader
	option func(key string) *decision // the decision of an option for the slot's family, or nil
	width  int                        // the slot's width gene, unless the family is widthless
	depth  int                        // its number of blocks, at least 1
	down   bool                       // it downsamples

	b          Block      // the stage's block, its family set
	cur        Shape      // the shape the slot gets; decode sets the shape it gives
	in         Shape      // the shape its first block gets, after any downsampling step
	seChannels int        // the channels an SE module of the block scales
	bits       []decision // the slot's connection bits, for a genetic_stage block
	pool       *Pool      // a pooling layer after the stage
}

// geneticSlot builds a Genetic CNN stage: a code of the slot's number of nodes from its bits,
// and, when the slot downsamples, the paper's 2×2 max pooling after the stage.
func geneticSlot(st *slotStage) {
	k := st.r.int(st.option("nodes"))
	c := newGeneticCode(k)
	for j := 1; j < k; j++ {
		for i := range j {
			c.edge[i][j] = st.r.int(&st.bits[j*(j-1)/2+i]) == 1
		}
	}
	st.b.Width, st.b.Code = st.width, c.String()
	st.in = st.cur
	st.cur.C = st.width
	if st.down && st.cur.H >= 2 && st.cur.W >= 2 {
		st.pool = &Pool{Type: "max", Kernel: 2}
		st.cur.H, st.cur.W = st.cur.H/2, st.cur.W/2
	}
	st.seChannels = st.width
}

// convSlot returns the decode of a family with a width and a stride, which sets the options
// every such family shares and then calls own, if not nil, for the family's own. A shortcut
// is chosen later, in networkWide, since RoR may need one.
func convSlot(own func(st *slotStage)) func(st *slotStage) {
	return func(st *slotStage) {
		b, r := &st.b, st.r
		b.Width = st.width
		if st.down {
			b.Stride = 2
			// Every strided conv and shortcut of these families maps n pixels to ⌈n/2⌉.
			st.cur.H, st.cur.W = window(st.cur.H, 1, 2, 0, false), window(st.cur.W, 1, 2, 0, false)
		}
		if d := st.option("kernel"); d != nil {
			b.Kernel = r.int(d)
		}
		if d := st.option("widen_factor"); d != nil {
			b.WidenFactor = min(r.int(d), maxWidth/b.Width) // a wider block than the validator allows is capped
		}
		if d := st.option("dropout"); d != nil {
			b.Dropout = r.num(d)
		}
		if d := st.option("stride_on"); d != nil && b.Stride == 2 {
			b.StrideOn = r.text(d)
		}
		if own != nil {
			own(st)
		}
		st.cur.C = b.Width * max(b.WidenFactor, 1)
		st.seChannels = st.cur.C
	}
}

// mlpconvSlot gives an mlpconv block two 1×1 convs of its width.
func mlpconvSlot(st *slotStage) { st.b.MLP = []int{st.b.Width, st.b.Width} }

// bottleneckSlot gives a bottleneck narrower than 4 an inner width of 1, where the default,
// width/4, would be 0.
func bottleneckSlot(st *slotStage) {
	if st.b.Width < 4 {
		st.b.MidWidth = 1
	}
}

// resnextSlot sets a ResNeXt block's cardinality C and its group width d so that the inner
// width C·d is about half the output, as in ResNeXt-50's first stage (32×4d, 128 of 256) and
// ResNeXt-29 8×64d's last; groups divide it by construction.
func resnextSlot(st *slotStage) {
	b := &st.b
	b.Cardinality = st.r.int(st.option("cardinality"))
	b.GroupWidth = max(1, b.Width/(2*b.Cardinality))
}

// denseSlot decodes a dense slot: a transition first when it downsamples, then depth dense
// layers.
func denseSlot(st *slotStage) {
	b, r := &st.b, st.r
	if st.down && min(st.cur.H, st.cur.W) >= 2 {
		st.cur = transition(st.a, r, st.option("compression"), st.cur)
		st.in = st.cur
	}
	b.GrowthRate = r.int(st.option("growth_rate"))
	if d := st.option("bn_size"); d != nil {
		b.BNSize = r.int(d)
	}
	if d := st.option("dropout"); d != nil {
		b.Dropout = r.num(d)
	}
	st.seChannels = b.GrowthRate
	st.cur.C += st.depth * b.GrowthRate
}

// branchSlot returns the decode of an Inception-style family whose branch widths widths sets
// from the slot's width (see inceptionWidths). A slot that downsamples starts with a
// Reduction-A. An Inception-ResNet block (residual) projects its branches back to the
// channels it gets and takes a scale.
func branchSlot(widths func(b *Block, w int) int, residual bool) func(st *slotStage) {
	return func(st *slotStage) {
		if st.down {
			st.cur = reductionA(st.a, st.width, st.cur)
			st.in = st.cur
		}
		st.seChannels = widths(&st.b, st.width)
		if !residual {
			st.cur.C = st.seChannels
			return
		}
		st.seChannels = st.cur.C
		if d := st.option("scale"); d != nil {
			st.b.Scale = st.r.num(d)
		}
	}
}

// transition appends the DenseNet transition that downsamples a dense slot and returns the shape
// it gives.
func transition(a *Arch, r *reader, compression *decision, in Shape) Shape {
	theta := 1.0
	if compression != nil {
		theta = r.num(compression)
	}
	c := int(math.Floor(float64(in.C) * theta))
	if c < 1 {
		theta, c = 1, in.C // too few channels to compress
	}
	t := Block{Family: FamilyTransition}
	if theta != 1 {
		t.Compression = theta
	}
	a.Stages = append(a.Stages, Stage{Block: t})
	return Shape{C: c, H: window(in.H, 2, 2, 0, false), W: window(in.W, 2, 2, 0, false)}
}

// reductionA appends the Inception-ResNet Reduction-A (with "same" padding, so that any map
// halves) that downsamples an inception or incres slot of width w, and returns the shape it
// gives. Its conv branches add about w channels to the pooled input's, in Reduction-A's
// proportions: n = w/2 on the 3×3 branch, k, l, m = w/4, 3w/8, w/2 on the double 3×3.
func reductionA(a *Arch, w int, in Shape) Shape {
	n3x3 := []int{half(w)}
	dbl := []int{max(1, w/4), max(1, 3*w/8), half(w)}
	a.Stages = append(a.Stages, Stage{Block: Block{Family: FamilyReductionA, N3x3: n3x3, N3x3dbl: dbl, Padding: "same"}})
	return Shape{C: in.C + n3x3[0] + dbl[2], H: window(in.H, 3, 2, 1, false), W: window(in.W, 3, 2, 1, false)}
}

func half(w int) int { return max(1, w/2) }

// The branch widths of an Inception-style block of width w, the channels of the concatenated
// branches, in the proportions of the published blocks, each at least 1. Each function sets
// them in b and returns those channels (w when 8 or 16 divides it):
//
//	inception (GoogLeNet 3a):      1×1 w/4; 3×3 3w/8→w/2; 5×5 w/16→w/8; pool proj w/8
//	incres_a (Inception-ResNet-v2): 1×1 w/4; 3×3 w/4→w/4; 3×3dbl w/4→3w/8→w/2
//	incres_b:                       1×1 w/2; 7×7 w/3→5w/12→w/2
//	incres_c:                       1×1 w/2; 3×3 3w/8→7w/16→w/2

func inceptionWidths(b *Block, w int) int {
	b.N1x1, b.N3x3, b.N5x5, b.PoolProj = part(w, 1, 4), []int{part(w, 3, 8), part(w, 1, 2)}, []int{part(w, 1, 16), part(w, 1, 8)}, part(w, 1, 8)
	return b.N1x1 + b.N3x3[1] + b.N5x5[1] + b.PoolProj
}

func incresAWidths(b *Block, w int) int {
	b.N1x1, b.N3x3, b.N3x3dbl = part(w, 1, 4), []int{part(w, 1, 4), part(w, 1, 4)}, []int{part(w, 1, 4), part(w, 3, 8), part(w, 1, 2)}
	return b.N1x1 + b.N3x3[1] + b.N3x3dbl[2]
}

func incresBWidths(b *Block, w int) int {
	b.N1x1, b.N7x7 = part(w, 1, 2), []int{part(w, 1, 3), part(w, 5, 12), part(w, 1, 2)}
	return b.N1x1 + b.N7x7[2]
}

func incresCWidths(b *Block, w int) int {
	b.N1x1, b.N3x3 = part(w, 1, 2), []int{part(w, 3, 8), part(w, 7, 16), part(w, 1, 2)}
	return b.N1x1 + b.N3x3[2]
}

// part returns w·num/den, at least 1.
func part(w, num, den int) int { return max(1, w*num/den) }

// networkWide makes the choices that depend on the whole network: RoR and stochastic depth, which
// only residual blocks take, and then the shortcuts and drop_path of the residual slots res.
func (s *SearchSpace) networkWide(a *Arch, r *reader, res []residualSlot) {
	if len(res) == 0 {
		return
	}
	last := res[len(res)-1]
	a.RoR = r.int(&s.ror) == 1 && rorFits(s.stemOut, last.out)
	if p := r.num(&s.sd); p > 0 {
		a.StochasticDepth = &StochasticDepth{FinalSurvival: p}
	}
	for _, rs := range res {
		b := &a.Stages[rs.stage].Block
		if d := rs.sl.option("drop_path", b.Family); d != nil && a.StochasticDepth == nil {
			b.DropPath = r.num(d)
		}
		d := rs.sl.option("shortcut", b.Family)
		if d == nil {
			continue
		}
		// A shortcut is a layer only where the shape changes: at the slot's first block, and
		// in RoR's shortcut around the whole body, which ends at the last residual slot.
		body := a.RoR && rs.stage == last.stage && s.stemOut != rs.out
		if rs.in == rs.out && !body {
			continue
		}
		b.Shortcut = r.text(d)
		if b.Shortcut == "A" && (rs.out.C < rs.in.C || (body && rs.out.C < s.stemOut.C)) {
			b.Shortcut = "B" // zero-padding cannot drop channels
		}
	}
}

// rorFits tells whether RoR's shortcut around the whole body, a subsampling by one stride, can
// map the body's input shape in onto its output shape out, as Expand's shortcutTo requires.
func rorFits(in, out Shape) bool {
	_, ok := subsampling(in, out)
	return ok
}
