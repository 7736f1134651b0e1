package space

import (
	"fmt"
	"strconv"
)

// scope names layers: a dotted prefix and, per kind of layer, a running number from 1, so that a
// block's layers read conv1, bn1, relu1, conv2, ... as in torchvision.
type scope struct {
	prefix string
	n      map[string]int
}

func newScope(prefix string) *scope { return &scope{prefix: prefix, n: map[string]int{}} }

func (s *scope) name(kind string) string {
	s.n[kind]++
	return s.prefix + "." + kind + strconv.Itoa(s.n[kind])
}

func (s *scope) sub(name string) *scope { return newScope(s.prefix + "." + name) }

// Expand checks the architecture and expands it to its primitive layers. Every mistake is
// returned as a *ConfigError naming the field.
func (a *Arch) Expand() (*Net, error) {
	if err := a.checkTop(); err != nil {
		return nil, err
	}
	stem, stemPaths, err := normalizeSpecs(a.Stem, "stem", false)
	if err != nil {
		return nil, err
	}
	head, headPaths, err := normalizeSpecs(a.headOrDefault(), "head", true)
	if err != nil {
		return nil, err
	}
	g := &graph{net: Net{Name: a.Name}}
	x := g.add(Layer{Name: "input", Op: OpInput, Shape: a.Input})
	x = g.specs(newScope("stem"), x, stem, stemPaths, a.Classes)

	stages := make([][]placed, len(a.Stages))
	residual := 0
	for si := range a.Stages {
		if stages[si], err = a.stageBlocks(si); err != nil {
			return nil, err
		}
		for _, b := range stages[si] {
			if families[b.Family].residual {
				residual++
			}
			if a.StochasticDepth != nil && b.DropPath != 0 {
				return nil, fieldError(b.path+".drop_path", "set either the network's stochastic_depth or drop_path on blocks, not both")
			}
		}
	}

	var aux []int
	body := x // the input of the body, for RoR's outermost shortcut
	l := 0    // residual blocks built so far, for stochastic depth
	for si, st := range a.Stages {
		pool, err := normalizePool(st.Pool, fmt.Sprintf("stages[%d].pool", si))
		if err != nil {
			return nil, err
		}
		auxSpecs, auxPaths, err := normalizeSpecs(st.AuxHead, fmt.Sprintf("stages[%d].aux_head", si), true)
		if err != nil {
			return nil, err
		}
		stageIn := x
		s := newScope(fmt.Sprintf("stage%d", si+1))
		blocks := stages[si]
		var dense []int // the feature maps of a run of dense layers, concatenated at its end
		for bi, b := range blocks {
			g.field = b.path
			bs := s.sub(fmt.Sprintf("block%d", bi))
			f := families[b.Family]
			if f.layer != nil {
				if dense == nil {
					dense = []int{x}
				}
				dense = append(dense, f.layer(g, bs, g.concat(bs.name("cat"), dense...), b.Block))
				if bi+1 == len(blocks) || blocks[bi+1].Family != b.Family {
					x, dense = g.concat(s.name("cat"), dense...), nil
				}
				continue
			}
			if !f.residual {
				x = f.build(g, bs, x, b.Block, residualTail{})
				continue
			}
			l++
			t := residualTail{drop: b.DropPath}
			if a.StochasticDepth != nil {
				t.drop = float64(l) / float64(residual) * (1 - a.StochasticDepth.FinalSurvival)
			}
			if a.RoR && bi == lastResidual(blocks) {
				t.extra = append(t.extra, shortcutSource{s.sub("ror"), stageIn})
				if si == lastResidualStage(stages) {
					t.extra = append(t.extra, shortcutSource{newScope("ror"), body})
				}
			}
			x = f.build(g, bs, x, b.Block, t)
		}
		if pool != nil {
			op := map[string]Op{"max": OpMaxPool, "avg": OpAvgPool}[pool.Type]
			x = g.pool(s.name(string(op)), x, poolSpec{op: op, k: pool.Kernel, stride: pool.Stride, pad: pool.Padding, ceil: pool.Ceil, countIncludePad: true})
		}
		if len(auxSpecs) > 0 {
			aux = append(aux, g.specs(newScope(fmt.Sprintf("aux%d", len(aux)+1)), x, auxSpecs, auxPaths, a.Classes))
		}
	}
	x = g.specs(newScope("head"), x, head, headPaths, a.Classes)
	if g.err != nil {
		return nil, g.err
	}
	if s := g.shape(x); s != (Shape{C: a.Classes, H: 1, W: 1}) {
		return nil, fieldError("head", "the network outputs %v, not %d classes", s, a.Classes)
	}
	g.net.Outputs = append([]int{x}, aux...)
	return &g.net, nil
}

