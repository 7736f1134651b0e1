package space

import (
	"math"
	"strings"
	"testing"
)

func mustParse(t *testing.T, yaml string) *Arch {
	t.Helper()
	a, err := Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustExpand(t *testing.T, a *Arch) *Net {
	t.Helper()
	n, err := a.Expand()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func countOps(n *Net, op Op) int {
	c := 0
	for _, l := range n.Layers {
		if l.Op == op {
			c++
		}
	}
	return c
}

const resnet20 = validHead + `stem:
  - {op: conv, filters: 16, kernel: 3, padding: 1, bn: true, relu: true}
stages:
  - {family: basic, blocks: 3, width: 16}
  - {family: basic, blocks: 3, width: 32, stride: 2}
  - {family: basic, blocks: 3, width: 64, stride: 2}
`

func TestEveryBaselineExpandsToAWellFormedDAG(t *testing.T) {
	families := map[string]bool{}
	for _, f := range baselineFiles(t) {
		a, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		n := mustExpand(t, a)
		if n.Layers[0].Op != OpInput || n.Layers[0].Shape != a.Input {
			t.Errorf("%s: layer 0 is %v %v, want the input %v", f, n.Layers[0].Op, n.Layers[0].Shape, a.Input)
		}
		names := map[string]bool{}
		for i, l := range n.Layers {
			if names[l.Name] {
				t.Errorf("%s: two layers are named %s", f, l.Name)
			}
			names[l.Name] = true
			if i > 0 && len(l.Inputs) == 0 {
				t.Errorf("%s: layer %s has no input", f, l.Name)
			}
			for _, in := range l.Inputs {
				if in >= i {
					t.Errorf("%s: layer %d %s reads layer %d, not an earlier one", f, i, l.Name, in)
				}
			}
		}
		if out := n.Layers[n.Outputs[0]].Shape; out != (Shape{C: a.Classes, H: 1, W: 1}) {
			t.Errorf("%s: the classifier outputs %v", f, out)
		}
		c, _ := a.Canonical()
		for _, st := range c.Stages {
			families[st.Family] = true
			for _, b := range st.List {
				families[b.Family] = true
			}
		}
	}
	// Every family but the two aliases (which canonicalise to bottleneck and preact_basic)
	// appears in some baseline.
	for _, f := range Families() {
		if !families[f] && f != FamilyResNeXt && f != FamilyWide {
			t.Errorf("no baseline uses family %s", f)
		}
	}
}

func TestBasicBlockLayers(t *testing.T) {
	n := mustExpand(t, mustParse(t, resnet20))
	var got []string
	for _, l := range n.Layers {
		if strings.HasPrefix(l.Name, "stage2.block0.") {
			got = append(got, strings.TrimPrefix(l.Name, "stage2.block0.")+":"+string(l.Op)+":"+l.Shape.String())
		}
	}
	want := []string{
		"conv1:conv:32×14×14", "bn1:batchnorm:32×14×14", "relu1:relu:32×14×14",
		"conv2:conv:32×14×14", "bn2:batchnorm:32×14×14",
		"shortcut.conv1:conv:32×14×14", "shortcut.bn1:batchnorm:32×14×14",
		"add1:add:32×14×14", "relu2:relu:32×14×14",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stage2.block0 is\n%v\nwant\n%v", got, want)
	}
}

func TestOptionAShortcutsZeroPadWithoutParameters(t *testing.T) {
	b := mustExpand(t, mustParse(t, resnet20))
	a := mustExpand(t, mustParse(t, strings.ReplaceAll(resnet20, "width: 32,", "width: 32, shortcut: A,")))
	if got := countOps(a, OpZeroPad); got != 1 {
		t.Fatalf("%d zeropad layers, want 1 (the first block of stage 2)", got)
	}
	for _, l := range a.Layers {
		if l.Op == OpZeroPad && (l.Shape != Shape{C: 32, H: 14, W: 14} || l.Stride != 2 || l.Out != 32) {
			t.Errorf("zeropad %+v", l)
		}
	}
	// Option B's projection is a 1×1 conv (16·32 weights) and a batchnorm (2·32).
	if d := b.Counts().Params - a.Counts().Params; d != 16*32+2*32 {
		t.Errorf("option B has %d more parameters than option A, want %d", d, 16*32+2*32)
	}
}

func TestStochasticDepthDecaysLinearly(t *testing.T) {
	n := mustExpand(t, mustParse(t, strings.Replace(resnet20, "stages:", "stochastic_depth: {final_survival: 0.5}\nstages:", 1)))
	var ps []float64
	for _, l := range n.Layers {
		if l.Op == OpAdd && n.Layers[l.Inputs[1]].Op == OpDropPath {
			ps = append(ps, n.Layers[l.Inputs[1]].P)
		}
	}
	if len(ps) != 9 {
		t.Fatalf("%d residual branches end in a droppath, want one per block (9)", len(ps))
	}
	for i, p := range ps {
		if want := float64(i+1) / 9 * 0.5; math.Abs(p-want) > 1e-12 {
			t.Errorf("block %d drops with p=%v, want %v", i, p, want)
		}
	}
}

func TestRoRAddsStageAndBodyShortcuts(t *testing.T) {
	plain := mustExpand(t, mustParse(t, resnet20))
	ror := mustExpand(t, mustParse(t, strings.Replace(resnet20, "stages:", "ror: true\nstages:", 1)))
	// Stage 1 keeps its shape (identity); stages 2 and 3 and the body project: 1×1 convs
	// 16→32 stride 2, 32→64 stride 2 and 16→64 stride 4, each with a batchnorm.
	want := int64(16*32+2*32) + (32*64 + 2*64) + (16*64 + 2*64)
	if d := ror.Counts().Params - plain.Counts().Params; d != want {
		t.Errorf("RoR adds %d parameters, want %d", d, want)
	}
	if d := countOps(ror, OpAdd) - countOps(plain, OpAdd); d != 4 {
		t.Errorf("RoR adds %d additions, want 4 (three stages and the body)", d)
	}
	for _, l := range ror.Layers {
		if l.Name == "ror.conv1" && (l.Stride != 4 || l.Shape != Shape{C: 64, H: 7, W: 7}) {
			t.Errorf("the body shortcut is %+v, want a stride-4 conv to 64×7×7", l)
		}
	}
}

func TestSEScalesTheResidualBranchBeforeTheAdd(t *testing.T) {
	n := mustExpand(t, mustParse(t, strings.ReplaceAll(resnet20, "width: 64", "width: 64, se: {ratio: 4}")))
	scales := 0
	for _, l := range n.Layers {
		if l.Op != OpScale {
			continue
		}
		scales++
		x, v := n.Layers[l.Inputs[0]], n.Layers[l.Inputs[1]]
		if x.Op != OpBatchNorm || v.Op != OpSigmoid || v.Shape != (Shape{C: 64, H: 1, W: 1}) {
			t.Errorf("%s scales %s by %s", l.Name, x.Name, v.Name)
		}
	}
	if scales != 3 {
		t.Errorf("%d SE modules, want 3 (stage 3)", scales)
	}
	// Each SE has linear 64→16 and 16→64 with biases.
	plain := mustExpand(t, mustParse(t, resnet20))
	if d := n.Counts().Params - plain.Counts().Params; d != 3*(64*16+16+16*64+64) {
		t.Errorf("SE adds %d parameters, want %d", d, 3*(64*16+16+16*64+64))
	}
}

func TestAuxiliaryClassifierCountsParamsButNotMACs(t *testing.T) {
	a, err := Load(baselines + "imagenet/inception_v3.yaml")
	if err != nil {
		t.Fatal(err)
	}
	with := mustExpand(t, a)
	a.Stages[2].AuxHead = nil
	without := mustExpand(t, a)
	if len(with.Outputs) != 2 || len(without.Outputs) != 1 {
		t.Fatalf("outputs %v and %v", with.Outputs, without.Outputs)
	}
	cw, co := with.Counts(), without.Counts()
	// torchvision's InceptionAux: conv 768→128 1×1, conv 128→768 5×5 (both with BN), fc 768→1000.
	auxParams := int64(768*128+2*128) + (128*768*25 + 2*768) + (768*1000 + 1000)
	if cw.Params-co.Params != auxParams || cw.MACs != co.MACs {
		t.Errorf("aux head adds %d params and %d MACs, want %d and 0", cw.Params-co.Params, cw.MACs-co.MACs, auxParams)
	}
}

func TestClassifierLeavesOutOnlyTheAuxiliaryHead(t *testing.T) {
	a, err := Load(baselines + "imagenet/inception_v3.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := mustExpand(t, a)
	needed := n.Classifier()
	auxLayers := 0
	for i, l := range n.Layers {
		aux := strings.Contains(l.Name, "aux")
		if aux {
			auxLayers++
		}
		if needed[i] == aux {
			t.Errorf("layer %d %s: needed %v", i, l.Name, needed[i])
		}
	}
	if auxLayers == 0 {
		t.Error("no layer of the auxiliary head")
	}
}

func TestDenseLayersReadTheConcatenationOfAllEarlierMaps(t *testing.T) {
	n := mustExpand(t, mustParse(t, validHead+"stem:\n  - {op: conv, filters: 8, kernel: 3, padding: 1}\nstages:\n  - {family: dense, blocks: 4, growth_rate: 6, bn_size: 4}\n"))
	for i := 1; i < 4; i++ {
		var cat *Layer
		for j := range n.Layers {
			if n.Layers[j].Name == "stage1.block"+string(rune('0'+i))+".cat1" {
				cat = &n.Layers[j]
			}
		}
		if cat == nil || len(cat.Inputs) != i+1 || cat.Shape.C != 8+6*i {
			t.Errorf("dense layer %d reads %+v, want the concatenation of %d maps, %d channels", i, cat, i+1, 8+6*i)
		}
	}
	if out := n.Layers[n.Outputs[0]-2]; out.Op != OpConcat || out.Shape.C != 8+4*6 {
		t.Errorf("the block outputs %+v, want the concatenation of 32 channels", out)
	}
}

func TestTrainMemoryFollowsItsFormula(t *testing.T) {
	n := mustExpand(t, mustParse(t, resnet20))
	var acts int64
	for _, l := range n.Layers {
		acts += int64(l.Shape.C * l.Shape.H * l.Shape.W)
	}
	c := n.Counts()
	if c.Activations != acts {
		t.Fatalf("activations %d, want %d", c.Activations, acts)
	}
	if got, want := c.TrainMemory(64), acts*64*8+c.Params*12; got != want {
		t.Errorf("TrainMemory(64) = %d, want %d", got, want)
	}
}

func TestEveryLayerCountMatchesItsDefinition(t *testing.T) {
	for _, f := range baselineFiles(t) {
		a, _ := Load(f)
		n := mustExpand(t, a)
		for _, l := range n.Layers {
			var params, macs int64
			switch l.Op {
			case OpConv:
				in := n.Layers[l.Inputs[0]].Shape
				k := int64(in.C / l.Groups * l.KH * l.KW)
				params, macs = int64(l.Out)*k, int64(l.Shape.H*l.Shape.W*l.Out)*k
				if l.Bias {
					params += int64(l.Out)
				}
			case OpLinear:
				in := n.Layers[l.Inputs[0]].Shape
				k := int64(in.C * in.H * in.W)
				params, macs = int64(l.Out)*k, int64(l.Out)*k
				if l.Bias {
					params += int64(l.Out)
				}
			case OpBatchNorm:
				params = int64(2 * l.Shape.C)
			}
			if l.Params != params || l.MACs != macs {
				t.Errorf("%s %s: params %d MACs %d, want %d and %d", f, l.Name, l.Params, l.MACs, params, macs)
			}
		}
	}
}

// The search expands and hashes every candidate; this measures the cost on a large network.
func BenchmarkExpandAndHashInceptionResNetV2(b *testing.B) {
	a, err := Load(baselines + "imagenet/inception_resnet_v2.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Expand(); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Hash(); err != nil {
			b.Fatal(err)
		}
	}
}
