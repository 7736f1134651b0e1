package space

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Limits on sizes, far above any sensible network, that keep counts within int64.
const (
	maxWidth  = 1 << 16
	maxSize   = 1 << 14
	maxBlocks = 1 << 10
)

// Validate reports the first mistake in the architecture as a *ConfigError naming the field and
// what would be valid: unknown families or options, values out of range, widths that groups do
// not divide, strides that shrink a feature map below 1×1. It expands the network to find the
// last kind.
func (a *Arch) Validate() error {
	_, err := a.Expand()
	return err
}

// placed is one block of a stage as it will be built: the listed block merged with its stage,
// aliases resolved and defaults filled.
type placed struct {
	Block
	path  string // YAML path of the block: the listed entry, or the stage
	stage int    // index of the stage
	index int    // index of the block in its stage
}

// stageBlocks returns the blocks of stage si, merged, checked and normalised.
func (a *Arch) stageBlocks(si int) ([]placed, error) {
	st := &a.Stages[si]
	stagePath := fmt.Sprintf("stages[%d]", si)
	if len(st.List) > 0 && st.Blocks != 0 {
		return nil, fieldError(stagePath+".blocks", "set either blocks or blocks_list, not both")
	}
	n := st.Blocks
	if len(st.List) > 0 {
		n = len(st.List)
	}
	if n == 0 {
		n = 1
	}
	if n < 0 || n > maxBlocks {
		return nil, fieldError(stagePath+".blocks", "must be between 1 and %d (got %d)", maxBlocks, st.Blocks)
	}
	out := make([]placed, n)
	for i := range n {
		b := st.Block
		var own *Block
		path := stagePath
		if len(st.List) > 0 {
			own = &st.List[i]
			path = fmt.Sprintf("%s.blocks_list[%d]", stagePath, i)
			b = merge(st.Block, *own)
		}
		if i > 0 && (own == nil || own.Stride == 0) {
			b.Stride = 0
		}
		// An error names the field where the value was written: the listed block or the stage.
		pathOf := func(key string) string {
			if own != nil && slices.Contains(setKeys(own), key) {
				return path + "." + key
			}
			return stagePath + "." + key
		}
		nb, err := normalize(b, pathOf)
		if err != nil {
			return nil, err
		}
		out[i] = placed{Block: nb, path: path, stage: si, index: i}
	}
	return out, nil
}

// merge returns the listed block over with the fields it leaves unset taken from the stage's
// block base.
func merge(base, over Block) Block {
	b := over
	v, bv := reflect.ValueOf(&b).Elem(), reflect.ValueOf(base)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			v.Field(i).Set(bv.Field(i))
		}
	}
	return b
}

// word checks the word option *v at path against valid, setting it to def when unset.
func word(path string, v *string, def string, valid ...string) error {
	if *v == "" {
		*v = def
		return nil
	}
	if !slices.Contains(valid, *v) {
		return oneOf(path, *v, valid...)
	}
	return nil
}

func oneOf(path, got string, valid ...string) error {
	return fieldError(path, "must be one of %s (got %q)", strings.Join(valid, ", "), got)
}

func intIn(path string, got, lo, hi int) error {
	if got < lo || got > hi {
		return fieldError(path, "must be between %d and %d (got %d)", lo, hi, got)
	}
	return nil
}

func probability(path string, p float64) error {
	if !(p >= 0 && p < 1) {
		return fieldError(path, "must be a probability in [0, 1) (got %v)", p)
	}
	return nil
}

