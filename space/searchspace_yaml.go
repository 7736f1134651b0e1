package space

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// spaceFile is a search space as its YAML file writes it. The decisions are kept as YAML nodes,
// since a decision may be one value, a list of values or a range, and which values are valid
// depends on the field.
type spaceFile struct {
	Name            string              `yaml:"name"`
	Input           Shape               `yaml:"input"`
	Classes         int                 `yaml:"classes"`
	Stem            []LayerSpec         `yaml:"stem"`
	Families        ast.Node            `yaml:"families"`
	Stages          []slotFile          `yaml:"stages"`
	Head            []LayerSpec         `yaml:"head"`
	Options         map[string]ast.Node `yaml:"options"`
	RoR             ast.Node            `yaml:"ror"`
	StochasticDepth ast.Node            `yaml:"stochastic_depth"`
}

// slotFile is one stage slot as the YAML file writes it.
type slotFile struct {
	Families ast.Node            `yaml:"families"`
	Depth    ast.Node            `yaml:"depth"`
	Width    ast.Node            `yaml:"width"`
	Stride   ast.Node            `yaml:"stride"`
	Options  map[string]ast.Node `yaml:"options"`
}

// maxValues bounds the values of one decision, so that a gene fits in 16 bits.
const maxValues = 1 << 16

// valueKind says which scalars a decision takes.
type valueKind struct {
	desc    string             // what is valid, for errors
	words   []string           // the valid words; "none" among them reads as the number 0
	number  func(float64) bool // the valid numbers; nil if the kind takes none
	integer bool               // numbers must be integers
	boolean bool               // takes true and false
}

func intKind(lo, hi int) valueKind {
	return valueKind{
		desc:    fmt.Sprintf("an integer between %d and %d", lo, hi),
		number:  func(x float64) bool { return x >= float64(lo) && x <= float64(hi) },
		integer: true,
	}
}

func wordKind(words ...string) valueKind {
	return valueKind{desc: "one of " + strings.Join(words, ", "), words: words}
}

var (
	probabilityKind = valueKind{desc: "a probability in [0, 1)", number: func(x float64) bool { return x >= 0 && x < 1 }}
	fractionKind    = valueKind{desc: "a number in (0, 1]", number: func(x float64) bool { return x > 0 && x <= 1 }}
	boolKind        = valueKind{desc: "true or false", boolean: true}
	strideKind      = intKind(1, 2)
	depthKind       = intKind(0, maxBlocks)
	widthKind       = intKind(1, maxWidth)
	familyKind      = wordKind(searchFamilies...)
	survivalKind    = valueKind{
		desc:   "none or a final survival probability in (0, 1]",
		words:  []string{"none"},
		number: fractionKind.number,
	}
)

// searchOption is a block option whose value a search space may choose per stage slot.
type searchOption struct {
	key      string
	kind     valueKind
	required bool // the families it applies to cannot do without it
}

// searchOptions are the options a search space may choose, in the order of their genes.
var searchOptions = []searchOption{
	{key: "se", kind: valueKind{
		desc:    fmt.Sprintf("none or a reduction ratio between 1 and %d", maxWidth),
		words:   []string{"none"},
		number:  intKind(1, maxWidth).number,
		integer: true,
	}},
	{key: "shortcut", kind: wordKind("A", "B")},
	{key: "stride_on", kind: wordKind("3x3", "1x1")},
	{key: "kernel", kind: valueKind{
		desc:    "an odd integer between 1 and 15",
		number:  func(x float64) bool { return x >= 1 && x <= 15 && int(x)%2 == 1 },
		integer: true,
	}},
	{key: "cardinality", kind: intKind(1, maxWidth), required: true},
	{key: "widen_factor", kind: intKind(1, 64)},
	{key: "growth_rate", kind: intKind(1, maxWidth), required: true},
	{key: "bn_size", kind: intKind(0, 64)},
	{key: "compression", kind: fractionKind},
	{key: "dropout", kind: probabilityKind},
	{key: "scale", kind: valueKind{desc: "a number in (0, 10]", number: func(x float64) bool { return x > 0 && x <= 10 }}},
	{key: "drop_path", kind: probabilityKind},
	{key: "nodes", kind: intKind(2, maxGeneticNodes), required: true},
}

