package space

import (
	"math"
	"slices"
	"strings"
)

// Nearest returns the genome of the space whose network is nearest to a, and whether that
// network is a itself (the same canonical hash, Arch.Hash). It maps a's stages onto the
// space's stage slots in order, a DenseNet transition or an Inception-ResNet Reduction-A
// counting as the downsampling of the stage after it, and sets every gene to the value closest
// to a's: the same family or else a related one, the depth, width and stride, each option
// (written or the family's default), RoR and stochastic depth. Slots beyond a's stages get the
// depth closest to 0; when that is not exact, slots that may have depth 0 are tried left out.
// The space must be bound (see Bind) for an exact match. Nearest never panics, and gives a
// genome of the space's length for any Arch, nil included.
func (s *SearchSpace) Nearest(a *Arch) (Genome, bool) {
	if a == nil {
		return make(Genome, len(s.genes)), false
	}
	stages := mainStages(a)
	g := s.nearest(a, stages, seq(0, len(s.slots)))
	want, err := a.Hash()
	if err != nil {
		return g, false
	}
	if s.hashes(g, want) {
		return g, true
	}
	// Slots that may have depth 0 can be left out: try every choice of them that leaves as
	// many slots as a has stages.
	if len(s.slots) > 12 || len(stages) >= len(s.slots) {
		return g, false
	}
	for skip := 1; skip < 1<<len(s.slots); skip++ {
		var slotOf []int // the slot of each stage
		for i := range s.slots {
			if skip&(1<<i) == 0 {
				slotOf = append(slotOf, i)
			} else if slices.Min(s.slots[i].depth.num) > 0 {
				slotOf = nil
				break
			}
		}
		if len(slotOf) != len(stages) {
			continue
		}
		if h := s.nearest(a, stages, slotOf); s.hashes(h, want) {
			return h, true
		}
	}
	return g, false
}

// hashes reports whether g decodes to a network of canonical hash want.
func (s *SearchSpace) hashes(g Genome, want string) bool {
	a, err := s.Decode(g)
	if err != nil {
		return false
	}
	h, err := a.Hash()
	return err == nil && h == want
}

// nearest returns the genome nearest to a whose slot slotOf[i] holds stage i of stages, for as
// many stages as there are slots to hold them; the other slots get the depth closest to 0.
func (s *SearchSpace) nearest(a *Arch, stages []archStage, slotOf []int) Genome {
	g := make(Genome, len(s.genes))
	set := func(d *decision, i int) {
		if d != nil && d.gene >= 0 && i >= 0 {
			g[d.gene] = uint16(i)
		}
	}
	set(&s.ror, nearestNum(&s.ror, boolNum(a.RoR)))
	survival := 0.0 // none
	if a.StochasticDepth != nil {
		survival = a.StochasticDepth.FinalSurvival
	}
	set(&s.sd, nearestNum(&s.sd, survival))
	for i := range s.slots {
		set(&s.slots[i].depth, nearestNum(&s.slots[i].depth, 0))
	}
	for i, si := range slotOf {
		if i >= len(stages) {
			break
		}
		st, sl := stages[i], &s.slots[si]
		fam := sl.family.text[0]
		if j := nearestFamily(&sl.family, st.block.Family); j >= 0 {
			set(&sl.family, j)
			fam = sl.family.text[j]
		}
		set(&sl.depth, nearestNum(&sl.depth, float64(st.depth)))
		set(&sl.width, nearestNum(&sl.width, float64(slotWidth(st.block, fam))))
		set(&sl.stride, nearestNum(&sl.stride, 1+boolNum(st.down)))
		for key, d := range sl.perFamily[fam] {
			switch key {
			case "shortcut", "stride_on":
				set(d, slices.Index(d.text, optionText(st.block, key)))
			case "se":
				set(d, nearestRatio(d, optionNum(st, key)))
			case "nodes":
				set(d, nearestNum(d, float64(strings.Count(st.block.Code, "-")+2)))
			default:
				set(d, nearestNum(d, optionNum(st, key)))
			}
		}
		if code, err := parseGeneticCode(st.block.Code); err == nil && fam == FamilyGeneticStage {
			// The canonical code numbers its connected nodes first: a slot of more nodes
			// leaves the others isolated, one of fewer keeps the bits it has room for.
			for j := 1; j < code.k; j++ {
				for i := range j {
					if b := j*(j-1)/2 + i; b < len(sl.bits) {
						set(&sl.bits[b], int(boolNum(code.edge[i][j])))
					}
				}
			}
		}
	}
	return g
}

