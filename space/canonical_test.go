package space

import (
	"strings"
	"testing"
)

func hashOf(t *testing.T, yaml string) string {
	t.Helper()
	h, err := mustParse(t, yaml).Hash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTwoSpellingsOfOneNetworkHashTheSame(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"DefaultsWrittenOut", resnet20, `name: another name
input: [1, 28, 28]
classes: 10
stem:
  - {op: conv, filters: 16, kernel: 3, stride: 1, padding: 1, groups: 1, bias: false}
  - {op: batchnorm}
  - {op: relu}
stages:
  - {family: basic, blocks: 3, width: 16, stride: 1, shortcut: B}
  - {family: basic, blocks: 3, width: 32, stride: 2, shortcut: B}
  - {family: basic, blocks: 3, width: 64, stride: 2, shortcut: B}
head:
  - {op: globalavgpool}
  - {op: linear, bias: true}
`},
		{"BlocksListedOneByOne", resnet20, strings.Replace(resnet20, "  - {family: basic, blocks: 3, width: 32, stride: 2}",
			"  - family: basic\n    width: 32\n    blocks_list: [{stride: 2}, {}, {stride: 1}]", 1)},
		{"ResNeXtAsGroupedBottleneck",
			validHead + "stages:\n  - {family: resnext, blocks: 2, width: 64, cardinality: 8, group_width: 4}\n",
			validHead + "stages:\n  - {family: bottleneck, blocks: 2, width: 64, mid_width: 32, groups: 8, stride_on: 3x3}\n"},
		{"WideAsPreactBasic",
			validHead + "stages:\n  - {family: wide, blocks: 2, width: 16, widen_factor: 4, dropout: 0.3}\n",
			validHead + "stages:\n  - {family: preact_basic, blocks: 2, width: 64, dropout: 0.3}\n"},
		{"SEDefaultRatio",
			validHead + "stages:\n  - {family: basic, width: 32, se: {}}\n",
			validHead + "stages:\n  - {family: basic, width: 32, se: {ratio: 16}}\n"},
		{"PoolDefaultStride",
			validHead + "stages:\n  - {family: plain, width: 8, pool: {type: max, kernel: 2}}\n",
			validHead + "stages:\n  - {family: plain, width: 8, kernel: 3, norm: batchnorm, pool: {type: max, kernel: 2, stride: 2}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ha, hb := hashOf(t, tc.a), hashOf(t, tc.b); ha != hb {
				t.Errorf("hashes differ: %s and %s", ha, hb)
			}
		})
	}
}

func TestDifferentNetworksHashDifferently(t *testing.T) {
	base := hashOf(t, resnet20)
	for _, tc := range []struct{ name, old, new string }{
		{"Width", "width: 64", "width: 48"},
		{"Stride", "width: 64, stride: 2", "width: 64, stride: 1"},
		{"Shortcut", "width: 32,", "width: 32, shortcut: A,"},
		{"Blocks", "blocks: 3, width: 16", "blocks: 2, width: 16"},
		{"Input", "input: [1, 28, 28]", "input: [3, 28, 28]"},
		{"Classes", "classes: 10", "classes: 100"},
		{"RoR", "stages:", "ror: true\nstages:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if h := hashOf(t, strings.Replace(resnet20, tc.old, tc.new, 1)); h == base {
				t.Errorf("changing %q to %q kept the hash", tc.old, tc.new)
			}
		})
	}
}

func TestCanonicalFormIsFilledAndStable(t *testing.T) {
	a := mustParse(t, validHead+"stages:\n  - family: inception\n    n5x5_kernel: 3\n    blocks_list:\n      - {n1x1: 8, n3x3: [4, 8], n5x5: [4, 8], pool_proj: 8}\n      - {n1x1: 16, n3x3: [4, 8], n5x5: [4, 8], pool_proj: 8}\n")
	c, err := a.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	st := c.Stages[0]
	if st.Family != "" || len(st.List) != 2 || st.List[1].N5x5Kernel != 3 || st.List[1].Family != FamilyInception {
		t.Errorf("differing blocks should stay listed, each complete: %+v", st)
	}
	if len(c.Head) != 2 || c.Head[0].Op != "globalavgpool" || c.Head[1].Op != "linear" || c.Head[1].Bias == nil || !*c.Head[1].Bias {
		t.Errorf("the default head is not written out: %+v", c.Head)
	}
	cc, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := c.Hash()
	h2, _ := cc.Hash()
	ha, _ := a.Hash()
	if h1 != h2 || h1 != ha {
		t.Error("the canonical form of the canonical form hashes differently")
	}
	// The canonical form shares nothing with the original.
	c.Stages[0].List[0].N3x3[0] = 99
	if a.Stages[0].List[0].N3x3[0] != 4 {
		t.Error("changing the canonical form changed the original")
	}
}
