// Package model reads and writes a trained network as one safetensors file: its weights and
// BatchNorm statistics, named and laid out as PyTorch's state_dict (see evaluator.Model.Weights),
// and in the header's __metadata__ the architecture, recipe, data normalisation and scores that
// rebuild, evaluate and export it.
package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/nlpodyssey/safetensors"

	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/internal/atomicfile"
	"github.com/gonas/nas/space"
)

// FormatVersion is the version of the metadata layout, stored under "nas.format".
const FormatVersion = "1"

// File is a model file's content.
type File struct {
	// Tensors are the network's weights: in Weights' order when saved, in the file's (by name)
	// when loaded. evaluator.Model.SetWeights takes them in any order.
	Tensors []evaluator.Tensor
	Meta    Meta
}

// Meta is what a model file says about its network, each field under its own key of the
// safetensors __metadata__ map (all values are strings there).
type Meta struct {
	// Arch is the architecture ("nas.arch", YAML as nas export writes it).
	Arch *space.Arch
	// ArchHash is Arch's canonical hash ("nas.arch_hash"); Load checks that it matches Arch.
	ArchHash string
	// Recipe is the recipe it was trained with ("nas.recipe", YAML), nil for untrained weights.
	Recipe *evaluator.Recipe
	// Seed is the seed of the initialisation and training ("nas.seed").
	Seed uint64
	// Dataset names the data set it was trained on ("nas.dataset"), empty for untrained
	// weights.
	Dataset string
	// Norm is the input normalisation the network expects ("nas.norm", JSON {"mean": [...],
	// "std": [...]}): one mean and standard deviation per channel of pixels in [0, 1], or none
	// for pixels in [0, 1] as they are.
	Norm data.Norm
	// Classes names the classes in label order ("nas.classes", a JSON list), nil when the data
	// set names none.
	Classes []string
	// ValAcc and TestAcc are the accuracies measured after training, as fractions
	// ("nas.val_acc", "nas.test_acc"); Tested tells whether TestAcc was measured.
	ValAcc, TestAcc float64
	Tested          bool
	// Version is the version of nas that wrote the file ("nas.version").
	Version string
}

// Metadata keys.
const (
	keyFormat   = "nas.format"
	keyArch     = "nas.arch"
	keyHash     = "nas.arch_hash"
	keyRecipe   = "nas.recipe"
	keySeed     = "nas.seed"
	keyDataset  = "nas.dataset"
	keyNorm     = "nas.norm"
	keyClasses  = "nas.classes"
	keyValAcc   = "nas.val_acc"
	keyTestAcc  = "nas.test_acc"
	keyVersion  = "nas.version"
	headerLimit = 100_000_000 // the safetensors package's limit on the header's size
)

// normJSON is Norm's form in the metadata.
type normJSON struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Save writes f to path as a safetensors file of float32 tensors. It writes a temporary file in
// the same directory and renames it, so that path holds either its old content or the whole new
// file, never part of it.
func Save(path string, f *File) error {
	b, err := Encode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.Write(path, b, 0o644)
}

// Load reads a model file that Save wrote.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Encode returns f as the bytes of a safetensors file.
func Encode(f *File) ([]byte, error) {
	md, err := f.Meta.encode()
	if err != nil {
		return nil, err
	}
	views := make(map[string]safetensors.TensorView, len(f.Tensors))
	for _, t := range f.Tensors {
		if _, dup := views[t.Name]; dup {
			return nil, fmt.Errorf("tensor %s appears twice", t.Name)
		}
		if t.Elems() != len(t.Data) {
			return nil, fmt.Errorf("tensor %s has shape %v but %d values", t.Name, t.Shape, len(t.Data))
		}
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		raw := make([]byte, 4*len(t.Data))
		for i, v := range t.Data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		views[t.Name], err = safetensors.NewTensorView(safetensors.F32, shape, raw)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
	}
	return safetensors.Serialize(views, md)
}

