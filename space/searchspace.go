package space

import (
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// SearchSpace is a space of architectures that a genetic search explores: a fixed frame (input,
// stem, head) around a list of stage slots, each of which chooses its family, depth, width,
// stride and the options of its family, plus the network-wide choices of RoR and stochastic
// depth. configs/spaces/README.md describes its YAML.
//
// A Genome holds one gene per choice that has more than one value (see Genes); every genome of
// the right length decodes to a valid Arch. A slot whose family has no stride (dense, inception,
// incres_*) downsamples with that family's own reduction: a DenseNet transition, or an
// Inception-ResNet Reduction-A.
//
// Its methods are safe for concurrent use, as long as Bind and the Budget are not changed
// meanwhile.
type SearchSpace struct {
	// Name names the space, e.g. "fashion_small".
	Name string
	// Budget holds the limits that Check enforces; its zero value has none.
	Budget Budget

	input   Shape
	classes int
	stemOut Shape // the shape the stem gives the first stage; set by Bind
	stem    []LayerSpec
	head    []LayerSpec

	slots []slot
	ror   decision // bool
	sd    decision // the final survival probability of stochastic depth, 0 for none

	genes       []*decision // the decision of each gene, in genome order
	units       [][]int     // the genes that crossover passes on together
	fingerprint [4]byte     // identifies the genes and their values, for Encode
}

// slot is a stage slot: its own choices and those of the options that apply to some of its
// families.
type slot struct {
	family, depth, width, stride decision
	options                      map[string]*decision
	// perFamily holds, for each of its families, the options that apply to it.
	perFamily map[string]map[string]*decision
	// bits are the connection bits of a genetic_stage block, bit (i, j) at bits[j(j−1)/2+i],
	// for the largest number of nodes the slot may have.
	bits []decision
}

// option returns the decision of option key for family fam, or nil if the slot does not choose
// it for that family.
func (sl *slot) option(key, fam string) *decision {
	return sl.perFamily[fam][key]
}

// Budget bounds the size of the networks a search may evaluate. A zero limit is no limit.
type Budget struct {
	// MaxParams bounds the learned parameters (Counts.Params).
	MaxParams int64
	// MaxMACs bounds the multiply-accumulates of one sample's forward pass (Counts.MACs).
	MaxMACs int64
	// MaxTrainMemory bounds the bytes that training needs at batch size Batch
	// (Counts.TrainMemory).
	MaxTrainMemory int64
	// Batch is the batch size of MaxTrainMemory; it must be positive when MaxTrainMemory is set.
	Batch int
}

// BudgetError says which limit of the Budget a network exceeds.
type BudgetError struct {
	// Quantity is "params", "MACs" or "training memory".
	Quantity string
	// Value is the network's, Limit the budget's.
	Value, Limit int64
}

// Error formats the error as "space: <quantity> <value> over the budget of <limit>".
func (e *BudgetError) Error() string {
	if e.Quantity == "training memory" {
		return fmt.Sprintf("space: training memory %d bytes over the budget of %d", e.Value, e.Limit)
	}
	return fmt.Sprintf("space: %s %d over the budget of %d", e.Quantity, e.Value, e.Limit)
}

// LoadSpace reads and parses the search space in the YAML file at path (see ParseSpace).
func LoadSpace(path string) (*SearchSpace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSpace(data, path)
}

// ParseSpace decodes a search space from YAML and checks it. Decoding is strict: unknown keys,
// duplicate keys and values of the wrong type are errors. Every mistake is returned as a
// *ConfigError with filename, line, column and field. When the YAML sets input and classes, the
// space is bound to them (see Bind); otherwise the caller binds it.
func ParseSpace(data []byte, filename string) (*SearchSpace, error) {
	f, err := unmarshalSpace(data, filename)
	if err != nil {
		return nil, err
	}
	s, err := f.build()
	if err == nil && (f.Input != Shape{} || f.Classes != 0) {
		err = s.Bind(f.Input, f.Classes)
	}
	if err != nil {
		return nil, locateSpace(err, data, filename)
	}
	return s, nil
}

// headOps are the layers a search space's head may use: those that take an input of any shape,
// since the shape the head gets differs from network to network.
var headOps = []string{"batchnorm", "relu", "globalavgpool", "flatten", "dropout", "linear"}

// build checks the decisions of the file and lays out the genes.
func (f *spaceFile) build() (*SearchSpace, error) {
	s := &SearchSpace{Name: f.Name, stem: cloneSpecs(f.Stem), head: cloneSpecs(f.Head)}
	for i, l := range f.Head {
		if !slices.Contains(headOps, l.Op) {
			return nil, fieldError(fmt.Sprintf("head[%d].op", i), "a search space's head takes inputs of every shape, so it cannot use %q; valid ops: %s", l.Op, strings.Join(headOps, ", "))
		}
	}
	if len(f.Stages) == 0 {
		return nil, fieldError("stages", "missing: a search space needs at least one stage slot")
	}
	global, err := readOptions(f.Options, "options")
	if err != nil {
		return nil, err
	}
	if s.ror, err = decideOr(f.RoR, "ror", "ror", boolKind, fixed("ror", "false", 0)); err != nil {
		return nil, err
	}
	if s.sd, err = decideOr(f.StochasticDepth, "stochastic_depth", "stochastic_depth", survivalKind, fixed("stochastic_depth", "none", 0)); err != nil {
		return nil, err
	}
	present := false
	s.slots = make([]slot, len(f.Stages))
	for i := range f.Stages {
		if err := s.slots[i].build(&f.Stages[i], i, f.Families, global); err != nil {
			return nil, err
		}
		present = present || slices.Min(s.slots[i].depth.num) > 0
	}
	if !present {
		return nil, fieldError("stages", "every stage slot may have depth 0; at least one must have a depth of at least 1, so that every network has a stage")
	}
	s.layOut()
	return s, nil
}

// decideOr reads the decision at path, or returns def when it is left out.
func decideOr(n ast.Node, path, name string, k valueKind, def decision) (decision, error) {
	if absent(n) {
		return def, nil
	}
	return decide(n, path, name, k)
}

// readOptions reads the search options written at path.
func readOptions(opts map[string]ast.Node, path string) (map[string]decision, error) {
	out := map[string]decision{}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the first mistake in a fixed order
	for _, key := range keys {
		i := slices.IndexFunc(searchOptions, func(o searchOption) bool { return o.key == key })
		p := path + "." + key
		if i < 0 {
			return nil, fieldError(p, "unknown search option %q; valid options: %s", key, strings.Join(searchOptionKeys(), ", "))
		}
		d, err := decide(opts[key], p, key, searchOptions[i].kind)
		if err != nil {
			return nil, err
		}
		out[key] = d
	}
	return out, nil
}

// build reads slot i from its YAML, with spaceFamilies and global the space-wide families and
// options that it takes unless it sets its own.
func (sl *slot) build(f *slotFile, i int, spaceFamilies ast.Node, global map[string]decision) error {
	path := fmt.Sprintf("stages[%d]", i)
	name := func(key string) string { return path + "." + key }
	famNode, famPath := f.Families, name("families")
	if absent(famNode) {
		famNode, famPath = spaceFamilies, "families"
		if absent(famNode) {
			return fieldError(name("families"), "missing: the block families the stage may use (here or for the whole space), any of %s", strings.Join(searchFamilies, ", "))
		}
	}
	var err error
	if sl.family, err = decide(famNode, famPath, name("family"), familyKind); err != nil {
		return err
	}
	if sl.depth, err = decideOr(f.Depth, name("depth"), name("depth"), depthKind, fixed(name("depth"), "1", 1)); err != nil {
		return err
	}
	if sl.stride, err = decideOr(f.Stride, name("stride"), name("stride"), strideKind, fixed(name("stride"), "1", 1)); err != nil {
		return err
	}
	if !absent(f.Width) {
		if sl.width, err = decide(f.Width, name("width"), name("width"), widthKind); err != nil {
			return err
		}
	} else if fam := slices.IndexFunc(sl.family.text, func(f string) bool { return !families[f].search.widthless }); fam >= 0 {
		return fieldError(name("width"), "missing: family %s needs the widths the stage may have", sl.family.text[fam])
	}
	own, err := readOptions(f.Options, name("options"))
	if err != nil {
		return err
	}
	sl.options = map[string]*decision{}
	for _, o := range searchOptions {
		takes := func(fam string) bool { return appliesTo(o.key, fam) }
		applies := slices.ContainsFunc(sl.family.text, takes)
		d, inSlot := own[o.key]
		inSpace := false
		if !inSlot {
			d, inSpace = global[o.key]
		}
		switch {
		case inSlot && !applies:
			return fieldError(name("options."+o.key), "applies to none of the stage's families (%s)", strings.Join(sl.family.text, ", "))
		case (inSlot || inSpace) && applies:
			d.name = name(o.key)
			sl.options[o.key] = &d
		case applies && o.required:
			fam := sl.family.text[slices.IndexFunc(sl.family.text, takes)]
			return fieldError(famPath, "family %s needs the values of %s: set options.%s in the stage or for the whole space", fam, o.key, o.key)
		}
	}
	if d := sl.options["nodes"]; d != nil {
		k := int(slices.Max(d.num))
		for j := 1; j < k; j++ {
			for i := range j {
				sl.bits = append(sl.bits, decision{name: fmt.Sprintf("%s.bit(%d,%d)", path, i+1, j+1),
					text: []string{"0", "1"}, num: []float64{0, 1}, gene: -1})
			}
		}
	}
	sl.perFamily = map[string]map[string]*decision{}
	for _, fam := range sl.family.text {
		sl.perFamily[fam] = map[string]*decision{}
		for key, d := range sl.options {
			if appliesTo(key, fam) {
				sl.perFamily[fam][key] = d
			}
		}
	}
	return nil
}

// layOut gives a gene to every decision with more than one value: the network-wide ones first,
// then slot by slot, and computes the fingerprint that Encode writes.
func (s *SearchSpace) layOut() {
	assign := func(d *decision) {
		if len(d.text) > 1 {
			d.gene = len(s.genes)
			s.genes = append(s.genes, d)
		}
	}
	for _, d := range []*decision{&s.ror, &s.sd} {
		if assign(d); d.gene >= 0 {
			s.units = append(s.units, []int{d.gene})
		}
	}
	for i := range s.slots {
		sl := &s.slots[i]
		first := len(s.genes)
		for _, d := range []*decision{&sl.family, &sl.depth, &sl.width, &sl.stride} {
			assign(d)
		}
		for _, o := range searchOptions {
			if d, ok := sl.options[o.key]; ok {
				assign(d)
			}
		}
		for j := range sl.bits {
			assign(&sl.bits[j])
		}
		if unit := seq(first, len(s.genes)); len(unit) > 0 {
			s.units = append(s.units, unit)
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "nas genome %d\n", genomeFormat)
	for _, d := range s.genes {
		fmt.Fprintf(h, "%s=%s\n", d.name, strings.Join(d.text, ","))
	}
	copy(s.fingerprint[:], h.Sum(nil))
}

// seq returns lo, lo+1, ..., hi−1.
func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// Bind sets the input shape and the number of classes of every network of the space, as a data
// set gives them, and checks the stem and head on them. It replaces what the YAML set. Decode,
// Key, Check and Mutate need a bound space.
func (s *SearchSpace) Bind(input Shape, classes int) error {
	// A one-layer probe network checks the frame and tells the shape the stem gives.
	probe := &Arch{Input: input, Classes: classes, Stem: s.stem, Head: s.head,
		Stages: []Stage{{Block: Block{Family: FamilyPlain, Width: 1, Kernel: 1}}}}
	net, err := probe.Expand()
	if err != nil {
		return err
	}
	for _, l := range net.Layers {
		if strings.HasPrefix(l.Name, "stage1.") {
			s.stemOut = net.Layers[l.Inputs[0]].Shape
			break
		}
	}
	s.input, s.classes = input, classes
	return nil
}

// Input returns the input shape the space is bound to, zero if it is not.
func (s *SearchSpace) Input() Shape { return s.input }

// Classes returns the number of classes the space is bound to, zero if it is not.
func (s *SearchSpace) Classes() int { return s.classes }

// Gene describes one gene of a space's genomes.
type Gene struct {
	// Name is the choice it makes, e.g. "stages[1].width" or "ror".
	Name string
	// Values are the values it chooses from, as YAML writes them; gene value v selects
	// Values[v mod len(Values)].
	Values []string
}

// Genes describes the genes of the space's genomes, in order.
func (s *SearchSpace) Genes() []Gene {
	out := make([]Gene, len(s.genes))
	for i, d := range s.genes {
		out[i] = Gene{Name: d.name, Values: slices.Clone(d.text)}
	}
	return out
}

// Decode returns the network that genome g stands for. Every gene value is valid: it selects its
// value modulo the number of values. Decode fails only on a genome of another length than the
// space's, or on a space that is not bound (see Bind).
func (s *SearchSpace) Decode(g Genome) (*Arch, error) {
	return s.decode(g, nil)
}

// Key returns the canonical hash (Arch.Hash) of the network g decodes to, so that genomes that
// differ only in genes the network does not use share a key. It panics if g cannot be decoded,
// which Check reports first.
func (s *SearchSpace) Key(g Genome) string {
	a, err := s.Decode(g)
	if err == nil {
		var h string
		if h, err = a.Hash(); err == nil {
			return h
		}
	}
	panic(fmt.Sprintf("space: Key of a genome that does not decode: %v", err))
}

// Check returns a *BudgetError when the network of g exceeds the Budget, by analytic counts,
// the error of Decode or Expand if it has no valid network, and nil otherwise.
func (s *SearchSpace) Check(g Genome) error {
	a, err := s.Decode(g)
	if err != nil {
		return err
	}
	c, err := a.Counts()
	if err != nil {
		return err
	}
	b := s.Budget
	switch {
	case b.MaxParams > 0 && c.Params > b.MaxParams:
		return &BudgetError{Quantity: "params", Value: c.Params, Limit: b.MaxParams}
	case b.MaxMACs > 0 && c.MACs > b.MaxMACs:
		return &BudgetError{Quantity: "MACs", Value: c.MACs, Limit: b.MaxMACs}
	case b.MaxTrainMemory > 0:
		if b.Batch < 1 {
			panic(fmt.Sprintf("space: Budget.MaxTrainMemory is set with batch size %d", b.Batch))
		}
		if m := c.TrainMemory(b.Batch); m > b.MaxTrainMemory {
			return &BudgetError{Quantity: "training memory", Value: m, Limit: b.MaxTrainMemory}
		}
	}
	return nil
}

// cloneSpecs returns a copy of specs that shares no pointer with them.
func cloneSpecs(specs []LayerSpec) []LayerSpec {
	out := slices.Clone(specs)
	for i := range out {
		if b := out[i].Bias; b != nil {
			out[i].Bias = new(*b)
		}
	}
	return out
}