// appliesTo tells whether the search option key applies to family fam: whether the family takes
// the option, or a slot of the family chooses it for the downsampling step it adds.
func appliesTo(key, fam string) bool {
	f := families[fam]
	return slices.Contains(f.accepts(), key) || slices.Contains(f.search.stepOptions, key) ||
		slices.Contains(f.search.slotOptions, key)
}

func searchOptionKeys() []string {
	keys := make([]string, len(searchOptions))
	for i, o := range searchOptions {
		keys[i] = o.key
	}
	return keys
}

// decision is one thing a genome decides: the values it chooses from, as YAML writes them and as
// numbers (words read as 0, booleans as 0 and 1), and its gene, or −1 when there is one value.
type decision struct {
	name string
	text []string
	num  []float64
	gene int
}

// fixed returns a decision of the one value text, num.
func fixed(name, text string, num float64) decision {
	return decision{name: name, text: []string{text}, num: []float64{num}, gene: -1}
}

// absent tells whether a decision was left out of the YAML.
func absent(n ast.Node) bool {
	return n == nil || n.Type() == ast.NullType
}

// decide reads the decision written at path: one value, a list of values, or for a kind of
// numbers a range {min, max, step}. Its gene is assigned later.
func decide(n ast.Node, path, name string, k valueKind) (decision, error) {
	d := decision{name: name, gene: -1}
	if absent(unwrap(n)) {
		return d, fieldError(path, "missing: must be %s, or a list of them", k.desc)
	}
	add := func(text string, num float64, p string) error {
		if slices.Contains(d.text, text) {
			return fieldError(p, "lists %s twice", text)
		}
		if len(d.text) == maxValues {
			return fieldError(path, "has more than %d values", maxValues)
		}
		d.text, d.num = append(d.text, text), append(d.num, num)
		return nil
	}
	switch n := unwrap(n).(type) {
	case *ast.SequenceNode:
		if len(n.Values) == 0 {
			return d, fieldError(path, "must list at least one value, each %s", k.desc)
		}
		for i, v := range n.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			text, num, err := k.read(v, p)
			if err != nil {
				return d, err
			}
			if err := add(text, num, p); err != nil {
				return d, err
			}
		}
	case *ast.MappingNode, *ast.MappingValueNode:
		if k.number == nil {
			return d, fieldError(path, "must be %s, or a list of them", k.desc)
		}
		lo, hi, step, err := k.span(n, path)
		if err != nil {
			return d, err
		}
		for i := 0; ; i++ {
			// Multiplying rather than summing keeps 0.1-steps free of accumulated error.
			x := lo + float64(i)*step
			if !k.integer {
				x = math.Round(x*1e9) / 1e9
			}
			if x > hi+1e-9 {
				break
			}
			if !k.number(x) {
				return d, fieldError(path, "the range gives %s, which is not valid: each value must be %s", formatNumber(x), k.desc)
			}
			if err := add(formatNumber(x), x, path); err != nil {
				return d, err
			}
		}
	default:
		text, num, err := k.read(n, path)
		if err != nil {
			return d, err
		}
		d.text, d.num = []string{text}, []float64{num}
	}
	return d, nil
}

// unwrap returns the value under an anchor or a tag.
func unwrap(n ast.Node) ast.Node {
	for {
		switch m := n.(type) {
		case *ast.AnchorNode:
			n = m.Value
		case *ast.TagNode:
			n = m.Value
		default:
			return n
		}
	}
}

// read reads one scalar of kind k, written at path.
func (k valueKind) read(n ast.Node, path string) (string, float64, error) {
	switch v := unwrap(n).(type) {
	case *ast.StringNode:
		if i := slices.Index(k.words, v.Value); i >= 0 {
			return v.Value, 0, nil
		}
	case *ast.BoolNode:
		if k.boolean {
			if v.Value {
				return "true", 1, nil
			}
			return "false", 0, nil
		}
	case *ast.IntegerNode, *ast.FloatNode:
		if x, ok := k.parseNumber(v); ok && k.number(x) {
			return formatNumber(x), x, nil
		}
	}
	what := k.desc
	if k.number != nil {
		what += ", a list of them, or a range {min, max, step}"
	} else {
		what += ", or a list of them"
	}
	return "", 0, fieldError(path, "must be %s (got %s)", what, quoteNode(n))
}