// Decode parses the bytes of a model file. Its errors say whether the bytes are not a
// safetensors file, a truncated one, one with tensors other than float32, or one without the
// metadata of a nas model.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("not a safetensors file: %d bytes, fewer than the 8 of the header's length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > headerLimit || n < 2 {
		return nil, fmt.Errorf("not a safetensors file: the first 8 bytes give a header length of %d", n)
	}
	if len(b) > 8 && b[8] != '{' {
		return nil, errors.New("not a safetensors file: the header is not a JSON object")
	}
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("truncated: the header needs %d bytes, the file has %d after the length", n, len(b)-8)
	}
	var header safetensors.Metadata
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("not a safetensors file: bad header: %w", err)
	}
	var end uint64
	for _, info := range header.Tensors() {
		end = max(end, info.DataOffsets[1])
	}
	if have := uint64(len(b)) - 8 - n; end > have {
		return nil, fmt.Errorf("truncated: the tensors need %d bytes after the header, the file has %d", end, have)
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		return nil, fmt.Errorf("not a valid safetensors file: %w", err)
	}
	f := &File{}
	for _, ntv := range st.Tensors() {
		name, tv := ntv.Name, ntv.TensorView
		if tv.DType() != safetensors.F32 {
			return nil, fmt.Errorf("tensor %s is %s; nas models hold F32 tensors only", name, tv.DType())
		}
		t := evaluator.Tensor{Name: name, Shape: make([]int, len(tv.Shape()))}
		for i, d := range tv.Shape() {
			if d > math.MaxInt32 {
				return nil, fmt.Errorf("tensor %s has shape %v", name, tv.Shape())
			}
			t.Shape[i] = int(d)
		}
		raw := tv.Data()
		t.Data = make([]float32, len(raw)/4)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		f.Tensors = append(f.Tensors, t)
	}
	if f.Meta, err = decodeMeta(header.Metadata()); err != nil {
		return nil, err
	}
	return f, nil
}

// encode returns the metadata map.
func (m *Meta) encode() (map[string]string, error) {
	if m.Arch == nil {
		return nil, errors.New("metadata has no architecture")
	}
	arch, err := m.Arch.MarshalYAML()
	if err != nil {
		return nil, err
	}
	norm, err := json.Marshal(normJSON{Mean: m.Norm.Mean, Std: m.Norm.Std})
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		keyFormat:  FormatVersion,
		keyArch:    string(arch),
		keyHash:    m.ArchHash,
		keySeed:    strconv.FormatUint(m.Seed, 10),
		keyNorm:    string(norm),
		keyVersion: m.Version,
	}
	if m.Recipe != nil {
		r, err := yaml.Marshal(m.Recipe)
		if err != nil {
			return nil, err
		}
		md[keyRecipe] = string(r)
	}
	if m.Dataset != "" {
		md[keyDataset] = m.Dataset
	}
	if m.Classes != nil {
		c, err := json.Marshal(m.Classes)
		if err != nil {
			return nil, err
		}
		md[keyClasses] = string(c)
	}
	if m.Recipe != nil {
		md[keyValAcc] = strconv.FormatFloat(m.ValAcc, 'g', -1, 64)
	}
	if m.Tested {
		md[keyTestAcc] = strconv.FormatFloat(m.TestAcc, 'g', -1, 64)
	}
	return md, nil
}