// normalize checks block b and returns its canonical form: family aliases resolved (resnext is a
// bottleneck with groups, wide a pre-activation basic block with its width multiplied) and
// defaults filled. pathOf gives the YAML path of a key for errors.
func normalize(b Block, pathOf func(string) string) (Block, error) {
	if b.Family == "" {
		return b, fieldError(pathOf("family"), "missing; valid families: %s", strings.Join(Families(), ", "))
	}
	f, ok := families[b.Family]
	if !ok {
		return b, fieldError(pathOf("family"), "unknown family %q; valid families: %s", b.Family, strings.Join(Families(), ", "))
	}
	accepted := f.accepts()
	for _, k := range setKeys(&b) {
		if !slices.Contains(accepted, k) {
			return b, fieldError(pathOf(k), "not an option of family %s (its options: %s)", b.Family, strings.Join(accepted, ", "))
		}
	}
	if f.width {
		if b.Width == 0 {
			return b, fieldError(pathOf("width"), "missing: family %s needs the number of output channels", b.Family)
		}
		if err := intIn(pathOf("width"), b.Width, 1, maxWidth); err != nil {
			return b, err
		}
	}
	if f.stride {
		if b.Stride == 0 {
			b.Stride = 1
		}
		if b.Stride != 1 && b.Stride != 2 {
			return b, fieldError(pathOf("stride"), "must be 1 or 2 (got %d)", b.Stride)
		}
	}
	for key, n := range f.lists {
		v := reflect.ValueOf(b).FieldByIndex(fieldByKey(key)).Interface().([]int)
		if len(v) != n {
			return b, fieldError(pathOf(key), "must list %d widths (%s) for family %s (got %d)", n, f.listHelp[key], b.Family, len(v))
		}
		for _, w := range v {
			if err := intIn(pathOf(key), w, 1, maxWidth); err != nil {
				return b, err
			}
		}
	}
	if b.SE != nil {
		if b.SE.Ratio == 0 {
			b.SE = &SE{Ratio: 16}
		}
		if err := intIn(pathOf("se")+".ratio", b.SE.Ratio, 1, maxWidth); err != nil {
			return b, err
		}
	}
	if err := probability(pathOf("drop_path"), b.DropPath); err != nil {
		return b, err
	}
	if err := probability(pathOf("dropout"), b.Dropout); err != nil {
		return b, err
	}
	if slices.Contains(f.options, "shortcut") {
		if err := word(pathOf("shortcut"), &b.Shortcut, "B", "A", "B"); err != nil {
			return b, err
		}
	}
	if slices.Contains(f.options, "stride_on") {
		if err := word(pathOf("stride_on"), &b.StrideOn, "3x3", "1x1", "3x3"); err != nil {
			return b, err
		}
	}
	if f.normalize != nil {
		return b, f.normalize(f, &b, pathOf)
	}
	return b, nil
}

// normalizePlain checks a plain or mlpconv block's kernel, norm and MLP widths.
func normalizePlain(f *family, b *Block, pathOf func(string) string) error {
	if b.Kernel == 0 {
		b.Kernel = 3
	}
	if b.Kernel < 1 || b.Kernel > 15 || b.Kernel%2 == 0 {
		return fieldError(pathOf("kernel"), "must be an odd integer between 1 and 15 (got %d)", b.Kernel)
	}
	if err := word(pathOf("norm"), &b.Norm, "batchnorm", "batchnorm", "none"); err != nil {
		return err
	}
	if slices.Contains(f.options, "mlp") && len(b.MLP) == 0 {
		return fieldError(pathOf("mlp"), "missing: family %s needs the widths of its 1x1 convs, e.g. [160, 96]", b.Family)
	}
	for _, w := range b.MLP {
		if err := intIn(pathOf("mlp"), w, 1, maxWidth); err != nil {
			return err
		}
	}
	return nil
}

// normalizeResNeXt checks a resnext block and rewrites it as the bottleneck it stands for, of
// groups C and inner width C·d.
func normalizeResNeXt(f *family, b *Block, pathOf func(string) string) error {
	if b.Cardinality == 0 || b.GroupWidth == 0 {
		return fieldError(pathOf("cardinality"), "family resnext needs both cardinality and group_width (e.g. 32 and 4 for 32x4d)")
	}
	if err := intIn(pathOf("cardinality"), b.Cardinality, 1, maxWidth); err != nil {
		return err
	}
	if err := intIn(pathOf("group_width"), b.GroupWidth, 1, maxWidth); err != nil {
		return err
	}
	if b.Cardinality*b.GroupWidth > maxWidth {
		return fieldError(pathOf("group_width"), "must be between 1 and %d for cardinality %d, so that the block's cardinality·group_width channels stay within %d (got %d)",
			maxWidth/b.Cardinality, b.Cardinality, maxWidth, b.GroupWidth)
	}
	b.Family, b.MidWidth, b.Groups = FamilyBottleneck, b.Cardinality*b.GroupWidth, b.Cardinality
	b.Cardinality, b.GroupWidth = 0, 0
	return normalizeBottleneck(f, b, pathOf)
}

