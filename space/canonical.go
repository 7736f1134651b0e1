package space

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
)

// Canonical returns the architecture in canonical form: every default written out, family
// aliases resolved (resnext becomes bottleneck with groups, wide becomes preact_basic with its
// width multiplied), a conv's bn and relu flags turned into layers, the default head written out,
// and each stage in count form when its blocks are equal (bar the first block's stride) and in
// list form otherwise. Two spellings of one network have equal canonical forms.
func (a *Arch) Canonical() (*Arch, error) {
	if _, err := a.Expand(); err != nil {
		return nil, err
	}
	c := &Arch{Name: a.Name, Input: a.Input, Classes: a.Classes, RoR: a.RoR, StochasticDepth: a.StochasticDepth}
	c.Stem, _, _ = normalizeSpecs(a.Stem, "stem", false)
	c.Head, _, _ = normalizeSpecs(a.headOrDefault(), "head", true)
	for si, st := range a.Stages {
		placed, _ := a.stageBlocks(si)
		blocks := make([]Block, len(placed))
		for i, p := range placed {
			blocks[i] = p.Block
		}
		var cs Stage
		if uniform(blocks) {
			cs.Block, cs.Blocks = blocks[0], len(blocks)
		} else {
			cs.List = blocks
		}
		cs.Pool, _ = normalizePool(st.Pool, "")
		cs.AuxHead, _, _ = normalizeSpecs(st.AuxHead, "", true)
		c.Stages = append(c.Stages, cs)
	}
	// Copy through JSON so that the result shares no slice or pointer with a.
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var out Arch
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	out.dropEmpty()
	return &out, nil
}

// uniform tells whether blocks are copies of the first one with stride 1.
func uniform(blocks []Block) bool {
	for _, b := range blocks[1:] {
		first := blocks[0]
		first.Stride = b.Stride
		if !reflect.DeepEqual(first, b) || b.Stride > 1 {
			return false
		}
	}
	return true
}

// Hash returns the hex SHA-256 of the canonical form's JSON, without the name: the identity of
// the network, equal for two spellings of it.
func (a *Arch) Hash() (string, error) {
	c, err := a.Canonical()
	if err != nil {
		return "", err
	}
	c.Name = ""
	data, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("space: hash: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