// parseNumber returns the number n holds, if it is one of kind k.
func (k valueKind) parseNumber(n ast.Node) (float64, bool) {
	if k.number == nil {
		return 0, false
	}
	switch v := unwrap(n).(type) {
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		}
	case *ast.FloatNode:
		if !k.integer && !math.IsNaN(v.Value) {
			return v.Value, true
		}
	}
	return 0, false
}

// span reads a range {min, max, step} of numbers of kind k; step defaults to 1 for integers.
func (k valueKind) span(n ast.Node, path string) (lo, hi, step float64, err error) {
	var entries []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		entries = m.Values
	case *ast.MappingValueNode:
		entries = []*ast.MappingValueNode{m}
	}
	got := map[string]float64{}
	for _, e := range entries {
		key := e.Key.String()
		p := path + "." + key
		if key != "min" && key != "max" && key != "step" {
			return 0, 0, 0, fieldError(p, "unknown field %q of a range; valid fields here: max, min, step", key)
		}
		if _, dup := got[key]; dup {
			return 0, 0, 0, fieldError(p, "set twice")
		}
		x, ok := k.parseNumber(e.Value)
		if !ok {
			what := "a number"
			if k.integer {
				what = "an integer"
			}
			return 0, 0, 0, fieldError(p, "must be %s (got %s)", what, quoteNode(e.Value))
		}
		got[key] = x
	}
	if k.integer {
		if _, ok := got["step"]; !ok {
			got["step"] = 1
		}
	}
	for _, key := range []string{"min", "max", "step"} {
		if _, ok := got[key]; !ok {
			return 0, 0, 0, fieldError(path+"."+key, "missing: a range needs min, max and step (step defaults to 1 for integers)")
		}
	}
	lo, hi, step = got["min"], got["max"], got["step"]
	switch {
	case !k.number(lo):
		return 0, 0, 0, fieldError(path+".min", "must be %s (got %s)", k.desc, formatNumber(lo))
	case !k.number(hi):
		return 0, 0, 0, fieldError(path+".max", "must be %s (got %s)", k.desc, formatNumber(hi))
	case hi < lo:
		return 0, 0, 0, fieldError(path+".max", "must be at least min (%s); got %s", formatNumber(lo), formatNumber(hi))
	case !(step > 0) || (hi-lo)/step >= maxValues:
		return 0, 0, 0, fieldError(path+".step", "must be positive and give at most %d values (got %s)", maxValues, formatNumber(step))
	}
	return lo, hi, step, nil
}

func formatNumber(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// quoteNode quotes what n holds for an error message.
func quoteNode(n ast.Node) string {
	switch unwrap(n).(type) {
	case nil:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return quoteToken(n.GetToken())
}

// locateSpace completes an error of ParseSpace with its file, line and field, as locate does for
// an Arch, except that an unknown key is answered with the keys of the search space's own
// mapping at that place.
func locateSpace(err error, data []byte, filename string) error {
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Msg, "unknown field") || ce.Line == 0 {
		return locate(err, data, filename)
	}
	e := *ce
	e.File = filename
	e.Field = indexPositions(data).field[[2]int{e.Line, e.Col}]
	if keys := keysAt(reflect.TypeFor[spaceFile](), parentPath(e.Field)); keys != nil {
		e.Msg = fmt.Sprintf("%s; valid fields here: %s", e.Msg, strings.Join(keys, ", "))
	}
	return &e
}

// unmarshalSpace decodes a search space file strictly.
func unmarshalSpace(data []byte, filename string) (f *spaceFile, err error) {
	// go-yaml v1.19.2 dereferences nil on some malformed documents, e.g. a tag without a value
	// under an anchor ("stages: &a\n !0"); such a document is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &ConfigError{File: filename, Msg: fmt.Sprintf("the YAML decoder failed on this document (%v); check anchors, aliases and tags", r)}
		}
	}()
	f = new(spaceFile)
	if err := yaml.UnmarshalWithOptions(data, f, yaml.Strict()); err != nil {
		return nil, locateSpace(fromYAML(err), data, filename)
	}
	return f, nil
}
