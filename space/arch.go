package space

import (
	"encoding/json"
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// Shape is the shape of one sample's tensor as an Arch describes it: channels, height and width,
// in the C, H, W order of PyTorch and of the YAML's input: [C, H, W]. A vector of n features is
// n×1×1. The engine stores tensors NHWC and has its own engine.Shape with fields H, W, C; the
// evaluator maps one onto the other field by field. Write both with keyed fields,
// Shape{C: 1, H: 28, W: 28}, never by position.
type Shape struct{ C, H, W int }

// Elems returns C·H·W.
func (s Shape) Elems() int64 { return int64(s.C) * int64(s.H) * int64(s.W) }

// String formats the shape as C×H×W.
func (s Shape) String() string { return fmt.Sprintf("%d×%d×%d", s.C, s.H, s.W) }

// MarshalYAML writes the shape as the list [C, H, W].
func (s Shape) MarshalYAML() (any, error) { return []int{s.C, s.H, s.W}, nil }

// UnmarshalYAML reads the shape from a list of three integers.
func (s *Shape) UnmarshalYAML(node ast.Node) error {
	seq, ok := node.(*ast.SequenceNode)
	if !ok || len(seq.Values) != 3 {
		return tokenError(node.GetToken(), "must be a list of three integers [C, H, W]")
	}
	var v [3]int
	for i, n := range seq.Values {
		in, ok := n.(*ast.IntegerNode)
		if !ok {
			return tokenError(n.GetToken(), "must be a list of three integers [C, H, W]")
		}
		var x int64
		switch n := in.Value.(type) {
		case int64:
			x = n
		case uint64:
			x = int64(min(n, 1<<21))
		}
		if x < 0 || x > 1<<20 {
			return tokenError(n.GetToken(), fmt.Sprintf("must be an integer in [0, %d]", 1<<20))
		}
		v[i] = int(x)
	}
	*s = Shape{C: v[0], H: v[1], W: v[2]}
	return nil
}

// MarshalJSON writes the shape as the array [C, H, W].
func (s Shape) MarshalJSON() ([]byte, error) { return json.Marshal([]int{s.C, s.H, s.W}) }

// UnmarshalJSON reads the shape from an array of three integers.
func (s *Shape) UnmarshalJSON(b []byte) error {
	var v []int
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if len(v) != 3 {
		return fmt.Errorf("space: shape must have three elements [C, H, W], got %d", len(v))
	}
	*s = Shape{C: v[0], H: v[1], W: v[2]}
	return nil
}

// Arch is the one intermediate representation of a network: an input shape, a number of
// classes, a stem of plain layers, stages of blocks from the block families, and a head. The
// package documentation describes every field as it is written in YAML.
type Arch struct {
	// Name names the network, e.g. "resnet20_mnist". It does not enter the hash.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Input is the shape of one input sample.
	Input Shape `yaml:"input,flow" json:"input"`
	// Classes is the number of outputs of the classifier.
	Classes int `yaml:"classes" json:"classes"`
	// Stem is the list of layers before the first stage.
	Stem []LayerSpec `yaml:"stem,omitempty" json:"stem,omitempty"`
	// Stages are run in order; each is a run of blocks of one family or a list of blocks.
	Stages []Stage `yaml:"stages" json:"stages"`
	// Head is the list of layers after the last stage. When empty it is global average pooling
	// followed by a linear classifier.
	Head []LayerSpec `yaml:"head,omitempty" json:"head,omitempty"`
	// RoR adds the shortcuts of Residual networks of Residual networks (Zhang et al. 2017): one
	// around each stage and one around the whole body, each added before the final ReLU of the
	// last block it spans. Only residual stages take part.
	RoR bool `yaml:"ror,omitempty" json:"ror,omitempty"`
	// StochasticDepth, when set, drops the residual branch of every residual block with a
	// probability that grows linearly with depth (Huang et al. 2016).
	StochasticDepth *StochasticDepth `yaml:"stochastic_depth,omitempty" json:"stochastic_depth,omitempty"`
}

// StochasticDepth sets the linearly decaying survival probability of Huang et al. 2016: the
// l-th of L residual blocks survives with probability 1 − l/L·(1 − FinalSurvival).
type StochasticDepth struct {
	// FinalSurvival is the survival probability p_L of the last residual block, in (0, 1].
	FinalSurvival float64 `yaml:"final_survival" json:"final_survival"`
}

// LayerSpec is one layer of a stem, head or auxiliary head. Op selects the layer; the other
// fields apply to the ops named in their comments and must otherwise be left unset.
type LayerSpec struct {
	// Op is one of conv, batchnorm, relu, maxpool, avgpool, globalavgpool, flatten, dropout,
	// linear.
	Op string `yaml:"op" json:"op"`
	// Filters is the number of output channels of a conv.
	Filters int `yaml:"filters,omitempty" json:"filters,omitempty"`
	// Out is the number of output features of a linear layer; unset on the last linear layer
	// of a head, which has Classes outputs.
	Out int `yaml:"out,omitempty" json:"out,omitempty"`
	// Kernel is the square kernel size of a conv or pool.
	Kernel int `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	// Stride of a conv (default 1) or pool (default Kernel, as in PyTorch).
	Stride int `yaml:"stride,omitempty" json:"stride,omitempty"`
	// Padding of a conv or pool on every side (default 0, as in PyTorch).
	Padding int `yaml:"padding,omitempty" json:"padding,omitempty"`
	// Groups of a conv (default 1).
	Groups int `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Bias gives a conv (default false) or linear layer (default true) a bias.
	Bias *bool `yaml:"bias,omitempty" json:"bias,omitempty"`
	// BN follows a conv with a batchnorm layer.
	BN bool `yaml:"bn,omitempty" json:"bn,omitempty"`
	// ReLU follows a conv (after BN, if any) or a linear layer with a ReLU.
	ReLU bool `yaml:"relu,omitempty" json:"relu,omitempty"`
	// Ceil makes a pool round its output size up (PyTorch's ceil_mode).
	Ceil bool `yaml:"ceil,omitempty" json:"ceil,omitempty"`
	// ExcludePad makes an avgpool divide by the number of input pixels under the window rather
	// than the window size (PyTorch's count_include_pad=False).
	ExcludePad bool `yaml:"exclude_pad,omitempty" json:"exclude_pad,omitempty"`
	// P is the drop probability of a dropout layer.
	P float64 `yaml:"p,omitempty" json:"p,omitempty"`
}

// Stage is a run of blocks. Its Block fields describe every block of the stage: Blocks copies of
// that block, the first with Stride and the rest with stride 1. When the blocks differ (as
// GoogLeNet's modules do), List gives them one by one; a listed block takes every field it
// leaves unset (zero) from the stage, and its stride defaults to the stage's Stride for the first
// block and 1 for the others.
type Stage struct {
	Block `yaml:",inline"`
	// Blocks is the number of blocks (default 1); for family dense, the number of dense layers.
	Blocks int `yaml:"blocks,omitempty" json:"blocks,omitempty"`
	// List gives the blocks one by one instead of Blocks copies.
	List []Block `yaml:"blocks_list,omitempty" json:"blocks_list,omitempty"`
	// Pool, when set, is a pooling layer after the stage's last block.
	Pool *Pool `yaml:"pool,omitempty" json:"pool,omitempty"`
	// AuxHead, when set, is an auxiliary classifier on the stage's output (Inception v3's). Its
	// parameters count; its MACs do not, since inference does not run it.
	AuxHead []LayerSpec `yaml:"aux_head,omitempty" json:"aux_head,omitempty"`
}

// Pool is a pooling layer after a stage.
type Pool struct {
	// Type is max or avg.
	Type string `yaml:"type" json:"type"`
	// Kernel is the square window size.
	Kernel int `yaml:"kernel" json:"kernel"`
	// Stride defaults to Kernel.
	Stride int `yaml:"stride,omitempty" json:"stride,omitempty"`
	// Padding on every side (default 0).
	Padding int `yaml:"padding,omitempty" json:"padding,omitempty"`
	// Ceil rounds the output size up (PyTorch's ceil_mode).
	Ceil bool `yaml:"ceil,omitempty" json:"ceil,omitempty"`
}

// SE is a squeeze-and-excitation module (Hu et al. 2018): global average pooling, linear C→C/r,
// ReLU, linear C/r→C, sigmoid, and channel-wise scaling. It sits on the residual branch before
// the addition in residual blocks, and on the block's output elsewhere.
type SE struct {
	// Ratio is the reduction ratio r (default 16).
	Ratio int `yaml:"ratio,omitempty" json:"ratio,omitempty"`
}

// Block is one block of a family with its options. Which options apply to which family is
// listed in the package documentation; an option that does not apply must be left unset.
type Block struct {
	// Family names the block family, e.g. basic, bottleneck, dense, inception.
	Family string `yaml:"family,omitempty" json:"family,omitempty"`
	// Width is the number of output channels, for the families where it is not derived.
	Width int `yaml:"width,omitempty" json:"width,omitempty"`
	// Stride of the block (default 1), for the families that downsample by a stride.
	Stride int `yaml:"stride,omitempty" json:"stride,omitempty"`

	// Shortcut is A (subsample and zero-pad channels) or B (1×1 projection, the default); either
	// is used only where the shape changes, the identity elsewhere.
	Shortcut string `yaml:"shortcut,omitempty" json:"shortcut,omitempty"`
	// StrideOn puts a bottleneck's stride on its 3x3 conv (default, torchvision) or on its first
	// 1x1 conv (the original paper).
	StrideOn string `yaml:"stride_on,omitempty" json:"stride_on,omitempty"`
	// MidWidth is the width of a bottleneck's inner convs (default Width/4).
	MidWidth int `yaml:"mid_width,omitempty" json:"mid_width,omitempty"`
	// Groups of a bottleneck's 3x3 conv (default 1).
	Groups int `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Cardinality is ResNeXt's number of groups C.
	Cardinality int `yaml:"cardinality,omitempty" json:"cardinality,omitempty"`
	// GroupWidth is ResNeXt's bottleneck width d, the channels per group; the inner width is C·d.
	GroupWidth int `yaml:"group_width,omitempty" json:"group_width,omitempty"`
	// WidenFactor is a wide residual network's width multiplier k: the block has Width·k channels.
	WidenFactor int `yaml:"widen_factor,omitempty" json:"widen_factor,omitempty"`
	// Dropout is the probability of the dropout between the convs of a wide or pre-activation
	// basic block, or after each dense layer.
	Dropout float64 `yaml:"dropout,omitempty" json:"dropout,omitempty"`

	// Kernel is the conv kernel size of a plain or mlpconv block (default 3).
	Kernel int `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	// Norm is batchnorm (default) or none, for plain and mlpconv blocks.
	Norm string `yaml:"norm,omitempty" json:"norm,omitempty"`
	// Bias gives the convs of plain and mlpconv blocks a bias.
	Bias bool `yaml:"bias,omitempty" json:"bias,omitempty"`
	// MLP lists the widths of the 1×1 convs after an mlpconv block's k×k conv.
	MLP []int `yaml:"mlp,omitempty,flow" json:"mlp,omitempty"`

	// GrowthRate is DenseNet's k, the channels each dense layer adds.
	GrowthRate int `yaml:"growth_rate,omitempty" json:"growth_rate,omitempty"`
	// BNSize makes a dense layer a bottleneck (DenseNet-B): a 1×1 conv to BNSize·k channels
	// before the 3×3 conv. 0 means no bottleneck.
	BNSize int `yaml:"bn_size,omitempty" json:"bn_size,omitempty"`
	// Compression is a transition's θ: it outputs ⌊θ·C⌋ channels (default 1).
	Compression float64 `yaml:"compression,omitempty" json:"compression,omitempty"`

	// N1x1 is the width of an Inception module's 1×1 branch.
	N1x1 int `yaml:"n1x1,omitempty" json:"n1x1,omitempty"`
	// N3x3 lists the widths along an Inception module's 3×3 branch.
	N3x3 []int `yaml:"n3x3,omitempty,flow" json:"n3x3,omitempty"`
	// N3x3B lists the widths along the second 3×3 branch of reduction_b.
	N3x3B []int `yaml:"n3x3b,omitempty,flow" json:"n3x3b,omitempty"`
	// N5x5 lists the widths along an Inception module's 5×5 branch.
	N5x5 []int `yaml:"n5x5,omitempty,flow" json:"n5x5,omitempty"`
	// N3x3dbl lists the widths along an Inception module's double-3×3 branch.
	N3x3dbl []int `yaml:"n3x3dbl,omitempty,flow" json:"n3x3dbl,omitempty"`
	// N7x7 lists the widths along a factorised 7×7 branch (1×1, 1×7, 7×1).
	N7x7 []int `yaml:"n7x7,omitempty,flow" json:"n7x7,omitempty"`
	// N7x7dbl lists the widths along inception_v3_c's double factorised 7×7 branch.
	N7x7dbl []int `yaml:"n7x7dbl,omitempty,flow" json:"n7x7dbl,omitempty"`
	// N7x7x3 lists the widths along inception_v3_d's 7×7-then-3×3 branch.
	N7x7x3 []int `yaml:"n7x7x3,omitempty,flow" json:"n7x7x3,omitempty"`
	// PoolProj is the width of the 1×1 conv after an Inception module's pooling branch.
	PoolProj int `yaml:"pool_proj,omitempty" json:"pool_proj,omitempty"`
	// N5x5Kernel is the kernel of the inception family's "5×5" branch (default 5; torchvision's
	// GoogLeNet uses 3).
	N5x5Kernel int `yaml:"n5x5_kernel,omitempty" json:"n5x5_kernel,omitempty"`
	// PoolExcludePad makes the average pool of an Inception module exclude padding from its
	// divisor (PyTorch's count_include_pad=False).
	PoolExcludePad bool `yaml:"pool_exclude_pad,omitempty" json:"pool_exclude_pad,omitempty"`
	// Padding of the stride-2 convs and pool of a reduction: valid (default; 35→17) or same
	// (padding 1; 14→7).
	Padding string `yaml:"padding,omitempty" json:"padding,omitempty"`
	// Scale multiplies the residual branch of an Inception-ResNet block before the addition.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`
	// NoReLU leaves out the ReLU after an Inception-ResNet block's addition.
	NoReLU bool `yaml:"no_relu,omitempty" json:"no_relu,omitempty"`

	// Code is a genetic_stage block's connection bits as Genetic CNN writes them: for nodes
	// v2..vK, one group per node of the bits of its possible predecessors v1..v(j-1), groups
	// joined by "-" (e.g. "1-01-001" for a chain of four nodes).
	Code string `yaml:"code,omitempty" json:"code,omitempty"`

	// SE attaches a squeeze-and-excitation module.
	SE *SE `yaml:"se,omitempty" json:"se,omitempty"`
	// DropPath is the probability of dropping a residual block's branch per sample.
	DropPath float64 `yaml:"drop_path,omitempty" json:"drop_path,omitempty"`
}