// decodeMeta reads the metadata map; every error names the key.
func decodeMeta(md map[string]string) (Meta, error) {
	var m Meta
	need := func(key string) (string, error) {
		v, ok := md[key]
		if !ok {
			return "", fmt.Errorf("no metadata %q: not a nas model file (nas writes %s, %s, %s, %s and %s)", key, keyFormat, keyArch, keyHash, keyNorm, keyVersion)
		}
		return v, nil
	}
	format, err := need(keyFormat)
	if err != nil {
		return m, err
	}
	if format != FormatVersion {
		return m, fmt.Errorf("metadata %q is %q; this nas reads format %s", keyFormat, format, FormatVersion)
	}
	arch, err := need(keyArch)
	if err != nil {
		return m, err
	}
	if m.Arch, err = space.Parse([]byte(arch), keyArch); err != nil {
		return m, fmt.Errorf("metadata %q: %w", keyArch, err)
	}
	if m.ArchHash, err = need(keyHash); err != nil {
		return m, err
	}
	if h, err := m.Arch.Hash(); err != nil || h != m.ArchHash {
		return m, fmt.Errorf("metadata %q is %s but the architecture hashes to %s (%v)", keyHash, m.ArchHash, h, err)
	}
	if m.Version, err = need(keyVersion); err != nil {
		return m, err
	}
	seed, err := need(keySeed)
	if err != nil {
		return m, err
	}
	if m.Seed, err = strconv.ParseUint(seed, 10, 64); err != nil {
		return m, fmt.Errorf("metadata %q: %w", keySeed, err)
	}
	norm, err := need(keyNorm)
	if err != nil {
		return m, err
	}
	var nj normJSON
	dec := json.NewDecoder(bytes.NewReader([]byte(norm)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nj); err != nil {
		return m, fmt.Errorf("metadata %q: %w", keyNorm, err)
	}
	m.Norm = data.Norm{Mean: nj.Mean, Std: nj.Std}
	if c := m.Arch.Input.C; len(nj.Mean) != len(nj.Std) || (len(nj.Mean) != 0 && len(nj.Mean) != c) || slices.ContainsFunc(nj.Std, func(s float64) bool { return !(s > 0) }) {
		return m, fmt.Errorf("metadata %q is %s: want %d means and %d positive standard deviations, or none", keyNorm, norm, c, c)
	}
	if r, ok := md[keyRecipe]; ok {
		rec, err := evaluator.ParseRecipe([]byte(r), keyRecipe)
		if err != nil {
			return m, fmt.Errorf("metadata %q: %w", keyRecipe, err)
		}
		if len(rec.StepEpochs) == 0 {
			rec.StepEpochs = nil // the encoder writes nil as []
		}
		m.Recipe = &rec
	}
	m.Dataset = md[keyDataset]
	if c, ok := md[keyClasses]; ok {
		if err := json.Unmarshal([]byte(c), &m.Classes); err != nil || len(m.Classes) != m.Arch.Classes {
			return m, fmt.Errorf("metadata %q is %s: want a JSON list of %d class names", keyClasses, c, m.Arch.Classes)
		}
	}
	acc := func(key string, dst *float64) (bool, error) {
		v, ok := md[key]
		if !ok {
			return false, nil
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x >= 0 && x <= 1) {
			return false, fmt.Errorf("metadata %q is %q: want an accuracy in [0, 1]", key, v)
		}
		*dst = x
		return true, nil
	}
	if _, err := acc(keyValAcc, &m.ValAcc); err != nil {
		return m, err
	}
	if m.Tested, err = acc(keyTestAcc, &m.TestAcc); err != nil {
		return m, err
	}
	return m, nil
}

// Build builds f's network for batches of up to batch samples and sets its weights.
func (f *File) Build(batch int, pool *parallel.Pool) (*evaluator.Model, error) {
	net, err := f.Meta.Arch.Expand()
	if err != nil {
		return nil, err
	}
	m, err := evaluator.Build(net, batch, pool, f.Meta.Seed, 0)
	if err != nil {
		return nil, err
	}
	if err := m.SetWeights(f.Tensors); err != nil {
		return nil, err
	}
	return m, nil
}

// Trained returns the model file of network m, of architecture arch, trained under recipe
// with seed on data set ds, whose inputs it normalises by norm, and whose training ended with
// res; version is the nas version writing it.
func Trained(m *evaluator.Model, norm data.Norm, arch *space.Arch, recipe evaluator.Recipe, seed uint64,
	ds *data.Dataset, res evaluator.Result, version string) (*File, error) {
	hash, err := arch.Hash()
	if err != nil {
		return nil, err
	}
	return &File{Tensors: m.Weights(), Meta: Meta{
		Arch: arch, ArchHash: hash, Recipe: &recipe, Seed: seed, Dataset: ds.Name, Norm: norm,
		Classes: ds.Train.ClassNames, ValAcc: res.ValAcc, TestAcc: res.TestAcc, Tested: res.Tested,
		Version: version,
	}}, nil
}