// archStage is a stage of an Arch as a slot of a search space sees it.
type archStage struct {
	block       Block
	depth       int
	down        bool    // it strides, or a transition or reduction comes before it
	compression float64 // θ of the transition before it, 1 if none
}

// mainStages returns the stages of a that would fill a search space's slots: every stage but
// the transitions and reductions, which mark the stage after them as downsampling.
func mainStages(a *Arch) []archStage {
	var out []archStage
	down, theta := false, 1.0
	for _, st := range a.Stages {
		b := st.Block
		if len(st.List) > 0 {
			b = merge(b, st.List[0])
		}
		if lookup(b.Family).step {
			down = true
			if b.Compression > 0 {
				theta = b.Compression
			}
			continue
		}
		depth := max(st.Blocks, 1)
		if len(st.List) > 0 {
			depth = len(st.List)
		}
		// A Genetic CNN stage downsamples by the max pooling after it.
		pooled := b.Family == FamilyGeneticStage && st.Pool != nil
		out = append(out, archStage{block: b, depth: depth, down: down || b.Stride == 2 || pooled, compression: theta})
		down, theta = false, 1
	}
	return out
}

// nearestFamily returns the index of fam among d's values, or of the family nearest to it, or
// -1 if none is near.
func nearestFamily(d *decision, fam string) int {
	var kin []string
	if r := lookup(fam).search; r != nil {
		kin = r.kin
	}
	for _, f := range append([]string{fam}, kin...) {
		if i := slices.Index(d.text, f); i >= 0 {
			return i
		}
	}
	return -1
}

// slotWidth returns the width a slot of family fam needs to give the output of block b.
func slotWidth(b Block, fam string) int {
	if r := lookup(b.Family).search; r != nil && r.width != nil {
		return r.width(b, fam)
	}
	return b.Width
}

// branchesWidth is the slot width of an Inception-style block: the channels of its
// concatenated branches.
func branchesWidth(b Block, _ string) int {
	w := b.N1x1 + b.PoolProj
	for _, branch := range [][]int{b.N3x3, b.N5x5, b.N3x3dbl, b.N7x7} {
		if len(branch) > 0 {
			w += branch[len(branch)-1]
		}
	}
	return w
}

// wideWidth is the slot width of a wide block: its width for a wide slot, and the width it
// stands for, Width·k, for a slot of another family.
func wideWidth(b Block, fam string) int {
	if fam != FamilyWide {
		return b.Width * max(b.WidenFactor, 1)
	}
	return b.Width
}

// optionText returns the value of a word option of b, its family's default if unset.
func optionText(b Block, key string) string {
	switch key {
	case "shortcut":
		if b.Shortcut != "" {
			return b.Shortcut
		}
		return "B"
	case "stride_on":
		if b.StrideOn != "" {
			return b.StrideOn
		}
		return "3x3"
	}
	return ""
}

// optionNum returns the value of a numeric option of stage st, its family's default if unset;
// a "none" counts as 0.
func optionNum(st archStage, key string) float64 {
	b := st.block
	or := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	switch key {
	case "se":
		if b.SE == nil {
			return 0
		}
		return or(float64(b.SE.Ratio), 16)
	case "kernel":
		return or(float64(b.Kernel), 3)
	case "cardinality":
		return or(float64(b.Cardinality), float64(b.Groups))
	case "widen_factor":
		return or(float64(b.WidenFactor), 1)
	case "growth_rate":
		return float64(b.GrowthRate)
	case "bn_size":
		return float64(b.BNSize)
	case "compression":
		return st.compression
	case "dropout":
		return b.Dropout
	case "scale":
		return or(b.Scale, 1)
	case "drop_path":
		return b.DropPath
	}
	return 0
}

// nearestRatio returns the index of SE ratio r among d's values, or else of the least value
// above it, since Decode caps a ratio at the channels it scales and a ratio equal to them is
// the commonest that a space does not list, or else of the value closest to it.
func nearestRatio(d *decision, r float64) int {
	best := -1
	for i, v := range d.num {
		if v == r {
			return i
		}
		if r > 0 && v > r && (best < 0 || v < d.num[best]) {
			best = i
		}
	}
	if best < 0 {
		best = nearestNum(d, r)
	}
	return best
}

// nearestNum returns the index of d's value closest to x, the first of equals.
func nearestNum(d *decision, x float64) int {
	best := 0
	for i, v := range d.num {
		if math.Abs(v-x) < math.Abs(d.num[best]-x) {
			best = i
		}
	}
	return best
}

func boolNum(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