// normalizeBottleneck fills a bottleneck's inner width and groups and checks that the groups
// divide it.
func normalizeBottleneck(_ *family, b *Block, pathOf func(string) string) error {
	if b.MidWidth == 0 {
		b.MidWidth = b.Width / 4
		if b.MidWidth == 0 {
			return fieldError(pathOf("width"), "a bottleneck of width %d has no inner width (width/4 = 0); set mid_width or a width of at least 4", b.Width)
		}
	}
	if err := intIn(pathOf("mid_width"), b.MidWidth, 1, maxWidth); err != nil {
		return err
	}
	if b.Groups == 0 {
		b.Groups = 1
	}
	if b.Groups < 1 || b.MidWidth%b.Groups != 0 {
		return fieldError(pathOf("groups"), "must be a positive divisor of the inner width %d (got %d)", b.MidWidth, b.Groups)
	}
	return nil
}

// normalizeWide checks a wide block's widening factor and rewrites it as the pre-activation
// basic block it stands for, of width Width·k.
func normalizeWide(_ *family, b *Block, pathOf func(string) string) error {
	if b.WidenFactor == 0 {
		b.WidenFactor = 1
	}
	if err := intIn(pathOf("widen_factor"), b.WidenFactor, 1, maxWidth); err != nil {
		return err
	}
	if b.Width*b.WidenFactor > maxWidth {
		return fieldError(pathOf("widen_factor"), "must be between 1 and %d for width %d, so that the block's width·widen_factor channels stay within %d (got %d)",
			maxWidth/b.Width, b.Width, maxWidth, b.WidenFactor)
	}
	b.Family, b.Width, b.WidenFactor = FamilyPreactBasic, b.Width*b.WidenFactor, 0
	return nil
}

// normalizeDense checks a dense layer's growth rate and bottleneck factor.
func normalizeDense(_ *family, b *Block, pathOf func(string) string) error {
	if b.GrowthRate == 0 {
		return fieldError(pathOf("growth_rate"), "missing: family dense needs the growth rate k")
	}
	if err := intIn(pathOf("growth_rate"), b.GrowthRate, 1, maxWidth); err != nil {
		return err
	}
	return intIn(pathOf("bn_size"), b.BNSize, 0, 64)
}

// normalizeTransition fills and checks a transition's compression.
func normalizeTransition(_ *family, b *Block, pathOf func(string) string) error {
	if b.Compression == 0 {
		b.Compression = 1
	}
	if !(b.Compression > 0 && b.Compression <= 1) {
		return fieldError(pathOf("compression"), "must be in (0, 1] (got %v)", b.Compression)
	}
	return nil
}

// normalizePadding fills and checks a reduction's padding.
func normalizePadding(_ *family, b *Block, pathOf func(string) string) error {
	return word(pathOf("padding"), &b.Padding, "valid", "valid", "same")
}

// normalizeInception checks the single widths of an Inception-style block, its 5×5 branch's
// kernel and, for Inception-ResNet, its scale.
func normalizeInception(f *family, b *Block, pathOf func(string) string) error {
	for _, key := range []string{"n1x1", "pool_proj"} {
		if !slices.Contains(f.options, key) {
			continue
		}
		v := reflect.ValueOf(*b).FieldByIndex(fieldByKey(key)).Interface().(int)
		if v == 0 {
			return fieldError(pathOf(key), "missing: family %s needs the width of this branch", b.Family)
		}
		if err := intIn(pathOf(key), v, 1, maxWidth); err != nil {
			return err
		}
	}
	if slices.Contains(f.options, "n5x5_kernel") {
		if b.N5x5Kernel == 0 {
			b.N5x5Kernel = 5
		}
		if b.N5x5Kernel < 1 || b.N5x5Kernel > 7 || b.N5x5Kernel%2 == 0 {
			return fieldError(pathOf("n5x5_kernel"), "must be 1, 3, 5 or 7 (got %d)", b.N5x5Kernel)
		}
	}
	if f.residual {
		if b.Scale == 0 {
			b.Scale = 1
		}
		if !(b.Scale > 0 && b.Scale <= 10) || math.IsNaN(b.Scale) {
			return fieldError(pathOf("scale"), "must be in (0, 10] (got %v)", b.Scale)
		}
	}
	return nil
}

// fieldByKey returns the index path of the Block field with YAML key key.
func fieldByKey(key string) []int {
	t := reflect.TypeFor[Block]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key {
			return []int{i}
		}
	}
	panic("space: no Block field with YAML key " + key)
}

