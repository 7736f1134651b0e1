package space

import (
	"reflect"
	"slices"
	"strings"
)

// The block families. Each is a composition of primitive layers described in the package
// documentation.
const (
	FamilyPlain            = "plain"
	FamilyMLPConv          = "mlpconv"
	FamilyBasic            = "basic"
	FamilyBottleneck       = "bottleneck"
	FamilyResNeXt          = "resnext"
	FamilyPreactBasic      = "preact_basic"
	FamilyWide             = "wide"
	FamilyPreactBottleneck = "preact_bottleneck"
	FamilyDense            = "dense"
	FamilyTransition       = "transition"
	FamilyInception        = "inception"
	FamilyInceptionV3A     = "inception_v3_a"
	FamilyReductionA       = "reduction_a"
	FamilyInceptionV3C     = "inception_v3_c"
	FamilyInceptionV3D     = "inception_v3_d"
	FamilyInceptionV3E     = "inception_v3_e"
	FamilyIncResA          = "incres_a"
	FamilyIncResB          = "incres_b"
	FamilyIncResC          = "incres_c"
	FamilyReductionB       = "reduction_b"
	FamilyGeneticStage     = "genetic_stage"
)

// family is the registry entry of a block family: everything the package knows of it. Adding a
// family is adding its entry to familyList.
type family struct {
	name string
	// group is the paper's family that plots colour it by, e.g. "Inception" for every module
	// and reduction of Inception v1 and v3; empty for a step that joins others (transition).
	group string

	// What a Block of the family accepts.
	width    bool           // Width is required (otherwise it is derived and must be unset)
	stride   bool           // Stride may be set (otherwise the family has a fixed geometry)
	residual bool           // has a residual branch: takes drop_path, stochastic depth, RoR
	options  []string       // further YAML keys it accepts
	lists    map[string]int // the lengths its width lists must have
	// listHelp describes each width list for error messages.
	listHelp map[string]string
	// normalize checks the family's own options and fills their defaults, after the checks
	// that every family shares; an alias rewrites the block into the family it stands for. Nil
	// when the shared checks are all.
	normalize func(f *family, b *Block, pathOf func(string) string) error

	// Expansion: exactly one of build and layer is set. build appends the layers of one block;
	// layer appends one layer of a run that is concatenated DenseNet-style (see Expand).
	build func(g *graph, s *scope, x int, b Block, t residualTail) int
	layer func(g *graph, s *scope, x int, b Block) int

	// step marks a downsampling step between stages (a transition or a reduction): a family
	// summary leaves it out, and Nearest counts it as the downsampling of the stage after it.
	step bool

	// search says how a search space's stage slot encodes the family; nil for the families a
	// slot cannot use.
	search *slotRule
}

// slotRule is how a stage slot of a search space encodes a stage of one family: its genome
// encoding (decode) and its nearest-genome rule (kin, width).
type slotRule struct {
	// decode builds the stage from the slot's genes.
	decode func(st *slotStage)
	// widthless tells that the slot has no width gene for the family.
	widthless bool
	// stepOptions are options the slot chooses for the downsampling step it adds by itself.
	stepOptions []string
	// slotOptions are further search options the slot reads to build the block.
	slotOptions []string
	// kin lists the families nearest to it, nearest first.
	kin []string
	// width returns the width gene a slot of family fam needs to give b's output; nil means
	// b.Width.
	width func(b Block, fam string) int
}