// checkTop checks the fields of the Arch itself.
func (a *Arch) checkTop() error {
	if a.Input == (Shape{}) {
		return fieldError("input", "missing: the input shape [C, H, W], e.g. [1, 28, 28]")
	}
	for i, v := range []int{a.Input.C, a.Input.H, a.Input.W} {
		if err := intIn(fmt.Sprintf("input[%d]", i), v, 1, maxSize); err != nil {
			return err
		}
	}
	if a.Classes == 0 {
		return fieldError("classes", "missing: the number of classes, e.g. 10")
	}
	if err := intIn("classes", a.Classes, 1, maxWidth*16); err != nil {
		return err
	}
	if len(a.Stages) == 0 {
		return fieldError("stages", "missing: a network needs at least one stage")
	}
	if sd := a.StochasticDepth; sd != nil && !(sd.FinalSurvival > 0 && sd.FinalSurvival <= 1) {
		return fieldError("stochastic_depth.final_survival", "must be in (0, 1] (got %v)", sd.FinalSurvival)
	}
	return nil
}

// headOrDefault returns the head, or global average pooling and a linear classifier.
func (a *Arch) headOrDefault() []LayerSpec {
	if len(a.Head) > 0 {
		return a.Head
	}
	return []LayerSpec{{Op: "globalavgpool"}, {Op: "linear"}}
}

func lastResidual(blocks []placed) int {
	last := -1
	for i, b := range blocks {
		if families[b.Family].residual {
			last = i
		}
	}
	return last
}

func lastResidualStage(stages [][]placed) int {
	last := -1
	for i, bs := range stages {
		if lastResidual(bs) >= 0 {
			last = i
		}
	}
	return last
}

// specs builds canonical layer specs, written at paths, on x. The last linear layer of a
// classifier has classes outputs.
func (g *graph) specs(s *scope, x int, specs []LayerSpec, paths []string, classes int) int {
	for i, sp := range specs {
		g.field = paths[i]
		switch sp.Op {
		case "conv":
			x = g.conv(s.name("conv"), x, convSpec{out: sp.Filters, kh: sp.Kernel, kw: sp.Kernel, stride: sp.Stride,
				padH: sp.Padding, padW: sp.Padding, groups: sp.Groups, bias: *sp.Bias})
		case "batchnorm":
			x = g.unary(s.name("bn"), OpBatchNorm, x, 0)
		case "relu":
			x = g.unary(s.name("relu"), OpReLU, x, 0)
		case "maxpool":
			x = g.pool(s.name("maxpool"), x, poolSpec{op: OpMaxPool, k: sp.Kernel, stride: sp.Stride, pad: sp.Padding, ceil: sp.Ceil})
		case "avgpool":
			x = g.pool(s.name("avgpool"), x, poolSpec{op: OpAvgPool, k: sp.Kernel, stride: sp.Stride, pad: sp.Padding, ceil: sp.Ceil, countIncludePad: !sp.ExcludePad})
		case "globalavgpool":
			x = g.gap(s.name("gap"), x)
		case "flatten":
			x = g.flatten(s.name("flatten"), x)
		case "dropout":
			x = g.unary(s.name("dropout"), OpDropout, x, sp.P)
		case "linear":
			out := sp.Out
			if out == 0 {
				out = classes
			}
			x = g.linear(s.name("fc"), x, out, *sp.Bias)
		default:
			panic("space: unchecked layer op " + sp.Op)
		}
	}
	return x
}