// specOps lists the ops a LayerSpec may have and the keys each accepts besides op.
var specOps = map[string][]string{
	"conv":          {"filters", "kernel", "stride", "padding", "groups", "bias", "bn", "relu"},
	"batchnorm":     nil,
	"relu":          nil,
	"maxpool":       {"kernel", "stride", "padding", "ceil"},
	"avgpool":       {"kernel", "stride", "padding", "ceil", "exclude_pad"},
	"globalavgpool": nil,
	"flatten":       nil,
	"dropout":       {"p"},
	"linear":        {"out", "bias", "relu"},
}

// normalizeSpecs checks the layer specs at path (stem, head or an aux head) and returns them in
// canonical form: defaults filled, and a conv's or linear's bn and relu flags turned into layers
// of their own. In a classifier (a head), a last linear layer has classes outputs, so out must be
// left unset on it. paths gives the YAML path each returned spec came from.
func normalizeSpecs(specs []LayerSpec, path string, classifier bool) (out []LayerSpec, paths []string, err error) {
	ops := make([]string, 0, len(specOps))
	for op := range specOps {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for i, s := range specs {
		p := fmt.Sprintf("%s[%d]", path, i)
		keys, ok := specOps[s.Op]
		if !ok {
			if s.Op == "" {
				return nil, nil, fieldError(p+".op", "missing; valid ops: %s", strings.Join(ops, ", "))
			}
			return nil, nil, fieldError(p+".op", "unknown op %q; valid ops: %s", s.Op, strings.Join(ops, ", "))
		}
		for _, k := range setKeys(&s) {
			if k != "op" && !slices.Contains(keys, k) {
				return nil, nil, fieldError(p+"."+k, "not an option of op %s (its options: %s)", s.Op, strings.Join(keys, ", "))
			}
		}
		last := i == len(specs)-1
		bn, relu := s.BN, s.ReLU
		s.BN, s.ReLU = false, false
		switch s.Op {
		case "conv":
			if err := intIn(p+".filters", s.Filters, 1, maxWidth); err != nil {
				return nil, nil, err
			}
			if err := intIn(p+".kernel", s.Kernel, 1, maxSize); err != nil {
				return nil, nil, err
			}
			if s.Stride == 0 {
				s.Stride = 1
			}
			if s.Groups == 0 {
				s.Groups = 1
			}
			if s.Bias == nil {
				s.Bias = new(bool)
			}
			if err := intIn(p+".groups", s.Groups, 1, maxWidth); err != nil {
				return nil, nil, err
			}
		case "maxpool", "avgpool":
			if err := intIn(p+".kernel", s.Kernel, 1, maxSize); err != nil {
				return nil, nil, err
			}
			if s.Stride == 0 {
				s.Stride = s.Kernel
			}
		case "dropout":
			if err := probability(p+".p", s.P); err != nil {
				return nil, nil, err
			}
			if s.P == 0 {
				return nil, nil, fieldError(p+".p", "missing: dropout needs its drop probability")
			}
		case "linear":
			if s.Bias == nil {
				s.Bias = new(true)
			}
			if classifier && last {
				if s.Out != 0 {
					return nil, nil, fieldError(p+".out", "must be left unset: the classifier's output is the number of classes")
				}
			} else if err := intIn(p+".out", s.Out, 1, maxWidth*64); err != nil {
				return nil, nil, err
			}
		}
		if s.Stride != 0 {
			if err := intIn(p+".stride", s.Stride, 1, maxSize); err != nil {
				return nil, nil, err
			}
		}
		if err := intIn(p+".padding", s.Padding, 0, maxSize); err != nil {
			return nil, nil, err
		}
		out, paths = append(out, s), append(paths, p)
		if bn {
			out, paths = append(out, LayerSpec{Op: "batchnorm"}), append(paths, p)
		}
		if relu {
			out, paths = append(out, LayerSpec{Op: "relu"}), append(paths, p)
		}
	}
	return out, paths, nil
}

// normalizePool checks a stage's pool and fills its defaults.
func normalizePool(p *Pool, path string) (*Pool, error) {
	if p == nil {
		return nil, nil
	}
	q := *p
	if q.Type != "max" && q.Type != "avg" {
		return nil, oneOf(path+".type", q.Type, "max", "avg")
	}
	if err := intIn(path+".kernel", q.Kernel, 1, maxSize); err != nil {
		return nil, err
	}
	if q.Stride == 0 {
		q.Stride = q.Kernel
	}
	if err := intIn(path+".stride", q.Stride, 1, maxSize); err != nil {
		return nil, err
	}
	if err := intIn(path+".padding", q.Padding, 0, q.Kernel/2); err != nil {
		return nil, err
	}
	return &q, nil
}