// familyList is the registry, the families a search space may use first, in the order that
// error messages list them.
var familyList = []family{
	{name: FamilyPlain, group: "plain (VGG)", width: true, stride: true, options: []string{"kernel", "norm", "bias"},
		normalize: normalizePlain, build: buildPlain,
		search: &slotRule{decode: convSlot(nil), kin: []string{FamilyMLPConv, FamilyBasic}}},
	{name: FamilyMLPConv, group: "mlpconv (NIN)", width: true, stride: true, options: []string{"kernel", "norm", "bias", "mlp"},
		normalize: normalizePlain, build: buildPlain,
		search: &slotRule{decode: convSlot(mlpconvSlot), kin: []string{FamilyPlain}}},
	{name: FamilyBasic, group: "residual basic", width: true, stride: true, residual: true, options: []string{"shortcut"},
		build:  buildBasic,
		search: &slotRule{decode: convSlot(nil), kin: []string{FamilyPreactBasic, FamilyWide, FamilyBottleneck}}},
	{name: FamilyBottleneck, group: "residual bottleneck", width: true, stride: true, residual: true, options: []string{"shortcut", "stride_on", "mid_width", "groups"},
		normalize: normalizeBottleneck, build: buildBottleneck,
		search: &slotRule{decode: convSlot(bottleneckSlot), kin: []string{FamilyPreactBottleneck, FamilyResNeXt, FamilyBasic}}},
	{name: FamilyPreactBasic, group: "pre-act. residual", width: true, stride: true, residual: true, options: []string{"shortcut", "dropout"},
		build:  buildPreactBasic,
		search: &slotRule{decode: convSlot(nil), kin: []string{FamilyBasic, FamilyWide, FamilyPreactBottleneck}}},
	{name: FamilyPreactBottleneck, group: "pre-act. bottleneck", width: true, stride: true, residual: true, options: []string{"shortcut", "stride_on", "mid_width", "groups"},
		normalize: normalizeBottleneck, build: buildPreactBottleneck,
		search: &slotRule{decode: convSlot(bottleneckSlot), kin: []string{FamilyBottleneck, FamilyPreactBasic}}},
	{name: FamilyWide, group: "wide residual", width: true, stride: true, residual: true, options: []string{"shortcut", "dropout", "widen_factor"},
		normalize: normalizeWide, build: buildPreactBasic,
		search: &slotRule{decode: convSlot(nil), kin: []string{FamilyPreactBasic, FamilyBasic}, width: wideWidth}},
	{name: FamilyResNeXt, group: "ResNeXt", width: true, stride: true, residual: true, options: []string{"shortcut", "stride_on", "cardinality", "group_width"},
		normalize: normalizeResNeXt, build: buildBottleneck,
		search: &slotRule{decode: convSlot(resnextSlot), kin: []string{FamilyBottleneck, FamilyPreactBottleneck}}},
	{name: FamilyDense, group: "DenseNet", options: []string{"growth_rate", "bn_size", "dropout"},
		normalize: normalizeDense, layer: denseLayer,
		search: &slotRule{decode: denseSlot, widthless: true, stepOptions: []string{"compression"}}},
	{name: FamilyInception, group: "Inception", options: []string{"n1x1", "n3x3", "n5x5", "pool_proj", "n5x5_kernel"},
		lists:     map[string]int{"n3x3": 2, "n5x5": 2},
		listHelp:  map[string]string{"n3x3": "1x1 reduce, 3x3", "n5x5": "1x1 reduce, 5x5"},
		normalize: normalizeInception, build: concatenated(inceptionBranches),
		search: &slotRule{decode: branchSlot(inceptionWidths, false), width: branchesWidth,
			kin: []string{FamilyIncResA, FamilyIncResB, FamilyIncResC}}},
	{name: FamilyIncResA, group: "Inception-ResNet", residual: true, options: []string{"n1x1", "n3x3", "n3x3dbl", "scale", "no_relu"},
		lists:     map[string]int{"n3x3": 2, "n3x3dbl": 3},
		listHelp:  map[string]string{"n3x3": "1x1 reduce, 3x3", "n3x3dbl": "1x1 reduce, 3x3, 3x3"},
		normalize: normalizeInception, build: incres(incresABranches),
		search: &slotRule{decode: branchSlot(incresAWidths, true), width: branchesWidth,
			kin: []string{FamilyIncResB, FamilyIncResC, FamilyInception}}},
	{name: FamilyIncResB, group: "Inception-ResNet", residual: true, options: []string{"n1x1", "n7x7", "scale", "no_relu"},
		lists:     map[string]int{"n7x7": 3},
		listHelp:  map[string]string{"n7x7": "1x1 reduce, 1x7, 7x1"},
		normalize: normalizeInception, build: incres(incresBBranches),
		search: &slotRule{decode: branchSlot(incresBWidths, true), width: branchesWidth,
			kin: []string{FamilyIncResA, FamilyIncResC, FamilyInception}}},
	{name: FamilyIncResC, group: "Inception-ResNet", residual: true, options: []string{"n1x1", "n3x3", "scale", "no_relu"},
		lists:     map[string]int{"n3x3": 3},
		listHelp:  map[string]string{"n3x3": "1x1 reduce, 1x3, 3x1"},
		normalize: normalizeInception, build: incres(incresCBranches),
		search: &slotRule{decode: branchSlot(incresCWidths, true), width: branchesWidth,
			kin: []string{FamilyIncResA, FamilyIncResB, FamilyInception}}},

	{name: FamilyGeneticStage, group: "Genetic CNN", width: true, options: []string{"code"},
		normalize: normalizeGeneticStage, build: buildGeneticStage,
		search: &slotRule{decode: geneticSlot, slotOptions: []string{"nodes"}}},

	{name: FamilyTransition, options: []string{"compression"}, step: true,
		normalize: normalizeTransition, build: buildTransition},
	{name: FamilyInceptionV3A, group: "Inception", options: []string{"n1x1", "n5x5", "n3x3dbl", "pool_proj", "pool_exclude_pad"},
		lists:     map[string]int{"n5x5": 2, "n3x3dbl": 3},
		listHelp:  map[string]string{"n5x5": "1x1 reduce, 5x5", "n3x3dbl": "1x1 reduce, 3x3, 3x3"},
		normalize: normalizeInception, build: concatenated(inceptionV3ABranches)},
	{name: FamilyReductionA, group: "Inception", options: []string{"n3x3", "n3x3dbl", "padding"}, step: true,
		lists:     map[string]int{"n3x3": 1, "n3x3dbl": 3},
		listHelp:  map[string]string{"n3x3": "3x3 stride 2", "n3x3dbl": "1x1 reduce, 3x3, 3x3 stride 2"},
		normalize: normalizePadding, build: concatenated(reductionABranches)},
	{name: FamilyInceptionV3C, group: "Inception", options: []string{"n1x1", "n7x7", "n7x7dbl", "pool_proj", "pool_exclude_pad"},
		lists:     map[string]int{"n7x7": 3, "n7x7dbl": 5},
		listHelp:  map[string]string{"n7x7": "1x1 reduce, 1x7, 7x1", "n7x7dbl": "1x1 reduce, 7x1, 1x7, 7x1, 1x7"},
		normalize: normalizeInception, build: concatenated(inceptionV3CBranches)},
	{name: FamilyInceptionV3D, group: "Inception", options: []string{"n3x3", "n7x7x3", "padding"},
		lists:     map[string]int{"n3x3": 2, "n7x7x3": 4},
		listHelp:  map[string]string{"n3x3": "1x1 reduce, 3x3 stride 2", "n7x7x3": "1x1 reduce, 1x7, 7x1, 3x3 stride 2"},
		normalize: normalizePadding, build: concatenated(inceptionV3DBranches)},
	{name: FamilyInceptionV3E, group: "Inception", options: []string{"n1x1", "n3x3", "n3x3dbl", "pool_proj", "pool_exclude_pad"},
		lists:     map[string]int{"n3x3": 2, "n3x3dbl": 3},
		listHelp:  map[string]string{"n3x3": "1x1 reduce, 1x3 and 3x1", "n3x3dbl": "1x1 reduce, 3x3, 1x3 and 3x1"},
		normalize: normalizeInception, build: concatenated(inceptionV3EBranches)},
	{name: FamilyReductionB, group: "Inception-ResNet", options: []string{"n3x3", "n3x3b", "n3x3dbl", "padding"}, step: true,
		lists:     map[string]int{"n3x3": 2, "n3x3b": 2, "n3x3dbl": 3},
		listHelp:  map[string]string{"n3x3": "1x1 reduce, 3x3 stride 2", "n3x3b": "1x1 reduce, 3x3 stride 2", "n3x3dbl": "1x1 reduce, 3x3, 3x3 stride 2"},
		normalize: normalizePadding, build: concatenated(reductionBBranches)},
}

