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
)

// family describes what a block family accepts.
type family struct {
	width    bool           // Width is required (otherwise it is derived and must be unset)
	stride   bool           // Stride may be set (otherwise the family has a fixed geometry)
	residual bool           // has a residual branch: takes drop_path, stochastic depth, RoR
	options  []string       // further YAML keys it accepts
	lists    map[string]int // the lengths its width lists must have
	// listHelp describes each width list for error messages.
	listHelp map[string]string
}

var families = map[string]family{
	FamilyPlain:            {width: true, stride: true, options: []string{"kernel", "norm", "bias"}},
	FamilyMLPConv:          {width: true, stride: true, options: []string{"kernel", "norm", "bias", "mlp"}},
	FamilyBasic:            {width: true, stride: true, residual: true, options: []string{"shortcut"}},
	FamilyBottleneck:       {width: true, stride: true, residual: true, options: []string{"shortcut", "stride_on", "mid_width", "groups"}},
	FamilyResNeXt:          {width: true, stride: true, residual: true, options: []string{"shortcut", "stride_on", "cardinality", "group_width"}},
	FamilyPreactBasic:      {width: true, stride: true, residual: true, options: []string{"shortcut", "dropout"}},
	FamilyWide:             {width: true, stride: true, residual: true, options: []string{"shortcut", "dropout", "widen_factor"}},
	FamilyPreactBottleneck: {width: true, stride: true, residual: true, options: []string{"shortcut", "stride_on", "mid_width", "groups"}},
	FamilyDense:            {options: []string{"growth_rate", "bn_size", "dropout"}},
	FamilyTransition:       {options: []string{"compression"}},
	FamilyInception: {options: []string{"n1x1", "n3x3", "n5x5", "pool_proj", "n5x5_kernel"},
		lists:    map[string]int{"n3x3": 2, "n5x5": 2},
		listHelp: map[string]string{"n3x3": "1x1 reduce, 3x3", "n5x5": "1x1 reduce, 5x5"}},
	FamilyInceptionV3A: {options: []string{"n1x1", "n5x5", "n3x3dbl", "pool_proj", "pool_exclude_pad"},
		lists:    map[string]int{"n5x5": 2, "n3x3dbl": 3},
		listHelp: map[string]string{"n5x5": "1x1 reduce, 5x5", "n3x3dbl": "1x1 reduce, 3x3, 3x3"}},
	FamilyReductionA: {options: []string{"n3x3", "n3x3dbl", "padding"},
		lists:    map[string]int{"n3x3": 1, "n3x3dbl": 3},
		listHelp: map[string]string{"n3x3": "3x3 stride 2", "n3x3dbl": "1x1 reduce, 3x3, 3x3 stride 2"}},
	FamilyInceptionV3C: {options: []string{"n1x1", "n7x7", "n7x7dbl", "pool_proj", "pool_exclude_pad"},
		lists:    map[string]int{"n7x7": 3, "n7x7dbl": 5},
		listHelp: map[string]string{"n7x7": "1x1 reduce, 1x7, 7x1", "n7x7dbl": "1x1 reduce, 7x1, 1x7, 7x1, 1x7"}},
	FamilyInceptionV3D: {options: []string{"n3x3", "n7x7x3", "padding"},
		lists:    map[string]int{"n3x3": 2, "n7x7x3": 4},
		listHelp: map[string]string{"n3x3": "1x1 reduce, 3x3 stride 2", "n7x7x3": "1x1 reduce, 1x7, 7x1, 3x3 stride 2"}},
	FamilyInceptionV3E: {options: []string{"n1x1", "n3x3", "n3x3dbl", "pool_proj", "pool_exclude_pad"},
		lists:    map[string]int{"n3x3": 2, "n3x3dbl": 3},
		listHelp: map[string]string{"n3x3": "1x1 reduce, 1x3 and 3x1", "n3x3dbl": "1x1 reduce, 3x3, 1x3 and 3x1"}},
	FamilyIncResA: {residual: true, options: []string{"n1x1", "n3x3", "n3x3dbl", "scale", "no_relu"},
		lists:    map[string]int{"n3x3": 2, "n3x3dbl": 3},
		listHelp: map[string]string{"n3x3": "1x1 reduce, 3x3", "n3x3dbl": "1x1 reduce, 3x3, 3x3"}},
	FamilyIncResB: {residual: true, options: []string{"n1x1", "n7x7", "scale", "no_relu"},
		lists:    map[string]int{"n7x7": 3},
		listHelp: map[string]string{"n7x7": "1x1 reduce, 1x7, 7x1"}},
	FamilyIncResC: {residual: true, options: []string{"n1x1", "n3x3", "scale", "no_relu"},
		lists:    map[string]int{"n3x3": 3},
		listHelp: map[string]string{"n3x3": "1x1 reduce, 1x3, 3x1"}},
	FamilyReductionB: {options: []string{"n3x3", "n3x3b", "n3x3dbl", "padding"},
		lists:    map[string]int{"n3x3": 2, "n3x3b": 2, "n3x3dbl": 3},
		listHelp: map[string]string{"n3x3": "1x1 reduce, 3x3 stride 2", "n3x3b": "1x1 reduce, 3x3 stride 2", "n3x3dbl": "1x1 reduce, 3x3, 3x3 stride 2"}},
}

// Families returns the names of the block families, sorted.
func Families() []string {
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// accepts returns the YAML keys family f accepts, in the order of Block's fields.
func (f family) accepts() []string {
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
