package evaluator

import (
	"fmt"

	"github.com/gonas/nas/engine"
	"github.com/gonas/nas/engine/parallel"
	"github.com/gonas/nas/space"
)

// Model is an expanded architecture built as an engine graph, with its input and loss.
type Model struct {
	Net   *space.Net
	Graph *engine.Graph
	// Input takes a batch of images, NHWC, normalised.
	Input *engine.Node
	// Logits is the classifier's output, Classes values per sample.
	Logits *engine.Node
	// Loss takes the labels and gives the mean cross-entropy of the classifier.
	Loss *engine.Loss

	// params and state hold each layer's engine parameters and buffers, indexed as Net.Layers
	// (nil for layers with none and for layers not built), for Weights and SetWeights.
	params [][]*engine.Param
	state  [][]*engine.Buffer
}

// Build turns net into an engine graph for batches of up to batch samples, with parameters drawn
// from seed. Only the layers the main classifier depends on are built: auxiliary classifiers
// (Inception v3's) are counted by space but not trained.
func Build(net *space.Net, batch int, pool *parallel.Pool, seed uint64, labelSmoothing float64) (*Model, error) {
	if len(net.Layers) == 0 || net.Layers[0].Op != space.OpInput || len(net.Outputs) == 0 {
		return nil, fmt.Errorf("network %q has no input or no classifier", net.Name)
	}
	logits := net.Outputs[0]
	needed := make([]bool, len(net.Layers))
	needed[logits] = true
	for i := logits; i >= 0; i-- {
		if needed[i] {
			for _, in := range net.Layers[i].Inputs {
				needed[in] = true
			}
		}
	}

	g := engine.New(engine.Config{Batch: batch, Pool: pool, Seed: seed})
	nodes := make([]*engine.Node, len(net.Layers))
	m := &Model{Net: net, Graph: g, params: make([][]*engine.Param, len(net.Layers)), state: make([][]*engine.Buffer, len(net.Layers))}
	for i, l := range net.Layers {
		if !needed[i] {
			continue
		}
		before := len(g.Params())
		in := func(k int) *engine.Node { return nodes[l.Inputs[k]] }
		var n *engine.Node
		switch l.Op {
		case space.OpInput:
			n = g.Input(l.Name, engine.Shape{H: l.Shape.H, W: l.Shape.W, C: l.Shape.C})
		case space.OpConv:
			n = g.Conv2D(in(0), engine.ConvSpec{Filters: l.Out, KH: l.KH, KW: l.KW, Stride: l.Stride, PadH: l.PadH, PadW: l.PadW, Groups: l.Groups, Bias: l.Bias})
		case space.OpBatchNorm:
			n = g.BatchNorm(in(0))
		case space.OpReLU:
			n = g.ReLU(in(0))
		case space.OpSigmoid:
			n = g.Sigmoid(in(0))
		case space.OpMaxPool:
			n = g.MaxPool(in(0), poolSpec(l))
		case space.OpAvgPool:
			n = g.AvgPool(in(0), poolSpec(l))
		case space.OpGlobalAvgPool:
			n = g.GlobalAvgPool(in(0))
		case space.OpLinear:
			n = g.Linear(in(0), l.Out, l.Bias)
		case space.OpAdd:
			n = g.Add(in(0), in(1), float32(l.Scale))
		case space.OpConcat:
			xs := make([]*engine.Node, len(l.Inputs))
			for k := range xs {
				xs[k] = in(k)
			}
			n = g.Concat(xs...)
		case space.OpScale:
			n = g.Scale(in(0), in(1))
		case space.OpDropout:
			n = g.Dropout(in(0), float32(l.P))
		case space.OpDropPath:
			n = g.DropPath(in(0), float32(l.P))
		case space.OpFlatten:
			n = g.Flatten(in(0))
		case space.OpZeroPad:
			n = g.ZeroPadShortcut(in(0), l.Out, l.Stride)
		default:
			return nil, fmt.Errorf("layer %s: the engine has no op %q", l.Name, l.Op)
		}
		if got := n.Shape; got.C != l.Shape.C || got.H != l.Shape.H || got.W != l.Shape.W {
			panic(fmt.Sprintf("evaluator: layer %s: engine shape %v, space shape %v", l.Name, got, l.Shape))
		}
		n.Name = l.Name
		nodes[i] = n
		m.params[i] = g.Params()[before:len(g.Params()):len(g.Params())]
	}
	m.Input, m.Logits = nodes[0], nodes[logits]
	m.Loss = g.SoftmaxCrossEntropy(nodes[logits], float32(labelSmoothing))
	g.Build()
	// The engine lists the BatchNorms' buffers in the order it created the layers, two each.
	state := g.State()
	for i, l := range net.Layers {
		if l.Op == space.OpBatchNorm && needed[i] {
			m.state[i], state = state[:2:2], state[2:]
		}
	}
	if len(state) != 0 {
		panic(fmt.Sprintf("evaluator: %d engine buffers belong to no BatchNorm layer", len(state)))
	}
	return m, nil
}

func poolSpec(l space.Layer) engine.PoolSpec {
	return engine.PoolSpec{KH: l.KH, KW: l.KW, Stride: l.Stride, PadH: l.PadH, PadW: l.PadW, Ceil: l.Ceil, CountIncludePad: l.CountIncludePad}
}