// families indexes familyList by name.
var families = func() map[string]*family {
	m := make(map[string]*family, len(familyList))
	for i := range familyList {
		m[familyList[i].name] = &familyList[i]
	}
	return m
}()

// FamilyGroup returns the group of the block family called name: the paper's family, as plots
// name it ("residual basic", "Inception" for every Inception v1 and v3 module and reduction,
// ...); "" for a transition, which only joins dense blocks, and for a name that is not a family.
func FamilyGroup(name string) string { return lookup(name).group }

// lookup returns the entry of the family called name, or an empty entry for a name that is not
// a family.
func lookup(name string) *family {
	if f, ok := families[name]; ok {
		return f
	}
	return &family{name: name}
}

// searchFamilies are the block families a stage slot may use: those that make a stage of any
// number of blocks on any input. The reductions and transitions are the downsampling steps that
// a slot adds by itself (see SearchSpace).
var searchFamilies = func() []string {
	var names []string
	for _, f := range familyList {
		if f.search != nil {
			names = append(names, f.name)
		}
	}
	return names
}()

// Families returns the names of the block families, sorted.
func Families() []string {
	names := make([]string, 0, len(familyList))
	for _, f := range familyList {
		names = append(names, f.name)
	}
	slices.Sort(names)
	return names
}

// accepts returns the YAML keys family f accepts, in the order of Block's fields.
func (f *family) accepts() []string {
	var keys []string
	for _, k := range yamlKeys(reflect.TypeFor[Block]()) {
		switch {
		case k == "family", k == "se",
			k == "width" && f.width,
			k == "stride" && f.stride,
			k == "drop_path" && f.residual,
			slices.Contains(f.options, k):
			keys = append(keys, k)
		}
	}
	return keys
}

// yamlKeys returns the YAML keys of struct type t in field order, inlined structs included.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts := yamlName(f)
		switch {
		case strings.Contains(opts, "inline"):
			keys = append(keys, yamlKeys(f.Type)...)
		case name != "":
			keys = append(keys, name)
		}
	}
	return keys
}

// yamlName returns the key of struct field f in YAML, as go-yaml names it ("" for a field it
// skips), and the options of its tag.
func yamlName(f reflect.StructField) (name, opts string) {
	if !f.IsExported() {
		return "", ""
	}
	name, opts, _ = strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", ""
	case "":
		name = strings.ToLower(f.Name)
	}
	return name, opts
}

// setKeys returns the YAML keys of the fields of the struct that p points to (a Block or a
// LayerSpec) that are set (non-zero).
func setKeys(p any) []string {
	v := reflect.ValueOf(p).Elem()
	t := v.Type()
	var keys []string
	for i := range t.NumField() {
		if !v.Field(i).IsZero() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			keys = append(keys, name)
		}
	}
	return keys
}
